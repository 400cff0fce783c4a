"""Parse Anthropic SSE bytes and assert the Messages streaming grammar:
message_start → (content_block_start, content_block_delta*, content_block_stop)* →
message_delta → message_stop, with `ping` anywhere and `error` ending a stream.
Reusable: `from anthropic_grammar import parse_sse, assert_anthropic_stream`."""

from __future__ import annotations

import json
from typing import Any

DELTA_FOR_BLOCK = {
    "thinking": {"thinking_delta", "signature_delta"},
    "text": {"text_delta"},
    "tool_use": {"input_json_delta"},
}


def parse_sse(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs; every frame must have both lines and end with a blank line."""
    text = data.decode()
    assert text.endswith("\n\n") or not text, "stream must end at a frame boundary"
    events = []
    for frame in text.split("\n\n"):
        if not frame:
            continue
        lines = frame.split("\n")
        assert (
            len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: ")
        ), frame
        name, payload = lines[0][7:], json.loads(lines[1][6:])
        assert payload["type"] == name, f"event {name} carries type {payload['type']}"
        events.append((name, payload))
    return events


def assert_anthropic_stream(data: bytes) -> list[dict[str, Any]]:
    """Check the grammar; return the content blocks the stream builds (as a client would)."""
    events = [(n, p) for n, p in parse_sse(data) if n != "ping"]
    assert events and events[0][0] == "message_start", "first event must be message_start"
    if events[-1][0] == "error":
        events = events[:-1]
        finished = False
    else:
        assert [n for n, _ in events[-2:]] == ["message_delta", "message_stop"], (
            "must end delta, stop"
        )
        finished = True
    body = events[1:-2] if finished else events[1:]
    blocks: list[dict[str, Any]] = []
    open_index = None
    for name, p in body:
        if name == "content_block_start":
            assert open_index is None, "a block started before the previous one stopped"
            assert p["index"] == len(blocks), "block indexes must count up from 0"
            blocks.append(dict(p["content_block"]))
            open_index = p["index"]
            if blocks[-1]["type"] == "tool_use":
                blocks[-1]["_json"] = ""
        elif name == "content_block_delta":
            assert p["index"] == open_index, "delta for a block that is not open"
            block, delta = blocks[open_index], p["delta"]
            assert delta["type"] in DELTA_FOR_BLOCK[block["type"]], (
                f"{delta['type']} in a {block['type']} block"
            )
            if block.get("signature"):
                raise AssertionError("nothing may follow a thinking block's signature_delta")
            if delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                block["_json"] += delta["partial_json"]
        elif name == "content_block_stop":
            assert p["index"] == open_index, "stop for a block that is not open"
            open_index = None
        else:
            raise AssertionError(f"unexpected event {name} inside the message")
    assert open_index is None or not finished, "a block was left open"
    for block in blocks:
        if block["type"] == "tool_use":
            block["input"] = json.loads(block.pop("_json") or "{}")
    if finished:
        delta = events[-2][1]
        assert delta["delta"]["stop_reason"] in (
            "end_turn",
            "max_tokens",
            "tool_use",
            "stop_sequence",
            "refusal",
        )
        assert set(delta["usage"]) >= {"input_tokens", "output_tokens"}
    return blocks

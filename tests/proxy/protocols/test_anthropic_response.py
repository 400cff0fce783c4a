"""Gemini → Anthropic: the non-stream reply and the SSE encoder (SPEC §8)."""

from __future__ import annotations

import json

from anthropic_grammar import assert_anthropic_stream, parse_sse

from proxy.errors import ApiError, ErrorKind
from proxy.protocols.anthropic import AnthropicStreamEncoder, from_gemini
from proxy.protocols.signatures import SignatureStore

USAGE = {
    "promptTokenCount": 120,
    "cachedContentTokenCount": 20,
    "candidatesTokenCount": 30,
    "thoughtsTokenCount": 7,
    "totalTokenCount": 157,
}


def chunk(*parts, finish=None, usage=None):
    cand = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        cand["finishReason"] = finish
    out = {"candidates": [cand]}
    if usage:
        out["usageMetadata"] = usage
    return out


def run(chunks, **kw):
    enc = AnthropicStreamEncoder("claude-opus-4-8", "msg_1", **kw)
    data = b"".join(enc.feed(c) for c in chunks) + enc.finish()
    return enc, data


def test_text_stream_follows_the_grammar_and_reports_usage():
    enc, data = run([chunk({"text": "Hel"}), chunk({"text": "lo"}, finish="STOP", usage=USAGE)])
    assert assert_anthropic_stream(data) == [{"type": "text", "text": "Hello"}]
    events = parse_sse(data)
    assert [n for n, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["id"] == "msg_1" and start["model"] == "claude-opus-4-8" and start["content"] == []
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"] == {
        "input_tokens": 100,
        "cache_read_input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "output_tokens": 37,
    }
    assert enc.result.text == "Hello" and enc.result.usage.input_tokens == 120


def test_thinking_then_text_with_signature_right_before_the_thinking_stop():
    store = SignatureStore(10)
    enc, data = run(
        [
            chunk({"text": "Let me ", "thought": True}),
            chunk({"text": "think.", "thought": True, "thoughtSignature": "SIG1"}),
            chunk({"text": "Answer"}, finish="STOP"),
        ],
        signatures=store,
        upstream_model="claude-opus-4-6-thinking",
    )
    blocks = assert_anthropic_stream(data)
    assert blocks == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "SIG1"},
        {"type": "text", "text": "Answer"},
    ]
    names = [(n, p.get("delta", {}).get("type")) for n, p in parse_sse(data)]
    sig_at = names.index(("content_block_delta", "signature_delta"))
    assert names[sig_at + 1][0] == "content_block_stop"
    assert store.is_known("SIG1", "claude-opus-4-6-thinking")
    assert enc.result.thinking == "Let me think."


def test_signature_in_a_trailing_empty_part_still_closes_the_thinking_block():
    _, data = run(
        [
            chunk({"text": "hm", "thought": True}),
            chunk({"text": "", "thoughtSignature": "S"}),
            chunk({"text": "ok"}),
        ]
    )
    assert assert_anthropic_stream(data)[0] == {
        "type": "thinking",
        "thinking": "hm",
        "signature": "S",
    }


def test_thinking_hidden_when_client_did_not_ask_for_it():
    _, data = run(
        [chunk({"text": "hm", "thought": True}), chunk({"text": "ok"})], include_thinking=False
    )
    assert assert_anthropic_stream(data) == [{"type": "text", "text": "ok"}]


def test_tool_use_stream_sends_input_json_delta_and_stores_the_signature():
    store = SignatureStore(10)
    enc, data = run(
        [
            chunk({"text": "Checking."}),
            chunk(
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "abc"},
                    "thoughtSignature": "TOOLSIG",
                }
            ),
            chunk({"functionCall": {"name": "get_time", "args": {}}}, finish="STOP", usage=USAGE),
        ],
        signatures=store,
        session_key="sess",
    )
    blocks = assert_anthropic_stream(data)
    assert blocks[0] == {"type": "text", "text": "Checking."}
    assert blocks[1] == {
        "type": "tool_use",
        "id": "toolu_abc",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert blocks[2]["id"].startswith("toolu_") and blocks[2]["input"] == {}
    assert parse_sse(data)[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert store.lookup("sess", "toolu_abc") == "TOOLSIG"
    assert [t.name for t in enc.result.tool_calls] == ["get_weather", "get_time"]


def test_max_tokens_finish_reason():
    _, data = run([chunk({"text": "x"}, finish="MAX_TOKENS")])
    assert parse_sse(data)[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_empty_stream_still_makes_a_complete_message():
    enc = AnthropicStreamEncoder("m", "msg_2")
    data = enc.finish()
    assert assert_anthropic_stream(data) == []
    assert enc.finish() == b""  # idempotent


def test_fail_emits_an_error_event_that_ends_the_stream():
    enc = AnthropicStreamEncoder("m", "msg_3")
    data = enc.feed(chunk({"text": "partial"})) + enc.fail(
        ApiError(ErrorKind.OVERLOADED, "upstream busy")
    )
    assert_anthropic_stream(data)
    name, payload = parse_sse(data)[-1]
    assert name == "error" and payload["error"] == {
        "type": "overloaded_error",
        "message": "upstream busy",
    }
    assert enc.feed(chunk({"text": "late"})) == b"" and enc.finish() == b""


def test_ping_frames_are_allowed_anywhere():
    enc = AnthropicStreamEncoder("m", "msg_4")
    data = enc.ping() + enc.feed(chunk({"text": "a"})) + enc.ping() + enc.finish()
    assert parse_sse(enc.ping()) == [("ping", {"type": "ping"})]
    assert assert_anthropic_stream(data) == [{"type": "text", "text": "a"}]


def test_non_stream_reply_has_blocks_stop_reason_and_usage():
    store = SignatureStore(10)
    resp = chunk(
        {"text": "hmm", "thought": True, "thoughtSignature": "TS"},
        {"text": "Hi "},
        {"text": "there"},
        {
            "functionCall": {"name": "f", "args": {"a": 1}, "id": "toolu_9"},
            "thoughtSignature": "FS",
        },
        finish="STOP",
        usage=USAGE,
    )
    out = from_gemini(resp, model="claude-x", message_id="msg_5", signatures=store, session_key="s")
    assert out["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "TS"},
        {"type": "text", "text": "Hi there"},
        {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"a": 1}},
    ]
    assert (
        out["stop_reason"] == "tool_use" and out["type"] == "message" and out["role"] == "assistant"
    )
    assert out["usage"]["input_tokens"] == 100 and out["usage"]["cache_read_input_tokens"] == 20
    assert store.lookup("s", "toolu_9") == "FS"
    json.dumps(out)


def test_non_stream_reply_without_candidates_is_an_empty_end_turn():
    out = from_gemini({"promptFeedback": {"blockReason": "SAFETY"}}, model="m", message_id="msg_6")
    assert out["content"] == [] and out["stop_reason"] == "end_turn"


def test_grammar_checker_rejects_misordered_streams():
    import pytest

    from proxy.protocols.common import sse_event

    start = sse_event("message_start", {"type": "message_start", "message": {}})
    end = sse_event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
    ) + sse_event("message_stop", {"type": "message_stop"})
    block = sse_event(
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
    )
    sig = sse_event(
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "s"},
        },
    )
    think = sse_event(
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "t"},
        },
    )
    stop = sse_event("content_block_stop", {"type": "content_block_stop", "index": 0})
    assert_anthropic_stream(start + block + think + sig + stop + end)
    for bad in (
        block + stop + end,
        start + block + sig + think + stop + end,
        start + block + end,
        start + think + end,
        start + block + stop,
    ):
        with pytest.raises(AssertionError):
            assert_anthropic_stream(bad)


def test_claude_signature_on_the_call_also_signs_the_open_thinking_block():
    store = SignatureStore(10)
    _, data = run(
        [
            chunk({"text": "plan", "thought": True}),
            chunk(
                {
                    "functionCall": {"name": "f", "args": {}, "id": "toolu_7"},
                    "thoughtSignature": "CS",
                }
            ),
        ],
        signatures=store,
        session_key="s",
        upstream_model="claude-opus-4-6-thinking",
    )
    blocks = assert_anthropic_stream(data)
    assert blocks[0] == {"type": "thinking", "thinking": "plan", "signature": "CS"}
    assert store.lookup("s", "toolu_7") == "CS" and store.is_known("CS", "claude-sonnet-4-5")


def test_gemini_signature_on_the_call_stays_off_the_thinking_block():
    _, data = run(
        [
            chunk({"text": "plan", "thought": True}),
            chunk({"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "GS"}),
        ],
        upstream_model="gemini-3-pro-high",
    )
    assert assert_anthropic_stream(data)[0]["signature"] == ""


def test_non_stream_claude_call_signature_signs_the_thinking_block():
    resp = chunk(
        {"text": "plan", "thought": True},
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "CS"},
    )
    out = from_gemini(
        resp, model="claude-opus-4-8", message_id="m", upstream_model="claude-opus-4-6-thinking"
    )
    assert out["content"][0]["signature"] == "CS"
    out = from_gemini(
        resp, model="claude-opus-4-8", message_id="m", upstream_model="gemini-3-pro-high"
    )
    assert out["content"][0]["signature"] == ""

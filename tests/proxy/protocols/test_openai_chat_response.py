"""Gemini reply -> OpenAI chat.completion and the chunk stream, checked with the
official `openai` SDK's own types."""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from proxy.errors import ApiError, ErrorKind
from proxy.protocols.openai_chat import OpenAIChatStreamEncoder, from_gemini
from proxy.protocols.signatures import SignatureStore

USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3,
         "cachedContentTokenCount": 4, "totalTokenCount": 18}


def reply(parts: list[dict[str, Any]], reason: str = "STOP", **extra: Any) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason,
                            "index": 0}], "usageMetadata": USAGE, **extra}


def convert(resp: dict[str, Any], **kw: Any) -> dict[str, Any]:
    out = from_gemini(resp, model="gpt-4o-mini", created=1700000000, completion_id="chatcmpl-1", **kw)
    ChatCompletion.model_validate(out)  # the SDK accepts it
    return out


def events(raw: bytes) -> list[str]:
    assert raw.endswith(b"\n\n")
    chunks = raw.decode().split("\n\n")[:-1]
    assert all(c.startswith("data: ") for c in chunks)
    return [c[len("data: "):] for c in chunks]


def run_stream(chunks: list[dict[str, Any]], include_usage: bool = True, **kw: Any) -> tuple[
        list[dict[str, Any]], OpenAIChatStreamEncoder]:
    enc = OpenAIChatStreamEncoder("gpt-4o-mini", "chatcmpl-1", 1700000000, include_usage, **kw)
    raw = b"".join(enc.feed(c) for c in chunks) + enc.finish()
    payloads = events(raw)
    assert payloads[-1] == "[DONE]"
    parsed = [json.loads(p) for p in payloads[:-1]]
    for p in parsed:
        ChatCompletionChunk.model_validate(p)
    return parsed, enc


def test_text_reply_with_thoughts_and_usage() -> None:
    out = convert(reply([{"text": "thinking...", "thought": True}, {"text": "Hi"}, {"text": " there"}]))
    msg = out["choices"][0]["message"]
    assert msg["content"] == "Hi there" and msg["reasoning_content"] == "thinking..."
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["object"] == "chat.completion" and out["id"] == "chatcmpl-1"
    assert out["usage"] == {
        "prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }


def test_finish_reasons_map() -> None:
    assert convert(reply([{"text": "x"}], "MAX_TOKENS"))["choices"][0]["finish_reason"] == "length"
    assert convert(reply([{"text": "x"}], "SAFETY"))["choices"][0]["finish_reason"] == "content_filter"
    assert convert(reply([], "RECITATION"))["choices"][0]["finish_reason"] == "content_filter"
    blocked = convert({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": USAGE})
    assert blocked["choices"][0]["finish_reason"] == "content_filter"


def test_tool_calls_get_ids_and_json_string_arguments() -> None:
    out = convert(reply([
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "toolu_1"}},
    ]))
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert calls[0]["id"].startswith("call_") and calls[1]["id"] == "toolu_1"
    assert calls[0]["id"] != calls[1]["id"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert choice["message"]["content"] is None


def test_reply_signature_is_remembered_for_the_next_turn() -> None:
    store = SignatureStore()
    out = convert(reply([{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "sig=="}]),
                  signatures=store, session_key="s")
    call_id = out["choices"][0]["message"]["tool_calls"][0]["id"]
    assert store.lookup("s", call_id) == "sig=="


def test_stream_first_delta_has_role_then_content_then_finish_usage_done() -> None:
    parsed, enc = run_stream([
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "hm", "thought": True}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP"}],
         "usageMetadata": USAGE},
    ])
    deltas = [p["choices"][0]["delta"] for p in parsed if p["choices"]]
    assert deltas[0] == {"role": "assistant", "reasoning_content": "hm"}
    assert "role" not in deltas[1] and deltas[1]["content"] == "Hel"
    assert parsed[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(p["choices"][0]["finish_reason"] is None for p in parsed[:-2])
    usage_chunks = [p for p in parsed if "usage" in p]
    assert len(usage_chunks) == 1 and usage_chunks[0] is parsed[-1]
    assert usage_chunks[0]["choices"] == [] and usage_chunks[0]["usage"]["total_tokens"] == 18
    assert enc.result.text == "Hello" and enc.result.thinking == "hm"
    assert enc.result.usage.input_tokens == 10 and enc.result.finish_reason == "stop"


def test_stream_without_include_usage_sends_no_usage_chunk() -> None:
    parsed, _ = run_stream([reply([{"text": "x"}])], include_usage=False)
    assert not any("usage" in p for p in parsed)


def test_parallel_tool_calls_get_distinct_index_and_id() -> None:
    store = SignatureStore()
    parsed, enc = run_stream([
        {"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "w", "args": {"c": "A"}}, "thoughtSignature": "s1"}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "w", "args": {"c": "B"}}}]}, "finishReason": "STOP"}],
         "usageMetadata": USAGE},
    ], signatures=store, session_key="sess")
    calls = [tc for p in parsed if p["choices"] for tc in p["choices"][0]["delta"].get("tool_calls", [])]
    assert [c["index"] for c in calls] == [0, 1]
    assert len({c["id"] for c in calls}) == 2 and all(c["id"].startswith("call_") for c in calls)
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"c": "A"}, {"c": "B"}]
    assert all(c["type"] == "function" and c["function"]["name"] == "w" for c in calls)
    assert parsed[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert store.lookup("sess", calls[0]["id"]) == "s1"
    assert [t.id for t in enc.result.tool_calls] == [c["id"] for c in calls]


def test_stream_hitting_max_tokens_finishes_with_length() -> None:
    parsed, _ = run_stream([reply([{"text": "cut"}], "MAX_TOKENS")])
    assert parsed[-2]["choices"][0]["finish_reason"] == "length"


def test_empty_stream_still_names_the_role_and_finishes() -> None:
    parsed, _ = run_stream([], include_usage=False)
    assert parsed == [{**parsed[0], "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                 "finish_reason": "stop", "logprobs": None}]}]


def test_fail_sends_an_openai_error_event_then_done() -> None:
    enc = OpenAIChatStreamEncoder("m", "chatcmpl-1", 1, True)
    enc.feed(reply([{"text": "partial"}]))
    raw = enc.fail(ApiError(ErrorKind.RATE_LIMIT, "all accounts are cooling down"))
    payloads = events(raw)
    assert payloads[-1] == "[DONE]"
    assert json.loads(payloads[0])["error"]["type"] == "rate_limit_error"
    assert enc.finish() == b""  # nothing after a failure

"""Gemini -> Responses `response` object and SSE event stream, parsed with the
official `openai` SDK's Response and stream-event types."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from proxy.errors import ApiError, ErrorKind
from proxy.protocols.openai_responses import ResponsesStreamEncoder, from_gemini, request_echo
from proxy.protocols.signatures import SignatureStore

EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
USAGE = {"promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 7,
         "cachedContentTokenCount": 60}
ECHO = request_echo({"model": "gpt-5", "input": "x", "tools": [
    {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
    {"type": "web_search", "external_web_access": False}], "tool_choice": "auto", "store": False})


def chunk(*parts: dict[str, Any], reason: str | None = None, usage: bool = False) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if reason:
        cand["finishReason"] = reason
    out: dict[str, Any] = {"candidates": [cand]}
    if usage:
        out["usageMetadata"] = USAGE
    return out


def parse(raw: bytes) -> list[dict[str, Any]]:
    """Split SSE frames; check `event:` matches data.type and the SDK accepts each."""
    events = []
    for frame in raw.decode().split("\n\n")[:-1]:
        head, data = frame.split("\n")
        assert head.startswith("event: ") and data.startswith("data: ")
        payload = json.loads(data[len("data: "):])
        assert payload["type"] == head[len("event: "):]
        EVENT.validate_python(payload)
        events.append(payload)
    return events


def run(chunks: list[dict[str, Any]], **kw: Any) -> tuple[list[dict[str, Any]], ResponsesStreamEncoder]:
    enc = ResponsesStreamEncoder("gpt-5", "resp_abc", 1700000000, ECHO, **kw)
    raw = b"".join(enc.feed(c) for c in chunks) + enc.finish()
    events = parse(raw)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events, enc


def check_grammar(events: list[dict[str, Any]]) -> None:
    """created, in_progress, then well-nested items, then exactly one terminal event."""
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] in ("response.completed", "response.incomplete", "response.failed")
    assert sum(t in ("response.completed", "response.incomplete", "response.failed") for t in types) == 1
    open_item: int | None = None
    for e in events[2:-1]:
        if e["type"] == "response.output_item.added":
            assert open_item is None
            open_item = e["output_index"]
        elif e["type"] == "response.output_item.done":
            assert open_item == e["output_index"]
            open_item = None
        else:
            assert open_item is not None and e["output_index"] == open_item, e
    assert open_item is None


def test_text_stream_event_sequence() -> None:
    events, enc = run([chunk({"text": "Hel"}), chunk({"text": "lo"}, reason="STOP", usage=True)])
    check_grammar(events)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["Hel", "lo"]
    done = events[-1]["response"]
    Response.model_validate(done)
    assert done["id"] == "resp_abc" and done["status"] == "completed"
    assert done["output"][0]["content"][0]["text"] == "Hello"
    assert done["usage"] == {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 0},
                             "output_tokens": 27, "output_tokens_details": {"reasoning_tokens": 7},
                             "total_tokens": 127}
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert enc.output_items == done["output"] and enc.result.text == "Hello"


def test_thoughts_become_a_reasoning_item_with_summary_deltas() -> None:
    events, enc = run([chunk({"text": "let me think", "thought": True}),
                       chunk({"text": "answer"}, reason="STOP", usage=True)])
    check_grammar(events)
    types = [e["type"] for e in events]
    assert "response.reasoning_summary_text.delta" in types
    out = events[-1]["response"]["output"]
    assert [i["type"] for i in out] == ["reasoning", "message"]
    assert out[0]["summary"] == [{"type": "summary_text", "text": "let me think"}]
    assert enc.result.thinking == "let me think"


def test_parallel_function_calls_are_separate_items_with_distinct_call_ids() -> None:
    store = SignatureStore()
    events, enc = run([
        chunk({"functionCall": {"name": "exec_command", "args": {"cmd": "ls"}}, "thoughtSignature": "S"}),
        chunk({"functionCall": {"name": "exec_command", "args": {"cmd": "pwd"}}}, reason="STOP",
              usage=True),
    ], signatures=store, session_key="sess")
    check_grammar(events)
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert all(i["type"] == "function_call" and i["status"] == "in_progress" for i in added)
    args_done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [json.loads(e["arguments"]) for e in args_done] == [{"cmd": "ls"}, {"cmd": "pwd"}]
    out = events[-1]["response"]["output"]
    assert len({i["call_id"] for i in out}) == 2 and len({i["id"] for i in out}) == 2
    assert all(i["status"] == "completed" for i in out)
    assert store.lookup("sess", out[0]["call_id"]) == "S"
    assert [t.arguments for t in enc.result.tool_calls] == [{"cmd": "ls"}, {"cmd": "pwd"}]
    assert enc.result.finish_reason == "tool_calls"


def test_text_then_call_closes_the_message_first() -> None:
    events, _ = run([chunk({"text": "running it"}),
                     chunk({"functionCall": {"name": "exec_command", "args": {}}}, reason="STOP")])
    check_grammar(events)
    assert [i["type"] for i in events[-1]["response"]["output"]] == ["message", "function_call"]


def test_max_tokens_ends_with_response_incomplete() -> None:
    events, _ = run([chunk({"text": "cut"}, reason="MAX_TOKENS", usage=True)])
    check_grammar(events)
    last = events[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["output"][0]["status"] == "incomplete"


def test_failure_ends_with_response_failed_and_retry_hint() -> None:
    enc = ResponsesStreamEncoder("gpt-5", "resp_abc", 1, ECHO)
    raw = enc.feed(chunk({"text": "par"})) + enc.fail(
        ApiError(ErrorKind.RATE_LIMIT, "all accounts cooling down", retry_after=12.0))
    events = parse(raw)
    assert events[-1]["type"] == "response.failed"
    err = events[-1]["response"]["error"]
    assert err["code"] == "rate_limit_exceeded" and "try again in 12s" in err["message"]
    assert enc.finish() == b""


def test_fail_before_any_chunk_still_opens_the_stream() -> None:
    enc = ResponsesStreamEncoder("gpt-5", "resp_abc", 1, ECHO)
    events = parse(enc.fail(ApiError(ErrorKind.API_ERROR, "upstream down")))
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "server_error"


def test_namespaced_call_in_stream_carries_namespace() -> None:
    names = {"multi_agent_v1__spawn_agent": {"name": "spawn_agent", "namespace": "multi_agent_v1"}}
    events, _ = run([chunk({"functionCall": {"name": "multi_agent_v1__spawn_agent", "args": {}}},
                           reason="STOP")], tool_names=names)
    item = events[-1]["response"]["output"][0]
    assert (item["name"], item["namespace"]) == ("spawn_agent", "multi_agent_v1")


@pytest.mark.parametrize(("reason", "status"), [("STOP", "completed"), ("MAX_TOKENS", "incomplete"),
                                                 ("SAFETY", "incomplete")])
def test_non_stream_response_object(reason: str, status: str) -> None:
    out = from_gemini({"candidates": [{"content": {"parts": [
        {"text": "why", "thought": True}, {"text": "ok"},
        {"functionCall": {"name": "exec_command", "args": {"cmd": "ls"}}}]}, "finishReason": reason}],
        "usageMetadata": USAGE}, model="gpt-5", response_id="resp_x", created=5, request_echo=ECHO)
    Response.model_validate(out)
    assert out["object"] == "response" and out["id"] == "resp_x" and out["status"] == status
    assert [i["type"] for i in out["output"]] == ["reasoning", "message", "function_call"]
    assert json.loads(out["output"][2]["arguments"]) == {"cmd": "ls"}
    assert out["output"][2]["call_id"].startswith("call_")
    assert out["usage"]["output_tokens_details"]["reasoning_tokens"] == 7
    assert out["tools"] == ECHO["tools"] and out["store"] is False


def test_non_stream_and_stream_agree_on_output() -> None:
    parts = [{"text": "a", "thought": True}, {"text": "b"}]
    out = from_gemini({"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]},
                      model="gpt-5", response_id="resp_abc", created=1)
    events, _ = run([chunk(*parts, reason="STOP")])
    assert events[-1]["response"]["output"] == out["output"]


def test_streamed_turn_saved_then_continued_with_previous_response_id() -> None:
    from proxy.protocols.openai_responses import to_gemini
    from proxy.protocols.responses_store import ResponseStore

    store, sigs = ResponseStore(max_entries=2), SignatureStore()
    first = to_gemini({"model": "gpt-5", "input": "list files", "prompt_cache_key": "k"},
                      upstream_model="gemini-3-pro-preview", store=store, signatures=sigs)
    enc = ResponsesStreamEncoder("gpt-5", "resp_1", 1, first.options["echo"], signatures=sigs,
                                 session_key=first.session_key)
    enc.feed(chunk({"functionCall": {"name": "exec_command", "args": {"cmd": "ls"}},
                    "thoughtSignature": "SIG"}, reason="STOP"))
    enc.finish()
    store.save("resp_1", first.options["input_items"], enc.output_items)
    call_id = enc.output_items[0]["call_id"]
    second = to_gemini({"model": "gpt-5", "previous_response_id": "resp_1", "prompt_cache_key": "k",
                        "input": [{"type": "function_call_output", "call_id": call_id, "output": "a.txt"}]},
                       upstream_model="gemini-3-pro-preview", store=store, signatures=sigs)
    contents = second.request["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["functionCall"] == {"id": call_id, "name": "exec_command",
                                                       "args": {"cmd": "ls"}}
    assert contents[1]["parts"][0]["thoughtSignature"] == "SIG"  # restored, not the sentinel
    assert contents[2]["parts"][0]["functionResponse"]["response"] == {"output": "a.txt"}


def test_response_store_is_bounded_lru() -> None:
    from proxy.protocols.responses_store import ResponseStore

    store = ResponseStore(max_entries=2)
    store.save("a", [], [])
    store.save("b", [], [])
    assert store.get("a") is not None  # touch: a is now the freshest
    store.save("c", [], [])
    assert "b" not in store and "a" in store and "c" in store and len(store) == 2

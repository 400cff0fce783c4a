"""OpenAI Responses (Codex CLI, SDKs) request -> Gemini request, on real captures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gemini_validity import assert_valid_gemini_request

from proxy.errors import ApiError, ErrorKind
from proxy.protocols.openai_responses import from_gemini, gemini_tool_name, to_gemini
from proxy.protocols.responses_store import ResponseStore
from proxy.protocols.signatures import SENTINEL, SignatureStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "clients"
CAPTURES = sorted(
    p
    for d in ("py-openai-responses", "py-openai-responses-stream", "node-openai-responses",
              "node-openai-responses-stream", "codex-responses", "codex-tool-exec",
              "codex-openai-base-url")
    for p in (FIXTURES / d).glob("*-POST-v1_responses.json")
)
CODEX_TOOL_TURN = FIXTURES / "codex-tool-exec/002-POST-v1_responses.json"


def body_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())["body"]


def translate(body: dict[str, Any], model: str = "gemini-2.5-pro", store: ResponseStore | None = None,
              **kw: Any):
    return to_gemini(body, upstream_model=model, store=store, **kw)


def bad_param(body: Any, store: ResponseStore | None = None) -> ApiError:
    with pytest.raises(ApiError) as exc:
        translate(body, store=store)
    assert exc.value.kind is ErrorKind.INVALID_REQUEST and exc.value.status == 400
    return exc.value


def test_captures_are_present() -> None:
    assert len(CAPTURES) == 8


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name[:3]}")
def test_every_captured_responses_request_becomes_a_valid_gemini_request(path: Path) -> None:
    body = body_of(path)
    call = translate(body, model="gemini-3-pro-preview")
    assert_valid_gemini_request(call.request)
    assert call.client_model == body["model"]
    assert call.stream is (body.get("stream") is True)


def test_string_input_and_instructions() -> None:
    call = translate(body_of(FIXTURES / "py-openai-responses/001-POST-v1_responses.json"))
    assert call.request["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert call.request["contents"] == [{"role": "user", "parts": [{"text": "say hi"}]}]
    assert call.request["generationConfig"] == {"maxOutputTokens": 64}
    assert call.options["echo"]["instructions"] == "Be brief."


def test_codex_developer_messages_become_the_system_instruction() -> None:
    body = body_of(FIXTURES / "codex-tool-exec/001-POST-v1_responses.json")
    req = translate(body).request
    developer = [c["text"] for i in body["input"] if i["role"] == "developer" for c in i["content"]]
    assert [p["text"] for p in req["systemInstruction"]["parts"]] == developer
    assert req["contents"][-1]["parts"][-1] == {"text": "run cat hello.txt"}
    assert [c["role"] for c in req["contents"]] == ["user"]


def test_codex_prompt_cache_key_is_the_session_key() -> None:
    body = body_of(FIXTURES / "codex-tool-exec/001-POST-v1_responses.json")
    assert translate(body).session_key == body["prompt_cache_key"]


def test_codex_namespace_tools_are_flattened_and_web_search_dropped() -> None:
    body = body_of(FIXTURES / "codex-tool-exec/001-POST-v1_responses.json")
    call = translate(body)
    names = [d["name"] for d in call.request["tools"][0]["functionDeclarations"]]
    ns = next(t for t in body["tools"] if t["type"] == "namespace")
    inner = [t["name"] for t in ns["tools"]]
    flat = [t["name"] for t in body["tools"] if t["type"] == "function"]
    assert set(names) == set(flat) | {f"multi_agent_v1__{n}" for n in inner}
    assert len(names) == len(flat) + len(inner)
    assert "web_search" not in " ".join(names)
    assert call.options["tool_names"]["multi_agent_v1__spawn_agent"] == {
        "name": "spawn_agent", "namespace": "multi_agent_v1"}
    assert call.request["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_namespaced_tool_call_maps_back_to_name_and_namespace() -> None:
    call = translate(body_of(FIXTURES / "codex-tool-exec/001-POST-v1_responses.json"))
    out = from_gemini(
        {"candidates": [{"content": {"parts": [{"functionCall": {
            "name": "multi_agent_v1__spawn_agent", "args": {"message": "go"}}}]}, "finishReason": "STOP"}]},
        model="gpt-5", response_id="resp_1", created=1, tool_names=call.options["tool_names"])
    item = out["output"][0]
    assert item["name"] == "spawn_agent" and item["namespace"] == "multi_agent_v1"
    # ...and Codex replaying that call lands on the same Gemini name
    nxt = translate({"model": "gpt-5", "input": [
        {"role": "user", "content": "go"}, item,
        {"type": "function_call_output", "call_id": item["call_id"], "output": "spawned"}]})
    assert nxt.request["contents"][1]["parts"][0]["functionCall"]["name"] == "multi_agent_v1__spawn_agent"
    assert nxt.request["contents"][2]["parts"][0]["functionResponse"]["name"] == "multi_agent_v1__spawn_agent"


def test_long_namespaced_names_stay_within_gemini_limit_and_distinct() -> None:
    a = gemini_tool_name("x" * 60, "namespace_" + "y" * 20)
    b = gemini_tool_name("x" * 59 + "z", "namespace_" + "y" * 20)
    assert len(a) <= 64 and len(b) <= 64 and a != b


def test_codex_tool_round_trip_maps_call_and_output() -> None:
    req = translate(body_of(CODEX_TOOL_TURN), model="gemini-3-pro-preview").request
    model_turn, result_turn = req["contents"][-2:]
    call = model_turn["parts"][0]
    assert model_turn["role"] == "model"
    assert call["functionCall"]["name"] == "exec_command"
    assert call["functionCall"]["args"] == {"cmd": "cat hello.txt"}
    assert call["functionCall"]["id"] == "call_e922879de97c48c5a1ac98dc"
    assert call["thoughtSignature"] == SENTINEL  # gemini-3 and no signature known
    resp = result_turn["parts"][0]["functionResponse"]
    assert result_turn["role"] == "user" and resp["name"] == "exec_command"
    assert resp["response"]["output"].startswith("lorem ipsum")


def test_known_signature_is_restored_for_the_codex_call() -> None:
    body = body_of(CODEX_TOOL_TURN)
    store = SignatureStore()
    store.remember(body["prompt_cache_key"], "call_e922879de97c48c5a1ac98dc", "real-sig")
    req = translate(body, model="gemini-3-pro-preview", signatures=store).request
    assert req["contents"][-2]["parts"][0]["thoughtSignature"] == "real-sig"


def test_function_call_output_as_content_list_keeps_text_and_images() -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    req = translate({"model": "m", "input": [
        {"type": "function_call", "call_id": "c1", "name": "view_image", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "here"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{png}"}]},
    ]}).request
    parts = req["contents"][-1]["parts"]
    assert parts[0]["functionResponse"]["response"] == {"output": "here"}
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": png}}


def test_reasoning_items_are_skipped() -> None:
    req = translate({"model": "m", "input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "t"}],
         "encrypted_content": "opaque"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
    ]}).request
    assert req["contents"] == [{"role": "user", "parts": [{"text": "q"}]},
                               {"role": "model", "parts": [{"text": "a"}]}]


def test_reasoning_effort_and_summary_map_to_thinking() -> None:
    gen = translate({"model": "m", "input": "q", "reasoning": {"effort": "high", "summary": "auto"},
                     "temperature": 0.3, "top_p": 0.8}).request["generationConfig"]
    assert gen == {"temperature": 0.3, "topP": 0.8,
                   "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": True}}
    codex = translate(body_of(FIXTURES / "codex-responses/001-POST-v1_responses.json")).request
    assert codex["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}


def test_text_format_json_schema_maps_to_response_schema() -> None:
    gen = translate({"model": "m", "input": "q", "text": {"format": {
        "type": "json_schema", "name": "r", "schema": {"type": "object", "properties": {
            "n": {"type": "integer"}}}}}}).request["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseSchema"]["properties"]["n"]["type"] == "integer"


def test_previous_response_id_prepends_the_stored_turn() -> None:
    store = ResponseStore(max_entries=4)
    first = translate({"model": "m", "input": "what is 2+2?"}, store=store)
    reply = from_gemini({"candidates": [{"content": {"parts": [{"text": "4"}]}, "finishReason": "STOP"}]},
                        model="m", response_id="resp_abc", created=1)
    store.save("resp_abc", first.options["input_items"], reply["output"])
    second = translate({"model": "m", "input": "and 3+3?", "previous_response_id": "resp_abc"},
                       store=store)
    assert second.request["contents"] == [
        {"role": "user", "parts": [{"text": "what is 2+2?"}]},
        {"role": "model", "parts": [{"text": "4"}]},
        {"role": "user", "parts": [{"text": "and 3+3?"}]},
    ]
    assert len(second.options["input_items"]) == 3  # what the handler saves next


def test_unknown_previous_response_id_is_a_400() -> None:
    err = bad_param({"model": "m", "input": "x", "previous_response_id": "resp_gone"}, store=ResponseStore())
    assert err.param == "previous_response_id"
    assert "previous_response_id not found" in err.message


@pytest.mark.parametrize(("body", "param", "words"), [
    ("x", None, "JSON object"),
    ({"input": "x"}, "model", "model"),
    ({"model": "m", "input": 3}, "input", "string or an array"),
    ({"model": "m"}, "input", "string or an array"),
    ({"model": "m", "input": [1]}, "input[0]", "object"),
    ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role", "robot"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
     "input[0].content[0].type", "input_audio"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image",
                                                            "image_url": "file:///etc/shadow"}]}]},
     "input[0].content[0].image_url", "never read"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0].image_url", "file_id"),
    ({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f",
                               "arguments": "{oops"}]}, "input[0].arguments", "not valid JSON"),
    ({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
     "input[0].call_id", "string"),
    ({"model": "m", "input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]},
     "input[0].call_id", "nope"),
    ({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                              {"type": "function_call_output", "call_id": "c", "output": 5}]},
     "input[1].output", "string or an array"),
    ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type", "item_reference"),
    ({"model": "m", "input": [{"role": "developer", "content": "only rules"}]}, "input", "user"),
    ({"model": "m", "input": "x", "instructions": ["a"]}, "instructions", "string"),
    ({"model": "m", "input": "x", "max_output_tokens": "64"}, "max_output_tokens", "integer"),
    ({"model": "m", "input": "x", "reasoning": {"effort": "galaxy"}}, "reasoning.effort", "high"),
    ({"model": "m", "input": "x", "previous_response_id": 7}, "previous_response_id", "string"),
    ({"model": "m", "input": "x", "tools": [{"type": "function", "parameters": {}}]},
     "tools[0].name", "non-empty"),
    ({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": 3},
     "tool_choice", "none, auto"),
])
def test_bad_input_is_a_precise_400(body: Any, param: str | None, words: str) -> None:
    err = bad_param(body)
    assert err.param == param
    assert words in err.message

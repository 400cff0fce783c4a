"""OpenAI Chat Completions request -> Gemini request (SPEC §8), on real client captures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gemini_validity import assert_valid_gemini_request

from proxy.errors import ApiError, ErrorKind
from proxy.protocols.openai_chat import to_gemini
from proxy.protocols.signatures import SENTINEL, SignatureStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "clients"
CHAT_CAPTURES = sorted(
    p
    for d in ("py-openai-chat", "py-openai-chat-stream", "py-openai-chat-tools", "node-openai-chat",
              "node-openai-chat-stream", "misconfig-openai-no-v1")
    for p in (FIXTURES / d).glob("*chat_completions.json")
)
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def body_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())["body"]


def translate(body: dict[str, Any], model: str = "gemini-2.5-flash", **kw: Any) -> dict[str, Any]:
    return to_gemini(body, upstream_model=model, **kw).request


def bad_param(body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as exc:
        to_gemini(body, upstream_model="gemini-2.5-flash")
    assert exc.value.kind is ErrorKind.INVALID_REQUEST and exc.value.status == 400
    return exc.value


def test_captures_are_present() -> None:
    assert len(CHAT_CAPTURES) == 6


@pytest.mark.parametrize("path", CHAT_CAPTURES, ids=lambda p: p.parent.name)
def test_every_captured_chat_request_becomes_a_valid_gemini_request(path: Path) -> None:
    body = body_of(path)
    call = to_gemini(body, upstream_model="gemini-3-pro-preview")
    assert_valid_gemini_request(call.request)
    assert call.client_model == "gpt-4o-mini"
    assert call.stream is (body.get("stream") is True)
    assert call.session_key


def test_system_message_becomes_system_instruction() -> None:
    req = translate(body_of(FIXTURES / "py-openai-chat/001-POST-v1_chat_completions.json"))
    assert req["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert req["contents"] == [{"role": "user", "parts": [{"text": "say hi"}]}]
    assert req["generationConfig"] == {"maxOutputTokens": 64}


def test_max_completion_tokens_maps_like_max_tokens() -> None:
    req = translate(body_of(FIXTURES / "node-openai-chat/001-POST-v1_chat_completions.json"))
    assert req["generationConfig"]["maxOutputTokens"] == 64


def test_stream_options_include_usage_is_kept_in_options() -> None:
    call = to_gemini(body_of(FIXTURES / "py-openai-chat-stream/001-POST-v1_chat_completions.json"),
                     upstream_model="gemini-2.5-flash")
    assert call.stream and call.options["include_usage"] is True
    assert call.request["generationConfig"] == {"temperature": 0.2}
    node = to_gemini(body_of(FIXTURES / "node-openai-chat-stream/001-POST-v1_chat_completions.json"),
                     upstream_model="gemini-2.5-flash")
    assert node.stream and node.options["include_usage"] is False


def test_tool_history_maps_to_function_call_and_response() -> None:
    req = translate(body_of(FIXTURES / "py-openai-chat-tools/001-POST-v1_chat_completions.json"))
    roles = [c["role"] for c in req["contents"]]
    assert roles == ["user", "model", "user"]  # tool result + next user text share a turn
    call = req["contents"][1]["parts"][0]
    assert call["functionCall"] == {"id": "call_abc123", "name": "get_weather", "args": {"city": "Paris"}}
    assert "thoughtSignature" not in call  # gemini-2.5 does not need one
    result, follow = req["contents"][2]["parts"]
    assert result["functionResponse"]["name"] == "get_weather"
    assert result["functionResponse"]["id"] == "call_abc123"
    assert result["functionResponse"]["response"] == {"output": '{"temp_c": 18, "sky": "clear"}'}
    assert follow == {"text": "Summarise it."}
    decl = req["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_weather" and decl["parameters"]["required"] == ["city"]
    assert req["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_gemini3_gets_the_sentinel_when_no_signature_is_known() -> None:
    body = body_of(FIXTURES / "py-openai-chat-tools/001-POST-v1_chat_completions.json")
    req = translate(body, model="gemini-3-pro-preview")
    assert req["contents"][1]["parts"][0]["thoughtSignature"] == SENTINEL


def test_stored_signature_is_restored_onto_the_function_call() -> None:
    body = body_of(FIXTURES / "py-openai-chat-tools/001-POST-v1_chat_completions.json")
    store = SignatureStore()
    store.remember("sess-1", "call_abc123", "c2lnbmF0dXJl")
    req = translate(body, model="gemini-3-pro-preview", signatures=store, session_key="sess-1")
    assert req["contents"][1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"


def test_session_key_prefers_prompt_cache_key_then_user_then_first_message_hash() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    assert to_gemini({**base, "prompt_cache_key": "pck", "user": "u"}, upstream_model="g").session_key == "pck"
    assert to_gemini({**base, "user": "u"}, upstream_model="g").session_key == "u"
    hashed = to_gemini(base, upstream_model="g").session_key
    assert hashed and hashed == to_gemini(dict(base), upstream_model="g").session_key
    other = {"model": "m", "messages": [{"role": "user", "content": "other"}]}
    assert to_gemini(other, upstream_model="g").session_key != hashed


def test_images_data_uri_becomes_inline_data_and_http_becomes_file_data() -> None:
    req = translate({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    ]}]})
    parts = req["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
    assert parts[2]["fileData"]["fileUri"] == "https://example.com/cat.png"
    assert parts[2]["fileData"]["mimeType"] == "image/png"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "/etc/passwd", "./secret.png", "~/x.png"])
def test_local_image_paths_are_refused_never_read(url: str) -> None:
    err = bad_param({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}}]}]})
    assert err.param == "messages[0].content[0].image_url.url"
    assert "never read" in err.message


def test_broken_base64_in_data_uri_is_refused() -> None:
    err = bad_param({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not-base64@@"}}]}]})
    assert err.param == "messages[0].content[0].image_url.url"


def test_reasoning_content_becomes_a_thought_part() -> None:
    req = translate({"model": "m", "messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "add them"},
        {"role": "user", "content": "and 3+3?"},
    ]})
    assert req["contents"][1] == {"role": "model", "parts": [{"text": "add them", "thought": True},
                                                             {"text": "4"}]}


def test_sampling_fields_map_to_generation_config() -> None:
    req = translate({
        "model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.5, "top_p": 0.9,
        "n": 2, "stop": ["END", "STOP"], "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2,
        "response_format": {"type": "json_object"}, "reasoning_effort": "low",
    })
    assert req["generationConfig"] == {
        "temperature": 0.5, "topP": 0.9, "candidateCount": 2, "stopSequences": ["END", "STOP"],
        "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2,
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }


def test_single_stop_string_and_json_schema_format() -> None:
    req = translate({
        "model": "m", "messages": [{"role": "user", "content": "x"}], "stop": "END",
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {
            "type": "object", "properties": {"a": {"type": ["string", "null"]}},
            "additionalProperties": False}}},
    })
    gen = req["generationConfig"]
    assert gen["stopSequences"] == ["END"]
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseSchema"]["properties"]["a"]["type"] == "string"
    assert "additionalProperties" not in gen["responseSchema"]


@pytest.mark.parametrize(("choice", "expected"), [
    ("none", {"mode": "NONE"}),
    ("auto", {"mode": "AUTO"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
])
def test_tool_choice_maps_to_function_calling_mode(choice: Any, expected: dict) -> None:
    req = translate({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": choice,
                     "tools": [{"type": "function", "function": {"name": "f", "parameters": {
                         "type": "object", "properties": {"q": {"type": "string"}}}}}]})
    assert req["toolConfig"] == {"functionCallingConfig": expected}


def test_tool_without_arguments_omits_parameters() -> None:
    req = translate({"model": "m", "messages": [{"role": "user", "content": "x"}],
                     "tools": [{"type": "function", "function": {"name": "now", "parameters": {
                         "type": "object", "properties": {}}}}]})
    assert req["tools"] == [{"functionDeclarations": [{"name": "now"}]}]


def test_parallel_tool_results_share_one_user_turn() -> None:
    req = translate({"model": "m", "messages": [
        {"role": "user", "content": "weather in A and B"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"c":"A"}'}},
            {"id": "c2", "type": "function", "function": {"name": "w", "arguments": '{"c":"B"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sun"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "rain"}]},
    ]})
    assert [c["role"] for c in req["contents"]] == ["user", "model", "user"]
    responses = [p["functionResponse"] for p in req["contents"][2]["parts"]]
    assert [(r["id"], r["response"]["output"]) for r in responses] == [("c1", "sun"), ("c2", "rain")]


@pytest.mark.parametrize(("body", "param", "words"), [
    ([], None, "JSON object"),
    ({"messages": [{"role": "user", "content": "x"}]}, "model", "model"),
    ({"model": "m"}, "messages", "non-empty array"),
    ({"model": "m", "messages": []}, "messages", "non-empty array"),
    ({"model": "m", "messages": ["hi"]}, "messages[0]", "object"),
    ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "wizard"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "string"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "video", "x": 1}]}]},
     "messages[0].content[0].type", "video"),
    ({"model": "m", "messages": [{"role": "system", "content": "only system"}]}, "messages", "user"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]},
     "messages[1].tool_calls[0].function.arguments", "not valid JSON"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]},
     "messages[1].tool_calls[0].function.arguments", "object"),
    ({"model": "m", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]},
     "messages[0].tool_call_id", "nope"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
     "temperature", "number"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": True},
     "max_tokens", "integer"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop", "strings"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"},
     "tool_choice", "none, auto"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "huge"},
     "reasoning_effort", "low"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]},
     "tools[0].function", "object"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}],
      "response_format": {"type": "xml"}}, "response_format.type", "json_schema"),
])
def test_bad_input_is_a_precise_400(body: Any, param: str | None, words: str) -> None:
    err = bad_param(body)
    assert err.param == param
    assert words in err.message


def test_empty_texts_and_empty_assistant_turns_are_dropped() -> None:
    req = translate({"model": "m", "messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": None},
        {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": ""},
    ]})
    assert req["contents"] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]
    assert_valid_gemini_request(req)


def test_tool_choice_without_tools_sends_no_tool_config() -> None:
    req = translate({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "none"})
    assert "toolConfig" not in req


def test_tool_message_may_name_its_function_when_the_call_was_trimmed() -> None:
    req = translate({"model": "m", "messages": [
        {"role": "tool", "tool_call_id": "gone", "name": "lookup", "content": "42"},
        {"role": "user", "content": "so?"}]})
    assert req["contents"][0]["parts"][0]["functionResponse"]["name"] == "lookup"

"""Gemini native API: validation, spelling normalisation, stream framing (SPEC §8)."""

from __future__ import annotations

import json

import pytest
from client_fixtures import captures
from gemini_validity import assert_valid_gemini_request

from proxy.errors import ApiError, ErrorKind
from proxy.protocols import gemini
from proxy.protocols.signatures import SENTINEL

GEMINI = captures(("gemini-", "py-genai-", "misconfig-genai"), ":")
GENERATE = [(i, c) for i, c in GEMINI if "countTokens" not in c["path"]]


def model_of(cap):
    return cap["path"].rsplit("/", 1)[1].split(":")[0]


def test_fixture_set_covers_gemini_cli_and_genai():
    folders = {i.split("/")[0] for i, _ in GENERATE}
    assert {
        "gemini-default",
        "gemini-tool-read",
        "py-genai-tools",
        "py-genai-stream",
        "misconfig-genai-base-v1beta",
    } <= folders


@pytest.mark.parametrize("cid,cap", GEMINI, ids=[i for i, _ in GEMINI])
def test_every_captured_gemini_request_becomes_a_valid_gemini_request(cid, cap):
    call = gemini.to_gemini(cap["body"], model=model_of(cap), stream="stream" in cap["path"])
    assert_valid_gemini_request(call.request)
    assert call.client_model == model_of(cap)
    assert call.session_key


def _body(folder, index=-1):
    return [c for i, c in GENERATE if i.startswith(folder + "/")][index]["body"]


def test_snake_case_thinking_budget_is_normalised():
    req = gemini.to_gemini(_body("py-genai-tools"), model="gemini-2.5-flash", stream=False).request
    assert req["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 128}


def test_snake_case_spellings_are_accepted_everywhere_but_user_data_is_kept():
    body = {
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "model", "parts": [{"function_call": {"name": "f", "args": {"my_arg": 1}}}]},
            {
                "role": "user",
                "parts": [{"function_response": {"name": "f", "response": {"out_put": "x"}}}],
            },
        ],
        "tools": [
            {
                "function_declarations": [
                    {
                        "name": "f",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"my_arg": {"type": "INTEGER"}},
                            "required": ["my_arg"],
                        },
                    }
                ]
            }
        ],
        "tool_config": {"function_calling_config": {"mode": "AUTO"}},
        "generation_config": {
            "max_output_tokens": 10,
            "thinking_config": {"include_thoughts": True},
        },
    }
    req = gemini.to_gemini(body, model="gemini-2.5-flash", stream=False).request
    assert_valid_gemini_request(req)
    assert req["systemInstruction"]["parts"] == [{"text": "sys"}]
    assert req["contents"][1]["parts"][0]["functionCall"]["args"] == {"my_arg": 1}
    assert req["contents"][2]["parts"][0]["functionResponse"]["response"] == {"out_put": "x"}
    assert req["tools"][0]["functionDeclarations"][0]["parameters"]["properties"] == {
        "my_arg": {"type": "integer"}
    }
    assert req["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert req["generationConfig"] == {
        "maxOutputTokens": 10,
        "thinkingConfig": {"includeThoughts": True},
    }


def test_parameters_json_schema_becomes_cleaned_parameters():
    req = gemini.to_gemini(_body("gemini-tool-read"), model="gemini-2.5-flash", stream=True).request
    decls = {d["name"]: d for d in req["tools"][0]["functionDeclarations"]}
    assert "parametersJsonSchema" not in json.dumps(req)
    start = decls["read_file"]["parameters"]["properties"]["start_line"]
    assert start["type"] == "integer" and "minimum: 1" in start["description"]


def test_gemini_cli_placeholder_signature_is_kept():
    req = gemini.to_gemini(_body("gemini-tool-read"), model="gemini-2.5-flash", stream=True).request
    assert req["contents"][1]["parts"][0]["thoughtSignature"] == SENTINEL


def test_router_response_json_schema_becomes_a_clean_response_schema():
    gen = gemini.to_gemini(
        _body("gemini-default", 0), model="gemini-3.5-flash-lite", stream=False
    ).request["generationConfig"]
    assert "responseJsonSchema" not in gen
    assert gen["responseSchema"]["properties"]["complexity_score"]["type"] == "integer"
    assert gen["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "HIGH"}


def test_function_role_and_missing_role_become_user_and_unknown_fields_are_dropped():
    body = {"contents": [{"parts": [{"text": "q"}]}], "model": "x", "cachedContent": "c/1"}
    req = gemini.to_gemini(body, model="m", stream=False).request
    assert req == {"contents": [{"role": "user", "parts": [{"text": "q"}]}]}


BAD = [
    ("not an object", [], None),
    ("no contents", {}, "contents"),
    ("empty contents", {"contents": []}, "contents"),
    ("content not object", {"contents": ["hi"]}, "contents[0]"),
    (
        "unknown role",
        {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
        "contents[0].role",
    ),
    ("empty parts", {"contents": [{"role": "user", "parts": []}]}, "contents[0].parts"),
    ("part without data", {"contents": [{"parts": [{"thought": True}]}]}, "contents[0].parts[0]"),
    ("text not string", {"contents": [{"parts": [{"text": 3}]}]}, "contents[0].parts[0].text"),
    (
        "bad base64",
        {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "@@"}}]}]},
        "contents[0].parts[0].inlineData.data",
    ),
    (
        "local file",
        {
            "contents": [
                {
                    "parts": [
                        {"fileData": {"mimeType": "text/plain", "fileUri": "file:///etc/passwd"}}
                    ]
                }
            ]
        },
        "contents[0].parts[0].fileData.fileUri",
    ),
    (
        "args not object",
        {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": []}}]}]},
        "contents[0].parts[0].functionCall.args",
    ),
    ("tools not list", {"contents": [{"parts": [{"text": "q"}]}], "tools": {}}, "tools"),
    (
        "declaration without name",
        {
            "contents": [{"parts": [{"text": "q"}]}],
            "tools": [{"functionDeclarations": [{"parameters": {}}]}],
        },
        "tools[0].functionDeclarations[0].name",
    ),
    (
        "generationConfig wrong type",
        {"contents": [{"parts": [{"text": "q"}]}], "generationConfig": 1},
        "generationConfig",
    ),
]


@pytest.mark.parametrize("name,bad,param", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_precise_invalid_request(name, bad, param):
    with pytest.raises(ApiError) as info:
        gemini.to_gemini(bad, model="m", stream=False)
    assert info.value.kind is ErrorKind.INVALID_REQUEST and info.value.param == param


CHUNKS = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "think", "thought": True}]}}]},
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}],
        "traceId": "internal",
    },
    {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "f", "args": {}}}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2},
    },
]


def test_sse_stream_frames_each_chunk_and_never_sends_done():
    enc = gemini.GeminiStreamEncoder(sse=True)
    data = b"".join(enc.feed(c) for c in CHUNKS) + enc.finish()
    frames = data.split(b"\r\n\r\n")
    assert frames[-1] == b"" and len(frames) == 4
    parsed = [json.loads(f.removeprefix(b"data: ")) for f in frames[:-1]]
    assert parsed[1] == {"candidates": CHUNKS[1]["candidates"]}  # internal fields stripped
    assert b"[DONE]" not in data
    assert enc.result.text == "Hi" and enc.result.thinking == "think"
    assert enc.result.tool_calls[0].name == "f" and enc.result.usage.input_tokens == 5
    assert enc.result.finish_reason == "STOP"


def test_json_array_stream_is_one_json_array():
    enc = gemini.GeminiStreamEncoder(sse=False)
    data = b"".join(enc.feed(c) for c in CHUNKS) + enc.finish()
    assert data.startswith(b"[{") and data.endswith(b"}]") and b",\r\n" in data
    assert len(json.loads(data)) == 3
    empty = gemini.GeminiStreamEncoder(sse=False)
    assert json.loads(empty.finish()) == []


def test_stream_failure_is_a_gemini_error_object():
    enc = gemini.GeminiStreamEncoder(sse=False)
    data = enc.feed(CHUNKS[1]) + enc.fail(ApiError(ErrorKind.RATE_LIMIT, "all accounts cooling"))
    arr = json.loads(data)
    assert arr[-1] == {
        "error": {"code": 429, "message": "all accounts cooling", "status": "RESOURCE_EXHAUSTED"}
    }
    assert enc.finish() == b""
    sse = gemini.GeminiStreamEncoder(sse=True)
    frame = sse.fail(ApiError(ErrorKind.OVERLOADED, "busy"))
    assert json.loads(frame.removeprefix(b"data: "))["error"]["status"] == "UNAVAILABLE"


def test_from_gemini_strips_internal_fields():
    out = gemini.from_gemini(
        {"candidates": [], "usageMetadata": {}, "modelVersion": "v", "traceId": "t", "metadata": {}}
    )
    assert out == {"candidates": [], "usageMetadata": {}, "modelVersion": "v"}


def test_model_listing_shapes():
    info = gemini.model_info("gemini-2.5-flash")
    assert info["name"] == "models/gemini-2.5-flash"
    assert "generateContent" in info["supportedGenerationMethods"]
    assert info["inputTokenLimit"] > 0 and info["outputTokenLimit"] > 0
    listing = gemini.models_list(["a", "b", "a"])
    assert [m["name"] for m in listing["models"]] == ["models/a", "models/b"]


def test_session_key_tells_gemini_cli_conversations_apart_despite_a_shared_context_turn():
    def body(prompt):
        return {
            "contents": [
                {"role": "user", "parts": [{"text": "workspace context"}]},
                {"role": "user", "parts": [{"text": prompt}]},
            ]
        }

    a = gemini.to_gemini(body("one"), model="m", stream=True).session_key
    assert a == gemini.to_gemini(body("one"), model="m", stream=True).session_key
    assert a != gemini.to_gemini(body("two"), model="m", stream=True).session_key

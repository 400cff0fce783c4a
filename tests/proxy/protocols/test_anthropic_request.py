"""Anthropic Messages → Gemini request (SPEC §8 "Anthropic → Gemini")."""

from __future__ import annotations

import base64
import json

import pytest
from client_fixtures import captures
from gemini_validity import assert_valid_gemini_request

from proxy.errors import ApiError, ErrorKind
from proxy.protocols import anthropic
from proxy.protocols.signatures import SENTINEL, SignatureStore

ANTHROPIC = captures(
    ("claude-", "py-anthropic-", "node-anthropic-", "misconfig-claude"), "/messages"
)
MESSAGES = [(i, c) for i, c in ANTHROPIC if not c["path"].endswith("count_tokens")]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def translate(body, model="gemini-3-flash", **kw):
    return anthropic.to_gemini(body, upstream_model=model, **kw)


def user(text="hi"):
    return {"role": "user", "content": text}


def body(*messages, **extra):
    return {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": list(messages), **extra}


def test_fixture_set_covers_the_anthropic_clients():
    folders = {i.split("/")[0] for i, _ in MESSAGES}
    assert {
        "claude-apikey",
        "claude-tool-read",
        "claude-haiku-json",
        "py-anthropic-tools",
        "node-anthropic-stream",
        "misconfig-claude-base-v1",
    } <= folders


@pytest.mark.parametrize(
    "model", ["claude-opus-4-6-thinking", "gemini-3-pro-high", "gemini-2.5-flash"]
)
@pytest.mark.parametrize("cid,cap", MESSAGES, ids=[i for i, _ in MESSAGES])
def test_every_captured_anthropic_request_becomes_a_valid_gemini_request(cid, cap, model):
    call = anthropic.to_gemini(
        cap["body"],
        upstream_model=model,
        session_key=cap["headers"].get("X-Claude-Code-Session-Id"),
    )
    assert_valid_gemini_request(call.request)
    assert call.client_model == cap["body"]["model"]
    assert call.stream is bool(cap["body"].get("stream"))
    assert call.session_key


def _capture(folder, index=-1):
    return [c for i, c in MESSAGES if i.startswith(folder + "/")][index]


def test_claude_code_system_blocks_and_mid_conversation_system_message_join_system_instruction():
    cap = _capture("claude-tool-read")
    req = translate(cap["body"]).request
    texts = [p["text"] for p in req["systemInstruction"]["parts"]]
    assert texts[0].startswith("x-anthropic-billing-header")
    assert texts[-1] == cap["body"]["messages"][1]["content"]  # the role:"system" message
    assert len(texts) == 4
    assert [c["role"] for c in req["contents"]] == ["user", "model", "user"]
    assert "cache_control" not in json.dumps(req)


def test_claude_code_tool_round_trip_maps_ids_and_names():
    req = translate(_capture("claude-tool-read")["body"], model="gemini-2.5-flash").request
    call = req["contents"][1]["parts"][0]["functionCall"]
    resp = req["contents"][2]["parts"][0]["functionResponse"]
    assert call == {
        "name": "Read",
        "args": {"file_path": "/home/user/project/hello.txt"},
        "id": "toolu_01cdf87d070d49158678a2ba",
    }
    assert resp == {
        "name": "Read",
        "id": call["id"],
        "response": {"output": "1\tThe secret word is PINEAPPLE.\n2\t"},
    }


def test_claude_code_session_id_comes_from_metadata_json_string():
    cap = _capture("claude-tool-read")
    assert anthropic.session_key_of(cap["body"]) == cap["headers"]["X-Claude-Code-Session-Id"]


def test_session_key_argument_wins_and_plain_clients_get_a_stable_hash():
    assert translate(body(user()), session_key="abc").session_key == "abc"
    a, b = (
        translate(body(user("same"))).session_key,
        translate(body(user("same"), user("x"))).session_key,
    )
    assert a == b and a.startswith("h:") and a != translate(body(user("other"))).session_key


def test_legacy_user_id_session_suffix_is_used():
    b = body(user(), metadata={"user_id": "user_abc_account__session_1234-5678"})
    assert translate(b).session_key == "1234-5678"


def test_adaptive_thinking_with_effort_maps_to_budget_or_level():
    b = _capture("claude-apikey")["body"]
    assert translate(b, model="claude-opus-4-6-thinking").request["generationConfig"][
        "thinkingConfig"
    ] == {"includeThoughts": True, "thinkingBudget": anthropic.EFFORT_BUDGET["high"]}
    assert translate(b, model="gemini-3-pro-high").request["generationConfig"][
        "thinkingConfig"
    ] == {"includeThoughts": True, "thinkingLevel": "HIGH"}
    low = dict(b, output_config={"effort": "low"})
    assert (
        translate(low, model="gemini-2.5-pro").request["generationConfig"]["thinkingConfig"][
            "thinkingBudget"
        ]
        == 4096
    )


def test_enabled_thinking_budget_is_kept_below_max_tokens():
    b = _capture("claude-haiku-json")["body"]
    gen = translate(b, model="gemini-2.5-flash").request["generationConfig"]
    assert gen["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 31999}
    gen = translate(
        body(user(), max_tokens=1000, thinking={"type": "enabled", "budget_tokens": 5000})
    ).request
    assert gen["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 999


def test_sampling_fields_map_to_generation_config():
    b = body(user(), temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["END"])
    assert translate(b).request["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
    }


def test_tools_and_tool_choice():
    tools = [
        {
            "name": "get_weather",
            "description": "w",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string", "minLength": 1}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    for choice, expect in (
        ({"type": "auto"}, {"mode": "AUTO"}),
        ({"type": "any"}, {"mode": "ANY"}),
        ({"type": "none"}, {"mode": "NONE"}),
        (
            {"type": "tool", "name": "get_weather"},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ):
        req = translate(body(user(), tools=tools, tool_choice=choice)).request
        assert req["toolConfig"] == {"functionCallingConfig": expect}
        assert [d["name"] for d in req["tools"][0]["functionDeclarations"]] == ["get_weather"]
        assert_valid_gemini_request(req)


def test_adjacent_same_role_turns_are_merged():
    req = translate(
        body(
            user("a"),
            user("b"),
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
        )
    ).request
    assert req["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
    ]


def test_images_map_to_inline_data_and_file_data():
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
        {"type": "text", "text": "what is it?"},
    ]
    parts = translate(body({"role": "user", "content": content})).request["contents"][0]["parts"]
    assert parts[0] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    assert parts[1] == {
        "fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}
    }


def _tool_turns(result_content, is_error=False):
    return [
        user("go"),
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": result_content,
                    "is_error": is_error,
                }
            ],
        },
    ]


def test_tool_result_with_image_adds_an_extra_part_and_joins_text():
    content = [
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]
    parts = translate(body(*_tool_turns(content))).request["contents"][2]["parts"]
    assert parts[0]["functionResponse"]["response"] == {"output": "a\nb"}
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}


@pytest.mark.parametrize(
    "is_error,expect", [(False, {"output": "executed"}), (True, {"error": "failed"})]
)
def test_empty_tool_result_says_executed_or_failed(is_error, expect):
    req = translate(body(*_tool_turns([], is_error))).request
    assert req["contents"][2]["parts"][0]["functionResponse"]["response"] == expect


def test_gemini3_replayed_tool_call_gets_stored_signature_or_sentinel():
    store = SignatureStore(10)
    req = translate(
        body(*_tool_turns("ok")), model="gemini-3-pro-high", signatures=store, session_key="s"
    ).request
    assert req["contents"][1]["parts"][0]["thoughtSignature"] == SENTINEL
    store.remember("s", "toolu_1", "REAL-SIG")
    req = translate(
        body(*_tool_turns("ok")), model="gemini-3-pro-high", signatures=store, session_key="s"
    ).request
    assert req["contents"][1]["parts"][0]["thoughtSignature"] == "REAL-SIG"


def test_claude_and_gemini25_targets_never_get_a_sentinel():
    for model in ("claude-sonnet-4-5", "gemini-2.5-flash"):
        req = translate(body(*_tool_turns("ok")), model=model).request
        assert "thoughtSignature" not in req["contents"][1]["parts"][0]


def _thinking_turns(signature):
    block = {"type": "thinking", "thinking": "hmm"}
    if signature is not None:
        block["signature"] = signature
    return [
        user("q"),
        {"role": "assistant", "content": [block, {"type": "text", "text": "a"}]},
        user("more"),
    ]


def test_signed_thinking_known_to_the_store_becomes_a_thought_part():
    store = SignatureStore(10)
    store.remember_thought("SIG", "claude-opus-4-6-thinking")
    req = translate(
        body(*_thinking_turns("SIG")), model="claude-opus-4-6-thinking", signatures=store
    ).request
    assert req["contents"][1]["parts"][0] == {
        "text": "hmm",
        "thought": True,
        "thoughtSignature": "SIG",
    }


def test_thinking_signed_elsewhere_or_unsigned_is_dropped():
    store = SignatureStore(10)
    store.remember_thought("SIG", "gemini-3-pro-high")  # a Gemini signature is no good to Claude
    for sig in ("SIG", None, ""):
        req = translate(
            body(*_thinking_turns(sig)), model="claude-opus-4-6-thinking", signatures=store
        ).request
        assert req["contents"][1]["parts"] == [{"text": "a"}]


def test_redacted_thinking_is_dropped():
    turns = [
        user("q"),
        {
            "role": "assistant",
            "content": [{"type": "redacted_thinking", "data": "xx"}, {"type": "text", "text": "a"}],
        },
    ]
    assert translate(body(*turns)).request["contents"][1]["parts"] == [{"text": "a"}]


def test_claude_target_drops_thinking_when_the_tool_turn_has_no_signed_thinking():
    b = body(*_tool_turns("ok"), thinking={"type": "enabled", "budget_tokens": 50})
    assert (
        "thinkingConfig"
        not in translate(b, model="claude-opus-4-6-thinking").request["generationConfig"]
    )
    assert "thinkingConfig" in translate(b, model="gemini-2.5-flash").request["generationConfig"]


def test_empty_final_assistant_prefill_is_ignored():
    req = translate(body(user(), {"role": "assistant", "content": []})).request
    assert [c["role"] for c in req["contents"]] == ["user"]


BAD = [
    ("not an object", [], None),
    ("no model", {"messages": [user()]}, "model"),
    ("no messages", {"model": "m"}, "messages"),
    ("empty messages", {"model": "m", "messages": []}, "messages"),
    ("messages not a list", {"model": "m", "messages": "hi"}, "messages"),
    ("unknown role", body({"role": "tool", "content": "x"}), "messages.0.role"),
    ("message not object", body("hi"), "messages.0"),
    ("empty user content", body({"role": "user", "content": ""}), "messages.0.content"),
    ("content wrong type", body({"role": "user", "content": 5}), "messages.0.content"),
    (
        "block without type",
        body({"role": "user", "content": [{"text": "x"}]}),
        "messages.0.content.0.type",
    ),
    (
        "text not string",
        body({"role": "user", "content": [{"type": "text", "text": 1}]}),
        "messages.0.content.0.text",
    ),
    (
        "bad base64",
        body(
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": "not*base64!",
                        },
                    }
                ],
            }
        ),
        "messages.0.content.0.source.data",
    ),
    (
        "file url",
        body(
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "url", "url": "file:///etc/passwd"}}
                ],
            }
        ),
        "messages.0.content.0.source.url",
    ),
    (
        "bare path",
        body(
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "url", "url": "/etc/passwd"}}],
            }
        ),
        "messages.0.content.0.source.url",
    ),
    (
        "tool_result for unknown id",
        body(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "r"}],
            }
        ),
        "messages.0.content.0.tool_use_id",
    ),
    (
        "tool_use input not object",
        body(
            user(),
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "n", "input": "x"}],
            },
        ),
        "messages.1.content.0.input",
    ),
    ("temperature string", body(user(), temperature="hot"), "temperature"),
    ("max_tokens float", body(user(), max_tokens=1.5), "max_tokens"),
    ("stop_sequences str", body(user(), stop_sequences="END"), "stop_sequences"),
    ("thinking type", body(user(), thinking={"type": "sometimes"}), "thinking.type"),
    (
        "effort",
        body(user(), thinking={"type": "adaptive"}, output_config={"effort": "extreme"}),
        "output_config.effort",
    ),
    ("tools not list", body(user(), tools={}), "tools"),
    ("tool without name", body(user(), tools=[{"input_schema": {}}]), "tools.0.name"),
    ("tool_choice type", body(user(), tool_choice={"type": "maybe"}), "tool_choice.type"),
    ("system wrong type", body(user(), system=5), "system"),
    ("stream not bool", body(user(), stream="yes"), "stream"),
]


@pytest.mark.parametrize("name,bad,param", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_precise_invalid_request(name, bad, param):
    with pytest.raises(ApiError) as info:
        translate(bad)
    assert info.value.kind is ErrorKind.INVALID_REQUEST and info.value.status == 400
    assert info.value.param == param
    if param:
        assert param in info.value.message


def test_tool_reference_blocks_in_tool_results_are_skipped():
    content = [{"type": "tool_reference", "tool_name": "Grep"}, {"type": "text", "text": "loaded"}]
    parts = translate(body(*_tool_turns(content))).request["contents"][2]["parts"]
    assert parts == [
        {"functionResponse": {"name": "shot", "response": {"output": "loaded"}, "id": "toolu_1"}}
    ]

"""Property (SPEC §14): whatever JSON a client sends to any of the three faces, the answer
is never a 5xx of ours, an error is always in the protocol's own shape, and the server
keeps answering. Bodies are the faces' request shapes with any field, at any level the
translators read, swapped for arbitrary JSON (Hypothesis, derandomized: the same
examples every run)."""

from __future__ import annotations

from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy import jsoncodec
from tests.e2e.conftest import E2E
from tests.e2e.test_bad_input import ANTHROPIC, GEMINI, OPENAI, assert_error_shape, still_serving

EXAMPLES = 100  # per face; every example is one request to the real server

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def maybe(valid: Any) -> st.SearchStrategy[Any]:
    """The valid value most of the time, arbitrary JSON otherwise."""
    return st.one_of(st.just(valid), JSON)


def shape(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: v if isinstance(v, st.SearchStrategy) else maybe(v) for k, v in fields.items()})


def part(kind: str, **fields: Any) -> st.SearchStrategy[Any]:
    return maybe({}).flatmap(lambda _: shape({"type": kind, **fields})) | JSON


CHAT_PART = st.one_of(
    part("text", text="hi"),
    part("image_url", image_url={"url": "data:image/png;base64,aGk="}),
)
CHAT_MESSAGE = shape(
    {
        "role": st.sampled_from(["user", "assistant", "system", "tool", "developer"]) | JSON,
        "content": st.one_of(st.just("hi"), st.lists(CHAT_PART, max_size=3), JSON),
        "tool_calls": st.lists(
            shape({"id": "c1", "type": "function", "function": shape({"name": "f", "arguments": "{}"})}), max_size=2
        ),
        "tool_call_id": "c1",
        "name": "f",
    }
)
TOOL = shape({"type": "function", "function": shape({"name": "f", "parameters": {"type": "object"}})})
OPENAI_BODY = shape(
    {
        "model": "gpt-4o",
        "messages": st.lists(CHAT_MESSAGE, min_size=1, max_size=3) | JSON,
        "stream": st.sampled_from([False, True]) | JSON,
        "stream_options": {"include_usage": True},
        "max_tokens": 10,
        "temperature": 0.5,
        "tools": st.lists(TOOL, max_size=2) | JSON,
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "reasoning_effort": "low",
    }
)

ANTHROPIC_BLOCK = st.one_of(
    part("text", text="hi"),
    part("image", source={"type": "base64", "media_type": "image/png", "data": "aGk="}),
    part("tool_use", id="t1", name="f", input={}),
    part("tool_result", tool_use_id="t1", content="ok"),
    part("thinking", thinking="hm", signature="s"),
)
ANTHROPIC_BODY = shape(
    {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": st.lists(
            shape(
                {
                    "role": st.sampled_from(["user", "assistant"]) | JSON,
                    "content": st.one_of(st.just("hi"), st.lists(ANTHROPIC_BLOCK, max_size=3), JSON),
                }
            ),
            min_size=1,
            max_size=3,
        )
        | JSON,
        "system": st.one_of(st.just("be brief"), st.lists(part("text", text="x"), max_size=2), JSON),
        "stream": st.sampled_from([False, True]) | JSON,
        "metadata": {"user_id": "u"},
        "tools": st.lists(shape({"name": "f", "input_schema": {"type": "object"}}), max_size=2) | JSON,
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stop_sequences": ["x"],
    }
)

GEMINI_PART = st.one_of(
    shape({"text": "hi"}),
    shape({"inlineData": shape({"mimeType": "image/png", "data": "aGk="})}),
    shape({"functionCall": shape({"name": "f", "args": {}})}),
    shape({"functionResponse": shape({"name": "f", "response": {}})}),
    JSON,
)
GEMINI_BODY = shape(
    {
        "contents": st.lists(
            shape({"role": st.sampled_from(["user", "model"]) | JSON, "parts": st.lists(GEMINI_PART, max_size=3) | JSON}),
            min_size=1,
            max_size=3,
        )
        | JSON,
        "systemInstruction": shape({"parts": st.lists(GEMINI_PART, max_size=2)}),
        "generationConfig": shape({"maxOutputTokens": 10, "temperature": 0.5, "thinkingConfig": {"thinkingBudget": 0}}),
        "tools": st.lists(shape({"functionDeclarations": st.lists(shape({"name": "f", "parameters": {"type": "object"}}), max_size=2)}), max_size=1) | JSON,
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    }
)

FACES = {
    OPENAI: ("/v1/chat/completions", OPENAI_BODY),
    "responses": ("/v1/responses", shape({"model": "gpt-4o", "input": st.one_of(st.just("hi"), st.lists(CHAT_MESSAGE, max_size=2), JSON), "stream": st.sampled_from([False, True]) | JSON, "instructions": "x", "tools": st.lists(shape({"type": "function", "name": "f", "parameters": {"type": "object"}}), max_size=1) | JSON})),
    ANTHROPIC: ("/v1/messages", ANTHROPIC_BODY),
    GEMINI: ("/v1beta/models/gemini-2.5-flash:generateContent", GEMINI_BODY),
}


def examples(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """`n` examples of `strategy`, the same on every run."""
    found: list[Any] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


async def test_no_request_body_gets_a_5xx_or_a_foreign_error_shape(e2e: E2E) -> None:
    headers = {**e2e.auth_headers(), "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        for face, (path, strategy) in FACES.items():
            protocol = OPENAI if face == "responses" else face
            for body in examples(strategy, EXAMPLES):
                raw = jsoncodec.dumps(body)
                async with session.post(e2e.url + path, data=raw, headers=headers) as resp:
                    status, reply = resp.status, await resp.read()
                assert status < 500, (face, body, reply)
                if status >= 400:
                    assert status in (400, 404), (face, body, reply)
                    assert_error_shape(protocol, status, reply)
    for protocol in (OPENAI, ANTHROPIC, GEMINI):
        await still_serving(e2e, protocol)

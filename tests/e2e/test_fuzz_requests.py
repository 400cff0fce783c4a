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


# Rich valid bodies per face: every field the translators read, at every level.
RICH: dict[str, tuple[str, str, dict[str, Any]]] = {
    "chat": (
        OPENAI,
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ],
            "stream": False,
            "stream_options": {"include_usage": True},
            "max_tokens": 10,
            "temperature": 0.5,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}],
            "tool_choice": "auto",
            "response_format": {"type": "json_object"},
            "reasoning_effort": "low",
        },
    ),
    "responses": (
        OPENAI,
        "/v1/responses",
        {
            "model": "gpt-4o",
            "instructions": "be brief",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
            "stream": False,
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "reasoning": {"effort": "low"},
            "max_output_tokens": 10,
        },
    ),
    "anthropic": (
        ANTHROPIC,
        "/v1/messages",
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 10,
            "system": [{"type": "text", "text": "be brief"}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}},
                    ],
                },
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ok"}]}]},
            ],
            "stream": False,
            "metadata": {"user_id": "u"},
            "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}],
            "tool_choice": {"type": "auto"},
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "stop_sequences": ["x"],
            "temperature": 0.5,
        },
    ),
    "gemini": (
        GEMINI,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "aGk="}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": 1}}}]},
            ],
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "generationConfig": {"maxOutputTokens": 10, "temperature": 0.5, "thinkingConfig": {"thinkingBudget": 0}},
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object"}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        },
    ),
}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `value` (each key and index, at every level)."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


def replaced(body: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `body` with the value at `path` swapped for `new` (or dropped when `new`
    is the DROP marker)."""
    if not path:
        return new
    copy = dict(body) if isinstance(body, dict) else list(body)
    head, rest = path[0], path[1:]
    if not rest and new is DROP:
        del copy[head]
    else:
        copy[head] = replaced(body[head], rest, new)
    return copy


DROP = object()


def mutants(body: dict[str, Any]) -> st.SearchStrategy[Any]:
    """`body` with one place (any level) replaced by arbitrary JSON or removed, or two."""
    places = paths(body)
    one = st.tuples(st.sampled_from(places), JSON | st.just(DROP))
    return st.lists(one, min_size=1, max_size=2).map(lambda edits: _apply(body, edits))


def _apply(body: Any, edits: list[tuple[tuple[Any, ...], Any]]) -> Any:
    for path, new in edits:
        try:
            body = replaced(body, path, new)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier edit removed or replaced the place
    return body


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
        for face, (protocol, path, body) in RICH.items():
            for mutant in examples(mutants(body), EXAMPLES):
                raw = jsoncodec.dumps(mutant)
                async with session.post(e2e.url + path, data=raw, headers=headers) as resp:
                    status, reply = resp.status, await resp.read()
                assert status < 500, (face, mutant, reply)
                if status >= 400:
                    assert status in (400, 404), (face, mutant, reply)
                    assert_error_shape(protocol, status, reply)
    for protocol in (OPENAI, ANTHROPIC, GEMINI):
        await still_serving(e2e, protocol)

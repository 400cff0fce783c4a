"""The official `anthropic` SDK (AsyncAnthropic) against agproxy: messages plain and
streamed (raw events and the `messages.stream()` helper), tool round trips, images,
count_tokens, models.list, and the errors it raises."""

from __future__ import annotations

import json

import aiohttp
import anthropic
import pytest

from tests.e2e.conftest import E2E
from tests.e2e.scripts import PNG_1PX, function_calls, function_responses, inline_data, tool_reply
from tests.fakes.replies import bad_request, quota_exhausted
from tests.proxy.protocols.anthropic_grammar import assert_anthropic_stream

MODEL = "claude-sonnet-4-6"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def test_message_returns_text_usage_and_stop_reason(e2e: E2E) -> None:
    client = e2e.anthropic()
    msg = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        system=[{"type": "text", "text": "be kind", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hello claude"}],
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: hello claude"
    assert msg.stop_reason == "end_turn"
    assert msg.model == MODEL
    assert msg.usage.output_tokens > 0
    sent = e2e.gemini_requests()[-1]
    assert sent["systemInstruction"]["parts"][0]["text"] == "be kind"
    assert "cache_control" not in json.dumps(sent)


async def test_stream_helper_accumulates_the_final_message(e2e: E2E) -> None:
    client = e2e.anthropic()
    texts = []
    async with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        async for text in stream.text_stream:
            texts.append(text)
        final = await stream.get_final_message()
    assert "".join(texts) == "echo: stream it"
    assert len(texts) > 1  # really streamed, not one lump
    assert final.content[0].text == "echo: stream it"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


async def test_raw_stream_events_come_in_protocol_order(e2e: E2E) -> None:
    client = e2e.anthropic()
    events = [
        e.type
        async for e in await client.messages.create(
            model=MODEL,
            max_tokens=100,
            stream=True,
            messages=[{"role": "user", "content": "order"}],
        )
    ]
    assert events[0] == "message_start"
    assert events[-2:] == ["message_delta", "message_stop"]
    assert (
        events.index("content_block_start")
        < events.index("content_block_delta")
        < events.index("content_block_stop")
    )


async def test_stream_bytes_pass_the_grammar_check(e2e: E2E) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "think then answer"}],
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{e2e.url}/v1/messages", json=body, headers=e2e.auth_headers()) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        data = await resp.read()
    blocks = assert_anthropic_stream(data)
    assert [b["type"] for b in blocks] == ["thinking", "text"]
    assert blocks[0]["signature"]
    assert blocks[1]["text"] == "echo: think then answer"


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_round_trip(e2e: E2E, stream: bool) -> None:
    client = e2e.anthropic()
    e2e.fake.script("generate", tool_reply(("get_weather", {"city": "Lima"})))
    messages: list[dict] = [{"role": "user", "content": "weather in Lima?"}]
    if stream:
        async with client.messages.stream(
            model=MODEL, max_tokens=200, messages=messages, tools=[WEATHER_TOOL]
        ) as s:
            first = await s.get_final_message()
    else:
        first = await client.messages.create(
            model=MODEL, max_tokens=200, messages=messages, tools=[WEATHER_TOOL]
        )
    assert first.stop_reason == "tool_use"
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "Lima"}

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "fog, 15 C"}],
        },
    ]
    final = await client.messages.create(
        model=MODEL, max_tokens=200, messages=messages, tools=[WEATHER_TOOL]
    )
    assert final.content[0].text.startswith("echo: ")
    upstream = e2e.gemini_requests()[-1]
    [resp] = function_responses(upstream)
    assert resp["name"] == "get_weather" and resp["id"] == use.id
    assert "fog, 15 C" in json.dumps(resp["response"])
    [call] = function_calls(upstream)
    assert call["id"] == use.id and call["args"] == {"city": "Lima"}


async def test_base64_image_reaches_upstream_as_inline_data(e2e: E2E) -> None:
    client = e2e.anthropic()
    msg = await client.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX},
                    },
                    {"type": "text", "text": "describe"},
                ],
            }
        ],
    )
    assert msg.content[0].text == "echo: describe"
    assert inline_data(e2e.gemini_requests()[-1]) == [{"mimeType": "image/png", "data": PNG_1PX}]


async def test_count_tokens_is_local(e2e: E2E) -> None:
    client = e2e.anthropic()
    small = await client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    big = await client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "word " * 400}], tools=[WEATHER_TOOL]
    )
    assert 0 < small.input_tokens < big.input_tokens
    assert not e2e.fake.requests  # never touches an account


async def test_models_list_parses(e2e: E2E) -> None:
    client = e2e.anthropic()
    page = await client.models.list()
    ids = [m.id for m in page.data]
    assert "claude-sonnet-4-5" in ids
    assert all(m.type == "model" for m in page.data)


async def test_wrong_key_raises_authentication_error(e2e: E2E) -> None:
    client = e2e.anthropic(key="sk-wrong-key-000000")
    with pytest.raises(anthropic.AuthenticationError) as info:
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"


async def test_all_accounts_cooling_raises_rate_limit_with_retry_after(e2e: E2E) -> None:
    client = e2e.anthropic()
    e2e.fake.script("generate", quota_exhausted("30m"))
    with pytest.raises(anthropic.RateLimitError) as info:
        async with client.messages.stream(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as s:
            await s.get_final_message()
    assert 1500 < int(info.value.response.headers["retry-after"]) <= 1800
    assert info.value.body["error"]["type"] == "rate_limit_error"


async def test_upstream_400_raises_bad_request(e2e: E2E) -> None:
    client = e2e.anthropic()
    e2e.fake.script("generate", bad_request("Invalid value at 'tools[0]'"))
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert "tools[0]" in info.value.message
    assert info.value.body["error"]["type"] == "invalid_request_error"

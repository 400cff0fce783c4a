"""The official `openai` SDK (AsyncOpenAI) against agproxy: chat completions and the
Responses API — plain, streamed, tool round trips, images, and the errors it raises."""

from __future__ import annotations

import json

import openai
import pytest

from tests.e2e.conftest import E2E
from tests.e2e.scripts import PNG_1PX, function_calls, function_responses, inline_data, tool_reply
from tests.fakes.replies import bad_request, quota_exhausted

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
RESPONSES_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def test_chat_completion_returns_text_and_usage(e2e: E2E) -> None:
    client = e2e.openai()
    out = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello there"}]
    )
    assert out.choices[0].message.content == "echo: hello there"
    assert out.choices[0].finish_reason == "stop"
    assert out.model == "gpt-4o"
    assert out.usage is not None and out.usage.completion_tokens > 0
    assert e2e.gemini_requests()[-1]["contents"][-1]["parts"][0]["text"] == "hello there"


async def test_chat_stream_yields_deltas_finish_and_usage(e2e: E2E) -> None:
    client = e2e.openai()
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == "echo: stream me please"
    assert finish == "stop"
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_tool_round_trip(e2e: E2E, stream: bool) -> None:
    client = e2e.openai()
    e2e.fake.script("generate", tool_reply(("get_weather", {"city": "Paris"})))
    messages: list[dict] = [{"role": "user", "content": "weather in Paris?"}]
    if stream:
        calls: dict[int, dict] = {}
        finish = None
        async for chunk in await client.chat.completions.create(
            model="gpt-4o", messages=messages, tools=[WEATHER_TOOL], stream=True
        ):
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for tc in choice.delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = tc.id or slot["id"]
                    slot["name"] = (tc.function.name or "") if tc.function else slot["name"]
                    slot["arguments"] += (tc.function.arguments or "") if tc.function else ""
        assert finish == "tool_calls"
        [call] = calls.values()
        call_id, name, arguments = call["id"], call["name"], call["arguments"]
    else:
        first = await client.chat.completions.create(
            model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]
        )
        assert first.choices[0].finish_reason == "tool_calls"
        [tc] = first.choices[0].message.tool_calls or []
        call_id, name, arguments = tc.id, tc.function.name, tc.function.arguments
    assert name == "get_weather" and json.loads(arguments) == {"city": "Paris"}
    assert call_id.startswith("call_")

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21 C"},
    ]
    final = await client.chat.completions.create(
        model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]
    )
    assert final.choices[0].message.content.startswith("echo: ")
    upstream = e2e.gemini_requests()[-1]
    [resp] = function_responses(upstream)
    assert resp["name"] == "get_weather"
    assert resp.get("id", call_id) == call_id
    assert "sunny, 21 C" in json.dumps(resp["response"])
    [replayed] = function_calls(upstream)
    assert replayed["name"] == "get_weather" and replayed["args"] == {"city": "Paris"}


async def test_chat_parallel_tool_calls_stream_with_distinct_indexes_and_ids(e2e: E2E) -> None:
    client = e2e.openai()
    e2e.fake.script(
        "generate",
        tool_reply(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})),
    )
    seen: dict[int, dict] = {}
    async for chunk in await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "two cities"}],
        tools=[WEATHER_TOOL],
        stream=True,
    ):
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                slot = seen.setdefault(tc.index, {"id": None, "args": ""})
                slot["id"] = tc.id or slot["id"]
                slot["args"] += (tc.function.arguments or "") if tc.function else ""
    assert sorted(seen) == [0, 1]
    assert seen[0]["id"] != seen[1]["id"] and all(s["id"] for s in seen.values())
    assert [json.loads(seen[i]["args"])["city"] for i in (0, 1)] == ["Paris", "Rome"]


async def test_chat_image_data_uri_reaches_upstream_as_inline_data(e2e: E2E) -> None:
    client = e2e.openai()
    out = await client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
                ],
            }
        ],
    )
    assert out.choices[0].message.content == "echo: what is this"
    [image] = inline_data(e2e.gemini_requests()[-1])
    assert image == {"mimeType": "image/png", "data": PNG_1PX}


async def test_responses_create_returns_output_text_and_usage(e2e: E2E) -> None:
    client = e2e.openai()
    out = await client.responses.create(
        model="gpt-5", input="hi responses", instructions="be brief"
    )
    assert out.output_text == "echo: hi responses"
    assert out.status == "completed"
    assert out.usage is not None and out.usage.output_tokens > 0
    sent = e2e.gemini_requests()[-1]
    assert sent["systemInstruction"]["parts"][0]["text"] == "be brief"


async def test_responses_stream_ends_with_completed(e2e: E2E) -> None:
    client = e2e.openai()
    deltas, types = [], []
    async for event in await client.responses.create(
        model="gpt-5", input="stream responses", stream=True
    ):
        types.append(event.type)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        if event.type == "response.completed":
            assert event.response.output_text == "echo: stream responses"
            assert event.response.usage is not None
    assert "".join(deltas) == "echo: stream responses"
    assert types[0] == "response.created" and types[-1] == "response.completed"


async def test_responses_stream_helper_final_response(e2e: E2E) -> None:
    client = e2e.openai()
    async with client.responses.stream(model="gpt-5", input="helper") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.output_text == "echo: helper"


@pytest.mark.parametrize("stream", [False, True])
async def test_responses_tool_round_trip_via_previous_response_id(e2e: E2E, stream: bool) -> None:
    client = e2e.openai()
    e2e.fake.script("generate", tool_reply(("get_weather", {"city": "Oslo"})))
    if stream:
        first = None
        async for event in await client.responses.create(
            model="gpt-5", input="weather in Oslo?", tools=[RESPONSES_TOOL], stream=True
        ):
            if event.type == "response.completed":
                first = event.response
        assert first is not None
    else:
        first = await client.responses.create(
            model="gpt-5", input="weather in Oslo?", tools=[RESPONSES_TOOL]
        )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}

    final = await client.responses.create(
        model="gpt-5",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "snow, -3 C"}],
        tools=[RESPONSES_TOOL],
    )
    assert final.output_text.startswith("echo: ")
    upstream = e2e.gemini_requests()[-1]
    [resp] = function_responses(upstream)
    assert resp["name"] == "get_weather"
    assert resp.get("id", call.call_id) == call.call_id
    assert "snow, -3 C" in json.dumps(resp["response"])


async def test_wrong_key_raises_authentication_error(e2e: E2E) -> None:
    client = e2e.openai(key="sk-wrong-key-000000")
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 401
    assert "Authorization" in info.value.message or "key" in info.value.message.lower()
    assert not e2e.upstream_calls()


async def test_all_accounts_cooling_raises_rate_limit_with_retry_after(e2e: E2E) -> None:
    client = e2e.openai()
    e2e.fake.script("generate", quota_exhausted("1h"))
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    retry_after = int(info.value.response.headers["retry-after"])
    assert 3000 < retry_after <= 3600
    # The next call is refused at once: the only account is still cooling.
    with pytest.raises(openai.RateLimitError):
        await client.responses.create(model="gpt-5", input="again")
    assert len(e2e.upstream_calls()) == 1


async def test_upstream_400_raises_bad_request(e2e: E2E) -> None:
    client = e2e.openai()
    e2e.fake.script("generate", bad_request("Invalid value at 'contents[0]'"))
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    assert "contents[0]" in info.value.message
    assert len(e2e.upstream_calls()) == 1  # a client error is never retried


async def test_upstream_400_on_stream_raises_bad_request_before_commit(e2e: E2E) -> None:
    client = e2e.openai()
    e2e.fake.script("generate", bad_request("Invalid value at 'tools'"))
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
        )

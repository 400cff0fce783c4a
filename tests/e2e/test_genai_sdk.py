"""The official `google-genai` SDK against agproxy, on its default API version (`v1`:
`/v1/models/...`) and on `v1beta` (gemini-cli's): generate, stream, a function-call
round trip, images, countTokens, model listing, and the errors it raises."""

from __future__ import annotations

import base64

import pytest
from google.genai import errors, types

from tests.e2e.conftest import E2E
from tests.e2e.scripts import PNG_1PX, function_responses, inline_data, tool_reply
from tests.fakes.replies import bad_request, quota_exhausted

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)

MODEL = "gemini-2.5-flash"
VERSIONS = [None, "v1beta"]  # None: the SDK's default (v1)

WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather for a city",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.mark.parametrize("version", VERSIONS)
async def test_generate_content_returns_text_and_usage(e2e: E2E, version: str | None) -> None:
    client = e2e.genai(api_version=version)
    resp = await client.aio.models.generate_content(
        model=MODEL,
        contents="hello gemini",
        config=types.GenerateContentConfig(
            system_instruction="be terse", thinking_config=types.ThinkingConfig(thinking_budget=512)
        ),
    )
    assert resp.text == "echo: hello gemini"
    assert resp.usage_metadata is not None and resp.usage_metadata.candidates_token_count > 0
    sent = e2e.gemini_requests()[-1]
    assert sent["systemInstruction"]["parts"][0]["text"] == "be terse"
    # the SDK's snake_case thinking_budget arrives in the proto-JSON spelling
    assert sent["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 512}


@pytest.mark.parametrize("version", VERSIONS)
async def test_stream_yields_text_pieces(e2e: E2E, version: str | None) -> None:
    client = e2e.genai(api_version=version)
    pieces = [
        c.text
        async for c in await client.aio.models.generate_content_stream(
            model=MODEL, contents="a b c d"
        )
    ]
    assert len(pieces) > 1
    assert "".join(pieces) == "echo: a b c d"


@pytest.mark.parametrize("stream", [False, True])
async def test_function_call_round_trip(e2e: E2E, stream: bool) -> None:
    client = e2e.genai()
    e2e.fake.script("generate", tool_reply(("get_weather", {"city": "Kyiv"})))
    config = types.GenerateContentConfig(tools=[WEATHER], automatic_function_calling=NO_AFC)
    history: list[types.Content] = [
        types.Content(role="user", parts=[types.Part(text="weather in Kyiv?")])
    ]
    if stream:
        parts = []
        async for chunk in await client.aio.models.generate_content_stream(
            model=MODEL, contents=history, config=config
        ):
            parts += chunk.candidates[0].content.parts or []
        calls = [p.function_call for p in parts if p.function_call]
        model_turn = types.Content(role="model", parts=parts)
    else:
        first = await client.aio.models.generate_content(
            model=MODEL, contents=history, config=config
        )
        calls = first.function_calls or []
        model_turn = first.candidates[0].content
    [call] = calls
    assert call.name == "get_weather" and call.args == {"city": "Kyiv"}

    history += [
        model_turn,
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(
                    name="get_weather", response={"output": "rain, 9 C"}
                )
            ],
        ),
    ]
    final = await client.aio.models.generate_content(model=MODEL, contents=history, config=config)
    assert final.text.startswith("echo: ")
    upstream = e2e.gemini_requests()[-1]
    [resp] = function_responses(upstream)
    assert resp["name"] == "get_weather" and resp["response"] == {"output": "rain, 9 C"}


async def test_inline_image_reaches_upstream(e2e: E2E) -> None:
    client = e2e.genai()
    resp = await client.aio.models.generate_content(
        model=MODEL,
        contents=[
            types.Part.from_bytes(data=base64.b64decode(PNG_1PX), mime_type="image/png"),
            "what is it",
        ],
    )
    assert resp.text == "echo: what is it"
    assert inline_data(e2e.gemini_requests()[-1]) == [{"mimeType": "image/png", "data": PNG_1PX}]


async def test_count_tokens(e2e: E2E) -> None:
    client = e2e.genai()
    out = await client.aio.models.count_tokens(model=MODEL, contents="count these words please")
    assert out.total_tokens and out.total_tokens > 0


@pytest.mark.parametrize("version", VERSIONS)
async def test_models_list_and_get(e2e: E2E, version: str | None) -> None:
    client = e2e.genai(api_version=version)
    names = [m.name async for m in await client.aio.models.list()]
    assert f"models/{MODEL}" in names
    model = await client.aio.models.get(model=MODEL)
    assert model.name == f"models/{MODEL}"
    assert model.input_token_limit and model.output_token_limit


async def test_wrong_key_raises_client_error_401(e2e: E2E) -> None:
    client = e2e.genai(key="sk-wrong-key-000000")
    with pytest.raises(errors.ClientError) as info:
        await client.aio.models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 401
    assert info.value.status == "UNAUTHENTICATED"


async def test_all_accounts_cooling_raises_429_with_retry_after(e2e: E2E) -> None:
    client = e2e.genai()
    e2e.fake.script("generate", quota_exhausted("10m"))
    with pytest.raises(errors.ClientError) as info:
        await client.aio.models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    assert 500 < int(info.value.response.headers["retry-after"]) <= 600


async def test_upstream_400_raises_client_error(e2e: E2E) -> None:
    client = e2e.genai()
    e2e.fake.script("generate", bad_request("Invalid value at 'generation_config'"))
    with pytest.raises(errors.ClientError) as info:
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents="x"):
            pass
    assert info.value.code == 400 and "generation_config" in info.value.message

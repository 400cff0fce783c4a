"""Base-URL tolerance and model listings with the real SDKs (SPEC §3): the usual
misconfigurations still work, a wrong path gets a 404 naming the right base URLs, and
each SDK parses its own model-list shape."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from google import genai
from google.genai import types

from proxy import jsoncodec
from tests.e2e.conftest import E2E

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)


async def test_openai_sdk_without_v1_still_works(e2e: E2E) -> None:
    client = e2e.openai(base_url=e2e.url)  # POST /chat/completions, /responses
    out = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "no v1"}]
    )
    assert out.choices[0].message.content == "echo: no v1"
    resp = await client.responses.create(model="gpt-5", input="no v1 either")
    assert resp.output_text == "echo: no v1 either"


async def test_anthropic_sdk_with_v1_suffix_still_works(e2e: E2E) -> None:
    import anthropic

    client = anthropic.AsyncAnthropic(base_url=f"{e2e.url}/v1", api_key=e2e.key, max_retries=0)
    e2e.clients.append(client)
    msg = await client.messages.create(
        model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "doubled"}]
    )
    assert msg.content[0].text == "echo: doubled"


async def test_genai_with_v1beta_in_base_url_still_works(e2e: E2E) -> None:
    client = genai.Client(
        api_key=e2e.key, http_options=types.HttpOptions(base_url=f"{e2e.url}/v1beta")
    )
    e2e.clients.append(client.aio)
    resp = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="stacked")
    assert resp.text == "echo: stacked"


async def test_wrong_path_is_a_404_naming_the_base_urls(e2e: E2E) -> None:
    client = e2e.openai(base_url=f"{e2e.url}/api/openai/v2")
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    message = info.value.message
    assert f"{e2e.url}/v1" in message
    assert not e2e.upstream_calls()


async def test_openai_models_list(e2e: E2E) -> None:
    models = [m async for m in e2e.openai().models.list()]
    ids = {m.id for m in models}
    assert {"gemini-2.5-flash", "claude-sonnet-4-5"} <= ids
    assert all(m.owned_by == "agproxy" and m.object == "model" for m in models)


async def test_v1_models_with_goog_key_is_a_gemini_listing(e2e: E2E) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{e2e.url}/v1/models", headers={"x-goog-api-key": e2e.key}) as resp,
    ):
        assert resp.status == 200
        body = jsoncodec.loads(await resp.read())
    names = {m["name"] for m in body["models"]}
    assert "models/gemini-2.5-flash" in names
    assert all("generateContent" in m["supportedGenerationMethods"] for m in body["models"])


async def test_anthropic_models_list_is_anthropic_shaped(e2e: E2E) -> None:
    page = await e2e.anthropic().models.list()
    assert page.data and all(m.type == "model" and m.display_name for m in page.data)
    assert page.first_id == page.data[0].id


async def test_genai_model_get_unknown_is_404(e2e: E2E) -> None:
    from google.genai import errors

    client = e2e.genai(api_version="v1beta")
    with pytest.raises(errors.ClientError) as info:
        await client.aio.models.get(model="no-such-model")
    assert info.value.code == 404

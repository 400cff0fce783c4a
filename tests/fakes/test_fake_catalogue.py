"""The fake upstream's catalogue behaviours speak Google's wire protocol (the proxy's
catalogue tests rely on them): fetchAvailableModels, paged GET /v1beta/models, 404
for ids an account does not serve, the version gate in both forms, down and back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.catalogue import (
    INTERNAL_IDS,
    VERSION_GATE_MESSAGE,
    gemini_key_today,
    last_month,
    today,
)
from tests.fakes.upstream import FakeUpstream

UA = "antigravity/1.15.8 linux/amd64"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as f:
        f.use_catalogues(today())
        yield f


async def call(fake: FakeUpstream, method: str, body: dict[str, Any], *, token: str = "tok-a",
               ua: str = UA) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(
            f"{fake.endpoints[0]}:{method}", json=body,
            headers={"Authorization": f"Bearer {token}", "User-Agent": ua}) as r:
        text = await r.text()
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, text


async def generate(fake: FakeUpstream, model: str, project: str = "proj-a", **kw: Any) -> tuple[int, Any]:
    body = {"project": project, "model": model, "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    return await call(fake, "generateContent", body, **kw)


async def list_key_models(fake: FakeUpstream, key: str, **query: str) -> tuple[int, Any]:
    headers = {"x-goog-api-key": key} if key else {}
    async with aiohttp.ClientSession() as s, s.get(f"{fake.url}/v1beta/models", params=query, headers=headers) as r:
        return r.status, await r.json()


async def test_fetch_available_models_lists_models_deprecations_and_internal_entries(fake: FakeUpstream) -> None:
    status, data = await call(fake, "fetchAvailableModels", {"project": "proj-a"})
    assert status == 200
    sonnet = data["models"]["claude-sonnet-4-7"]
    assert sonnet["displayName"] == "Claude Sonnet 4.7" and sonnet["maxTokens"] == 200_000
    assert sonnet["supportsThinking"] is True and sonnet["quotaInfo"]["remainingFraction"] == 1.0
    assert sonnet["quotaInfo"]["resetTime"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert data["deprecatedModelIds"]["claude-sonnet-4-6"] == {"newModelId": "claude-sonnet-4-7"}
    for internal in INTERNAL_IDS:
        assert internal in data["models"] and "displayName" not in data["models"][internal]
    sorted_ids = data["agentModelSorts"][0]["groups"][0]["modelIds"]
    assert "claude-sonnet-4-7" in sorted_ids and not set(INTERNAL_IDS) & set(sorted_ids)


async def test_generation_of_an_id_the_account_does_not_serve_is_googles_404(fake: FakeUpstream) -> None:
    not_found = {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
    for model in ("claude-sonnet-4-6", "gemini-2.5-pro", "chat_20706", "gemini-3.8-flash"):  # deprecated, retired, internal, unknown
        assert await generate(fake, model) == (404, not_found), model
    status, data = await generate(fake, "claude-sonnet-4-7")
    assert status == 200 and data["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi"


async def test_catalogues_are_per_account_and_change_while_running(fake: FakeUpstream) -> None:
    fake.set_catalogue("proj-b", last_month())
    assert (await generate(fake, "claude-sonnet-4-6", project="proj-b"))[0] == 200
    assert (await generate(fake, "claude-sonnet-4-6", project="proj-a"))[0] == 404
    fake.catalogue("proj-a").add("gemini-3.8-flash", display_name="Gemini 3.8 Flash")
    assert (await generate(fake, "gemini-3.8-flash", project="proj-a"))[0] == 200
    assert (await generate(fake, "gemini-3.8-flash", project="proj-b"))[0] == 404
    fake.rename_model("proj-a", "gemini-3.5-flash", "gemini-3.6-flash")
    assert (await generate(fake, "gemini-3.5-flash"))[0] == 404
    _, data = await call(fake, "fetchAvailableModels", {"project": "proj-a"})
    assert data["deprecatedModelIds"]["gemini-3.5-flash"] == {"newModelId": "gemini-3.6-flash"}
    assert "gemini-3.6-flash" in data["models"] and "gemini-3.5-flash" not in data["models"]


async def test_an_exhausted_model_answers_429_quota_until_it_resets(fake: FakeUpstream) -> None:
    fake.catalogue("proj-a").set_quota("gemini-3.5-flash", 0.0, reset_in=600)
    status, data = await generate(fake, "gemini-3.5-flash")
    assert status == 429 and data["error"]["details"][0]["reason"] == "QUOTA_EXHAUSTED"
    assert (await generate(fake, "gemini-3.1-pro-high"))[0] == 200


@pytest.mark.parametrize("form", ["error", "text"])
async def test_version_gate_refuses_old_clients_in_both_forms(fake: FakeUpstream, form: str) -> None:
    fake.gate_versions_below("1.16.0", form=form)
    status, data = await generate(fake, "claude-sonnet-4-7")
    if form == "error":
        assert status == 400 and data["error"]["message"] == VERSION_GATE_MESSAGE
    else:
        assert status == 200 and data["response"]["candidates"][0]["content"]["parts"] == [{"text": VERSION_GATE_MESSAGE}]
    assert (await generate(fake, "claude-sonnet-4-7", ua="antigravity/1.16.2 linux/amd64"))[0] == 200
    assert (await call(fake, "fetchAvailableModels", {"project": "proj-a"}))[0] == 200  # catalogue reads pass
    fake.ungate()
    assert (await generate(fake, "claude-sonnet-4-7"))[1]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi"


async def test_version_gate_text_form_streams_the_message_as_the_whole_reply(fake: FakeUpstream) -> None:
    fake.gate_versions_below("1.16.0", form="text")
    body = {"project": "proj-a", "model": "gemini-3.5-flash", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    status, text = await call(fake, "streamGenerateContent?alt=sse", body)
    assert status == 200 and VERSION_GATE_MESSAGE in text and "echo" not in text


async def test_gemini_key_models_are_paged_and_a_bad_key_is_refused(fake: FakeUpstream) -> None:
    fake.gemini_page_size = 4
    ids: list[str] = []
    methods: dict[str, list[str]] = {}
    token = ""
    for _ in range(10):
        status, page = await list_key_models(fake, "AIzaGOOD", **({"pageToken": token} if token else {}))
        assert status == 200
        ids += [m["name"].removeprefix("models/") for m in page["models"]]
        methods.update({m["name"]: m["supportedGenerationMethods"] for m in page["models"]})
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert ids == list(gemini_key_today().models)
    assert "generateContent" in methods["models/gemini-3.5-flash"]
    assert "generateContent" not in methods["models/text-embedding-004"]
    fake.invalid_keys.add("AIzaBAD")
    status, err = await list_key_models(fake, "AIzaBAD")
    assert status == 400 and err["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert (await list_key_models(fake, ""))[0] == 403


async def test_gemini_key_generation_of_a_model_it_lacks_is_a_404(fake: FakeUpstream) -> None:
    async with aiohttp.ClientSession() as s:
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        for model, expected in (("gemini-3.5-flash", 200), ("gemini-3.8-flash", 404), ("text-embedding-004", 404)):
            async with s.post(f"{fake.url}/v1beta/models/{model}:generateContent", json=body,
                              headers={"x-goog-api-key": "AIzaGOOD"}) as r:
                assert r.status == expected, model


async def test_a_stopped_fake_refuses_connections_and_comes_back_on_the_same_port(fake: FakeUpstream) -> None:
    url = fake.url
    async with fake.down():
        with pytest.raises(aiohttp.ClientConnectionError):
            await generate(fake, "gemini-3.5-flash")
    assert fake.url == url and (await generate(fake, "gemini-3.5-flash"))[0] == 200


async def test_without_a_catalogue_the_fake_serves_any_model_as_before() -> None:
    async with FakeUpstream() as plain:
        assert (await generate(plain, "anything-at-all"))[0] == 200
        _, data = await call(plain, "fetchAvailableModels", {"project": "proj-a"})
        assert set(data["models"]) == set(plain.quota)

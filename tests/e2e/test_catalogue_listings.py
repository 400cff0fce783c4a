"""Model listings come from the live catalogue (SPEC §9): `GET /v1/models` (OpenAI and
Anthropic shapes) and `/v1beta/models` hold the offered ids — no internal, deprecated
or retired ones — and every id listed answers when requested."""

from __future__ import annotations

import pytest

from tests.e2e.catalogue_clients import ask
from tests.e2e.conftest import E2E
from tests.fakes.catalogue import INTERNAL_IDS, last_month, today

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
SHARED = pytest.mark.asyncio(loop_scope="module")  # on the module's one proxy (moved_shared): it only asks

TODAY = today()
GONE = set(INTERNAL_IDS) | set(TODAY.deprecated) | (set(last_month().models) - set(TODAY.models))


async def listed(env: E2E) -> dict[str, set[str]]:
    openai_ids = {m.id async for m in env.openai().models.list()}
    anthropic_ids = {m.id async for m in env.anthropic().models.list(limit=1000)}
    pager = await env.genai(api_version="v1beta").aio.models.list()
    gemini_ids = {(m.name or "").removeprefix("models/") async for m in pager}
    return {"openai": openai_ids, "anthropic": anthropic_ids, "gemini": gemini_ids}


@SHARED
async def test_listings_hold_the_offered_ids_and_nothing_internal_or_deprecated(moved_shared: E2E) -> None:
    for shape, ids in (await listed(moved_shared)).items():
        assert set(TODAY.offered) <= ids, (shape, set(TODAY.offered) - ids)
        assert not ids & GONE, (shape, ids & GONE)


@SHARED
async def test_every_listed_id_answers(moved_shared: E2E) -> None:
    ids = (await listed(moved_shared))["openai"]
    assert ids
    for model in sorted(ids):
        face = "anthropic" if model.startswith("claude-") else "openai_chat"
        text, _ = await ask(moved_shared, face, model, f"listed {model}")
        assert text == f"echo: listed {model}", model
    for model in sorted((await listed(moved_shared))["gemini"]):
        text, _ = await ask(moved_shared, "genai", model, "listed")
        assert text == "echo: listed", model


async def test_a_listing_follows_the_catalogue_while_the_proxy_runs(moved: E2E) -> None:
    moved.fake.add_model(None, "gemini-3.8-flash", display_name="Gemini 3.8 Flash")
    moved.fake.retire_model(None, "gemini-3-pro-low")
    await moved.service.refresh_quotas()
    for shape, ids in (await listed(moved)).items():
        assert "gemini-3.8-flash" in ids and "gemini-3-pro-low" not in ids, shape

"""Model names resolve against what the accounts serve today (SPEC §9), through the
three faces with the official SDKs, against an upstream whose catalogue has moved on
(tests/fakes/catalogue.py): deprecated ids are answered by their replacement, every
client's default name by an offered model, and a catalogue that changes while the
proxy runs is followed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy import jsoncodec
from proxy.accounts.importers import import_path
from tests.e2e.catalogue_clients import ask, mapped_model
from tests.e2e.conftest import E2E, E2EFactory
from tests.e2e.test_client_captures import CLIENTS, replay_headers
from tests.fakes.catalogue import ModelInfo, gemini_key_today, last_month, today

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
SHARED = pytest.mark.asyncio(loop_scope="module")  # on the module's one proxy (moved_shared): it only asks

TODAY = today()
OFFERED = set(TODAY.offered)


def last_upstream_model(env: E2E) -> str:
    return env.fake.calls("generate")[-1].model


# -- deprecated ids ---------------------------------------------------------------------


@SHARED
@pytest.mark.parametrize(("face", "model", "replacement"), [
    ("anthropic", "claude-sonnet-4-6", "claude-sonnet-4-7"),
    ("openai_chat", "claude-sonnet-4-6", "claude-sonnet-4-7"),
    ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-7"),  # a chain: 4.5 → 4.6 → 4.7
    ("genai", "gemini-3-flash", "gemini-3.5-flash"),
    ("openai_responses", "gemini-2.5-flash-thinking", "gemini-3.5-flash"),
])
async def test_a_deprecated_id_is_answered_by_its_replacement(moved_shared: E2E, face: str, model: str,
                                                               replacement: str) -> None:
    text, headers = await ask(moved_shared, face, model, "renamed?")
    assert text == "echo: renamed?"
    assert last_upstream_model(moved_shared) == replacement
    header = headers["x-agproxy-mapped-model"]
    assert mapped_model(headers) == replacement and "deprecat" in header.lower(), header


@SHARED
async def test_the_readme_example_model_is_answered_not_rate_limited(moved_shared: E2E) -> None:
    """The issue's first report: README's claude-sonnet-4-6 gave 502 then 429s."""
    for _ in range(3):
        text, _ = await ask(moved_shared, "anthropic", "claude-sonnet-4-6", "readme")
        assert text == "echo: readme"


# -- client defaults --------------------------------------------------------------------


@SHARED
@pytest.mark.parametrize(("face", "model", "family"), [
    ("anthropic", "claude-opus-4-8", "claude-opus-"),  # Claude Code's default
    ("anthropic", "claude-sonnet-4-6", "claude-sonnet-"),
    ("anthropic", "claude-haiku-4-5", ""),  # "a fast model"
    ("openai_responses", "gpt-5", ""),  # Codex's default: the strongest offered
    ("openai_responses", "gpt-5-codex", ""),
    ("openai_chat", "gpt-4o", ""),
    ("openai_chat", "gpt-4o-mini", ""),
    ("genai", "gemini-3.8-flash", "gemini-"),  # gemini-cli 0.61's main model
    ("genai", "gemini-3.5-flash-lite", "gemini-"),  # gemini-cli 0.61's router model
    ("genai", "gemini-3-pro-preview", "gemini-"),
    ("genai", "gemini-2.5-flash", "gemini-2.5-flash"),
])
async def test_each_client_default_is_answered_by_an_offered_model(moved_shared: E2E, face: str, model: str,
                                                                   family: str) -> None:
    text, headers = await ask(moved_shared, face, model, "default name")
    assert text == "echo: default name"
    upstream = last_upstream_model(moved_shared)
    assert upstream in OFFERED, upstream
    assert upstream.startswith(family), upstream
    assert mapped_model(headers) == upstream


@SHARED
async def test_flash_and_flash_lite_names_stay_in_their_families(moved_shared: E2E) -> None:
    await ask(moved_shared, "genai", "gemini-3.8-flash", "main")
    flash = last_upstream_model(moved_shared)
    await ask(moved_shared, "genai", "gemini-3.5-flash-lite", "router")
    lite = last_upstream_model(moved_shared)
    assert "flash" in flash and "lite" not in flash, flash
    assert "flash-lite" in lite, lite


@SHARED
async def test_a_thinking_request_gets_the_thinking_variant_when_one_is_offered(moved_shared: E2E) -> None:
    client = moved_shared.anthropic()
    msg = await client.messages.create(model="claude-sonnet-4-6-20260101", max_tokens=2048,
                                       thinking={"type": "enabled", "budget_tokens": 1024},
                                       messages=[{"role": "user", "content": "think"}])
    assert any(b.type == "text" and b.text == "echo: think" for b in msg.content)
    assert last_upstream_model(moved_shared) == "claude-sonnet-4-7-thinking"


@SHARED
@pytest.mark.parametrize("scenario", ["claude-apikey", "claude-haiku-json", "codex-responses",
                                      "gemini-default"])
async def test_captured_cli_requests_are_answered_by_offered_models(moved_shared: E2E, scenario: str) -> None:
    """Claude Code's, Codex's and gemini-cli's real requests, as they sent them."""
    async with aiohttp.ClientSession() as session:
        for file in sorted((CLIENTS / scenario).glob("*-POST-*.json")):
            capture = json.loads(file.read_text())
            before = len(moved_shared.fake.calls("generate"))
            async with session.post(moved_shared.url + capture["raw_path"], data=jsoncodec.dumps(capture["body"]),
                                    headers=replay_headers(capture["headers"], moved_shared.key)) as resp:
                payload = await resp.read()
                assert resp.status == 200, (file.name, payload[:400])
            sent = moved_shared.fake.calls("generate")[before:]
            assert sent and all(r.model in OFFERED for r in sent), (file.name, [r.model for r in sent])


# -- which account serves what ----------------------------------------------------------


async def test_an_account_is_only_sent_models_its_catalogue_lists(moved_factory: E2EFactory) -> None:
    env = await moved_factory(accounts=("a", "b"))
    env.fake.set_catalogue("proj-b", last_month())
    await env.service.refresh_quotas()
    for i in range(4):
        await ask(env, "openai_chat", "claude-sonnet-4-7", f"new {i}")
        await ask(env, "openai_chat", "gemini-2.5-pro", f"old {i}")  # retired today, offered last month
    for call in env.fake.calls("generate"):
        project = call.body["project"]
        assert call.model in (TODAY.offered if project == "proj-a" else last_month().offered), (project, call.model)
    assert {c.body["project"] for c in env.fake.calls("generate") if c.model == "gemini-2.5-pro"} == {"proj-b"}
    assert {c.body["project"] for c in env.fake.calls("generate") if c.model == "claude-sonnet-4-7"} == {"proj-a"}


async def test_gemini_keys_are_sent_what_their_paged_model_list_offers(e2e_factory: E2EFactory) -> None:
    from proxy.accounts.model import Account

    env = await e2e_factory(accounts=(), start=False)
    env.fake.use_catalogues(today(), gemini_key_today())
    env.fake.gemini_page_size = 4  # the key's 11 models come in three pages
    env.service.accounts.add(Account.gemini_key("AIzaFAKEkey000000000000000000000000000"))
    await env.service.start()
    await env.service.refresh_quotas()
    text, _ = await ask(env, "genai", "gemini-3.8-flash", "on a key")
    assert text == "echo: on a key"
    used = env.fake.calls("gemini")[-1].model
    assert used in set(gemini_key_today().offered) and "flash" in used and "lite" not in used, used
    assert len(env.fake.calls("gemini_list")) >= 3


# -- a catalogue that moves while the proxy runs ----------------------------------------


async def test_a_model_added_upstream_is_served_after_the_next_catalogue_read(moved: E2E) -> None:
    await ask(moved, "genai", "gemini-3.8-flash", "before")
    assert last_upstream_model(moved) != "gemini-3.8-flash"  # not offered yet: a flash stands in
    moved.fake.add_model(None, "gemini-3.8-flash", display_name="Gemini 3.8 Flash", thinking=True)
    await moved.service.refresh_quotas()  # the next catalogue read (every 10 minutes)
    text, headers = await ask(moved, "genai", "gemini-3.8-flash", "after")
    assert text == "echo: after"
    assert last_upstream_model(moved) == "gemini-3.8-flash" and mapped_model(headers) == "gemini-3.8-flash"


async def test_a_model_renamed_upstream_is_followed_without_waiting_for_a_read(moved: E2E) -> None:
    moved.fake.rename_model(None, "gemini-3.5-flash", "gemini-3.6-flash")  # the proxy has not read it yet
    text, _ = await ask(moved, "genai", "gemini-3.5-flash", "renamed under us")
    assert text == "echo: renamed under us"  # its 404 made the proxy re-read and follow the rename
    assert last_upstream_model(moved) == "gemini-3.6-flash"
    text, _ = await ask(moved, "openai_chat", "gemini-3.5-flash", "and again")
    assert text == "echo: and again" and last_upstream_model(moved) == "gemini-3.6-flash"


# -- quota known from the start ----------------------------------------------------------

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference_accounts"


async def test_an_imported_account_knows_its_quota_at_start(e2e_factory: E2EFactory) -> None:
    env = await e2e_factory(accounts=(), start=False)
    report = import_path(env.service.accounts, REFERENCE / "single.json")
    assert report.added
    imported = env.service.accounts.get(report.added[0])
    assert imported is not None
    catalogue = today()
    catalogue.models["claude-sonnet-4-7"] = ModelInfo(display_name="Claude Sonnet 4.7", remaining=0.37,
                                                      max_tokens=200_000, max_output_tokens=64_000)
    env.fake.use_catalogues(catalogue)
    await env.service.start()  # no request, no explicit refresh: the start reads it
    deadline = time.monotonic() + 10
    acc: Any = None
    while time.monotonic() < deadline:
        acc = env.service.accounts.get(imported.id)
        quota = acc.quota.get("claude-sonnet-4-7") if acc else None
        if quota is not None:
            break
        await _tick()
    assert acc is not None and "claude-sonnet-4-7" in acc.quota, "quota still unknown after start"
    assert acc.quota["claude-sonnet-4-7"].remaining_fraction == pytest.approx(0.37)
    assert acc.quota["gemini-3.5-flash"].remaining_fraction == pytest.approx(1.0)


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.05)

"""The Traffic detail says how the upstream model was chosen (SPEC §9), for a real
request through the TUI's proxy to the fake Google upstream, in-process and attached."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from proxy.config.store import ConfigStore
from proxy.paths import resolve_paths
from tests.fakes.upstream import FakeUpstream
from tests.tui.test_accounts import open_tab, prompt_answer, table_text, until
from tui.screens.detail import DetailScreen
from tui.widgets.traffic import TrafficPane


@pytest.fixture
async def google(home: Path, port: int) -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(email="new.user@example.com") as upstream:
        store = ConfigStore(resolve_paths())
        store.load()
        store.set("upstream.oauth_token_url", upstream.token_url)
        store.set("upstream.oauth_userinfo_url", upstream.userinfo_url)
        store.set("upstream.antigravity_endpoints", upstream.endpoints)
        yield upstream


async def test_detail_names_the_rule_that_chose_the_upstream_model(google, port, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "a", "1//0-some-refresh-token")
        await until(pilot, lambda: "new.user@example.com" in table_text(app))
        await pilot.press("s")
        await until(pilot, lambda: app.controller.status().running)
        async with aiohttp.ClientSession() as http:
            body = {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as r:
                assert r.status == 200, await r.text()
                header = r.headers["X-Agproxy-Mapped-Model"]
        upstream_model, rule = header.split('; rule="')
        rule = rule.rstrip('"')
        assert rule.startswith("family")
        await pilot.press("1")
        pane = app.query_one(TrafficPane)
        await until(pilot, lambda: any(r.status == 200 for r in pane.records.values()))
        await pilot.press("end", "enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await until(pilot, lambda: rule in app.screen.plain_text(200))
        text = app.screen.plain_text(200)
        assert "gpt-5" in text and upstream_model in text
        assert re.search(rf"chosen by\s+{re.escape(rule)}", text)

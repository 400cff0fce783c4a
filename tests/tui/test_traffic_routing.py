"""The Traffic detail says how the upstream model was chosen (SPEC §9), for a real
request through the TUI's proxy to the fake Google upstream, in-process and attached."""

from __future__ import annotations

import re

import aiohttp

from tests.tui.test_accounts import open_tab, prompt_answer, table_text, until
from tui.screens.detail import DetailScreen
from tui.widgets.traffic import TrafficPane


async def test_detail_names_the_rule_that_chose_the_upstream_model(fake, port, make_app) -> None:
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

"""The Stats tab (key 6) and its client keys section, driven with Textual's pilot."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from rich.console import Console
from textual.widgets import Static

from proxy.config.store import ConfigStore
from proxy.keys.store import KeyStore, hash_key
from proxy.paths import resolve_paths
from tests.tui.conftest import notes
from tests.tui.test_accounts import until
from tui.app import AgproxyApp
from tui.demo import DemoApp
from tui.screens.dialogs import ConfirmScreen, PromptScreen
from tui.widgets.stats import StatsPane, share_bar


def text_of(app, selector: str) -> str:
    console = Console(width=100, record=True, color_system=None)
    console.print(app.main_query(selector, Static).content)
    return console.export_text()


async def wait_loaded(pilot, pane: StatsPane, after: int) -> None:
    for _ in range(200):  # bounded: a worker thread answers from SQLite
        if pane.loads > after:
            return
        await pilot.pause(0.02)
    raise AssertionError("the stats never loaded")


async def test_stats_tab_shows_real_requests_by_model_account_and_key(gemini, port, make_app) -> None:
    app = await make_app()  # attached: the numbers come from the serve's rollups
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("s")
        await until(pilot, lambda: app.controller.status().running)
        async with aiohttp.ClientSession() as http:
            body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
            for _ in range(3):
                async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as r:
                    assert r.status == 200, await r.text()
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{") as r:
                assert r.status == 400
        pane = app.main_query(StatsPane)
        before = pane.loads
        await pilot.press("6")
        await wait_loaded(pilot, pane, before)
        by_model = text_of(app, "#stats-by-model")
        assert "gemini-2.5-flash" in by_model and " 3 " in by_model and "75%" in by_model
        assert "4 total" in text_of(app, "#chart-requests .stats-chart-value")
        assert "25.0% overall" in text_of(app, "#chart-errors .stats-chart-value")
        assert "key …0001" in text_of(app, "#stats-by-account")
        assert "(proxy key)" in text_of(app, "#stats-by-key")


async def test_brackets_change_the_range(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        pane = app.main_query(StatsPane)
        assert pane.range == "24h"
        before = pane.loads
        await pilot.press("right_square_bracket")
        assert pane.range == "7d"
        await wait_loaded(pilot, pane, before)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert pane.range == "1h"


def stored_keys(home: Path) -> KeyStore:
    """keys.json as the serving process wrote it."""
    store = KeyStore(home)
    store.load()
    return store


def key_rows(app) -> dict[str, str]:
    """name → state, as the keys table shows them."""
    table = app.main_query("#keys-table")
    return {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[2]) for i in range(table.row_count)}


async def answer_yes(pilot, app) -> None:
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    await pilot.click("#yes")


async def shown_key(pilot, app) -> str:
    """The key the "shown only now" dialog holds (then closed with Copy)."""
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and "sk-ag-" in app.screen.question)
    key = app.screen.question.split()[-1]
    await pilot.click("#yes")
    assert app.clipboard == key
    return key


async def models_status(port: int, key: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(
        f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {key}"}
    ) as r:
        return r.status


async def test_client_keys_added_revoked_rotated_removed_apply_at_once(home, gemini, port, make_app) -> None:
    """Every change goes to the process that serves the keys: an attached TUI's revoke is
    refused by the serve on the very next request (no file poll in between)."""
    store = ConfigStore(resolve_paths())
    store.load()
    store.set("proxy.auth_mode", "all_except_health")
    app = await make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("s")
        await until(pilot, lambda: app.controller.status().running)
        await pilot.press("6", "n")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"alice rpm=50", "enter")
        key = await shown_key(pilot, app)
        assert key.startswith("sk-ag-") and await models_status(port, key) == 200
        stored = stored_keys(home).by_name["alice"]
        assert stored.hash == hash_key(key) and stored.rpm == 50
        assert key not in (home / "keys.json").read_text()
        await until(pilot, lambda: key_rows(app) == {"alice": "active"})

        await pilot.press("v")
        assert "'alice'" in app.screen.question
        await answer_yes(pilot, app)
        await until(pilot, lambda: key_rows(app) == {"alice": "revoked"})
        assert await models_status(port, key) == 401

        await pilot.press("R")
        await answer_yes(pilot, app)
        rotated = await shown_key(pilot, app)
        assert rotated != key and await models_status(port, rotated) == 200
        assert await models_status(port, key) == 401
        await until(pilot, lambda: key_rows(app) == {"alice": "active"})
        await pilot.press("y")
        assert app.clipboard == rotated[:10]  # the prefix, without the ellipsis

        await pilot.press("x")
        await answer_yes(pilot, app)
        await until(pilot, lambda: key_rows(app) == {})
        assert await models_status(port, rotated) == 401
        assert "alice" not in stored_keys(home).by_name


async def test_a_key_the_proxy_refuses_says_why(home, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("6", "n", *"alice", "enter")
        await shown_key(pilot, app)
        await pilot.press("n", *"alice", "enter")  # the serving process refuses a second alice
        await until(pilot, lambda: any("a key named 'alice' exists" in n for n in notes(app, "error")))
        assert list(stored_keys(home).by_name) == ["alice"]
        assert key_rows(app) == {"alice": "active"}


async def test_a_bad_new_key_line_says_why(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("6", "n", *"alice rpm=lots", "enter")
        await pilot.pause()
        assert any("rpm must be a whole number" in n.message for n in app._notifications)
        assert "alice" not in stored_keys(home).by_name


def test_share_bars_fill_in_eighths() -> None:
    assert share_bar(1.0, 4) == "████"
    assert share_bar(0.5, 4) == "██  "
    assert share_bar(0.0625, 4) == "▎   "


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_stats_tab(snap_compare, home, size) -> None:
    async def loaded(pilot) -> None:
        pane = pilot.app.main_query(StatsPane)
        before = pane.loads
        await pilot.press("6")
        await wait_loaded(pilot, pane, before)

    assert snap_compare(DemoApp(), run_before=loaded, terminal_size=size)


async def test_a_key_added_while_auth_is_off_says_it_is_not_checked(home, gemini, port, make_app) -> None:
    """Under `off` the proxy accepts any key, so a new key and its limits do nothing yet:
    the dialog and the shown-once key say so; under `strict` they do not."""
    app = await make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("s")
        await until(pilot, lambda: app.controller.status().running)
        assert app.controller.status().auth_mode == "off"
        await pilot.press("6", "n")
        assert isinstance(app.screen, PromptScreen)
        assert "not checked until proxy.auth_mode is all_except_health or strict" in app.screen.extra
        await pilot.press(*"alice rpm=1", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "not checked until proxy.auth_mode" in app.screen.question
        key = await shown_key(pilot, app)
        # it really is not checked: rpm=1, yet a second request in the minute passes
        assert await models_status(port, key) == 200 and await models_status(port, key) == 200
        await pilot.press("s")
        await until(pilot, lambda: not app.controller.status().running)
        await app.controller.save_config(app.config.with_value("proxy.auth_mode", "strict"))
        await until(pilot, lambda: app.config.proxy.auth_mode == "strict")
        await pilot.press("n")
        assert isinstance(app.screen, PromptScreen)
        assert "not checked" not in app.screen.extra

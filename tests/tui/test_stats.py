"""The Stats tab (key 6) and its client keys section, driven with Textual's pilot."""

from __future__ import annotations

import pytest
from rich.console import Console
from textual.widgets import Static

from proxy.keys.store import hash_key
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


def finish(monitor, **fields) -> None:
    rec = monitor.begin(
        method="POST",
        path="/v1/messages",
        protocol="anthropic",
        client="c",
        user_agent="u",
        headers={},
        body=None,
    )
    for k, v in fields.items():
        setattr(rec, k, v)
    monitor.finish(rec, status=fields.pop("status", 200))


async def test_stats_tab_shows_usage_by_model_account_and_key(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 40)) as pilot:
        for _ in range(3):
            finish(
                app.monitor,
                client_model="claude-sonnet-4-5",
                account="alice@example.com",
                client_key="alice",
                input_tokens=1000,
                output_tokens=100,
            )
        finish(
            app.monitor,
            client_model="gemini-2.5-pro",
            account="bob@example.com",
            input_tokens=10,
            output_tokens=1,
        )
        pane = app.main_query(StatsPane)
        before = pane.loads
        await pilot.press("6")
        await wait_loaded(pilot, pane, before)
        by_model = text_of(app, "#stats-by-model")
        assert "claude-sonnet-4-5" in by_model and "75%" in by_model and "3.3k" in by_model
        assert "gemini-2.5-pro" in by_model and "25%" in by_model
        assert "alice@example.com" in text_of(app, "#stats-by-account")
        by_key = text_of(app, "#stats-by-key")
        assert "alice" in by_key and "(proxy key)" in by_key


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


async def test_a_new_key_is_shown_once_copyable_and_only_its_hash_is_kept(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("6", "n")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"alice rpm=5", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        key = app.screen.question.split()[-1]
        assert key.startswith("sk-ag-")
        stored = app.key_store().by_name["alice"]
        assert stored.hash == hash_key(key) and stored.rpm == 5
        await pilot.click("#yes")
        assert app.clipboard == key
        assert key not in (home / "keys.json").read_text()
        assert app.main_query("#keys-table").row_count == 1


async def test_revoke_from_the_keys_section(home) -> None:
    app = AgproxyApp()
    app.key_store().add("ci")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("6")
        app.main_query(StatsPane).query_one("#keys-table").reload()
        await pilot.press("v")
        assert isinstance(app.screen, ConfirmScreen) and "'ci'" in app.screen.question
        await pilot.click("#yes")
        assert app.key_store().by_name["ci"].revoked


async def test_a_bad_new_key_line_says_why(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("6", "n", *"alice rpm=lots", "enter")
        await pilot.pause()
        assert any("rpm must be a whole number" in n.message for n in app._notifications)
        assert "alice" not in app.key_store().by_name


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

"""The Settings form follows edits made outside the TUI (`agproxy config set` from
another shell): refreshed when the form is clean, a notice when it holds edits, a
broken file reported and not applied."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.widgets import Input

from proxy.cli import main
from tests.tui.conftest import notes
from tui.app import AgproxyApp
from tui.widgets.mapping import MappingTable
from tui.widgets.settings import SettingsPane

SIZE = (120, 40)


async def cli(*argv: str) -> int:
    """`agproxy …` from another thread, as from another shell: the TUI's loop keeps
    serving its control socket meanwhile (the CLI goes through it)."""
    return await asyncio.to_thread(main, list(argv))


async def until(pilot, check: Callable[[], object], timeout: float = 6.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


async def test_outside_change_refreshes_a_clean_form(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        pane = app.query_one(SettingsPane)
        assert await cli("config", "set", "proxy.request_timeout", "333") == 0
        assert await cli("config", "set", "model_mapping.gpt-x", "gemini-3-flash") == 0
        await until(pilot, lambda: pane.field("proxy.request_timeout").text == "333")
        assert app.config.proxy.request_timeout == 333  # applied to the service too
        assert pane.dirty() == []
        table = app.query_one(MappingTable)
        await until(pilot, lambda: table.get_row_at(0) == ["gpt-x", "gemini-3-flash"])


async def test_outside_change_keeps_unsaved_edits_with_a_notice(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        pane = app.query_one(SettingsPane)
        control = pane.field("proxy.max_body_mb").control
        assert isinstance(control, Input)
        control.value = "50"
        await pilot.pause()
        assert len(pane.dirty()) == 1
        assert await cli("config", "set", "proxy.request_timeout", "444") == 0
        await until(pilot, lambda: notes(app, "warning"))
        assert "unsaved edit" in notes(app, "warning")[-1]
        assert control.value == "50"  # the user's edit survives
        assert pane.field("proxy.request_timeout").text == "444"


async def test_broken_file_is_reported_once_and_not_applied(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        port = app.config.proxy.port
        path = home / "config.toml"
        path.write_text(path.read_text().replace("port = ", "port = [", 1))
        await until(pilot, lambda: notes(app, "error"))
        assert "cannot parse" in notes(app, "error")[0]
        assert app.config.proxy.port == port
        await pilot.pause(2.5)  # the next polls do not repeat the notice
        assert len(notes(app, "error")) == 1

"""One bindings table drives the footer, the help screen and the command palette."""

from __future__ import annotations

from textual.command import CommandPalette

from tui.bindings import TABLE, key_label, palette_entries
from tui.commands import AgproxyCommands
from tui.demo import DemoApp
from tui.screens.help import HelpScreen, help_table


def test_help_lists_every_binding() -> None:
    from rich.console import Console

    console = Console(width=100, record=True, color_system=None)
    console.print(help_table())
    text = console.export_text()
    for k in TABLE:
        if k.scope != "help":
            assert k.description in text and key_label(k) in text


async def test_question_mark_opens_help_and_escape_closes(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_offers_every_action_and_runs_it(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(100, 30)) as pilot:
        provider = AgproxyCommands(app.screen)
        names = [hit.text async for hit in provider.discover()]
        assert len(names) == len(palette_entries())
        assert "Traffic: Pause" in names and "Start/stop" in names
        hits = [hit async for hit in provider.search("settings tab")]
        assert hits
        await hits[0].command()
        await pilot.pause()
        assert app.query_one("#tabs").active == "settings"
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)


async def test_t_toggles_light_and_dark(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        dark = app.current_theme.dark
        await pilot.press("t")
        assert app.current_theme.dark != dark


async def test_number_keys_switch_tabs(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        for key, tab in zip("21345", ("accounts", "traffic", "settings", "connect", "log")):
            await pilot.press(key)
            await pilot.pause()
            assert app.query_one("#tabs").active == tab

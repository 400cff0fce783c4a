"""The model mapping editor of the Settings tab: add / edit / delete rows saved through
ConfigStore, built-in routes copied to override them, the live resolve line."""

from __future__ import annotations

from textual.widgets import Input, Static

from proxy.config.store import ConfigStore
from proxy.paths import resolve_paths
from tui.app import AgproxyApp
from tui.widgets.mapping import MappingEditor, MappingTable, RoutesTable, explain

SIZE = (120, 40)


def saved_mapping() -> dict[str, str]:
    store = ConfigStore(resolve_paths())
    return dict(store.load().model_mapping)


def text_of(widget: Static) -> str:
    return str(widget.render())


async def type_entry(pilot, editor: MappingEditor, pattern: str, target: str) -> None:
    editor.query_one("#map-pattern", Input).value = pattern
    target_input = editor.query_one("#map-target", Input)
    target_input.value = target
    target_input.focus()
    await pilot.press("enter")
    await pilot.pause()


async def test_add_edit_delete_saved_through_the_store(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        editor = app.query_one(MappingEditor)
        assert "model_mapping" not in [f.key for f in app.query("SettingField")]  # no raw {}
        await type_entry(pilot, editor, "gpt-4o*", "gemini-3-flash")
        assert saved_mapping() == {"gpt-4o*": "gemini-3-flash"}
        assert app.config.model_mapping == {"gpt-4o*": "gemini-3-flash"}  # hot-applied
        table = editor.query_one(MappingTable)
        assert table.row_count == 1 and table.get_row_at(0) == ["gpt-4o*", "gemini-3-flash"]
        # invalid: refused inline, nothing saved
        await type_entry(pilot, editor, "my model", "gemini-3-flash")
        assert "no spaces" in text_of(editor.query_one("#map-message", Static))
        assert saved_mapping() == {"gpt-4o*": "gemini-3-flash"}
        # edit: enter on the row loads it; renaming the pattern replaces the row
        editor.query_one("#map-pattern", Input).value = ""
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert editor.query_one("#map-pattern", Input).value == "gpt-4o*"
        assert editor.query_one("#map-target", Input).value == "gemini-3-flash"
        await type_entry(pilot, editor, "gpt-4o-mini", "gemini-2.5-flash")
        assert saved_mapping() == {"gpt-4o-mini": "gemini-2.5-flash"}
        # delete
        table.focus()
        await pilot.press("x")
        await pilot.pause()
        assert saved_mapping() == {}
        assert "deleted gpt-4o-mini" in text_of(editor.query_one("#map-message", Static))


async def test_builtin_route_copied_to_override(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        editor = app.query_one(MappingEditor)
        routes = editor.query_one(RoutesTable)
        assert routes.get_row_at(0)[0] == "claude-opus-*"
        assert "newest Claude Opus" in routes.get_row_at(0)[1]  # a family rule, not a fixed id
        routes.focus()
        await pilot.press("down", "c")
        await pilot.pause()
        assert editor.query_one("#map-pattern", Input).value == "claude-sonnet-*"
        target = editor.query_one("#map-target", Input)
        assert app.focused is target
        target.value = "claude-sonnet-4-5-thinking"
        await pilot.press("enter")
        await pilot.pause()
        assert saved_mapping() == {"claude-sonnet-*": "claude-sonnet-4-5-thinking"}
        assert routes.row_count == len(routes.rows)  # the built-ins are untouched


async def test_resolve_line_follows_typing_and_saves(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        editor = app.query_one(MappingEditor)
        try_input = editor.query_one("#map-try", Input)
        try_input.focus()
        await pilot.press(*"claude-3-5-sonnet-20241022")
        await pilot.pause()
        line = text_of(editor.query_one("#map-resolved", Static))
        assert "claude-3-5-sonnet-20241022" in line and "no account offers it" in line  # no accounts here
        await type_entry(pilot, editor, "claude-3*", "gemini-3-pro-high")
        line = text_of(editor.query_one("#map-resolved", Static))
        assert "→ gemini-3-pro-high" in line and "mapping claude-3* -> gemini-3-pro-high" in line


def test_explain_names_the_rule() -> None:
    from proxy.routing import Offer

    offer = Offer(frozenset({"y", "gemini-2.5-pro", "claude-sonnet-4-6"}))
    assert explain("x-1", {"x-1": "y"}, offer) == "x-1 → y (mapping x-1 -> y; offered as is)"
    assert explain("gemini-2.5-pro", {}, offer) == "gemini-2.5-pro (offered as is)"
    assert "family claude-sonnet-*" in explain("claude-sonnet-9", {}, offer)
    assert "no account offers it" in explain("totally-unknown", {}, offer)


def offered_account(home, ids: list[str]):
    """An account whose live catalogue offers `ids` (as a catalogue read stores it)."""
    import time

    from proxy.accounts.catalogue import Catalogue, ModelEntry
    from proxy.accounts.model import Account
    from proxy.accounts.store import AccountStore

    store = AccountStore(home / "accounts")
    acc = Account.antigravity("a@example.com", "rt-a")
    store.add(acc)
    store.update_catalogue(acc, Catalogue({m: ModelEntry(m) for m in ids}, {}, time.time()))
    return acc


OFFERED = ["claude-sonnet-4-6", "claude-opus-4-6-thinking", "gemini-3-flash", "gemini-3-pro-high"]


async def test_target_completes_from_the_live_catalogue(home) -> None:
    offered_account(home, OFFERED)
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        editor = app.query_one(MappingEditor)
        target = editor.query_one("#map-target", Input)
        target.focus()
        await pilot.press(*"claude-s")
        await pilot.pause(0.1)
        await pilot.press("right")  # accepts the suggestion
        assert target.value == "claude-sonnet-4-6"
        # a model added upstream (the next catalogue read) completes at once
        from proxy.accounts.catalogue import Catalogue, ModelEntry

        service = app.controller.service
        acc = service.accounts.list()[0]
        ids = [*OFFERED, "gemini-3.5-flash-lite"]
        service.accounts.update_catalogue(acc, Catalogue({m: ModelEntry(m) for m in ids}, {}, 0))
        target.value = ""
        await pilot.press(*"gemini-3.5")
        await pilot.pause(0.1)
        await pilot.press("right")
        assert target.value == "gemini-3.5-flash-lite"


async def test_a_target_no_account_offers_asks_first_and_names_the_closest(home, make_app) -> None:
    from tui.screens.dialogs import ConfirmScreen

    offered_account(home, OFFERED)
    app = await make_app()  # the offer comes through the Controller: in-process or attached
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        editor = app.query_one(MappingEditor)
        await type_entry(pilot, editor, "claude-sonnet-4-6", "claude-sonnet-4-6-6")  # the typo
        assert isinstance(app.screen, ConfirmScreen)
        assert "No account offers claude-sonnet-4-6-6" in app.screen.question
        assert "Closest offered: claude-sonnet-4-6" in app.screen.question
        assert saved_mapping() == {}  # nothing saved while asking
        await pilot.press("enter")  # Cancel has the focus: a reflexive Enter keeps things
        await pilot.pause()
        assert saved_mapping() == {}
        message = text_of(editor.query_one("#map-message", Static))
        assert "not saved" in message and "claude-sonnet-4-6" in message
        assert editor.query_one("#map-target", Input).value == "claude-sonnet-4-6-6"  # kept
        # confirmed: saved, with the warning
        await type_entry(pilot, editor, "my-model", "claude-sonnet-4-6-6")
        await pilot.click("#yes")
        await pilot.pause()
        assert saved_mapping() == {"my-model": "claude-sonnet-4-6-6"}
        assert "not offered by any account" in text_of(editor.query_one("#map-message", Static))
        # an offered target is saved at once, no question
        await type_entry(pilot, editor, "gpt-4o*", "gemini-3-flash")
        assert not isinstance(app.screen, ConfirmScreen)
        assert saved_mapping()["gpt-4o*"] == "gemini-3-flash"


async def test_u_undoes_the_last_mapping_changes_one_by_one(home) -> None:
    from tests.tui.conftest import notes

    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        editor = app.query_one(MappingEditor)
        table = editor.query_one(MappingTable)
        await type_entry(pilot, editor, "gpt-4o*", "gemini-3-flash")  # add
        await type_entry(pilot, editor, "gpt-5*", "gemini-3-pro-high")  # add
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await type_entry(pilot, editor, "gpt-4o*", "gemini-2.5-flash")  # edit
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("x")  # delete gpt-5*
        await pilot.pause()
        assert saved_mapping() == {"gpt-4o*": "gemini-2.5-flash"}
        await pilot.press("u")
        await pilot.pause()
        assert saved_mapping() == {"gpt-4o*": "gemini-2.5-flash", "gpt-5*": "gemini-3-pro-high"}
        assert "undone: deleted gpt-5* → gemini-3-pro-high" in notes(app)[-1]
        await pilot.press("u")
        await pilot.pause()
        assert saved_mapping() == {"gpt-4o*": "gemini-3-flash", "gpt-5*": "gemini-3-pro-high"}
        assert "gpt-4o* → gemini-2.5-flash (was → gemini-3-flash)" in notes(app)[-1]
        await pilot.press("u", "u")
        await pilot.pause()
        assert saved_mapping() == {}
        assert app.config.model_mapping == {}  # applied, not only written
        await pilot.press("u")
        await pilot.pause()
        assert notes(app)[-1] == "No mapping change to undo."


def test_help_lists_the_mapping_undo() -> None:
    from rich.console import Console

    from tui.screens.help import help_table

    console = Console(width=100, record=True, color_system=None)
    console.print(help_table())
    assert "Undo last mapping change" in console.export_text()


def table_lines(table) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


async def test_builtin_routes_show_the_chosen_id_first_at_80_and_120_columns(home) -> None:
    """The id a route picks today is what a user looks for: first in its cell, and whole on
    screen at 80 columns (the note after it may be cut); a catalogue read updates it."""
    acc = offered_account(home, ["claude-opus-4-7-thinking", "claude-sonnet-4-6", "gemini-3-flash"])
    for width in (80, 120):
        app = AgproxyApp()
        async with app.run_test(size=(width, 40)) as pilot:
            await pilot.press("3")
            routes = app.query_one(RoutesTable)
            routes.focus()
            routes.scroll_visible()
            await pilot.pause(0.2)
            assert routes.get_row_at(0)[1].startswith("claude-opus-4-7-thinking  (newest Claude")
            opus = next(line for line in table_lines(routes) if "claude-opus-*" in line)
            assert "claude-opus-4-7-thinking  (newest Claude Opus" in opus
            flash = next(line for line in table_lines(routes) if "gemini-*flash*" in line)
            assert "gemini-3-flash" in flash
            if width == 120:
                assert "(newest Claude Opus; of claude-opus, claude-sonnet, gemini-pro)" in opus
                # a newer Opus appears in the next catalogue read: the route shows it
                from proxy.accounts.catalogue import Catalogue, ModelEntry

                ids = ["claude-opus-4-8", "claude-sonnet-4-6", "gemini-3-flash"]
                store = app.controller.service.accounts
                store.update_catalogue(
                    store.get(acc.id), Catalogue({m: ModelEntry(m) for m in ids}, {}, 0)
                )
                await until_routes(pilot, routes, "claude-opus-4-8  (")


async def until_routes(pilot, routes, start: str) -> None:
    from tests.tui.test_accounts import until

    await until(pilot, lambda: str(routes.get_row_at(0)[1]).startswith(start))

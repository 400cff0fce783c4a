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

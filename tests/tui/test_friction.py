"""Small frictions a new user hit (issue 13): honest copies, grammar, dialogs' safe
default, the footer at 80 columns, Esc out of a field, help and palette."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input

from tests.tui.conftest import notes
from tui.app import AgproxyApp
from tui.bindings import TABLE, key_label
from tui.demo import DemoApp, demo_records
from tui.screens.dialogs import ConfirmScreen
from tui.screens.plain import PlainTextScreen
from tui.widgets.footer import AgproxyFooter
from tui.widgets.settings import SettingsPane
from tui.widgets.traffic import TrafficPane
from tui.widgets.traffic_table import COLUMNS, TrafficTable


def footer_keys(app) -> list[str]:
    footer = app.screen.query_one(AgproxyFooter)
    return [key.description for key in footer.children]


async def test_the_traffic_bar_says_one_row_not_one_rows(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(TrafficPane)
        pane.apply_filter("status:429")
        await pilot.pause()
        assert len(pane.records) == 1
        assert "1 row " in pane._bar_text and "1 rows" not in pane._bar_text


def test_no_two_traffic_columns_share_a_header() -> None:
    headers = [label for _key, label, _w, _n in COLUMNS]
    assert len(headers) == len(set(headers))


async def test_destructive_dialogs_focus_cancel_so_enter_keeps_things(home) -> None:
    app = AgproxyApp()
    old = app.config.proxy.api_key
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3", "ctrl+g")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "no"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.config.proxy.api_key == old


async def test_copy_as_curl_says_where_it_went_and_what_it_lacks(home) -> None:
    app = DemoApp()
    ok = next(r for r in demo_records() if r.status == 200 and r.path == "/v1/chat/completions")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrafficPane)
        pane.records[ok.id].request_body = ""  # a success: not captured by default
        app.query_one(TrafficTable).move_cursor(list(pane.records).index(ok.id))
        await pilot.press("y")
        await pilot.pause()
        message = notes(app)[-1]
        assert "sent to the terminal clipboard (OSC 52" in message
        assert "Copied" not in message
        saved = Path(message.split("also saved to ", 1)[1].split("\n")[0])
        assert saved.read_text().startswith("curl -sS -X POST")
        assert oct(saved.stat().st_mode & 0o777) == "0o600"
        assert "not captured" in message and "capture_bodies" in message
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, PlainTextScreen)
        assert app.screen.text == saved.read_text().rstrip("\n")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PlainTextScreen)


async def test_every_tab_footer_shows_help_and_quit_at_80_columns(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            footer = app.screen.query_one(AgproxyFooter)
            shown = [k for k in footer.children if k.region.right <= 80 and k.region.width]
            labels = [k.description for k in shown]
            assert "Help" in labels and "Quit" in labels, (key, labels)


async def test_accounts_hint_is_one_line_and_the_footer_cuts_no_key_in_half(home) -> None:
    """A real proxy has a client version on the hint line: at 120 columns it still fits
    one line with every key; at 80 it drops wording, not keys the footer leaves out, and
    the footer shows whole keys, the adding ones first."""
    from rich.console import Console
    from textual.widgets import Static

    from tests.tui.conftest import write_account

    write_account(home)
    for width, footer_wanted in ((120, ["Name", "Import"]), (80, ["Token", "OAuth", "Refresh"])):
        app = AgproxyApp()
        async with app.run_test(size=(width, 30)) as pilot:
            await pilot.press("2")
            await pilot.pause(0.2)
            note = app.main_query("#accounts-note", Static)
            console = Console(width=width, record=True, color_system=None)
            console.print(note.content)
            lines = console.export_text().rstrip("\n").splitlines()
            assert len(lines) == 1 and note.size.height == 1, lines
            assert "client version" in lines[0] or width == 80
            assert "…" not in lines[0]
            for key in ("Enter details", "n name", "x remove", "i import"):
                assert key in lines[0], (width, lines[0])
            if width == 120:
                assert "e on/off" in lines[0] and "u refresh" in lines[0]
            footer = app.screen.query_one(AgproxyFooter)
            keys = list(footer.children)
            assert keys and max(k.region.right for k in keys) <= width
            labels = [k.description for k in keys]
            assert labels[:4] == ["Help", "Quit", "Token", "OAuth"], labels
            assert all(w in labels for w in footer_wanted), labels


async def test_esc_leaves_a_settings_field_and_keys_work_again(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        control = app.query_one(SettingsPane).field("monitor.max_records").control
        assert isinstance(control, Input)
        control.focus()
        control.value = ""
        await pilot.press("1", "2")
        await pilot.pause()
        assert control.value == "12"  # inside a field digits are text
        assert app.query_one("#tabs").active == "settings"
        assert "Leave field" in footer_keys(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.focused, Input)
        assert "Leave field" not in footer_keys(app)
        await pilot.press("1")
        await pilot.pause()
        assert app.query_one("#tabs").active == "traffic"


async def test_page_down_jumps_to_the_next_settings_section(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        pane = app.query_one(SettingsPane)
        sections = pane._sections()
        assert pane._current_section(sections) == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert pane._current_section(sections) == 1
        await pilot.press("pagedown", "pagedown")
        await pilot.pause()
        assert pane._current_section(sections) == 3
        await pilot.press("pageup")
        await pilot.pause()
        assert pane._current_section(sections) == 2


def test_help_lists_moving_keys() -> None:
    from rich.console import Console

    from tui.screens.help import help_table

    console = Console(width=100, record=True, color_system=None)
    console.print(help_table())
    text = console.export_text()
    for shown in ("↓/j", "↑/k", "g/Home", "G/End", "PgUp", "PgDn", "Tab", "Shift+Tab", "^p"):
        assert shown in text, shown
    assert any(k.display == "Tab" for k in TABLE) and key_label(TABLE[0]) == "1"


async def test_palette_screenshot_is_saved_in_the_data_dir_and_says_where(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.deliver_screenshot()
        await pilot.pause()
        message = notes(app)[-1]
        assert message.startswith("Screenshot saved to ")
        saved = Path(message.removeprefix("Screenshot saved to "))
        assert saved.parent == app.paths.data_dir / "screenshots" and saved.exists()


async def test_starting_without_accounts_names_the_keys_that_add_one(home, port) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await app.workers.wait_for_complete()
        message = notes(app, "error")[-1]
        assert "no available accounts" in message
        for words in ("press 2 (Accounts)", "a (refresh token)", "o (OAuth login)",
                      "k (Gemini key)", "i (import)"):  # fmt: skip
            assert words in message  # worded as the Traffic tab's first-launch hint


async def test_log_tab_follows_wraps_filters_by_level_and_searches(home) -> None:
    import logging

    from textual.widgets import RichLog

    from tui.widgets.log import LogPane

    app = AgproxyApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        for i in range(60):
            logging.getLogger("proxy.test").info("line %d %s", i, "x" * 120)
        logging.getLogger("proxy.test").warning("account bob is now cooling")
        pane = app.query_one(LogPane)
        view = pane.query_one(RichLog)
        for _ in range(20):
            await pilot.pause(0.2)
            if any("cooling" in line for line in pane.shown_lines()):
                break
        await pilot.pause(0.2)
        assert pane.follow and view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y
        await pilot.press("w")
        assert view.wrap
        await pilot.press("l")
        shown = pane.shown_lines()
        assert shown and all("WARNING" in line for line in shown)
        await pilot.press("l", "l", "slash")
        await pilot.press(*"line 42 ", "enter")
        await pilot.pause()
        assert [line.split(": ", 1)[1][:8] for line in pane.shown_lines()] == ["line 42 "]
        await pilot.press("up")
        assert not pane.follow


async def test_connect_masks_the_key_until_ctrl_r_and_copies_it_whole(home) -> None:
    from tui.widgets.connect import ConnectPane, Snippet

    app = AgproxyApp()
    key = app.config.proxy.api_key
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        views = list(app.query(Snippet))
        assert all(key not in v.shown for v in views)
        assert any("sk-…" + key[-4:] in v.shown for v in views)
        await pilot.press("down", "y")  # the OpenAI snippet
        await pilot.pause()
        assert key in app.clipboard and "sent to the terminal clipboard" in notes(app)[-1]
        await pilot.press("ctrl+r")
        assert app.query_one(ConnectPane).revealed and any(key in v.shown for v in views)


async def test_connect_lines_fit_80_columns_and_snippets_end_with_a_call(home) -> None:
    from tui.snippets import connect_snippets

    key = "sk-" + "f" * 32
    for mode in ("off", "all_except_health", "strict"):
        texts = [s.text for s in connect_snippets("http://127.0.0.1:8045", key, mode)]
        assert all(len(line) <= 74 for text in texts for line in text.splitlines()), mode
    snippets = {s.id: s.text for s in connect_snippets("http://127.0.0.1:8045", key, "strict")}
    assert "messages.create(" in snippets["anthropic"] and "print(" in snippets["anthropic"]
    assert "generate_content(" in snippets["genai"]
    codex = snippets["codex"]
    assert codex.index('model = "') < codex.index("[model_providers")
    assert codex.index("model_provider =") < codex.index("[model_providers")
    assert "GEMINI_CLI_TRUST_WORKSPACE=true" in snippets["gemini"]
    assert "settings.json" in snippets["gemini"] and "gemini-api-key" in snippets["gemini"]
    assert "codex login --with-api-key" in snippets["codex-builtin"]
    assert snippets["curl"].splitlines()[0].endswith("\\")  # one command, continued
    # the Anthropic model is one the README uses, not one the catalogues mark deprecated
    assert 'model="claude-sonnet-4-6"' in snippets["anthropic"]
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert 'model="claude-sonnet-4-6"' in readme and "claude-sonnet-4-5" not in snippets["anthropic"]


async def test_connect_shows_the_lan_url_when_lan_access_is_on(home, monkeypatch) -> None:
    from textual.widgets import Static

    import proxy.service
    from tui.widgets.connect import ConnectPane

    # the machine's LAN address, as the service would find it (a documentation address:
    # only shown, never dialled)
    monkeypatch.setattr(proxy.service, "lan_address", lambda: "192.0.2.10")
    app = AgproxyApp()
    port = app.config.proxy.port
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        urls = app.query_one(ConnectPane).query_one("#connect-urls", Static)
        assert "192.0.2.10" not in str(urls.render())  # LAN access off: loopback only
        await app.controller.save_config(app.config.with_value("proxy.allow_lan_access", "true"))
        app.query_one(ConnectPane).refresh_snippets()
        await pilot.pause()
        assert f"LAN URL: http://192.0.2.10:{port}" in str(urls.render())


async def test_the_detail_of_an_in_flight_request_updates_when_it_finishes(home) -> None:
    from tui.screens.detail import DetailScreen

    app = DemoApp()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrafficPane)
        inflight = pane.records[max(pane.records)]
        assert inflight.status == 0
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert "in flight" in app.screen.plain_text()
        inflight.status, inflight.duration_ms = 200, 4321.0  # the monitor finishes it in place
        for _ in range(10):
            await pilot.pause(0.2)
            if "4.32s" in app.screen.plain_text():
                break
        text = app.screen.plain_text()
        assert "in flight" not in text and "4.32s" in text


def test_at_120_columns_the_model_takes_the_room_short_account_names_leave() -> None:
    from tui.widgets.traffic_table import ACCOUNT, MODEL, PATH, column_widths

    widths = column_widths(118, len("key …9f2c"))  # 120 columns minus the scrollbar
    assert widths[MODEL] >= len("claude-sonnet-4-6 → claude-sonnet-4-6")
    assert widths[ACCOUNT] == 10 and widths[PATH] >= len("/v1/chat/completions")
    assert column_widths(118, 17)[ACCOUNT] == 17  # alice@example.com whole


async def test_vi_keys_move_in_every_table_not_only_traffic(home) -> None:
    from tui.widgets.accounts import AccountsTable
    from tui.widgets.mapping import RoutesTable

    app = DemoApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        table = app.query_one(AccountsTable)
        assert app.focused is table and table.row_count > 2
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("3")
        routes = app.query_one(RoutesTable)
        routes.focus()
        await pilot.press("j", "j", "k")
        assert routes.cursor_row == 1
        await pilot.press("G")
        assert routes.cursor_row == routes.row_count - 1
        # in a text field they stay text
        control = app.query_one(SettingsPane).field("monitor.max_records").control
        control.focus()
        control.value = ""
        await pilot.press("j", "k", "g", "G")
        assert control.value == "jkgG"
        # Traffic: G follows (the last row), g goes to the first
        await pilot.press("escape", "1", "g")
        traffic = app.query_one(TrafficTable)
        assert traffic.cursor_row == 0 and not app.query_one(TrafficPane).follow
        await pilot.press("G")
        assert traffic.cursor_row == len(traffic.order) - 1 and app.query_one(TrafficPane).follow


async def test_esc_leaves_every_settings_input_including_the_mapping_editor(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        inputs = [w for w in app.query_one(SettingsPane).query(Input) if w.focusable]
        assert {"map-pattern", "map-target", "map-try"} <= {w.id for w in inputs}
        for control in inputs:
            control.focus()
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.focused, Input), control.id or control.parent


def test_readme_names_the_key_variable_one_way_and_sets_it_before_use() -> None:
    """One name for the proxy key in every README example (the one copy-as-curl reads),
    exported before the first example uses it."""
    import re

    from tui.curl import _AUTH

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    names = set(re.findall(r"\bAGPROXY_[A-Z_]*KEY\b", readme))
    assert names == {"AGPROXY_API_KEY"}, names
    export = readme.index("export AGPROXY_API_KEY=$(agproxy config get proxy.api_key --reveal)")
    uses = [m.start() for m in re.finditer(r"\$AGPROXY_API_KEY|\[\"AGPROXY_API_KEY\"\]", readme)]
    assert uses and export < min(uses)
    # copy-as-curl reads the same variable
    assert all("$AGPROXY_API_KEY" in v for v in _AUTH.values())

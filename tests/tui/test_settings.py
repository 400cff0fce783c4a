"""The Settings form: inline validation, save through ConfigStore keeping comments, key actions."""

from __future__ import annotations

from textual.widgets import Input, Static

from tests.tui.conftest import notes
from tui.app import AgproxyApp
from tui.screens.dialogs import ConfirmScreen
from tui.widgets.settings import SettingsPane


async def type_into(pilot, app: AgproxyApp, key: str, text: str) -> None:
    settings = app.query_one(SettingsPane)
    control = settings.field(key).control
    assert isinstance(control, Input)
    control.focus()
    control.value = ""
    await pilot.press(*text)
    await pilot.pause()


async def test_invalid_value_shows_the_config_error_under_the_field(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await type_into(pilot, app, "proxy.port", "80")
        f = app.query_one(SettingsPane).field("proxy.port")
        message = str(f.query_one(".field-help", Static).render())
        assert "invalid value for proxy.port" in message and "1024-65535" in message
        assert f.has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("proxy.port" in m for m in notes(app, "error"))
        assert app.controller.config.proxy.port == 8045  # nothing saved


async def test_save_writes_the_file_and_keeps_comments(home, make_app) -> None:
    config_file = home / "config.toml"
    AgproxyApp()  # creates the file with defaults
    text = config_file.read_text()
    config_file.write_text(
        "# my precious comment\n" + text.replace("[proxy]", "[proxy]\n# about the port")
    )
    app = await make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await type_into(pilot, app, "proxy.request_timeout", "300")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.config.proxy.request_timeout == 300
    saved = config_file.read_text()
    assert "# my precious comment" in saved and "# about the port" in saved
    assert "request_timeout = 300" in saved


async def test_api_key_is_masked_and_can_be_revealed_and_copied(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        control = app.query_one(SettingsPane).field("proxy.api_key").control
        assert isinstance(control, Input) and control.password
        await pilot.press("ctrl+r")
        assert not control.password
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert app.clipboard == app.config.proxy.api_key


async def test_regenerate_key_asks_then_saves_a_new_key(home, make_app) -> None:
    app = await make_app()
    old = app.config.proxy.api_key
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#yes")
        await pilot.pause()
        new = app.config.proxy.api_key
        assert new != old and new.startswith("sk-")
        assert f'api_key = "{new}"' in (home / "config.toml").read_text()


def help_text(app: AgproxyApp, key: str) -> str:
    f = app.query_one(SettingsPane).field(key)
    return str(f.query_one(".field-help", Static).render())


async def test_a_short_api_key_is_saved_with_a_warning_as_the_cli_does(home) -> None:
    """One rule (proxy/config/model.py): `sk-` and ≥ 10 characters, shorter than 20 warns."""
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await type_into(pilot, app, "proxy.api_key", "sk-short")  # 8: refused
        f = app.query_one(SettingsPane).field("proxy.api_key")
        assert f.has_class("-invalid") and "at least 10 characters" in help_text(app, "proxy.api_key")
        await type_into(pilot, app, "proxy.api_key", "sk-12345678")  # 11: accepted, warned
        assert not f.has_class("-invalid")
        assert "only 11 characters" in help_text(app, "proxy.api_key")
        assert f.query_one(".field-help").has_class("field-warning")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.config.proxy.api_key == "sk-12345678"
        assert "only 11 characters" in notes(app, "warning")[-1]


async def test_preferred_account_that_matches_no_account_is_said_inline(home, make_app) -> None:
    from tests.tui.conftest import write_account

    write_account(home, "alicekey")
    app = await make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        key = "scheduling.preferred_account"
        await type_into(pilot, app, key, "bob")
        assert "no account matches 'bob'" in help_text(app, key)
        assert not app.query_one(SettingsPane).field(key).has_class("-invalid")  # a warning
        await type_into(pilot, app, key, "alicekey")  # by id (label, email, prefix alike)
        assert "no account matches" not in help_text(app, key)
        await type_into(pilot, app, key, "bob")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.config.scheduling.preferred_account == "bob"
        assert "no account matches 'bob'" in notes(app, "warning")[-1]
        await pilot.press("escape")
        await pilot.pause()
        assert "no account matches 'bob'" in help_text(app, key)  # stays while saved

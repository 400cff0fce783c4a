"""The Accounts tab through Pilot, against the fake Google upstream (real aiohttp server
on 127.0.0.1): add by refresh token, OAuth login (pasted code and local redirect),
Gemini key, import, enable/disable, remove with confirm, refresh quota."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from textual.widgets import Input, TabbedContent

from proxy.config.store import ConfigStore
from proxy.paths import resolve_paths
from tests.fakes.upstream import FakeUpstream
from tests.tui.conftest import login_state, notes, stored_accounts
from tui.app import AgproxyApp
from tui.screens.dialogs import ConfirmScreen, PromptScreen
from tui.screens.login import LoginScreen
from tui.widgets.accounts import AccountsTable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_accounts"
SIZE = (120, 40)


@pytest.fixture
async def fake(home: Path) -> AsyncIterator[FakeUpstream]:
    """The fake Google upstream, with the app's config pointed at it."""
    async with FakeUpstream(email="new.user@example.com") as upstream:
        store = ConfigStore(resolve_paths())
        store.load()
        store.set("upstream.oauth_token_url", upstream.token_url)
        store.set("upstream.oauth_userinfo_url", upstream.userinfo_url)
        store.set("upstream.antigravity_endpoints", upstream.endpoints)
        yield upstream


async def until(pilot, check: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


def listening(url: str) -> bool:
    """Whether something accepts connections at the URL's host:port."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def table_text(app: AgproxyApp) -> str:
    table = app.query_one(AccountsTable)
    return "\n".join(
        " ".join(str(getattr(c, "plain", c)) for c in table.get_row_at(i))
        for i in range(table.row_count)
    )


async def prompt_answer(pilot, app: AgproxyApp, key: str, text: str) -> None:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, PromptScreen))
    app.screen.query_one(Input).value = text
    await pilot.press("enter")


async def open_tab(pilot) -> None:
    await pilot.press("2")
    await pilot.pause()


async def test_add_refresh_token_shows_the_account_with_email_and_quota(fake, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "a", "1//0-some-refresh-token")
        await until(pilot, lambda: "new.user@example.com" in table_text(app))
        acc = stored_accounts(app.paths.data_dir)[0]  # the file (secrets are not sent to a TUI)
        assert acc.refresh_token == "1//0-some-refresh-token"
        assert acc.project_id == "proj-fake-123"  # refresh_account ran: project + quota
        assert "gemini-2.5-pro" in acc.quota
        assert any("Added account new.user@example.com" in m for m in notes(app))


async def test_add_revoked_refresh_token_is_an_error_notification(fake, make_app) -> None:
    fake.revoked.add("1//0-revoked")
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "a", "1//0-revoked")
        await until(pilot, lambda: notes(app, "error"))
        assert "invalid_grant" in notes(app, "error")[0]
        assert app.controller.accounts() == []


async def test_oauth_login_with_a_pasted_redirect_url(fake, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.flow)
        screen = app.screen
        await until(pilot, lambda: screen.flow.url and app.clipboard == screen.flow.url)
        assert "accounts.google.com" in app.clipboard and login_state(screen.flow.url) in app.clipboard
        paste = screen.query_one(Input)
        # a redirect from another attempt is refused inline and the dialog stays
        paste.value = f"{screen.flow.redirect_uri}?state=other&code=4/0bad"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert "state mismatch" in str(screen.query_one("#login-status").render())
        paste.value = f"{screen.flow.redirect_uri}?state={login_state(screen.flow.url)}&code=4/0AbC"
        await pilot.press("enter")
        await until(pilot, lambda: "new.user@example.com" in table_text(app))
        assert not isinstance(app.screen, LoginScreen)
        assert stored_accounts(app.paths.data_dir)[0].refresh_token == "rt-from-4/0AbC"
        exchange = [c for c in fake.calls("token") if c.body["grant_type"] == "authorization_code"]
        assert exchange[0].body["redirect_uri"] == screen.flow.redirect_uri


async def test_oauth_login_through_the_local_redirect(fake, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.flow)
        flow = app.screen.flow
        await until(pilot, lambda: flow.url)
        # the browser's redirect, while the UI keeps running (the loop is not blocked)
        async with aiohttp.ClientSession() as http:
            params = {"state": login_state(flow.url), "code": "4/0local"}
            async with http.get(flow.redirect_uri, params=params) as r:
                assert "login received" in await r.text()
        await until(pilot, lambda: "new.user@example.com" in table_text(app))
        assert stored_accounts(app.paths.data_dir)[0].refresh_token == "rt-from-4/0local"
        # the listener is closed once the login is over
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as http:
                await http.get(flow.redirect_uri)


async def test_oauth_cancel_frees_the_listener(fake, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.flow)
        flow = app.screen.flow
        await until(pilot, lambda: flow.url)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LoginScreen))
        await until(pilot, lambda: not listening(flow.redirect_uri))
        assert app.controller.accounts() == []


async def test_add_gemini_key(home, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "k", "not-a-key")
        await until(pilot, lambda: notes(app, "error"))
        assert app.controller.accounts() == []
        await prompt_answer(pilot, app, "k", "AIzaSyFAKEFAKEFAKEFAKEFAKEFAKEFAKE12345")
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        assert "gemini key" in table_text(app) and "n/a (API key)" in table_text(app)
        assert "FAKEFAKE12345" not in table_text(app)  # the key itself is never shown


async def test_import_reference_files(home, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "i", str(FIXTURES / "folder"))
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 2)
        message = notes(app)[-1]
        assert "2 added" in message and "skipped" in message
        await prompt_answer(pilot, app, "i", str(FIXTURES / "single.json"))
        await until(pilot, lambda: "carol@example.net" in table_text(app))


async def test_enable_disable_and_remove_with_confirm(home, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "i", str(FIXTURES / "single.json"))
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        app.query_one(AccountsTable).focus()
        await pilot.press("e")
        await pilot.pause()
        assert app.controller.accounts()[0].disabled and "disabled" in table_text(app)
        await pilot.press("e")
        await pilot.pause()
        assert not app.controller.accounts()[0].disabled and "active" in table_text(app)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # cancelled: kept
        await pilot.pause()
        assert len(app.controller.accounts()) == 1
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#yes")
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 0)
        assert app.controller.accounts() == []
        assert list((home / "accounts").glob("*.json")) == []


async def test_refresh_quota_fills_the_bars_and_reports_problems(fake, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "i", str(FIXTURES / "single.json"))
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        # the import reads the catalogue with its quota at once (SPEC §9)
        await until(pilot, lambda: "gemini pro" in table_text(app))
        text = table_text(app)
        assert "80%" in text and "claude" in text and "0%" in text and "█" in text
        reads = len(fake.calls("models"))
        assert reads == 1
        app.query_one(AccountsTable).focus()
        await pilot.press("u")
        await until(pilot, lambda: len(fake.calls("models")) == reads + 1)
        await until(pilot, lambda: bool(app.controller.accounts()[0].project_id))  # token + project too
        # a revoked token: the problem is a notification, the account is marked
        fake.revoked.add(stored_accounts(app.paths.data_dir)[0].refresh_token)
        await pilot.press("u")
        await until(pilot, lambda: notes(app, "warning"))
        assert "refresh token rejected" in notes(app, "warning")[-1]
        await until(pilot, lambda: "auth failed" in table_text(app))


async def test_actions_do_not_block_the_loop(fake) -> None:
    """A slow Google keeps the UI responsive: the add runs in a worker."""
    fake.token_delay = 1.0
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        tabs = app.query_one(TabbedContent)
        tab_when_added: list[str] = []
        app.controller.add_listener(
            lambda kind: kind == "accounts" and tab_when_added.append(tabs.active)
        )
        await open_tab(pilot)
        await prompt_answer(pilot, app, "a", "1//0-slow")
        await pilot.press("3")  # handled while the token call is pending
        await until(pilot, lambda: tab_when_added)
        # a blocked loop would have handled "3" only after the account was added
        assert tab_when_added[0] == "settings"
        await pilot.press("2")
        await until(pilot, lambda: "new.user@example.com" in table_text(app))

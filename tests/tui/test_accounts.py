"""The Accounts tab through Pilot, against the fake Google upstream (real aiohttp server
on 127.0.0.1): add by refresh token, OAuth login (pasted code and local redirect),
Gemini key, import, enable/disable, remove with confirm, refresh quota."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from textual.widgets import Input

from tests.tui.conftest import login_state, notes, stored_accounts
from tui.app import AgproxyApp
from tui.screens.dialogs import ConfirmScreen, PromptScreen
from tui.screens.login import LoginScreen
from tui.screens.plain import PlainTextScreen
from tui.widgets.accounts import AccountsTable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_accounts"
SIZE = (120, 40)


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


def prompt_status(app: AgproxyApp) -> str:
    return str(app.screen.query_one("#prompt-status").render())


async def test_a_revoked_refresh_token_keeps_the_dialog_with_the_paste_and_plain_words(
    fake, make_app
) -> None:
    fake.revoked.add("1//0-revoked")
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "a", "1//0-revoked")
        await until(pilot, lambda: "wrong" in prompt_status(app))
        assert isinstance(app.screen, PromptScreen)  # still open, with what was pasted
        assert app.screen.query_one(Input).value == "1//0-revoked"
        assert prompt_status(app) == (
            "this refresh token is wrong, expired or revoked (Google answered invalid_grant)"
        )
        assert "invalid_grant: invalid_grant" not in prompt_status(app)
        assert app.controller.accounts() == []
        # corrected in place: the same dialog adds it and closes
        fake.revoked.clear()
        app.screen.query_one(Input).value = "1//0-good"
        await pilot.press("enter")
        await until(pilot, lambda: "new.user@example.com" in table_text(app))
        assert not isinstance(app.screen, PromptScreen)


async def test_oauth_login_with_a_pasted_redirect_url(fake, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.flow)
        screen = app.screen
        await until(pilot, lambda: screen.flow.url and app.clipboard == screen.flow.url)
        assert "accounts.google.com" in app.clipboard and login_state(screen.flow.url) in app.clipboard
        # honest copy: what happened is said, and the URL is in a file and in a plain view
        said = [n for n in notes(app) if "Login URL sent to the terminal clipboard (OSC 52" in n]
        assert said and "copied to your clipboard" not in " ".join(notes(app))
        assert screen.url_file is not None and screen.url_file.read_text().strip() == screen.flow.url
        await pilot.click("#view")
        await until(pilot, lambda: isinstance(app.screen, PlainTextScreen))
        assert app.screen.text == screen.flow.url and app.screen.path == screen.url_file
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
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


async def test_add_gemini_key_is_checked_with_the_api_and_a_rejected_one_stays(
    fake, make_app
) -> None:
    bad, good = "AIzaSyREJECTEDREJECTEDREJECTEDREJECT99", "AIzaSyFAKEFAKEFAKEFAKEFAKEFAKEFAKE12345"
    fake.invalid_tokens.add(bad)
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await prompt_answer(pilot, app, "k", "not-a-key")
        await until(pilot, lambda: "does not look like a Gemini API key" in prompt_status(app))
        await pilot.press("escape")
        await prompt_answer(pilot, app, "k", bad)
        await until(pilot, lambda: "rejected" in prompt_status(app))
        assert "the Gemini API rejected this key" in prompt_status(app)
        assert isinstance(app.screen, PromptScreen) and app.screen.query_one(Input).value == bad
        assert [c.token for c in fake.calls("gemini_list")] == [bad]  # asked the upstream
        assert app.controller.accounts() == []
        app.screen.query_one(Input).value = good
        await pilot.press("enter")
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        assert not isinstance(app.screen, PromptScreen)
        assert "key …2345" in table_text(app) and "n/a (API key)" in table_text(app)
        assert "FAKEFAKE12345" not in table_text(app)  # the key itself is never shown
        assert app.controller.accounts()[0].catalogue is not None  # read by its listing


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
        assert "this refresh token is wrong, expired or revoked" in notes(app, "warning")[-1]
        await until(pilot, lambda: "auth failed" in table_text(app))


async def test_actions_do_not_block_the_loop(fake) -> None:
    """A slow Google keeps the UI responsive: the check runs in a worker while the
    dialog says so and still takes keys."""
    fake.token_delay = 1.0
    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        typed_when_added: list[str] = []
        await open_tab(pilot)
        await prompt_answer(pilot, app, "a", "1//0-slow")
        screen = app.screen
        app.controller.add_listener(
            lambda kind: kind == "accounts" and typed_when_added.append(screen.query_one(Input).value)
        )
        assert "Checking the refresh token" in prompt_status(app)
        await pilot.press("x")  # handled while the token call is pending
        await until(pilot, lambda: typed_when_added)
        # a blocked loop would have handled "x" only after the account was added
        assert typed_when_added[0] == "1//0-slowx"
        await until(pilot, lambda: "new.user@example.com" in table_text(app))


# -- account detail, per-model cooldowns, names, version gate, 80×24, redirect port ---


def seed_account(home: Path, **fields) -> str:
    """An Antigravity account file with a read catalogue (30 models, 2 deprecations),
    quota, one model cooling on a real 429 and one on a fault."""
    from proxy.accounts.catalogue import Catalogue, ModelEntry
    from proxy.accounts.model import Account, QuotaInfo
    from proxy.accounts.store import AccountStore

    now = time.time()
    models = {f"gemini-9.{i}-pro": ModelEntry(f"gemini-9.{i}-pro") for i in range(30)}
    models["claude-old-1"] = ModelEntry("claude-old-1")
    models["chat_20706"] = ModelEntry("chat_20706", internal=True)  # reported with quota, never offered
    cat = Catalogue(models=models, deprecated={"claude-old-1": "gemini-9.0-pro",
                                               "gemini-8-pro": "gemini-9.1-pro"}, read_at=now - 180)
    acc = Account.antigravity("detail@example.com", "1//rt", id="acc00001", catalogue=cat,
                              project_id="proj-x", **fields)
    acc.quota = {"gemini-9.0-pro": QuotaInfo(0.25, now + 3 * 3600, now - 180),
                 "gemini-9.1-pro": QuotaInfo(1.0, None, now - 180),
                 "chat_20706": QuotaInfo(0.01, None, now - 180)}
    acc.quota_fetched_at = now - 180
    acc.cooldowns = {"gemini-9.2-pro": now + 600}
    store = AccountStore(home / "accounts")
    store.load_all()
    store.add(acc)
    store.flush()
    return acc.id


def detail_text(app: AgproxyApp) -> str:
    from tui.screens.account import AccountScreen

    assert isinstance(app.screen, AccountScreen)
    return app.screen.text.plain


async def test_enter_opens_the_account_in_full_live_and_scrollable_at_80x24(home, make_app) -> None:
    from textual.containers import VerticalScroll

    from tui.screens.account import AccountScreen

    seed_account(home)
    app = await make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        app.query_one(AccountsTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AccountScreen))
        text = detail_text(app)
        assert "detail@example.com" in text and "state   active" in text
        assert "catalogue read 3m" in text  # its age
        assert "gemini-9.0-pro" in text and " 25%" in text and "resets in 2h59m" in text
        assert "gemini-9.1-pro" in text and "100%" in text
        assert "gemini-9.2-pro" in text and "cooling 9m" in text  # the per-model cooldown
        assert "gemini-9.29-pro" in text  # every model, not a summary
        assert "claude-old-1 → gemini-9.0-pro" in text and "gemini-8-pro → gemini-9.1-pro" in text
        assert "chat_20706" not in text and "+1 internal id the upstream reports" in text
        body = app.screen.query_one(VerticalScroll)
        assert body.max_scroll_y > 0  # a long list at 80×24: the keyboard scrolls it
        await pilot.press("pagedown")
        await until(pilot, lambda: body.scroll_y > 0)
        # live: a change made elsewhere shows without leaving the screen
        await app.controller.rename_account("acc00001", "renamed elsewhere")
        await until(pilot, lambda: "renamed elsewhere" in detail_text(app))
        assert "email   detail@example.com" in detail_text(app)
        if make_app.mode == "in-process":  # a 404 mark lives in the serving process only
            service = app.controller.service
            service.accounts.mark_unavailable(service.accounts.by_id("acc00001"), "gemini-9.3-pro")
            await until(pilot, lambda: "unavailable (404)" in detail_text(app))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AccountScreen))


async def test_detail_shows_why_an_account_failed(home, make_app) -> None:
    from tui.screens.account import AccountScreen

    seed_account(home, state=__import__("proxy.accounts.model").accounts.model.AccountState.AUTH_FAILED,
                 state_reason="this refresh token is wrong, expired or revoked "
                 "(Google answered invalid_grant)")
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        app.query_one(AccountsTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AccountScreen))
        assert "state   auth failed" in detail_text(app)
        assert "reason  this refresh token is wrong, expired or revoked (Google answered " \
               "invalid_grant)" in detail_text(app)
        await pilot.press("q")
        await until(pilot, lambda: not isinstance(app.screen, AccountScreen))


async def test_the_list_shows_per_model_cooldowns(home, make_app) -> None:
    seed_account(home)
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        assert "active" in table_text(app) and "1 model cooling ≤9m" in table_text(app)


async def test_n_names_an_account_everywhere_and_empty_gives_the_email_back(home, make_app) -> None:
    seed_account(home)
    app = await make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        app.query_one(AccountsTable).focus()
        await prompt_answer(pilot, app, "n", "work laptop")
        await until(pilot, lambda: "work laptop" in table_text(app))
        assert stored_accounts(home)[0].name == "work laptop"  # in the account file
        assert "detail@example.com" not in table_text(app)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        assert app.screen.query_one(Input).value == "work laptop"  # the current name to edit
        app.screen.query_one(Input).value = ""
        await pilot.press("enter")
        await until(pilot, lambda: "detail@example.com" in table_text(app))
        assert stored_accounts(home)[0].name == ""


async def test_accounts_tab_at_80x24_keeps_label_state_quota_and_help(home, make_app) -> None:
    from tui.widgets.footer import AgproxyFooter

    seed_account(home)
    app = await make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        table = app.query_one(AccountsTable)
        names = [c.label.plain for c in table.columns.values()]
        assert names == ["label", "state", "quota"]
        assert table.virtual_size.width <= table.scrollable_content_region.width  # no sideways
        assert "detail@example.com" in table_text(app) and "g-pro" in table_text(app)
        footer = app.screen.query_one(AgproxyFooter)
        shown = " ".join(str(w.render()) for w in footer.query("*"))
        assert "Help" in shown and "Quit" in shown
        await pilot.resize_terminal(120, 40)  # the columns come back as the width allows
        await until(pilot, lambda: len(app.query_one(AccountsTable).columns) == 6)
        names = [c.label.plain for c in app.query_one(AccountsTable).columns.values()]
        assert names == ["label", "kind", "state", "quota", "last used", "req/err"]
        assert app.query_one(AccountsTable).row_count == 1 and "gemini pro" in table_text(app)


async def test_version_in_the_note_and_the_gate_banner_in_the_header(fake, home, port) -> None:
    """The fake refuses old clients by User-Agent; one real request through the proxy
    trips the dispatcher's gate, and the header says so with the fix."""
    from proxy.upstream.client_version import ANTIGRAVITY_VERSION
    from tui.widgets.status_header import StatusHeader

    app = AgproxyApp()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        note = app.query_one("#accounts-note")
        await until(pilot, lambda: f"client version {ANTIGRAVITY_VERSION}" in str(note.render()))
        await prompt_answer(pilot, app, "i", str(FIXTURES / "single.json"))
        await until(pilot, lambda: app.query_one(AccountsTable).row_count == 1)
        banner = app.query_one(StatusHeader).query_one("#status-banner")
        assert not banner.display
        await pilot.press("s")
        await until(pilot, lambda: app.controller.status().running)
        fake.gate_versions_below("99.0.0", form="error")
        key = app.controller.config.proxy.api_key
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                                 headers={"Authorization": f"Bearer {key}"},
                                 json={"model": "gemini-2.5-pro",
                                       "messages": [{"role": "user", "content": "hi"}]}) as r:
                assert r.status == 502
        await until(pilot, lambda: banner.display)
        text = str(banner.render())
        assert "upstream rejects client version" in text and "upstream.user_agent" in text
        assert banner.region.height >= 1  # laid out, not hidden behind the tabs

"""`agproxy accounts …` through proxy.cli.main with AGPROXY_HOME in a tmp dir; the
commands that talk to Google run against the fake upstream (on its own loop thread)."""

from __future__ import annotations

import asyncio
import io
import stat
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from proxy import jsoncodec
from proxy.accounts.catalogue import Catalogue, ModelEntry
from proxy.accounts.model import Account, AccountState, QuotaInfo
from proxy.accounts.store import AccountStore
from proxy.cli import main
from proxy.cli.accounts import quota_count
from proxy.config.store import ConfigStore
from proxy.onboarding import LoginError, LoginFlow, parse_pasted
from proxy.paths import resolve_paths
from tests.conftest import find_free_port
from tests.fakes.upstream import FakeUpstream

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reference_accounts"


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("AGPROXY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AGPROXY_CONFIG", raising=False)
    return tmp_path / "home"


def accounts(home: Path) -> AccountStore:
    store = AccountStore(home / "accounts")
    store.load_all()
    return store


@pytest.fixture
def fake(home: Path):
    """FakeUpstream on a background loop (the CLI runs its own asyncio.run)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    upstream = FakeUpstream(email="new.user@example.com")
    asyncio.run_coroutine_threadsafe(upstream.__aenter__(), loop).result(5)
    cfg_store = ConfigStore(resolve_paths())
    cfg = cfg_store.load()
    cfg = cfg.with_value("upstream.oauth_token_url", upstream.token_url)
    cfg = cfg.with_value("upstream.oauth_userinfo_url", upstream.userinfo_url)
    cfg = cfg.with_value("upstream.antigravity_endpoints", upstream.endpoints)
    cfg = cfg.with_value("upstream.gemini_base_url", upstream.url)
    cfg = cfg.with_value("upstream.oauth_redirect_port", find_free_port())  # tests run side by side
    cfg_store.save(cfg)
    yield upstream
    asyncio.run_coroutine_threadsafe(upstream.__aexit__(None, None, None), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


# -- offline commands ---------------------------------------------------------------


def test_list_without_accounts(home, capsys):
    assert main(["accounts", "list"]) == 0
    assert "no accounts yet" in capsys.readouterr().out


def test_list_shows_state_cooling_and_quota(home, capsys):
    store = accounts(home)
    now = time.time()
    a, _ = store.add(Account.antigravity("alice@example.com", "1//secret-rt"))
    a.cooldowns["*"] = now + 192
    a.quota = {"gemini-2.5-pro": QuotaInfo(0.8, now + 7200, now - 60)}
    a.quota_fetched_at = now - 60
    store.save(a)
    b, _ = store.add(Account.antigravity("bob@example.com", "1//rt2"))
    store.mark_state(
        b, AccountState.VERIFICATION_REQUIRED, "verify", validation_url="https://verify.example/b"
    )
    store.add(Account.gemini_key("AIzaSyD-abcdefghijklmnopqrstuvwxyz12345"))
    assert main(["accounts", "list"]) == 0
    out = capsys.readouterr().out
    assert "alice@example.com" in out and "cooling (in 3m1" in out
    assert "gemini-2.5-pro" in out and "80%" in out and "resets in 1h59m" in out
    assert "data 1m00s old" in out or "data 1m01s old" in out
    assert "verification_required (retry in 9m" in out and "https://verify.example/b" in out
    assert "key …2345" in out and "gemini_key" in out
    assert "quota: unknown" in out
    assert "1//secret-rt" not in out and "AIzaSyD-abc" not in out


def test_list_shows_the_quota_of_offered_models_only(home, capsys):
    """Once the catalogue is read, the quota listing's internal ids (chat_…, tab_…) are
    counted, not listed: as `accounts show` and the TUI show the account."""
    store = accounts(home)
    now = time.time()
    a, _ = store.add(Account.antigravity("alice@example.com", "1//rt"))
    offered = ["claude-sonnet-4-6", "gemini-3-flash"]
    internal = ["chat_20706", "tab_flash_lite_preview", "chat_23310"]
    entries = {m: ModelEntry(m) for m in offered} | {m: ModelEntry(m, internal=True) for m in internal}
    quota = {m: QuotaInfo(0.5, now + 3600, now) for m in offered + internal}
    store.update_catalogue(a, Catalogue(entries, {}, now), quota)
    before, _ = store.add(Account.antigravity("bob@example.com", "1//rt2"))  # no catalogue yet
    before.quota = {"chat_20706": QuotaInfo(1.0, None, now), "gemini-3-flash": QuotaInfo(1.0, None, now)}
    before.quota_fetched_at = now
    store.save(before)
    assert main(["accounts", "list"]) == 0
    out = capsys.readouterr().out
    alice = out.split("alice@example.com")[1].split("bob@example.com")[0]
    assert "claude-sonnet-4-6" in alice and "gemini-3-flash" in alice
    assert not any(m in alice for m in internal)
    assert "(+3 internal ids)" in alice
    # an account whose catalogue is unknown lists what the quota holds
    bob = out.split("bob@example.com")[1]
    assert "chat_20706" in bob and "internal ids" not in bob
    assert quota_count(accounts(home).get(a.id)) == "quota for 2 model(s)"


def test_list_json_has_no_secrets(home, capsys):
    accounts(home).add(
        Account.antigravity("alice@example.com", "1//secret-rt", access_token="ya29.x")
    )
    assert main(["accounts", "list", "--json"]) == 0
    out = capsys.readouterr().out
    row = jsoncodec.loads(out.splitlines()[0])
    assert row["email"] == "alice@example.com" and row["state"] == "active"
    assert "1//secret-rt" not in out and "ya29.x" not in out


def test_add_key_warns_on_odd_shape_but_stores(fake, home, capsys):
    assert main(["accounts", "add-key", "not-a-google-key"]) == 0
    assert "does not look like" in capsys.readouterr().err
    assert [a.api_key for a in accounts(home).list()] == ["not-a-google-key"]
    assert main(["accounts", "add-key", "  "]) == 1


def test_add_key_from_stdin(fake, home, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("AIzaSyD-abcdefghijklmnopqrstuvwxyz12345\n"))
    assert main(["accounts", "add-key", "-"]) == 0
    assert accounts(home).list()[0].label == "key …2345"


def test_add_key_reads_its_model_listing(fake, home, capsys):
    assert main(["accounts", "add-key", "AIzaSyD-abcdefghijklmnopqrstuvwxyz12345"]) == 0
    acc = accounts(home).list()[0]
    assert acc.catalogue is not None and "gemini-2.5-flash" in acc.offered()
    assert [c.token for c in fake.calls("gemini_list")] == ["AIzaSyD-abcdefghijklmnopqrstuvwxyz12345"]


def test_rejected_key_is_refused_at_once(fake, home, capsys):
    fake.invalid_tokens.add("AIzaSyD-rejectedrejectedrejectedrejec")
    assert main(["accounts", "add-key", "AIzaSyD-rejectedrejectedrejectedrejec"]) == 1
    assert "the Gemini API rejected this key: API key not valid" in capsys.readouterr().err
    assert accounts(home).list() == []


def test_import_reference_folder_and_export(fake, home, tmp_path, capsys):
    assert main(["accounts", "import", str(FIXTURES / "folder")]) == 0
    imported = accounts(home).list()
    assert imported and all(a.catalogue is not None or a.disabled for a in imported)  # read at import
    captured = capsys.readouterr()
    assert "2 added, 0 updated, 2 skipped" in captured.out
    assert "truncated.json" in captured.err
    out = tmp_path / "export.json"
    assert main(["accounts", "export", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(jsoncodec.loads(out.read_bytes())["accounts"]) == 2


def test_import_nothing_usable_fails(home, tmp_path):
    assert main(["accounts", "import", str(tmp_path / "missing.json")]) == 1


def test_disable_enable_remove(home, capsys):
    store = accounts(home)
    a, _ = store.add(Account.antigravity("alice@example.com", "1//rt"))
    store.mark_state(a, AccountState.FORBIDDEN, "403")
    assert main(["accounts", "disable", "alice@example.com"]) == 0
    assert accounts(home).get(a.id).disabled
    assert main(["accounts", "enable", a.id[:6]]) == 0
    back = accounts(home).get(a.id)
    assert not back.disabled and back.state is AccountState.ACTIVE
    assert main(["accounts", "remove", a.id, "--yes"]) == 0
    assert accounts(home).list() == []
    assert not (home / "accounts" / f"{a.id}.json").exists()


def test_remove_needs_yes_without_a_terminal(home, monkeypatch, capsys):
    a, _ = accounts(home).add(Account.antigravity("alice@example.com", "1//rt"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["accounts", "remove", a.id]) == 1
    assert "--yes" in capsys.readouterr().err
    assert accounts(home).get(a.id) is not None


def test_unknown_account_is_one_clear_error(home, capsys):
    assert main(["accounts", "disable", "nobody"]) == 1
    err = capsys.readouterr().err
    assert "no account matches 'nobody'" in err and len(err.strip().splitlines()) == 1


# -- commands that talk to Google (fake upstream) ------------------------------------


def test_add_token_looks_up_email_project_and_quota(fake, home, capsys):
    assert main(["accounts", "add-token", "1//pasted-refresh-token"]) == 0
    out = capsys.readouterr().out
    assert "added: new.user@example.com" in out
    acc = accounts(home).list()[0]
    assert acc.email == "new.user@example.com" and acc.refresh_token == "1//pasted-refresh-token"
    assert acc.project_id == "proj-fake-123"
    assert acc.quota["claude-sonnet-4-5"].remaining_fraction == 0.0
    assert acc.access_token.startswith("at-")
    # adding the same account again updates it instead of duplicating
    assert main(["accounts", "add-token", "1//another-token"]) == 0
    assert [a.refresh_token for a in accounts(home).list()] == ["1//another-token"]


def test_add_token_rejected_token_adds_nothing(fake, home, capsys):
    fake.revoked.add("1//revoked")
    assert main(["accounts", "add-token", "1//revoked"]) == 1
    assert "invalid_grant" in capsys.readouterr().err
    assert accounts(home).list() == []


def test_refresh_marks_revoked_account_auth_failed_and_recovers(fake, home, capsys):
    store = accounts(home)
    a, _ = store.add(Account.antigravity("someone@example.com", "1//rt-ok"))
    fake.revoked.add("1//rt-ok")
    assert main(["accounts", "refresh"]) == 1
    assert accounts(home).get(a.id).state is AccountState.AUTH_FAILED
    fake.revoked.clear()
    assert main(["accounts", "refresh", a.id]) == 0
    back = accounts(home).get(a.id)
    assert back.state is AccountState.ACTIVE and back.quota and back.project_id == "proj-fake-123"
    assert f"ok, quota for {len(fake.quota)} model(s)" in capsys.readouterr().out


def test_login_with_pasted_code(fake, home, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("4/0AbCdEf-pasted-code\n"))
    assert main(["accounts", "login", "--timeout", "10"]) == 0
    out = capsys.readouterr().out
    assert "accounts.google.com/o/oauth2/v2/auth" in out and "access_type=offline" in out
    acc = accounts(home).list()[0]
    assert acc.refresh_token == "rt-from-4/0AbCdEf-pasted-code"
    assert acc.email == "new.user@example.com"
    exchange = [c for c in fake.calls("token") if c.body.get("grant_type") == "authorization_code"]
    assert exchange and exchange[0].body["redirect_uri"].startswith("http://127.0.0.1:")


# -- the login flow itself -----------------------------------------------------------


async def test_login_flow_accepts_the_local_redirect():
    flow = LoginFlow("client-id")
    url = await flow.start()
    assert "prompt=consent" in url and "127.0.0.1" in flow.redirect_uri
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(flow.redirect_uri, params={"code": "c", "state": "stale"}) as r:
                assert r.status == 200  # a stray redirect neither ends nor hijacks the login
            async with http.get(
                flow.redirect_uri, params={"code": "good", "state": flow.state}
            ) as r:
                assert "login received" in await r.text()
        assert await flow.wait_code(5) == "good"
    finally:
        await flow.close()


async def test_login_flow_reports_refusal():
    flow = LoginFlow("client-id")
    await flow.start()
    try:
        async with aiohttp.ClientSession() as http:
            await (
                await http.get(
                    flow.redirect_uri, params={"error": "access_denied", "state": flow.state}
                )
            ).read()
        with pytest.raises(LoginError, match="access_denied"):
            await flow.wait_code(5)
    finally:
        await flow.close()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("4/0AbC-xyz", "4/0AbC-xyz"),
        ("http://127.0.0.1:5555/oauth-callback?state=S&code=4%2F0AbC&scope=openid", "4/0AbC"),
        ("?code=abc&state=S", "abc"),
        ("code=abc", "abc"),
    ],
)
def test_parse_pasted(text, code):
    assert parse_pasted(text, "S") == code


@pytest.mark.parametrize(
    "text", ["", "http://127.0.0.1/cb?state=OTHER&code=x", "two words", "?error=access_denied"]
)
def test_parse_pasted_rejects(text):
    with pytest.raises(LoginError):
        parse_pasted(text, "S")


def test_rename_sets_and_clears_a_name(home, capsys):
    a, _ = accounts(home).add(Account.antigravity("alice@example.com", "1//rt"))
    assert main(["accounts", "rename", "alice@example.com", "work"]) == 0
    assert "renamed: work" in capsys.readouterr().out
    assert accounts(home).get(a.id).name == "work"
    assert main(["accounts", "list"]) == 0 and "work" in capsys.readouterr().out
    assert main(["accounts", "rename", "work", ""]) == 0
    assert accounts(home).get(a.id).label == "alice@example.com"

"""The Controller contract, run in-process and through a real control socket (the `rig`
fixture): lifecycle, validated config writes, accounts, OAuth login, records, log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp
import pytest

from proxy.accounts.store import AccountStore
from proxy.config.model import ConfigError
from proxy.config.store import ConfigStore
from proxy.control.api import ControlError
from proxy.keys.store import KeyCommandError
from proxy.onboarding import LoginError
from proxy.service import StartError
from tests.conftest import find_free_port, write_account_file
from tests.fakes.upstream import FakeUpstream
from tests.proxy.control.conftest import Rig

KEY = "AIzaSyCONTROLCONTROLCONTROLCONTROL12345"


async def until(check: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def on_disk(rig: Rig) -> AccountStore:
    store = AccountStore(rig.service.paths.accounts_dir)
    store.load_all()
    return store


async def test_start_without_accounts_says_why(rig: Rig) -> None:
    with pytest.raises(StartError, match="no available accounts"):
        await rig.controller.start()
    assert not rig.controller.status().running


async def test_start_stop_restart(rig: Rig) -> None:
    write_account_file(rig.service.paths)
    await rig.controller.start()
    st = rig.controller.status()
    assert st.running and st.base_urls == [f"http://127.0.0.1:{st.port}"]
    assert st.owner == "serve" and st.pid > 0
    async with aiohttp.ClientSession() as http, http.get(f"{st.base_urls[0]}/healthz") as r:
        assert r.status == 200
    with pytest.raises(StartError, match="already running"):
        await rig.controller.start()
    await rig.controller.restart(grace=1.0)
    assert rig.service.running
    await rig.controller.stop(grace=1.0)
    assert not rig.service.running and not rig.controller.status().running


async def test_a_refused_secret_is_masked_in_the_error(rig: Rig) -> None:
    """The message the CLI and the TUI's Settings show: the key named, its value not."""
    for attempt in ("sk-abc", "not-a-key-but-a-real-secret-0123456789"):
        with pytest.raises(ConfigError) as refused:
            await rig.controller.set_config("proxy.api_key", attempt)
        message = str(refused.value)
        assert "invalid value for proxy.api_key" in message and "sk-" in message
        assert attempt not in message and attempt[:8] not in message


async def test_config_write_is_validated_and_saved_by_the_one_store(rig: Rig) -> None:
    with pytest.raises(ConfigError, match="proxy.port"):
        await rig.controller.set_config("proxy.port", "80")
    saved = await rig.controller.set_config("proxy.request_timeout", "333")
    assert saved.proxy.request_timeout == 333
    assert rig.service.config.proxy.request_timeout == 333  # hot-applied in the proxy
    assert ConfigStore(rig.service.paths).load().proxy.request_timeout == 333
    cfg = rig.controller.config.with_value("scheduling.mode", "performance_first")
    await rig.controller.save_config(cfg)
    assert rig.service.config.scheduling.mode == "performance_first"
    assert rig.controller.config.scheduling.mode == "performance_first"


async def test_outside_config_change_is_reported_once(rig: Rig) -> None:
    rig.controller.reload_config_if_changed()
    other = ConfigStore(rig.service.paths)
    other.load()
    other.set("proxy.request_timeout", "444")
    rig.service.store.reload_if_changed()  # the proxy's own poll (every 2 s while running)
    await until(lambda: rig.controller.config.proxy.request_timeout == 444)
    assert rig.controller.reload_config_if_changed()
    assert not rig.controller.reload_config_if_changed()


async def test_accounts_add_disable_enable_remove_reach_the_files_at_once(
    rig: Rig, google: FakeUpstream
) -> None:
    ctl = rig.controller
    with pytest.raises(ControlError, match="Gemini API key"):
        await ctl.add_gemini_key("not-a-key")
    added = await ctl.add_gemini_key(KEY)
    account, created = added.account, added.created
    assert created and account.label.endswith(KEY[-4:]) and not added.warnings
    assert account.catalogue is not None and "gemini-2.5-flash" in account.offered()  # read (SPEC §9)
    assert [c.token for c in google.calls("gemini_list")] == [KEY]
    assert not account.api_key or ctl is rig.local  # no secret crosses the socket
    assert on_disk(rig).list()[0].api_key == KEY
    assert [a.id for a in ctl.accounts()] == [account.id]
    found = await ctl.find_account(account.id[:4])
    assert found is not None and found.id == account.id
    assert await ctl.find_account("nobody") is None
    await ctl.set_disabled(account.id, True)
    assert on_disk(rig).list()[0].disabled
    assert rig.service.accounts.count_usable() == 0  # the running proxy's view, no poll
    assert ctl.account(account.id).disabled  # type: ignore[union-attr]
    await ctl.set_disabled(account.id, False)
    assert not on_disk(rig).list()[0].disabled
    with pytest.raises(ControlError, match="no account matches") as err:
        await ctl.remove_account("nobody")
    assert err.value.kind == "not_found"
    assert await ctl.remove_account(account.id)
    assert on_disk(rig).list() == [] and ctl.accounts() == []


async def test_a_key_the_api_rejects_is_refused_and_not_stored(rig: Rig, google: FakeUpstream) -> None:
    google.invalid_tokens.add(KEY)
    with pytest.raises(LoginError, match="the Gemini API rejected this key: API key not valid"):
        await rig.controller.add_gemini_key(KEY)
    assert on_disk(rig).list() == [] and rig.controller.accounts() == []


async def test_rename_is_persisted_shown_everywhere_and_undone_by_an_empty_name(
    rig: Rig, google: FakeUpstream
) -> None:
    ctl = rig.controller
    account = (await ctl.add_gemini_key(KEY)).account
    assert account.label == f"key …{KEY[-4:]}" and account.name == ""  # the one masker's tail
    renamed = await ctl.rename_account(account.id[:5], "  work   laptop ")
    assert renamed.name == "work laptop" and renamed.label == "work laptop"
    stored = on_disk(rig).list()[0]
    assert stored.name == "work laptop" and stored.label == "work laptop"  # in the account file
    assert ctl.account(account.id).label == "work laptop"  # type: ignore[union-attr]
    assert rig.service.accounts.get("work laptop") is rig.service.accounts.by_id(account.id)
    with pytest.raises(ControlError, match="at most 60") as err:
        await ctl.rename_account(account.id, "x" * 61)
    with pytest.raises(ControlError, match="no account matches") as err:
        await ctl.rename_account("nobody", "x")
    assert err.value.kind == "not_found"
    cleared = await ctl.rename_account(account.id, "")
    assert cleared.name == "" and cleared.label == f"key …{KEY[-4:]}"
    assert on_disk(rig).list()[0].label == f"key …{KEY[-4:]}"


async def test_import_reports_what_it_did(rig: Rig, tmp_path) -> None:
    report = await rig.controller.import_accounts(str(tmp_path / "missing.json"))
    assert not report.added and report.skipped


@pytest.fixture
async def google(rig: Rig):
    async with FakeUpstream(email="new.user@example.com") as fake:
        store = rig.service.store
        store.set("upstream.oauth_token_url", fake.token_url)
        store.set("upstream.oauth_userinfo_url", fake.userinfo_url)
        store.set("upstream.antigravity_endpoints", fake.endpoints)
        store.set("upstream.gemini_base_url", fake.url)
        store.set("upstream.oauth_redirect_port", str(find_free_port()))  # tests run side by side
        yield fake


async def test_oauth_login_with_a_pasted_code_and_refresh(rig: Rig, google: FakeUpstream) -> None:
    ctl = rig.controller
    login = await ctl.login()
    assert login.url.startswith("https://") and "127.0.0.1" in login.redirect_uri
    with pytest.raises(LoginError, match="state mismatch"):
        await login.submit(f"{login.redirect_uri}?state=other&code=4/0x")
    await login.submit("4/0pasted")
    await login.wait_code(5)
    result = await login.finish()
    assert result.created and result.account.label == "new.user@example.com"
    assert on_disk(rig).list()[0].refresh_token == "rt-from-4/0pasted"
    refreshed = await ctl.refresh_account(result.account.id)
    assert refreshed.problems == [] and refreshed.account.quota
    google.revoked.add("rt-from-4/0pasted")
    refreshed = await ctl.refresh_account(result.account.id)
    assert refreshed.problems[0] == (
        "this refresh token is wrong, expired or revoked (Google answered invalid_grant); "
        "add the account again"
    )


async def test_records_arrive_live_and_pages_come_from_the_store(rig: Rig) -> None:
    write_account_file(rig.service.paths)
    await rig.controller.start()
    feed = rig.controller.subscribe_records(100)
    port = rig.controller.status().port
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{x") as r:
                assert r.status == 400
    got: dict[int, object] = {}

    def finished() -> bool:
        got.update((r.id, r) for r in feed.get_nowait_batch())
        return len(got) == 3 and all(r.status == 400 for r in got.values())  # type: ignore[attr-defined]

    await until(finished)
    assert [r.path for r in rig.controller.recent_records(10)] == ["/v1/chat/completions"] * 3
    page = await rig.controller.history("status:4xx", 2, None)
    assert len(page) == 2 and page[0].id > page[1].id  # newest first
    older = await rig.controller.history(None, 10, page[-1])
    assert len(older) == 1 and older[0].id < page[-1].id
    one = await rig.controller.record(page[0].id)
    assert one is not None and one.status == 400 and one.error
    assert await rig.controller.record(1) is None
    feed.close()


async def test_log_lines_reach_the_log_feed(rig: Rig) -> None:
    logging.getLogger().addHandler(rig.local.log_hub)
    try:
        feed = rig.controller.subscribe_log()
        logging.getLogger("proxy.test").warning("a line for the log tab")
        lines: list[tuple[int, str]] = []
        await until(lambda: lines.extend(feed.drain()) or any("log tab" in t for _, t in lines))
        level, text = next(item for item in lines if "log tab" in item[1])
        assert level == logging.WARNING and "WARNING" in text
        feed.close()
    finally:
        logging.getLogger().removeHandler(rig.local.log_hub)


async def test_two_logins_use_the_same_configured_redirect_port_and_a_busy_one_says_so(
    rig: Rig, google: FakeUpstream
) -> None:
    import socket

    port = rig.service.config.upstream.oauth_redirect_port
    assert port != 0  # the fixture set a fixed one, as the default is
    uris = []
    for _ in range(2):
        login = await rig.controller.login()
        uris.append(login.redirect_uri)
        await login.close()
    assert uris == [f"http://127.0.0.1:{port}/oauth-callback"] * 2  # one ssh -L keeps working
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        with pytest.raises(LoginError, match=f"127.0.0.1:{port}.*upstream.oauth_redirect_port"):
            await rig.controller.login()
    rig.service.store.set("upstream.oauth_redirect_port", "0")
    login = await rig.controller.login()
    assert not login.redirect_uri.startswith(f"http://127.0.0.1:{port}/")
    await login.close()


def test_the_default_redirect_port_is_fixed() -> None:
    from proxy.config.model import Config

    assert Config().upstream.oauth_redirect_port == 51121


async def test_a_named_account_answers_under_its_name(rig: Rig, google: FakeUpstream) -> None:
    ctl = rig.controller
    account = (await ctl.add_gemini_key(KEY)).account
    await ctl.rename_account(account.id, "work laptop")
    await ctl.start()
    st = ctl.status()
    key = rig.service.config.proxy.api_key
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{st.base_urls[0]}/v1/chat/completions",
                             headers={"Authorization": f"Bearer {key}"},
                             json={"model": "gemini-2.5-flash",
                                   "messages": [{"role": "user", "content": "hi"}]}) as r:
            assert r.status == 200, await r.text()
            assert r.headers["X-Agproxy-Account"] == "work laptop"
    await until(lambda: any(rec.account == "work laptop" for rec in ctl.recent_records(5)))


async def test_client_keys_change_in_the_serving_process_at_once(rig: Rig) -> None:
    keys = rig.service.keys  # what the running proxy checks requests against
    key = await rig.controller.add_client_key(
        "bob", models=["gemini-*"], rpm=5, tokens_per_day=1000, expires=0.0
    )
    assert key.startswith("sk-ag-") and keys.find(key) is not None
    assert key not in keys.path.read_text()  # only its hash is stored
    with pytest.raises(KeyCommandError, match="a key named 'bob' exists"):
        await rig.controller.add_client_key("bob", models=[], rpm=0, tokens_per_day=0, expires=0.0)
    listed = await rig.controller.client_keys()
    assert [(k["name"], k["state"], k["models"], k["rpm"]) for k in listed] == [("bob", "active", "gemini-*", 5)]
    await rig.controller.revoke_client_key("bob")
    assert keys.by_name["bob"].revoked
    assert [k["state"] for k in await rig.controller.client_keys()] == ["revoked"]
    new = await rig.controller.rotate_client_key("bob")
    assert keys.find(key) is None and keys.find(new) is not None and not keys.by_name["bob"].revoked
    await rig.controller.remove_client_key("bob")
    assert keys.list_keys() == [] and await rig.controller.client_keys() == []
    with pytest.raises(KeyCommandError, match="no client key named 'bob'"):
        await rig.controller.revoke_client_key("bob")


async def test_usage_and_totals_come_from_the_serving_process(rig: Rig) -> None:
    write_account_file(rig.service.paths)
    await rig.controller.start()
    since = time.time() - 60
    port = rig.controller.status().port
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{x") as r:
                assert r.status == 400
    monitor = rig.service.monitor
    total = await rig.controller.usage("total", since)
    assert [(u.requests, u.errors) for u in total] == [(3, 3)]
    assert total == await monitor.usage("total", since)
    series = await rig.controller.usage_series(since, 3600)
    assert series == await monitor.usage_series(since, 3600)
    assert sum(u.requests for _t, u in series) == 3
    totals = await rig.controller.totals("status:400")
    assert totals == await monitor.totals("status:400")
    assert sum(t["requests"] for t in totals["by_model"].values()) == 3
    assert await rig.controller.totals("status:200") == {"by_model": {}, "by_account": {}}


async def test_models_report_is_the_serving_process_view(rig: Rig, google: FakeUpstream) -> None:
    account = (await rig.controller.add_gemini_key(KEY)).account  # its catalogue is read
    live = rig.service.accounts.by_id(account.id)
    assert live is not None
    live.cooldowns["gemini-2.5-flash"] = time.time() + 600  # in memory only: not on disk yet
    report = await rig.controller.models()
    assert report == await rig.local.models()
    assert report["client_version"] and report["user_agent"]
    [view] = report["accounts"]
    assert view["id"] == account.id and "model(s), read" in view["catalogue_state"]
    flash = next(m for m in view["models"] if m["id"] == "gemini-2.5-flash")
    assert flash["cooling"]  # the serve's live cooldown, which the files do not have
    resolved = {r["client_model"]: r for r in report["resolutions"]}
    assert resolved["gemini-2.5-flash"]["offered"]
    assert (await rig.controller.models(account.label))["accounts"] == [view]
    with pytest.raises(ControlError, match="no account 'nobody'") as err:
        await rig.controller.models("nobody")
    assert err.value.kind == "not_found"


async def test_usage_percentiles_of_fast_requests_follow_their_real_latency(rig: Rig) -> None:
    """What the TUI's Stats tab reads (usage and its series): a few-ms request is not
    reported as the 0-100 ms bucket's 50 / 95 ms."""
    write_account_file(rig.service.paths)
    await rig.controller.start()
    since = time.time() - 60
    port = rig.controller.status().port
    async with aiohttp.ClientSession() as http:
        for _ in range(20):
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{x") as r:
                assert r.status == 400
    durations = [r.duration_ms for r in await rig.controller.history(None, 50, None)]
    assert len(durations) == 20 and max(durations) < 40  # fast: well inside the first bucket
    [total] = await rig.controller.usage("total", since)
    assert total.p50_ms <= max(durations) and total.p95_ms <= 2 * max(durations)
    [(_, hour)] = [(t, u) for t, u in await rig.controller.usage_series(since, 3600) if u.requests]
    assert hour.p95_ms == total.p95_ms

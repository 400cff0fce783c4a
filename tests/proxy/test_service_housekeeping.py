"""ProxyService housekeeping (SPEC §5, §2): quota snapshots from `fetchAvailableModels`,
batched account counters written on stop, and the periodic housekeeping task — all
against a FakeUpstream, with the real AccountStore on disk."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from proxy.accounts.model import Account
from proxy.accounts.store import AccountStore
from proxy.config.store import ConfigStore
from proxy.paths import Paths
from proxy.service import ProxyService
from tests.conftest import find_free_port
from tests.fakes.replies import server_error
from tests.fakes.upstream import FakeUpstream


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as f:
        yield f


@pytest.fixture
async def svc(fake: FakeUpstream, config_store: ConfigStore) -> AsyncIterator[ProxyService]:
    for key, value in {
        "upstream.antigravity_endpoints": json.dumps(fake.endpoints),
        "upstream.oauth_token_url": fake.token_url,
        "upstream.gemini_base_url": fake.url,
        "zai.base_url": fake.zai_url,
        "proxy.port": find_free_port(),
    }.items():
        config_store.set(key, value)
    service = ProxyService(config_store)
    yield service
    await service.close()


def add_account(service: ProxyService, name: str, **kw: object) -> Account:
    acc = Account.antigravity(
        f"{name}@example.com",
        f"rt-{name}",
        access_token=f"tok-{name}",
        token_expiry=time.time() + 3600,
        project_id=f"proj-{name}",
        **kw,
    )
    return service.accounts.add(acc)[0]


def on_disk(paths: Paths) -> AccountStore:
    store = AccountStore(paths.accounts_dir)
    store.load_all()
    return store


async def test_refresh_quotas_fills_and_persists_quota(
    svc: ProxyService, fake: FakeUpstream, paths: Paths
) -> None:
    acc = add_account(svc, "alice")
    # keys have no quota, but a catalogue (their model listing)
    key = svc.accounts.add(Account.gemini_key("AIzaHOUSEKEEPING000000000000000000000"))[0]
    assert on_disk(paths).get("alice@example.com").quota == {}

    assert await svc.refresh_quotas() == 2

    assert key.quota == {} and key.catalogue is not None and "gemini-2.5-flash" in key.offered()
    calls = fake.calls("models")
    assert len(calls) == 1 and calls[0].token == "tok-alice"
    assert calls[0].body == {"project": "proj-alice"}
    assert acc.quota["gemini-2.5-pro"].remaining_fraction == pytest.approx(0.8)
    assert acc.quota["claude-sonnet-4-5"].remaining_fraction == 0.0
    stored = on_disk(paths).get("alice@example.com")
    assert set(stored.quota) == set(fake.quota)
    assert stored.catalogue is not None and stored.catalogue.offered == set(fake.quota)
    assert stored.quota["gemini-2.5-pro"].remaining_fraction == pytest.approx(0.8)
    assert (
        stored.quota["claude-sonnet-4-5"].reset_time
        and stored.quota["claude-sonnet-4-5"].reset_time > time.time()
    )
    assert abs(stored.quota_fetched_at - time.time()) < 30


async def test_refresh_quotas_one_failure_does_not_stop_the_others(
    svc: ProxyService, fake: FakeUpstream, paths: Paths
) -> None:
    add_account(svc, "bad")
    good = add_account(svc, "good")
    disabled = add_account(svc, "off", disabled=True)
    fake.always("models", server_error(500), token="tok-bad")

    assert await svc.refresh_quotas() == 1

    assert {c.token for c in fake.calls("models")} >= {"tok-bad", "tok-good"}
    assert "tok-off" not in {c.token for c in fake.calls("models")}  # disabled: not asked
    assert good.quota and not disabled.quota
    disk = on_disk(paths)
    assert disk.get("good@example.com").quota and not disk.get("bad@example.com").quota


async def test_stop_flushes_batched_counters(svc: ProxyService, paths: Paths) -> None:
    acc = add_account(svc, "carol")
    await svc.start()
    svc.pool.mark_used(acc)
    svc.pool.mark_used(acc, ok=False)
    # batched: nothing written per request
    assert on_disk(paths).get("carol@example.com").requests == 0

    await svc.stop(grace=0.5)

    stored = on_disk(paths).get("carol@example.com")
    assert stored.requests == 2 and stored.errors == 1 and stored.last_used > 0


async def test_housekeeping_task_flushes_and_refreshes_quota_by_itself(
    svc: ProxyService, fake: FakeUpstream, paths: Paths
) -> None:
    acc = add_account(svc, "dave")
    svc.pool.mark_used(acc)
    task = asyncio.ensure_future(svc._housekeep(every=0.05, catalogue_every=0.1))
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stored = on_disk(paths).get("dave@example.com")
            if stored.quota and stored.requests == 1:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("housekeeping never flushed counters and quota")
        assert fake.calls("models"), "quota came from fetchAvailableModels"
        assert stored.quota["gemini-2.5-pro"].remaining_fraction == pytest.approx(0.8)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert task.cancelled()


async def test_housekeeping_survives_a_quota_refresh_failure(
    svc: ProxyService, fake: FakeUpstream, paths: Paths
) -> None:
    add_account(svc, "erin")
    fake.always("models", server_error(503))  # every endpoint fails for now
    task = asyncio.ensure_future(svc._housekeep(every=0.02, catalogue_every=0.04))
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not fake.calls("models"):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        assert fake.calls("models") and not task.done()
        assert not on_disk(paths).get("erin@example.com").quota
        fake._rules.clear()  # the upstream recovers: the next round must fill the quota
        while time.monotonic() < deadline and not on_disk(paths).get("erin@example.com").quota:
            await asyncio.sleep(0.02)
        assert on_disk(paths).get("erin@example.com").quota
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_config_edited_outside_is_hot_applied_to_a_running_proxy(service_factory, http) -> None:
    """`agproxy config set proxy.auth_mode strict` in another shell: the running proxy
    starts asking for the key without a restart."""
    import asyncio

    from proxy.config.store import ConfigStore

    service = await service_factory()
    port = service.status().port
    assert (await http(port, "GET", "/v1/models", {}, b""))[0] == 200
    outside = ConfigStore(service.store.paths)
    outside.load()
    outside.set("proxy.auth_mode", "strict")
    watch = asyncio.ensure_future(service._watch_config(every=0.02))
    try:
        for _ in range(100):
            if service.context.auth_mode == "strict":
                break
            await asyncio.sleep(0.02)
    finally:
        watch.cancel()
    assert (await http(port, "GET", "/v1/models", {}, b""))[0] == 401


async def test_accounts_changed_from_another_shell_reach_a_running_proxy(service_factory) -> None:
    """`agproxy accounts add-key` / `disable` while `agproxy serve` runs: no restart needed."""
    import asyncio

    from proxy.accounts.model import Account, AccountState
    from proxy.accounts.store import AccountStore

    service = await service_factory()
    before = len(service.accounts)
    outside = AccountStore(service.paths.accounts_dir)
    outside.load_all()
    added, _ = outside.add(Account.gemini_key("AIzaSyOUTSIDE0000000000000000000000000"))
    watch = asyncio.ensure_future(service._watch_config(every=0.02))
    try:
        for _ in range(100):
            if service.accounts.by_id(added.id) is not None:
                break
            await asyncio.sleep(0.02)
        assert len(service.accounts) == before + 1
        outside.set_disabled(added.id, True)
        for _ in range(100):
            acc = service.accounts.by_id(added.id)
            if acc is not None and acc.disabled:
                break
            await asyncio.sleep(0.02)
        assert service.accounts.by_id(added.id).effective_state(0) is AccountState.DISABLED
    finally:
        watch.cancel()

"""Pool selection (SPEC §7) with an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.accounts.model import Account, AccountState, QuotaInfo
from proxy.accounts.pool import REBIND_AFTER_S, Pool
from proxy.accounts.store import AccountStore
from proxy.config.model import SchedulingSettings

MODEL = "claude-sonnet-4-5"


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    s = AccountStore(tmp_path / "accounts")
    s.load_all()
    return s


def add(store: AccountStore, email: str, **kw) -> Account:
    acc, _ = store.add(Account.antigravity(email, "1//rt", **kw))
    return acc


def pool_for(store, clock, mode="balance", **kw) -> Pool:
    return Pool(store, SchedulingSettings(mode=mode, **kw), clock=clock)


def test_no_accounts_gives_none(store, clock):
    assert pool_for(store, clock).pick(MODEL) is None
    assert pool_for(store, clock).shortest_wait(MODEL) is None


def test_preferred_account_is_used_when_selectable(store, clock):
    add(store, "a@example.com")
    b = add(store, "b@example.com")
    pool = pool_for(store, clock, preferred_account="b@example.com")
    assert {pool.pick(MODEL).id for _ in range(4)} == {b.id}
    pool.cool(b, MODEL, 30)
    assert pool.pick(MODEL).id != b.id  # not selectable: normal selection


def test_lru_rotates_among_equal_accounts(store, clock):
    ids = {add(store, f"{n}@example.com").id for n in "abc"}
    pool = pool_for(store, clock, mode="performance_first")
    picks = [pool.pick(MODEL).id for _ in range(6)]
    assert set(picks[:3]) == ids and picks[:3] == picks[3:]


def test_best_quota_bucket_wins_over_lru(store, clock):
    low = add(store, "low@example.com", quota={MODEL: QuotaInfo(0.1, None, clock.t)})
    high = add(store, "high@example.com", quota={MODEL: QuotaInfo(0.95, None, clock.t)})
    unknown = add(store, "unknown@example.com")
    pool = pool_for(store, clock, mode="performance_first")
    assert [pool.pick(MODEL).id for _ in range(3)] == [high.id] * 3
    pool.cool(high, MODEL, 10)
    assert pool.pick(MODEL).id == unknown.id  # unknown ranks above nearly-empty
    pool.cool(unknown, MODEL, 10)
    assert pool.pick(MODEL).id == low.id


def test_quota_exhausted_account_is_skipped_until_reset(store, clock):
    a = add(store, "a@example.com", quota={MODEL: QuotaInfo(0.0, clock.t + 100, clock.t)})
    pool = pool_for(store, clock)
    assert pool.pick(MODEL) is None
    assert pool.shortest_wait(MODEL) == pytest.approx(100)
    clock.t += 101
    assert pool.pick(MODEL) is a


def test_cooldown_expires_with_the_clock(store, clock):
    a = add(store, "a@example.com")
    pool = pool_for(store, clock)
    pool.cool(a, MODEL, 5)
    assert pool.pick(MODEL) is None
    assert pool.pick("gemini-2.5-pro") is a  # per-model cooling
    clock.t += 5.01
    assert pool.pick(MODEL) is a


def test_account_wide_cooling_blocks_every_model(store, clock):
    a = add(store, "a@example.com")
    pool = pool_for(store, clock)
    pool.cool(a, MODEL, 5, account_wide=True)
    assert pool.pick("gemini-2.5-pro") is None


def test_newer_cooldown_replaces_optimistic_one(store, clock):
    a = add(store, "a@example.com")
    pool = pool_for(store, clock)
    pool.cool(a, MODEL, 3600)
    pool.cool(a, MODEL, 2)
    assert pool.shortest_wait(MODEL) == pytest.approx(2)


def test_shortest_wait_is_the_soonest_account(store, clock):
    a = add(store, "a@example.com")
    b = add(store, "b@example.com")
    dead = add(store, "dead@example.com")
    store.mark_state(dead, AccountState.AUTH_FAILED, "invalid_grant")
    pool = pool_for(store, clock)
    pool.cool(a, MODEL, 30)
    pool.cool(b, MODEL, 12)
    assert pool.shortest_wait(MODEL) == pytest.approx(12)
    clock.t += 12.5
    assert pool.shortest_wait(MODEL) == 0.0


def test_long_cooldowns_are_persisted(store, clock):
    a = add(store, "a@example.com")
    pool = pool_for(store, clock)
    pool.cool(a, MODEL, 3600)
    reloaded = AccountStore(store.dir).load_all()[0]
    assert reloaded.cooldowns[MODEL] == pytest.approx(clock.t + 3600)


def test_exclude_skips_already_tried_accounts(store, clock):
    a = add(store, "a@example.com")
    b = add(store, "b@example.com")
    pool = pool_for(store, clock)
    assert pool.pick(MODEL, exclude=frozenset({a.id})) is b
    assert pool.pick(MODEL, exclude=frozenset({a.id, b.id})) is None


def test_gemini_key_does_not_serve_claude(store, clock):
    key, _ = store.add(Account.gemini_key("AIzaSyKEY-one-1111"))
    pool = pool_for(store, clock)
    assert pool.pick(MODEL) is None
    assert pool.pick("gemini-2.5-flash") is key


# -- sessions -----------------------------------------------------------------


def test_session_sticks_to_its_account(store, clock):
    for n in "abc":
        add(store, f"{n}@example.com")
    pool = pool_for(store, clock)
    first = pool.pick(MODEL, "session-1")
    assert all(pool.pick(MODEL, "session-1") is first for _ in range(5))
    assert pool.bound_account("session-1") == first.id


def test_temporary_failover_keeps_the_binding(store, clock):
    a = add(store, "a@example.com")
    add(store, "b@example.com")
    pool = pool_for(store, clock)
    assert pool.pick(MODEL, "s") is a
    # the dispatcher failed over from a: another account serves this attempt...
    other = pool.pick(MODEL, "s", exclude=frozenset({a.id}))
    assert other is not a
    assert pool.bound_account("s") == a.id
    # ...a briefly cooling bound account also fails over without re-binding
    pool.cool(a, MODEL, 5)
    assert pool.pick(MODEL, "s") is not a
    assert pool.bound_account("s") == a.id
    clock.t += 6
    assert pool.pick(MODEL, "s") is a


def test_binding_moves_when_bound_account_is_out_for_long(store, clock):
    a = add(store, "a@example.com")
    b = add(store, "b@example.com")
    pool = pool_for(store, clock)
    assert pool.pick(MODEL, "s") is a
    pool.cool(a, MODEL, 3600)  # quota exhausted for an hour
    assert pool.pick(MODEL, "s") is b
    assert pool.bound_account("s") == b.id


def test_binding_moves_when_bound_account_is_dead_or_gone(store, clock):
    a = add(store, "a@example.com")
    b = add(store, "b@example.com")
    c = add(store, "c@example.com")
    pool = pool_for(store, clock)
    assert pool.pick(MODEL, "s") is a
    store.mark_state(a, AccountState.FORBIDDEN, "403")
    moved = pool.pick(MODEL, "s")
    assert moved is not a and pool.bound_account("s") == moved.id
    store.remove(moved.id)
    last = pool.pick(MODEL, "s")
    assert last in (b, c) and last is not moved and pool.bound_account("s") == last.id


def test_repeated_short_outages_rebind_after_the_bound(store, clock):
    a = add(store, "a@example.com")
    add(store, "b@example.com")
    pool = Pool(store, SchedulingSettings(mode="balance"), clock=clock, rebind_after=20)
    assert pool.pick(MODEL, "s") is a
    for _ in range(5):  # keeps cooling 10 s at a time: out for longer than 20 s overall
        pool.cool(a, MODEL, 10)
        pool.pick(MODEL, "s")
        clock.t += 9
    assert pool.bound_account("s") != a.id


def test_binding_expires_after_sticky_ttl(store, clock):
    a = add(store, "a@example.com")
    b = add(store, "b@example.com")
    pool = pool_for(store, clock, sticky_ttl=100)
    assert pool.pick(MODEL, "s") is a
    clock.t += 50
    assert pool.pick(MODEL, "s") is a  # use within the TTL keeps it alive
    clock.t += 101
    # expired: re-bound by normal selection, least recently picked first
    assert pool.pick(MODEL, "s") is b
    assert pool.bound_account("s") == b.id


def test_performance_first_ignores_sessions(store, clock):
    add(store, "a@example.com")
    add(store, "b@example.com")
    pool = pool_for(store, clock, mode="performance_first")
    picks = {pool.pick(MODEL, "s").id for _ in range(4)}
    assert len(picks) == 2 and pool.session_count == 0


def test_switching_to_performance_first_drops_sessions(store, clock):
    add(store, "a@example.com")
    pool = pool_for(store, clock)
    pool.pick(MODEL, "s")
    pool.apply_settings(SchedulingSettings(mode="performance_first"))
    assert pool.session_count == 0


def test_cache_first_hints_a_short_wait_for_the_bound_account(store, clock):
    a = add(store, "a@example.com")
    add(store, "b@example.com")
    pool = pool_for(store, clock, mode="cache_first")
    assert pool.pick(MODEL, "s") is a
    pool.cool(a, MODEL, 4)
    assert pool.wait_hint(MODEL, "s") == pytest.approx(4)
    pool.cool(a, MODEL, 600)  # too long to wait for
    assert pool.wait_hint(MODEL, "s") == 0.0


def test_balance_never_hints_a_wait(store, clock):
    a = add(store, "a@example.com")
    pool = pool_for(store, clock, mode="balance")
    pool.pick(MODEL, "s")
    pool.cool(a, MODEL, 4)
    assert pool.wait_hint(MODEL, "s") == 0.0


def test_sessions_map_is_bounded(store, clock):
    add(store, "a@example.com")
    pool = Pool(store, SchedulingSettings(mode="balance"), clock=clock, max_sessions=10)
    for i in range(50):
        pool.pick(MODEL, f"s{i}")
    assert pool.session_count == 10
    assert pool.bound_account("s49") is not None and pool.bound_account("s0") is None


def test_mark_used_counts_without_writing(store, clock):
    a = add(store, "a@example.com")
    pool = pool_for(store, clock)
    before = (store.dir / f"{a.id}.json").read_bytes()
    pool.mark_used(a)
    pool.mark_used(a, ok=False)
    assert (a.requests, a.errors, a.last_used) == (2, 1, clock.t)
    assert (store.dir / f"{a.id}.json").read_bytes() == before
    store.flush()
    assert (store.dir / f"{a.id}.json").read_bytes() != before


def test_snapshot_older_than_its_reset_counts_as_unknown(store, clock):
    stale = add(
        store, "stale@example.com", quota={MODEL: QuotaInfo(0.0, clock.t - 1, clock.t - 900)}
    )
    low = add(store, "low@example.com", quota={MODEL: QuotaInfo(0.1, clock.t + 900, clock.t)})
    pool = pool_for(store, clock, mode="performance_first")
    assert pool.pick(MODEL) is stale
    assert pool.pick(MODEL, exclude=frozenset({stale.id})) is low


def test_a_model_the_bound_account_does_not_list_moves_that_request_only(store, clock):
    """SPEC §9 / issue 10: a session bound to an account whose catalogue lacks the new
    model is served elsewhere for that request and keeps its binding (prompt cache)."""
    from proxy.accounts.catalogue import Catalogue, ModelEntry

    def catalogue(*ids: str) -> Catalogue:
        return Catalogue({m: ModelEntry(m) for m in ids}, {}, clock.t)

    a = add(store, "a@example.com", catalogue=catalogue(MODEL))
    b = add(store, "b@example.com", catalogue=catalogue(MODEL, "gemini-3-pro-high"))
    pool = pool_for(store, clock)
    assert pool.pick(MODEL, "s") is a
    assert pool.pick("gemini-3-pro-high", "s") is b  # a does not list it
    assert pool.bound_account("s") == a.id  # the binding stays
    assert 600 > REBIND_AFTER_S
    clock.t += 600  # past the rebind bound (an outage would move it), within sticky_ttl
    assert pool.pick("gemini-3-pro-high", "s") is b and pool.bound_account("s") == a.id
    assert pool.pick(MODEL, "s") is a

"""AccountStore: private atomic files, corrupt files kept, dedupe, state changes."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from proxy import jsoncodec
from proxy.accounts.model import Account, AccountState, QuotaInfo
from proxy.accounts.store import AccountStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    s = AccountStore(tmp_path / "accounts")
    s.load_all()
    return s


def test_account_file_is_0600_and_folder_0700(store: AccountStore):
    acc, created = store.add(Account.antigravity("a@example.com", "1//rt"))
    assert created
    path = store.dir / f"{acc.id}.json"
    assert mode(path) == 0o600
    assert mode(store.dir) == 0o700


def test_saved_accounts_load_back(store: AccountStore):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//rt", project_id="p1"))
    other = AccountStore(store.dir)
    loaded = other.load_all()
    assert [a.to_json() for a in loaded] == [acc.to_json()]


def test_atomic_save_leaves_no_partial_or_temp_file(store: AccountStore, monkeypatch):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//old"))
    path = store.dir / f"{acc.id}.json"
    before = path.read_bytes()

    def crash(*_a, **_kw):
        raise OSError("disk gone")

    acc.refresh_token = "1//new"
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save(acc)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in store.dir.iterdir()) == [path.name]  # no temp left behind


def test_corrupt_file_is_skipped_and_kept(store: AccountStore, caplog):
    good, _ = store.add(Account.antigravity("a@example.com", "1//rt"))
    bad = store.dir / "deadbeef.json"
    bad.write_bytes(b'{"kind": "antigravity", "email": "x@')
    wrong = store.dir / "cafecafe.json"
    wrong.write_bytes(b'{"kind": "spaceship"}')
    fresh = AccountStore(store.dir)
    loaded = fresh.load_all()
    assert [a.id for a in loaded] == [good.id]
    assert bad.exists() and wrong.exists()
    assert {p.name for p, _ in fresh.load_errors} == {"deadbeef.json", "cafecafe.json"}
    assert "deadbeef.json" in caplog.text


def test_add_dedupes_by_email_and_updates_token(store: AccountStore):
    first, _ = store.add(Account.antigravity("A@Example.com", "1//one"))
    store.mark_state(first, AccountState.AUTH_FAILED, "invalid_grant")
    again, created = store.add(Account.antigravity("a@example.com", "1//two"))
    assert not created and again is first
    assert first.refresh_token == "1//two"
    assert first.state is AccountState.ACTIVE  # a new refresh token is a fresh start
    assert len(store.list()) == 1


def test_add_dedupes_gemini_keys(store: AccountStore):
    store.add(Account.gemini_key("AIzaSyKEY-one-1111"))
    _, created = store.add(Account.gemini_key("AIzaSyKEY-one-1111"))
    assert not created
    _, created = store.add(Account.gemini_key("AIzaSyKEY-two-2222"))
    assert created and len(store.list()) == 2


def test_get_by_id_label_email_and_prefix(store: AccountStore):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//rt", id="abcd1234"))
    key, _ = store.add(Account.gemini_key("AIzaSyKEY-one-1111", id="abce5678"))
    assert store.get("abcd1234") is acc
    assert store.get("A@EXAMPLE.COM") is acc
    assert store.get("key …1111") is key
    assert store.get("abcd") is acc
    assert store.get("abc") is None  # ambiguous prefix
    assert store.get("nope") is None


def test_mark_state_persists_and_verification_retries_after_10_minutes(store: AccountStore):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//rt"))
    t0 = time.time()
    store.mark_state(
        acc, AccountState.VERIFICATION_REQUIRED, "verify", validation_url="https://v.example/x"
    )
    data = jsoncodec.loads((store.dir / f"{acc.id}.json").read_bytes())
    assert data["state"] == "verification_required"
    assert data["validation_url"] == "https://v.example/x"
    assert t0 + 590 < data["state_until"] < time.time() + 610
    store.mark_state(acc, AccountState.ACTIVE)
    assert acc.validation_url == "" and acc.state_until == 0


def test_mark_state_does_not_rewrite_unchanged_state(store: AccountStore):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//rt"))
    events: list[str] = []
    store.add_listener(lambda ev, a: events.append(ev))
    store.mark_state(acc, AccountState.FORBIDDEN, "403")
    store.mark_state(acc, AccountState.FORBIDDEN, "403")
    assert events == ["updated"]


def test_disable_enable_and_enable_clears_upstream_state(store: AccountStore):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//rt"))
    store.mark_state(acc, AccountState.FORBIDDEN, "403 from upstream")
    store.set_disabled(acc.id, True)
    assert AccountStore(store.dir).load_all()[0].disabled
    store.set_disabled(acc.id, False)
    assert acc.state is AccountState.ACTIVE and not acc.disabled
    assert store.count_usable() == 1


def test_count_usable_excludes_disabled_and_dead(store: AccountStore):
    a, _ = store.add(Account.antigravity("a@example.com", "1//rt"))
    b, _ = store.add(Account.antigravity("b@example.com", "1//rt"))
    c, _ = store.add(Account.antigravity("c@example.com", "1//rt"))
    store.add(Account.gemini_key("AIzaSyKEY-one-1111"))
    store.set_disabled(a.id, True)
    store.mark_state(b, AccountState.AUTH_FAILED, "invalid_grant")
    c.cooldowns["*"] = time.time() + 30  # cooling still counts as usable
    assert store.count_usable() == 2


def test_remove_deletes_file_and_notifies(store: AccountStore):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//rt"))
    events: list[tuple[str, str]] = []
    store.add_listener(lambda ev, a: events.append((ev, a.id)))
    assert store.remove(acc.id)
    assert not (store.dir / f"{acc.id}.json").exists()
    assert events == [("removed", acc.id)]
    assert not store.remove(acc.id)


def test_reload_sees_files_added_and_removed_by_another_process(store: AccountStore):
    other = AccountStore(store.dir)
    other.load_all()
    acc, _ = other.add(Account.antigravity("a@example.com", "1//rt"))
    assert [a.id for a in store.load_all()] == [acc.id]
    other.remove(acc.id)
    assert store.load_all() == []


def test_update_tokens_and_quota_are_persisted(store: AccountStore):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//rt"))
    store.update_tokens(
        acc, "ya29.new", 2_000_000_000.0, refresh_token="1//rotated", project_id="proj"
    )
    store.update_quota(acc, {"gemini-2.5-pro": QuotaInfo(0.5, None, 1.0)}, fetched_at=1.0)
    back = AccountStore(store.dir).load_all()[0]
    assert (back.access_token, back.refresh_token, back.project_id) == (
        "ya29.new",
        "1//rotated",
        "proj",
    )
    assert back.quota["gemini-2.5-pro"].remaining_fraction == 0.5


def test_counters_are_flushed_not_written_per_request(store: AccountStore):
    acc, _ = store.add(Account.antigravity("a@example.com", "1//rt"))
    path = store.dir / f"{acc.id}.json"
    acc.requests = 5
    store.mark_dirty(acc)
    assert jsoncodec.loads(path.read_bytes())["requests"] == 0
    store.flush()
    assert jsoncodec.loads(path.read_bytes())["requests"] == 5


def test_broken_listener_does_not_break_saves(store: AccountStore):
    def boom(ev, a):
        raise RuntimeError("tui gone")

    store.add_listener(boom)
    acc, created = store.add(Account.antigravity("a@example.com", "1//rt"))
    assert created and (store.dir / f"{acc.id}.json").exists()

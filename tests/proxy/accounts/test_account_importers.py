"""Import of the reference app's account files and agproxy's export; export mode."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from proxy import jsoncodec
from proxy.accounts.importers import export_accounts, import_path
from proxy.accounts.model import Account, AccountKind
from proxy.accounts.store import AccountStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reference_accounts"


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    s = AccountStore(tmp_path / "home" / "accounts")
    s.load_all()
    return s


def test_import_reference_folder_reports_bad_files(store: AccountStore):
    report = import_path(store, FIXTURES / "folder")
    assert sorted(report.added) == ["alice.example@gmail.com", "bob.builder@example.org"]
    assert report.updated == []
    skipped = dict(report.skipped)
    assert set(skipped) == {"broken-no-token.json", "truncated.json"}
    assert "unreadable" in skipped["truncated.json"]
    alice = store.get("alice.example@gmail.com")
    assert alice.kind is AccountKind.ANTIGRAVITY
    assert alice.refresh_token == "1//0gFAKEFAKEaliceRefreshTokenCgYIARAAGBASNwF"
    assert alice.access_token.startswith("ya29.")
    assert alice.token_expiry == 1767225600
    assert alice.project_id == "crafty-willow-4k2m9"
    assert alice.quota["claude-sonnet-4-5"].remaining_fraction == 0.0
    assert alice.quota["gemini-3-pro-high"].remaining_fraction == 1.0
    bob = store.get("bob.builder@example.org")
    assert bob.disabled and bob.project_id == ""


def test_import_reference_single_file_and_parent_folder(store: AccountStore, tmp_path: Path):
    report = import_path(store, FIXTURES / "single.json")
    assert report.added == ["carol@example.net"]
    # the reference's home folder (holding accounts/) works too
    home = tmp_path / ".antigravity_tools"
    (home / "accounts").mkdir(parents=True)
    (home / "accounts" / "c.json").write_bytes((FIXTURES / "single.json").read_bytes())
    again = import_path(store, home)
    assert again.added == [] and again.updated == ["carol@example.net"]


def test_import_missing_path_is_reported(store: AccountStore, tmp_path: Path):
    report = import_path(store, tmp_path / "nope.json")
    assert report.skipped and not report.added


def test_export_is_0600_and_round_trips(store: AccountStore, tmp_path: Path):
    import_path(store, FIXTURES / "folder")
    store.add(Account.gemini_key("AIzaSyKEY-roundtrip-4321"))
    out = tmp_path / "out" / "agproxy-accounts.json"
    assert export_accounts(store, out) == 3
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = jsoncodec.loads(out.read_bytes())
    assert data["version"] == 1 and len(data["accounts"]) == 3

    target = AccountStore(tmp_path / "other" / "accounts")
    target.load_all()
    report = import_path(target, out)
    assert len(report.added) == 3 and report.skipped == []

    def key(a: Account):
        return (a.kind.value, a.email, a.refresh_token, a.api_key, a.project_id, a.disabled)

    assert sorted(map(key, target.list())) == sorted(map(key, store.list()))
    # importing the same export again only updates
    again = import_path(target, out)
    assert again.added == [] and len(again.updated) == 3


def test_export_entries_without_credentials_are_skipped(store: AccountStore, tmp_path: Path):
    bad = tmp_path / "bad-export.json"
    bad.write_bytes(
        jsoncodec.dumps(
            {"version": 1, "accounts": [{"kind": "antigravity", "email": "x@example.com"}, "junk"]}
        )
    )
    report = import_path(store, bad)
    assert report.added == [] and len(report.skipped) == 2

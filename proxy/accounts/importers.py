"""Moving accounts in and out (SPEC §5): agproxy's own export file, agproxy account
files, and the reference app's account files (`~/.antigravity_tools/accounts/*.json`),
so its users can carry their accounts to a headless box."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from proxy import jsoncodec
from proxy.accounts.model import Account, AccountKind, QuotaInfo
from proxy.accounts.store import AccountStore
from proxy.files import write_private_file

log = logging.getLogger(__name__)

EXPORT_VERSION = 1


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)  # labels
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    warnings: list[str] = field(default_factory=list)  # imported, but its catalogue read failed

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.updated)} updated, {len(self.skipped)} skipped"


def export_accounts(store: AccountStore, path: Path | str) -> int:
    """Write every account, secrets included, to one 0600 JSON file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "version": EXPORT_VERSION,
        "exported_at": time.time(),
        "accounts": [a.to_json() for a in store.list()],
    }
    write_private_file(path, jsoncodec.dumps_pretty(data).encode())
    return len(store.list())


def import_path(store: AccountStore, path: Path | str) -> ImportReport:
    """Import a file (agproxy export, agproxy account file, reference account file)
    or a folder of such files (the reference's `~/.antigravity_tools` or its
    `accounts/` folder). Bad files are reported, never fatal."""
    path = Path(path).expanduser()
    report = ImportReport()
    if path.is_dir():
        folder = path / "accounts" if (path / "accounts").is_dir() else path
        files = sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
        if not files:
            report.skipped.append((str(folder), "no *.json files"))
        for file in files:
            _import_file(store, file, report)
    elif path.is_file():
        _import_file(store, path, report)
    else:
        report.skipped.append((str(path), "no such file or folder"))
    return report


def _import_file(store: AccountStore, file: Path, report: ImportReport) -> None:
    try:
        data = jsoncodec.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        report.skipped.append((file.name, f"unreadable: {type(exc).__name__}: {exc}"[:200]))
        return
    if isinstance(data, dict) and isinstance(data.get("accounts"), list):
        entries = [(f"{file.name}[{i}]", e) for i, e in enumerate(data["accounts"])]
    elif isinstance(data, list):
        entries = [(f"{file.name}[{i}]", e) for i, e in enumerate(data)]
    else:
        entries = [(file.name, data)]
    for source, entry in entries:
        try:
            account = parse_account(entry)
        except (ValueError, KeyError, TypeError) as exc:
            report.skipped.append((source, str(exc) or type(exc).__name__))
            continue
        stored, created = store.add(account)
        (report.added if created else report.updated).append(stored.label)


def parse_account(entry: Any) -> Account:
    """One account in any supported shape. Raises ValueError with a reason."""
    if not isinstance(entry, dict):
        raise TypeError("not a JSON object")
    if "kind" in entry:
        account = Account.from_json(entry)
        account.cooldowns.clear()  # runtime state of another machine
        if account.kind is AccountKind.ANTIGRAVITY and not account.refresh_token:
            raise ValueError("account has no refresh token")
        if account.kind is AccountKind.GEMINI_KEY and not account.api_key:
            raise ValueError("account has no API key")
        return account
    if isinstance(entry.get("token"), dict):
        return parse_reference_account(entry)
    if entry.get("refresh_token"):  # a bare {"email", "refresh_token"} record
        return Account.antigravity(str(entry.get("email") or ""), str(entry["refresh_token"]))
    raise ValueError("not an account file (no token / refresh_token / kind)")


def parse_reference_account(entry: dict[str, Any]) -> Account:
    """The reference app's account file: `email`, `token.{refresh_token, access_token,
    expiry_timestamp, project_id}`, `disabled` (+ `proxy_disabled`); extra fields
    are ignored, its quota snapshot is kept when readable."""
    token = entry["token"]
    refresh = str(token.get("refresh_token") or "")
    if not refresh:
        raise ValueError("token.refresh_token is missing")
    email = str(entry.get("email") or token.get("email") or "")
    account = Account.antigravity(
        email,
        refresh,
        access_token=str(token.get("access_token") or ""),
        token_expiry=_epoch(token.get("expiry_timestamp")) or 0.0,
        project_id=str(token.get("project_id") or ""),
        disabled=bool(entry.get("disabled") or entry.get("proxy_disabled")),
    )
    if entry.get("disabled") and entry.get("disabled_reason"):
        account.state_reason = str(entry["disabled_reason"])[:200]
    created = _epoch(entry.get("created_at"))
    if created:
        account.created_at = created
    _reference_quota(account, entry.get("quota"))
    return account


def _reference_quota(account: Account, quota: Any) -> None:
    """`quota.models[] = {name, percentage (0-100), reset_time (ISO)}`; best effort."""
    if not isinstance(quota, dict) or not isinstance(quota.get("models"), list):
        return
    fetched = _epoch(quota.get("last_updated")) or 0.0
    for m in quota["models"]:
        if not isinstance(m, dict) or not m.get("name"):
            continue
        pct = m.get("percentage")
        frac = float(pct) / 100.0 if isinstance(pct, (int, float)) else None
        account.quota[str(m["name"])] = QuotaInfo(frac, _epoch(m.get("reset_time")), fetched)
    account.quota_fetched_at = fetched


def _epoch(value: Any) -> float | None:
    """Seconds since the epoch from seconds, milliseconds or an ISO-8601 string."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            try:
                return _epoch(float(value))
            except ValueError:
                return None
    return None

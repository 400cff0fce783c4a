"""The account files (SPEC §5, §15): one 0600 JSON file per account under
`<data>/accounts/<id>.json`, written atomically. Accounts are few, so the store
keeps them all in memory and writes a file only when something durable changed
(state, tokens, quota, settings) — never on every request."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from proxy import jsoncodec
from proxy.accounts.catalogue import Catalogue
from proxy.accounts.model import VERIFICATION_RETRY_S, Account, AccountKind, AccountState, QuotaInfo
from proxy.files import remove_stale_temp_files, write_private_file

log = logging.getLogger(__name__)

# listener(event, account): event is "added", "updated" or "removed".
Listener = Callable[[str, Account], None]


def find_account(key: str, accounts: list[Account]) -> Account | None:
    """The account `key` names: its id, label or email (case-insensitive), or an
    unambiguous id prefix. The pool's `preferred_account` and the CLI match this way;
    the config check (proxy/config/model.py) runs it over the Controller's accounts."""
    if not key:
        return None
    low = key.lower()
    for acc in accounts:
        if acc.id == key:
            return acc
    for acc in accounts:
        if acc.label.lower() == low or (acc.email and acc.email.lower() == low):
            return acc
    matches = [a for a in accounts if a.id.startswith(low)]
    return matches[0] if len(matches) == 1 else None


class AccountStore:
    """All accounts, in memory, backed by their files. Sync file IO on purpose: a
    save is one small file and happens on rare events."""

    def __init__(self, accounts_dir: Path | str) -> None:
        self.dir = Path(accounts_dir)
        self._by_id: dict[str, Account] = {}
        self._ordered: list[Account] = []
        self._mtimes: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._listeners: list[Listener] = []
        self._dir_ok = False
        # Bumped whenever what the accounts serve may have changed (a catalogue read, a
        # 404 mark, an account added/removed/reloaded): model resolution is cached per value.
        self.catalogue_version = 0
        # (file, reason) for files that did not load; they stay on disk untouched.
        self.load_errors: list[tuple[Path, str]] = []

    # -- reading -----------------------------------------------------------------

    def load_all(self) -> list[Account]:
        """(Re)read the folder: new files appear, deleted ones disappear, changed ones
        reload (so `agproxy accounts …` from another shell reaches a running proxy).
        Corrupt files are logged and skipped, never deleted."""
        self.load_errors = []
        remove_stale_temp_files(self.dir)
        seen: set[str] = set()
        try:
            paths = sorted(self.dir.glob("*.json"))
        except OSError:
            paths = []
        for path in paths:
            if path.name.startswith("."):
                continue
            acc_id = path.stem
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                continue
            seen.add(acc_id)
            if self._mtimes.get(acc_id) == mtime and acc_id in self._by_id:
                continue
            try:
                account = Account.from_json(jsoncodec.loads(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:200]
                log.warning(
                    "skipping unreadable account file %s (%s); it is kept as is", path, reason
                )
                self.load_errors.append((path, reason))
                seen.discard(acc_id)
                continue
            account.id = acc_id  # the file name is the identity: one file per id
            old = self._by_id.get(acc_id)
            self._by_id[acc_id] = account
            self._mtimes[acc_id] = mtime
            self._notify("updated" if old else "added", account)
        for acc_id in [i for i in self._by_id if i not in seen]:
            gone = self._by_id.pop(acc_id)
            self._mtimes.pop(acc_id, None)
            self._notify("removed", gone)
        self._reorder()
        return self._ordered

    def list(self) -> list[Account]:
        """Accounts in creation order (the pool reads this on every pick: no copy)."""
        return self._ordered

    def by_id(self, account_id: str) -> Account | None:
        return self._by_id.get(account_id)

    def get(self, key: str) -> Account | None:
        """By id, label or email (case-insensitive), or an unambiguous id prefix."""
        if key in self._by_id:
            return self._by_id[key]
        return find_account(key, self._ordered)

    def find_duplicate(self, account: Account) -> Account | None:
        """The stored account with the same email (Antigravity) or key (Gemini)."""
        for acc in self._ordered:
            if acc.kind is not account.kind or acc is account:
                continue
            if (
                account.kind is AccountKind.ANTIGRAVITY
                and account.email
                and acc.email.lower() == account.email.lower()
            ):
                return acc
            if (
                account.kind is AccountKind.GEMINI_KEY
                and account.api_key
                and acc.api_key == account.api_key
            ):
                return acc
        return None

    def count_usable(self, now: float | None = None) -> int:
        """Accounts that can serve now or after a cooldown (not disabled/dead)."""
        now = time.time() if now is None else now
        return sum(
            1
            for a in self._ordered
            if a.effective_state(now) in (AccountState.ACTIVE, AccountState.COOLING)
        )

    # -- writing -----------------------------------------------------------------

    def add(self, account: Account) -> tuple[Account, bool]:
        """Store a new account, or refresh the credentials of its duplicate (same
        email / same key). Returns (stored account, created)."""
        dup = self.find_duplicate(account)
        if dup is None:
            while account.id in self._by_id:
                account.id = secrets.token_hex(4)
            self._by_id[account.id] = account
            self._reorder()
            self.save(account, event="added")
            return account, True
        if account.refresh_token:
            dup.refresh_token = account.refresh_token
            # a new refresh token is a fresh start for a revoked account
            if dup.state is AccountState.AUTH_FAILED:
                self._clear_state(dup)
        if account.access_token:
            dup.access_token, dup.token_expiry = account.access_token, account.token_expiry
        if account.project_id:
            dup.project_id = account.project_id
        self.save(dup)
        return dup, False

    def save(self, account: Account, event: str = "updated") -> None:
        """Write one account file atomically (0600 file, 0700 folder)."""
        self._ensure_dir()
        path = self.dir / f"{account.id}.json"
        write_private_file(path, jsoncodec.dumps_pretty(account.to_json()).encode())
        self._dirty.discard(account.id)
        try:
            self._mtimes[account.id] = path.stat().st_mtime_ns
        except OSError:
            pass
        self._notify(event, account)

    def mark_dirty(self, account: Account) -> None:
        """Counters changed (requests, last_used): written at the next `flush()`."""
        self._dirty.add(account.id)

    def flush(self) -> None:
        """Write accounts whose counters changed; called periodically and on stop."""
        for acc_id in list(self._dirty):
            acc = self._by_id.get(acc_id)
            if acc is not None:
                self.save(acc)
        self._dirty.clear()

    def remove(self, account_id: str) -> bool:
        acc = self._by_id.pop(account_id, None)
        if acc is None:
            return False
        (self.dir / f"{account_id}.json").unlink(missing_ok=True)
        self._mtimes.pop(account_id, None)
        self._dirty.discard(account_id)
        self._reorder()
        self._notify("removed", acc)
        return True

    def set_disabled(self, account_id: str, disabled: bool) -> Account:
        """The user's switch. Enabling also clears upstream states (auth_failed,
        forbidden, verification, cooling): the user asks to try the account again."""
        acc = self._by_id.get(account_id)
        if acc is None:
            raise KeyError(account_id)
        acc.disabled = disabled
        if not disabled:
            self._clear_state(acc)
            acc.cooldowns.clear()
        self.save(acc)
        return acc

    def rename(self, account_id: str, name: str) -> Account:
        """Give an account a name ("" removes it; the email or `key …abcd` shows again)."""
        acc = self._by_id.get(account_id)
        if acc is None:
            raise KeyError(account_id)
        acc.set_name(name)
        self.save(acc)
        return acc

    def mark_state(
        self,
        account: Account,
        state: AccountState,
        reason: str = "",
        until: float = 0.0,
        validation_url: str = "",
    ) -> None:
        """Record what an upstream said about the account. verification_required
        without `until` retries after 10 minutes. No write if nothing changed, so a
        burst of failing requests costs one save."""
        if state is AccountState.VERIFICATION_REQUIRED and not until:
            until = time.time() + VERIFICATION_RETRY_S
        if state is AccountState.ACTIVE:
            reason, until, validation_url = "", 0.0, ""
        if state is AccountState.VERIFICATION_REQUIRED:
            validation_url = validation_url or account.validation_url
        else:
            validation_url = ""
        new = (state, reason, until, validation_url)
        old = (account.state, account.state_reason, account.state_until, account.validation_url)
        if new == old:
            return
        account.state, account.state_reason, account.state_until, account.validation_url = new
        if state is not AccountState.ACTIVE:
            log.warning("account %s is now %s: %s", account.label, state.value, reason or "-")
        self.save(account)

    def update_tokens(
        self,
        account: Account,
        access_token: str,
        token_expiry: float,
        refresh_token: str | None = None,
        project_id: str | None = None,
    ) -> None:
        """Persist a refreshed access token (and a rotated refresh token / found project)."""
        account.access_token, account.token_expiry = access_token, token_expiry
        if refresh_token:
            account.refresh_token = refresh_token
        if project_id:
            account.project_id = project_id
        if account.state is AccountState.AUTH_FAILED:
            self._clear_state(account)
        self.save(account)

    def update_quota(
        self, account: Account, quota: dict[str, QuotaInfo], fetched_at: float | None = None
    ) -> None:
        account.quota = quota
        account.quota_fetched_at = time.time() if fetched_at is None else fetched_at
        self.save(account)

    def update_catalogue(
        self, account: Account, catalogue: Catalogue, quota: dict[str, QuotaInfo] | None = None
    ) -> None:
        """A fresh catalogue read (with the quota it carried) replaces the old one."""
        account.set_catalogue(catalogue)
        if quota is not None:
            account.quota = quota
            account.quota_fetched_at = catalogue.read_at
        self.save(account)

    def mark_unavailable(self, account: Account, model: str) -> None:
        """The account answered 404 for `model` (SPEC §7): not sent it again for now."""
        account.mark_unavailable(model, time.time())
        self.catalogue_version += 1

    def add_listener(self, callback: Listener) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    # -- internals ---------------------------------------------------------------

    def _ensure_dir(self) -> None:
        if self._dir_ok:
            return
        self.dir.mkdir(parents=True, mode=0o700, exist_ok=True)
        try:
            os.chmod(self.dir, 0o700)
        except OSError:
            log.warning("cannot make %s private (0700)", self.dir)
        self._dir_ok = True

    def _reorder(self) -> None:
        self._ordered = sorted(self._by_id.values(), key=lambda a: (a.created_at, a.id))

    @staticmethod
    def _clear_state(account: Account) -> None:
        account.state, account.state_reason, account.state_until, account.validation_url = (
            AccountState.ACTIVE,
            "",
            0.0,
            "",
        )

    def _notify(self, event: str, account: Account) -> None:
        self.catalogue_version += 1
        for cb in list(self._listeners):
            try:
                cb(event, account)
            except Exception:  # a broken listener (TUI) must not break the proxy
                log.exception("account listener failed")

    def __iter__(self) -> Iterator[Account]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

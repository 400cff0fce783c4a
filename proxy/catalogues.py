"""Reading the accounts' live catalogues (SPEC §9): on add/import/login, at service
start for missing or old data, every 10 minutes, after a model 404 and after a quota
429. One read per account at a time; what Google says about the account on the way
(revoked token, forbidden, verification) is recorded like on any other call."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from proxy.accounts.model import Account, AccountKind, AccountState
from proxy.accounts.store import AccountStore
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.adapter import CatalogueRead

log = logging.getLogger(__name__)

CATALOGUE_MAX_AGE_S = 600.0  # older than this at start, or every this often while running
REREAD_WAIT_S = 5.0  # a request waits at most this long for a re-read after a model 404
_USABLE = (AccountState.ACTIVE, AccountState.COOLING)


class CatalogueReader:
    def __init__(self, store: AccountStore, adapter_for: Callable[[Account], Any]) -> None:
        self.store = store
        self._adapter_for = adapter_for
        self._reading: dict[str, asyncio.Task[CatalogueRead | None]] = {}
        self.last_error: dict[str, str] = {}  # account id -> why its last read failed

    async def read(self, account: Account) -> CatalogueRead:
        """Read now (joining a read already running for it). Raises UpstreamError."""
        task = self._reading.get(account.id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._read(account, raise_errors=True))
            self._reading[account.id] = task
            task.add_done_callback(partial(self._done, account.id))
        result = await asyncio.shield(task)
        assert result is not None
        return result

    def read_soon(self, account: Account) -> None:
        """Start a read in the background unless one is running (never raises)."""
        task = self._reading.get(account.id)
        if task is not None and not task.done():
            return
        task = asyncio.get_running_loop().create_task(self._read(account, raise_errors=False))
        self._reading[account.id] = task
        task.add_done_callback(partial(self._done, account.id))

    async def reread_after_404(self, account: Account) -> None:
        """SPEC §7: re-read that account's catalogue once, waiting a bounded time."""
        self.read_soon(account)
        task = self._reading.get(account.id)
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), REREAD_WAIT_S)
            except (TimeoutError, UpstreamError):
                pass

    async def read_stale(self, max_age: float = CATALOGUE_MAX_AGE_S) -> int:
        """Read every usable account whose catalogue is missing or older than `max_age`;
        returns how many reads worked."""
        now = time.time()
        todo = [a for a in self.store.list()
                if not a.disabled and a.effective_state(now) in _USABLE
                and (a.catalogue is None or a.catalogue.age(now) >= max_age)]
        results = await asyncio.gather(*(self._read(a, raise_errors=False) for a in todo))
        return sum(1 for r in results if r is not None)

    async def close(self) -> None:
        tasks = [t for t in self._reading.values() if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _done(self, account_id: str, task: asyncio.Task[Any]) -> None:
        if self._reading.get(account_id) is task:
            del self._reading[account_id]
        if not task.cancelled():
            task.exception()  # retrieved: a failed background read is logged, not "never retrieved"

    async def _read(self, account: Account, raise_errors: bool) -> CatalogueRead | None:
        try:
            result = await self._adapter_for(account).read_catalogue(account)
        except UpstreamError as err:
            self.last_error[account.id] = f"{err.kind.value}: {err.message}"[:200]
            record_failure(self.store, account, err)
            log.info("catalogue read for %s failed: %s", account.label, err.kind.value)
            if raise_errors:
                raise
            return None
        except Exception as exc:  # noqa: BLE001 - a background read must never take the proxy down
            self.last_error[account.id] = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("catalogue read for %s failed: %s", account.label, exc)
            if raise_errors:
                raise UpstreamError(UpstreamErrorKind.SERVER, 0, f"catalogue read failed: {exc}") from None
            return None
        self.last_error.pop(account.id, None)
        # (a listing that works says nothing about generation calls: states stay as they are)
        self.store.update_catalogue(account, result.catalogue, result.quota)
        return result


def record_failure(store: AccountStore, account: Account, err: UpstreamError) -> str:
    """Put what the upstream said about the account on it; the sentence for the user."""
    if err.kind is UpstreamErrorKind.INVALID_GRANT:
        store.mark_state(account, AccountState.AUTH_FAILED, err.message[:200])
        return f"{err.message[:160]}; add the account again"
    if err.kind is UpstreamErrorKind.UNAUTHORIZED and account.kind is AccountKind.GEMINI_KEY:
        store.mark_state(account, AccountState.AUTH_FAILED, f"API key rejected: {err.message[:160]}")
        return f"the Gemini API rejected this key: {err.message[:120]}"
    if err.kind is UpstreamErrorKind.VERIFICATION_REQUIRED:
        store.mark_state(account, AccountState.VERIFICATION_REQUIRED, err.message[:200],
                         validation_url=err.validation_url or "")
        return f"Google asks to verify the account: {err.validation_url or err.message[:120]}"
    if err.kind is UpstreamErrorKind.FORBIDDEN:
        store.mark_state(account, AccountState.FORBIDDEN, err.message[:200])
        return f"forbidden (403): {err.message[:120]}"
    return f"{err.kind.value} ({err.status}): {err.message[:120]}"

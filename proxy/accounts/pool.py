"""Account selection (SPEC §7): which account serves the next request for a model.

Pure logic over the store's in-memory accounts with an injectable clock; the pool
never sleeps and never does IO on the hot path (long cooldowns are persisted, short
ones live in memory only). The async dispatcher asks `wait_hint()` before `pick()`
in cache_first mode and sleeps itself."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from proxy.accounts.model import ACCOUNT_WIDE, Account
from proxy.accounts.store import AccountStore
from proxy.config.model import SchedulingSettings

# A bound account unavailable for longer than this loses its sessions; shorter
# outages are a temporary failover and the binding stays (prompt cache).
REBIND_AFTER_S = 60.0
# cache_first waits at most this long for a briefly cooling bound account.
CACHE_FIRST_MAX_WAIT_S = 10.0
# Cooldowns at least this long are written to disk so a restart does not hammer
# an exhausted account; shorter ones are not worth a file write.
PERSIST_COOLDOWN_S = 60.0
MAX_SESSIONS = 4096
# Quota is compared in buckets so that accounts with similar quota share the load
# (least recently used among the best bucket) instead of one account taking all.
QUOTA_BUCKETS = 5
# Unknown quota is not "full" (SPEC §5): rank it like a half-used account.
UNKNOWN_QUOTA = 0.5

STICKY_MODES = frozenset({"cache_first", "balance"})


@dataclass(slots=True)
class _Binding:
    account_id: str
    last_seen: float
    unavailable_since: float | None = None


class Pool:
    def __init__(
        self,
        store: AccountStore,
        settings: SchedulingSettings,
        clock: Callable[[], float] = time.time,
        *,
        rebind_after: float = REBIND_AFTER_S,
        cache_first_max_wait: float = CACHE_FIRST_MAX_WAIT_S,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.rebind_after = rebind_after
        self.cache_first_max_wait = cache_first_max_wait
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, _Binding] = OrderedDict()
        self._pick_seq: dict[str, int] = {}  # account id -> when last picked (LRU order)
        self._seq = 0

    def apply_settings(self, settings: SchedulingSettings) -> None:
        """Hot-apply scheduling settings; a mode without sessions drops them."""
        self.settings = settings
        if settings.mode not in STICKY_MODES:
            self._sessions.clear()

    # -- selection ---------------------------------------------------------------

    def pick(
        self,
        model: str,
        session_key: str | None = None,
        exclude: frozenset[str] = frozenset(),
        faults_ok: bool = False,
    ) -> Account | None:
        """The account for the next attempt, or None when no candidate is left.
        `exclude` holds ids already tried for this request (failover); `faults_ok` also
        takes accounts in a short cooling after a fault (no 429 ever came from them)."""
        now = self.clock()
        candidates = [
            a
            for a in self.store.list()
            if a.id not in exclude and a.serves(model) and a.is_selectable(model, now, faults_ok)
        ]
        if not candidates:
            return None
        preferred = self._preferred(candidates)
        if preferred is not None:
            return self._picked(preferred)
        if session_key and self.settings.mode in STICKY_MODES and self.settings.sticky_ttl > 0:
            return self._picked(self._sticky(model, session_key, candidates, now))
        return self._picked(self._best(model, candidates, now))

    def wait_hint(self, model: str, session_key: str | None) -> float:
        """cache_first: seconds worth waiting for the session's briefly cooling bound
        account (0 = do not wait, pick now). The dispatcher sleeps, not the pool."""
        if self.settings.mode != "cache_first" or not session_key:
            return 0.0
        binding = self._sessions.get(session_key)
        if binding is None:
            return 0.0
        now = self.clock()
        if now - binding.last_seen > self.settings.sticky_ttl:
            return 0.0
        acc = self.store.by_id(binding.account_id)
        if acc is None:
            return 0.0
        until = acc.blocked_until(model, now)
        if until is None or until <= now:
            return 0.0
        wait = until - now
        return wait if wait <= self.cache_first_max_wait else 0.0

    def shortest_wait(self, model: str) -> float | None:
        """Seconds until some account can serve `model` (0 = one can now); None when
        no account could ever serve it by waiting (all dead, disabled or wrong kind).
        The dispatcher turns this into the all-cooling 429's Retry-After."""
        now = self.clock()
        best: float | None = None
        for acc in self.store.list():
            until = acc.blocked_until(model, now)
            if until is None:
                continue
            wait = max(0.0, until - now)
            if best is None or wait < best:
                best = wait
        return best

    # -- feedback from the dispatcher -------------------------------------------

    def cool(
        self,
        account: Account,
        model: str,
        seconds: float,
        account_wide: bool = False,
        fault: bool = False,
    ) -> None:
        """Cool the account for `model` (or entirely). The newest signal wins, even
        when it is shorter than an earlier optimistic one (SPEC §7). `fault`: the cause
        was no 429 (5xx, transport, auth): kept apart, in memory only."""
        now = self.clock()
        account.prune_cooldowns(now)
        key = ACCOUNT_WIDE if account_wide else model
        if fault:
            account.fault_cooldowns[key] = now + max(0.0, seconds)
            account.errors += 1
            self.store.mark_dirty(account)
            return
        account.cooldowns[key] = now + max(0.0, seconds)
        account.errors += 1
        if seconds >= PERSIST_COOLDOWN_S:
            self.store.save(account)
        else:
            self.store.mark_dirty(account)

    def mark_used(self, account: Account, ok: bool = True) -> None:
        """Count a finished request (in memory; flushed by the store later)."""
        account.last_used = self.clock()
        account.requests += 1
        if not ok:
            account.errors += 1
        self.store.mark_dirty(account)

    # -- sessions (for the TUI and tests) ---------------------------------------

    def bound_account(self, session_key: str) -> str | None:
        binding = self._sessions.get(session_key)
        return None if binding is None else binding.account_id

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    # -- internals ---------------------------------------------------------------

    def _preferred(self, candidates: list[Account]) -> Account | None:
        key = self.settings.preferred_account
        if not key:
            return None
        acc = self.store.get(key)
        return acc if acc is not None and acc in candidates else None

    def _sticky(self, model: str, key: str, candidates: list[Account], now: float) -> Account:
        binding = self._sessions.get(key)
        if binding is not None and now - binding.last_seen > self.settings.sticky_ttl:
            binding = None
        if binding is None:
            choice = self._best(model, candidates, now)
            self._bind(key, choice.id, now)
            return choice
        self._sessions.move_to_end(key)
        bound = self.store.by_id(binding.account_id)
        if bound is not None and bound in candidates:
            binding.last_seen, binding.unavailable_since = now, None
            return bound
        choice = self._best(model, candidates, now)
        if bound is None or self._lost(bound, model, binding, now):
            self._bind(key, choice.id, now)
        # else: a temporary failover (excluded for this request, or cooling briefly):
        # serve from `choice` but keep the session's binding for the next request.
        return choice

    def _lost(self, bound: Account, model: str, binding: _Binding, now: float) -> bool:
        """Whether the bound account is out long enough to give its sessions away."""
        until = bound.blocked_until(model, now)
        if until is None and not bound.disabled and bound.effective_state(now).value in ("active", "cooling"):
            return False  # alive, it just does not serve this model: moved for this request only
        if until is None or until - now > self.rebind_after:
            return True
        if until <= now:
            return False  # selectable, merely excluded by this request's failover
        if binding.unavailable_since is None:
            binding.unavailable_since = now
        return now - binding.unavailable_since > self.rebind_after

    def _bind(self, key: str, account_id: str, now: float) -> None:
        self._sessions[key] = _Binding(account_id, now)
        self._sessions.move_to_end(key)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    def _best(self, model: str, candidates: list[Account], now: float) -> Account:
        """Best quota bucket first, then least recently picked (then used)."""
        if len(candidates) == 1:
            return candidates[0]
        seq = self._pick_seq

        def rank(acc: Account) -> tuple[int, int, float]:
            q = acc.quota.get(model)
            if q is None or q.remaining_fraction is None:
                frac = UNKNOWN_QUOTA
            elif q.reset_time is not None and q.reset_time <= now:
                frac = UNKNOWN_QUOTA  # the snapshot predates a reset: it says nothing now
            else:
                frac = q.remaining_fraction
            bucket = math.ceil(min(1.0, max(0.0, frac)) * QUOTA_BUCKETS)
            return (-bucket, seq.get(acc.id, 0), acc.last_used)

        return min(candidates, key=rank)

    def _picked(self, account: Account) -> Account:
        self._seq += 1
        self._pick_seq[account.id] = self._seq
        return account

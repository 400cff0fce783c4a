"""The dispatcher (SPEC §7): picks accounts from the pool, calls the upstream
client for the account's kind, and reacts to each classified failure — cool,
refresh, mark, retry on the same account or fail over — until an answer comes
back or no attempt is left.

Streams are peek-before-commit: `open_stream()` returns only once the first
meaningful chunk arrived, so a failure before it still moves to another account.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from proxy.accounts.model import Account, AccountKind, AccountState
from proxy.accounts.pool import Pool
from proxy.accounts.store import AccountStore
from proxy.config.model import Config
from proxy.errors import ApiError, ErrorKind, UpstreamError, UpstreamErrorKind
from proxy.monitor.record import Attempt
from proxy.upstream.antigravity import AntigravityClient
from proxy.upstream.gemini_api import GeminiApiClient
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.oauth import TokenManager
from proxy.upstream.response import ChunkStream
from proxy.upstream.zai import zai_should_handle

log = logging.getLogger(__name__)

K = UpstreamErrorKind
MAX_ATTEMPTS = 3
SAME_ACCOUNT_RETRY_MAX_S = 2.0  # rate-limit hints up to this: wait and retry the same account
RATE_LIMIT_DEFAULT_S = 5.0  # rate limited without a hint
QUOTA_DEFAULT_S = 300.0  # quota exhausted without a hint or a known reset time
ENDPOINT_FAILURE_COOL_S = 5.0  # 404/408/5xx/transport on every endpoint: short cooling
AUTH_RETRY_COOL_S = 60.0  # still 401 after a fresh token
CAPACITY_BACKOFF_S = 0.5  # first capacity back-off; doubles, capped at 2 s
_NEXT_ACCOUNT_KINDS = frozenset({K.NOT_FOUND, K.TIMEOUT, K.SERVER, K.TRANSPORT})
_REQUEST_LEVEL = _NEXT_ACCOUNT_KINDS | {K.CAPACITY}


@dataclass
class _RequestState:
    """What one request already spent: a token refresh / a same-account retry per account."""

    refreshed: set[str] = field(default_factory=set)
    rate_retried: set[str] = field(default_factory=set)


@dataclass
class UpstreamCall:
    model: str  # upstream model name
    request: dict[str, Any]  # Gemini GenerateContentRequest
    session_key: str | None = None
    stream: bool = False


def record_attempt(record: Any, account: Account, model: str, status: int, ms: float, error: str) -> None:
    """The one place the dispatcher writes into the monitor's record (duck-typed)."""
    if record is None:
        return
    record.attempts.append(Attempt(account.label, status, int(ms), error))
    record.account = account.label
    record.upstream_kind = "antigravity" if account.kind is AccountKind.ANTIGRAVITY else "gemini_api"
    record.upstream_model = model


class UpstreamStream:
    """The committed stream: yields the peeked chunks, then the rest. Raises
    UpstreamError mid-stream. Closing (or cancelling the consumer) drops the
    upstream connection."""

    def __init__(self, inner: ChunkStream, head: list[dict[str, Any]], on_end: Callable[[bool], None]) -> None:
        self._inner = inner
        self._head = head
        self._on_end = on_end
        self._ended = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._head:
            return self._head.pop(0)
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            self._end(True)
            raise
        except BaseException:  # upstream error, client gone (CancelledError): release now
            self._inner.close()
            self._end(False)
            raise

    def buffered(self) -> bool:
        """Whether the next chunk is already here (the relay coalesces such a burst)."""
        return bool(self._head) or self._inner.buffered()

    def _end(self, ok: bool) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(ok)

    async def aclose(self) -> None:
        self._inner.close()
        self._end(not self._head and self._inner.finished)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Deadline:
    """`async with asyncio.timeout(seconds)` whose expiry is an UpstreamError TIMEOUT.
    A class, not an @asynccontextmanager: one attempt per request runs through it."""

    __slots__ = ("_seconds", "_timeout")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._timeout = asyncio.timeout(seconds)

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)  # never suppresses
        except TimeoutError:
            seconds = self._seconds
            raise UpstreamError(K.TIMEOUT, 0, f"no answer within {seconds:g} s (proxy.request_timeout)") from None
        return None


def _meaningful(chunk: dict[str, Any]) -> bool:
    for cand in chunk.get("candidates") or ():
        if cand.get("finishReason") or (cand.get("content") or {}).get("parts"):
            return True
    return False


class Dispatcher:
    def __init__(self, store: AccountStore, pool: Pool, sessions: UpstreamSessions, tokens: TokenManager,
                 config_getter: Callable[[], Config]) -> None:
        self.store = store
        self.pool = pool
        self.sessions = sessions
        self.tokens = tokens
        self._config = config_getter
        self.antigravity = AntigravityClient(sessions, tokens, store.save)
        self.gemini = GeminiApiClient(sessions)
        self._background: set[asyncio.Task[Any]] = set()

    # -- public API -----------------------------------------------------------------

    async def generate(self, call: UpstreamCall, record: Any = None) -> dict[str, Any]:
        async def op(acc: Account) -> dict[str, Any]:
            async with self._deadline():
                return await self._client(acc).generate(acc, call.model, call.request)

        return await self._run(call, record, op, finish=True)

    async def open_stream(self, call: UpstreamCall, record: Any = None) -> UpstreamStream:
        async def op(acc: Account) -> UpstreamStream:
            async with self._deadline():
                inner = await self._client(acc).stream(acc, call.model, call.request)
                head: list[dict[str, Any]] = []
                try:
                    async for chunk in inner:
                        head.append(chunk)
                        if _meaningful(chunk):
                            break
                except BaseException:
                    inner.close()
                    raise
            if not head:
                inner.close()
                raise UpstreamError(K.SERVER, 200, "upstream stream ended without any content")
            return UpstreamStream(inner, head, lambda ok: self.pool.mark_used(acc, ok))

        return await self._run(call, record, op, finish=False)

    async def count_tokens(self, call: UpstreamCall, record: Any = None) -> dict[str, Any]:
        async def op(acc: Account) -> dict[str, Any]:
            async with self._deadline():
                return await self._client(acc).count_tokens(acc, call.model, call.request)

        return await self._run(call, record, op, finish=True)

    def google_available(self, model: str) -> bool:
        """Whether some account could serve `model` right now (z.ai fallback mode)."""
        return self.pool.shortest_wait(model) == 0.0

    def use_zai(self, model: str) -> bool:
        """For an Anthropic request whose upstream model is `model`: send it to z.ai?
        (SPEC §10 dispatch modes; the handler then calls `proxy.upstream.zai.forward`.)"""
        cfg = self._config()
        if not cfg.zai_dispatch_on:
            return False
        return zai_should_handle(cfg, self.google_available(model), self.serving_accounts(model))

    def serving_accounts(self, model: str) -> int:
        now = time.time()
        return sum(1 for a in self.store.list() if a.blocked_until(model, now) is not None)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- the failover loop ---------------------------------------------------------

    def _client(self, acc: Account) -> AntigravityClient | GeminiApiClient:
        return self.antigravity if acc.kind is AccountKind.ANTIGRAVITY else self.gemini

    def _deadline(self) -> _Deadline:
        """proxy.request_timeout bounds one attempt (for streams: up to the first event)."""
        return _Deadline(float(self._config().proxy.request_timeout))

    async def _run(self, call: UpstreamCall, record: Any, op: Callable[[Account], Awaitable[Any]], finish: bool) -> Any:
        model = call.model
        serving = self.serving_accounts(model)
        max_attempts = min(MAX_ATTEMPTS, serving + 1)
        wait = self.pool.wait_hint(model, call.session_key)
        if wait > 0:  # cache_first: the bound account is back in a moment
            await asyncio.sleep(wait)
        tried: set[str] = set()
        state = _RequestState()
        attempts = 0
        last: UpstreamError | None = None
        retry_same: Account | None = None
        while attempts < max_attempts:
            acc = retry_same or self.pool.pick(model, call.session_key, frozenset(tried))
            retry_same = None
            if acc is None:
                break
            attempts += 1
            t0 = time.monotonic()
            try:
                result = await op(acc)
            except UpstreamError as err:
                ms = (time.monotonic() - t0) * 1000
                record_attempt(record, acc, model, err.status, ms, f"{err.kind.value}: {err.message}"[:300])
                last = err
                action = await self._react(acc, model, err, attempts, state)
                if action == "same":
                    retry_same = acc
                elif action == "fail":
                    self.pool.mark_used(acc, ok=False)
                    raise err.to_api_error() from None
                else:
                    tried.add(acc.id)
                continue
            ms = (time.monotonic() - t0) * 1000
            record_attempt(record, acc, model, 200, ms, "")
            if finish:
                self.pool.mark_used(acc, ok=True)
            return result
        raise self._exhausted(model, last)

    async def _react(self, acc: Account, model: str, err: UpstreamError, attempt: int, state: _RequestState) -> str:
        """Apply SPEC §7's reaction to one failure. Returns "same" (retry this account),
        "next" (fail over) or "fail" (give the error to the client)."""
        kind = err.kind
        if kind is K.BAD_REQUEST:
            return "fail"
        if kind is K.UNAUTHORIZED:
            if acc.kind is AccountKind.GEMINI_KEY:
                self.store.mark_state(acc, AccountState.AUTH_FAILED, "API key rejected (401)")
                return "next"
            if acc.refresh_token and acc.id not in state.refreshed:
                state.refreshed.add(acc.id)
                try:
                    await self.tokens.ensure_token(acc, force=True)
                    return "same"
                except UpstreamError as refresh_err:
                    return await self._react(acc, model, refresh_err, attempt, state)
            self.pool.cool(acc, model, AUTH_RETRY_COOL_S, account_wide=True)
            return "next"
        if kind is K.INVALID_GRANT:
            self.store.mark_state(acc, AccountState.AUTH_FAILED, err.message[:200])
            return "next"
        if kind is K.FORBIDDEN:
            self.store.mark_state(acc, AccountState.FORBIDDEN, err.message[:200])
            return "next"
        if kind is K.VERIFICATION_REQUIRED:
            self.store.mark_state(acc, AccountState.VERIFICATION_REQUIRED, err.message[:200],
                                  validation_url=err.validation_url or "")
            return "next"
        if kind is K.QUOTA_EXHAUSTED:
            self.pool.cool(acc, model, self._quota_wait(acc, model, err))
            self._refresh_quota_later(acc)
            return "next"
        if kind is K.RATE_LIMITED:
            hint = err.retry_after
            if hint is not None and hint <= SAME_ACCOUNT_RETRY_MAX_S and acc.id not in state.rate_retried:
                state.rate_retried.add(acc.id)
                await asyncio.sleep(hint)
                return "same"
            self.pool.cool(acc, model, hint if hint is not None else RATE_LIMIT_DEFAULT_S)
            return "next"
        if kind is K.CAPACITY:
            # Capacity is Google's, not the account's: back off, then any account.
            hint = err.retry_after
            await asyncio.sleep(min(hint if hint is not None else CAPACITY_BACKOFF_S * 2 ** (attempt - 1), 2.0))
            return "next" if self._others_available(acc, model) else "same"
        if kind in _NEXT_ACCOUNT_KINDS:
            self.pool.cool(acc, model, ENDPOINT_FAILURE_COOL_S)
            if kind is K.TRANSPORT and err.may_have_run:
                # The connection broke after the request went out: it may be running upstream,
                # so it is not sent again, to this account or another (SPEC §6.4).
                return "fail"
            return "next"
        return "next"

    # -- helpers ----------------------------------------------------------------------

    def _others_available(self, acc: Account, model: str) -> bool:
        now = time.time()
        return any(a is not acc and a.serves(model) and a.is_selectable(model, now) for a in self.store.list())

    def _quota_wait(self, acc: Account, model: str, err: UpstreamError) -> float:
        if err.retry_after is not None:
            return err.retry_after
        q = acc.quota.get(model)
        if q is not None and q.reset_time is not None and q.reset_time > time.time():
            return q.reset_time - time.time()
        return QUOTA_DEFAULT_S

    def _refresh_quota_later(self, acc: Account) -> None:
        """SPEC §5: refresh the quota snapshot after a quota 429 (in the background)."""
        if acc.kind is not AccountKind.ANTIGRAVITY:
            return

        async def refresh() -> None:
            try:
                quota = await self.antigravity.fetch_quota(acc)
                self.store.update_quota(acc, quota, acc.quota_fetched_at)
            except Exception as exc:  # noqa: BLE001  (a background nicety: never let it surface)
                log.debug("quota refresh for %s failed: %s", acc.id, exc)

        task = asyncio.get_running_loop().create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _exhausted(self, model: str, last: UpstreamError | None) -> ApiError:
        """No attempt left: the most useful error for the client. Request-level failures
        (timeout, 5xx, capacity) are reported as such; account-level ones (quota, rate,
        auth) become the pool's state: 429 with the shortest wait when all cool."""
        if last is not None and last.kind in _REQUEST_LEVEL:
            return last.to_api_error()
        wait = self.pool.shortest_wait(model)
        if wait is not None and wait > 0:
            return ApiError(ErrorKind.RATE_LIMIT,
                            f"all accounts for model {model!r} are rate limited or out of quota; "
                            f"retry in {max(1, round(wait))} s", retry_after=max(wait, 1.0))
        if last is not None:
            return last.to_api_error()
        if not self.store.list():
            return ApiError(ErrorKind.OVERLOADED, "no upstream accounts configured: add one with `agproxy accounts add`")
        if not any(a.serves(model) for a in self.store.list()):
            return ApiError(ErrorKind.INVALID_REQUEST, f"no account can serve model {model!r}", param="model")
        return ApiError(ErrorKind.OVERLOADED, f"every account for model {model!r} is disabled or needs attention")

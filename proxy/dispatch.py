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
from proxy.catalogues import CatalogueReader
from proxy.config.model import Config
from proxy.errors import ApiError, ErrorKind, UpstreamError, UpstreamErrorKind
from proxy.monitor.record import Attempt
from proxy.routing import Resolution, Resolver, closest_ids
from proxy.upstream.antigravity import AntigravityClient
from proxy.upstream.client_version import ClientVersion
from proxy.upstream.gemini_api import GeminiApiClient
from proxy.upstream.hints import is_version_gate
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.oauth import TokenManager
from proxy.upstream.response import ChunkStream
from proxy.upstream.zai import ZaiAdapter, ZaiResponse, zai_should_handle

log = logging.getLogger(__name__)

K = UpstreamErrorKind
MAX_ATTEMPTS = 3
SAME_ACCOUNT_RETRY_MAX_S = 2.0  # rate-limit hints up to this: wait and retry the same account
RATE_LIMIT_DEFAULT_S = 5.0  # rate limited without a hint
QUOTA_DEFAULT_S = 300.0  # quota exhausted without a hint or a known reset time
ENDPOINT_FAILURE_COOL_S = 5.0  # 404/408/5xx/transport on every endpoint: short cooling
AUTH_RETRY_COOL_S = 60.0  # still 401 after a fresh token
CAPACITY_BACKOFF_S = 0.5  # first capacity back-off; doubles, capped at 2 s
_NEXT_ACCOUNT_KINDS = frozenset({K.TIMEOUT, K.SERVER, K.TRANSPORT})
_REQUEST_LEVEL = _NEXT_ACCOUNT_KINDS | {K.CAPACITY}
_REAL_429 = frozenset({K.QUOTA_EXHAUSTED, K.RATE_LIMITED})
VERSION_GATE_LOG_EVERY_S = 3600.0


@dataclass
class _RequestState:
    """What one request already spent: a token refresh / a same-account retry per account."""

    refreshed: set[str] = field(default_factory=set)
    rate_retried: set[str] = field(default_factory=set)
    saw_429: bool = False  # some attempt got a real 429 (quota / rate limit)
    not_found: list[str] = field(default_factory=list)  # upstream ids that 404ed
    switched: str = ""  # the model changed after a catalogue re-read: why


@dataclass
class VersionGate:
    """The upstream refused the client version (SPEC §7): shown in the service status
    and the TUI header until a request goes through again."""

    message: str
    user_agent: str
    since: float
    fix: str


@dataclass
class UpstreamCall:
    model: str  # upstream model name
    request: dict[str, Any]  # Gemini GenerateContentRequest
    session_key: str | None = None
    stream: bool = False
    resolution: Resolution | None = None  # how `model` was chosen (re-resolved after a 404)
    thinking: bool = False


def record_attempt(record: Any, account: Account, model: str, status: int, ms: float, error: str) -> None:
    """The one place the dispatcher writes into the monitor's record (duck-typed)."""
    if record is None:
        return
    record.attempts.append(Attempt(account.label, status, int(ms), error))
    record.account = account.label
    record.upstream_kind = "antigravity" if account.kind is AccountKind.ANTIGRAVITY else "gemini_api"
    record.upstream_model = model


def _reply_text(resp: dict[str, Any]) -> str:
    parts = []
    for cand in resp.get("candidates") or ():
        for part in (cand.get("content") or {}).get("parts") or ():
            if isinstance(part.get("text"), str) and not part.get("thought"):
                parts.append(part["text"])
    return "".join(parts).strip()


def _gate_in_reply(chunks: list[dict[str, Any]]) -> str:
    """The gate message when a 200 reply's whole text is the version refusal, else ""."""
    text = "".join(_reply_text(c) for c in chunks).strip()
    return text if text and is_version_gate(text) else ""


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
        self.client_version = ClientVersion()
        self.antigravity = AntigravityClient(sessions, tokens, store.save, self.client_version)
        self.gemini = GeminiApiClient(sessions)
        self.zai = ZaiAdapter(sessions)
        self.catalogues = CatalogueReader(store, self._client)
        self.resolver = Resolver(store)
        self.version_gate: VersionGate | None = None
        self._gate_logged = 0.0
        self._background: set[asyncio.Task[Any]] = set()

    # -- model resolution (SPEC §9) ---------------------------------------------------

    def resolve(self, client_model: str, thinking: bool = False) -> Resolution:
        """The upstream id for a client model and the rule that chose it (cached per
        catalogue version and mapping)."""
        return self.resolver.resolve(client_model, self._config().model_mapping, thinking)

    def user_agent(self) -> str:
        return self.client_version.user_agent(self._config().upstream.user_agent)

    # -- public API -----------------------------------------------------------------

    async def generate(self, call: UpstreamCall, record: Any = None) -> dict[str, Any]:
        async def op(acc: Account) -> dict[str, Any]:
            async with self._deadline():
                resp = await self._client(acc).generate(acc, call.model, call.request)
            gate = _gate_in_reply([resp])
            if gate:
                raise UpstreamError(K.CLIENT_OUTDATED, 200, gate)
            return resp

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
            gate = _gate_in_reply(head)
            if gate:
                inner.close()
                raise UpstreamError(K.CLIENT_OUTDATED, 200, gate)
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
        (SPEC §10 dispatch modes; the handler then calls `forward_zai`.)"""
        cfg = self._config()
        if not cfg.zai_dispatch_on:
            return False
        return zai_should_handle(cfg, self.google_available(model), self.serving_accounts(model))

    async def forward_zai(self, body: dict[str, Any], record: Any = None, **kw: Any) -> ZaiResponse:
        """z.ai (SPEC §10) through the same door as the Google kinds: the attempt lands in
        the monitor record; the response is relayed verbatim by the handler."""
        client_model = str(body.get("model") or "")
        t0 = time.monotonic()
        try:
            resp = await self.zai.forward(body, **kw)
        except UpstreamError as exc:
            self._zai_record(record, client_model, "", exc.status, t0, exc.message)
            raise exc.to_api_error() from None
        self._zai_record(record, client_model, resp.model, resp.status, t0, "")
        if record is not None:
            record.stream = bool(body.get("stream"))
        return resp

    @staticmethod
    def _zai_record(record: Any, client_model: str, model: str, status: int, t0: float, error: str) -> None:
        if record is None:
            return
        record.attempts.append(Attempt("z.ai", status, int((time.monotonic() - t0) * 1000), error))
        record.account, record.upstream_kind = "z.ai", "zai"
        record.client_model = client_model or record.client_model
        if model:
            record.upstream_model = model
            record.mapping_rule = "z.ai model table (zai.models)"

    def serving_accounts(self, model: str) -> int:
        now = time.time()
        return sum(1 for a in self.store.list() if a.blocked_until(model, now) is not None)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.catalogues.close()

    # -- the failover loop ---------------------------------------------------------

    def _client(self, acc: Account) -> AntigravityClient | GeminiApiClient:
        return self.antigravity if acc.kind is AccountKind.ANTIGRAVITY else self.gemini

    def _deadline(self) -> _Deadline:
        """proxy.request_timeout bounds one attempt (for streams: up to the first event)."""
        return _Deadline(float(self._config().proxy.request_timeout))

    async def _run(self, call: UpstreamCall, record: Any, op: Callable[[Account], Awaitable[Any]], finish: bool) -> Any:
        model = call.model
        max_attempts = min(MAX_ATTEMPTS, self.serving_accounts(model) + 1)
        wait = self.pool.wait_hint(model, call.session_key)
        if wait > 0:  # cache_first: the bound account is back in a moment
            await asyncio.sleep(wait)
        tried: set[str] = set()
        state = _RequestState()
        attempts = 0
        last: UpstreamError | None = None
        retry_same: Account | None = None
        free_retry = False
        while attempts < max_attempts or free_retry:
            acc = retry_same or self.pool.pick(model, call.session_key, frozenset(tried))
            if acc is None and not tried and last is None:
                # Nothing selectable but short fault coolings: try them rather than answer for them.
                acc = self.pool.pick(model, call.session_key, frozenset(tried), faults_ok=True)
            retry_same = None
            if acc is None:
                break
            if free_retry:
                free_retry = False  # the retry after a token refresh is not counted (issue 11)
            else:
                attempts += 1
            if acc.catalogue is None:
                self.catalogues.read_soon(acc)  # tried optimistically; its catalogue is read at once
            t0 = time.monotonic()
            try:
                result = await op(acc)
            except UpstreamError as err:
                ms = (time.monotonic() - t0) * 1000
                record_attempt(record, acc, model, err.status, ms, f"{err.kind.value}: {err.message}"[:300])
                last = err
                action = await self._react(acc, model, err, attempts, state)
                if action == "refreshed":
                    retry_same, free_retry = acc, True
                elif action == "same":
                    retry_same = acc
                elif action == "fail":
                    self.pool.mark_used(acc, ok=False)
                    raise self._fail(err, acc) from None
                else:
                    tried.add(acc.id)
                if err.kind is K.NOT_FOUND and call.resolution is not None:
                    switched = self._reresolve(call)
                    if switched:
                        model = call.model
                        state.switched = switched
                        tried.clear()
                        max_attempts = max(max_attempts, attempts + min(MAX_ATTEMPTS, self.serving_accounts(model)))
                continue
            ms = (time.monotonic() - t0) * 1000
            record_attempt(record, acc, model, 200, ms, "")
            if self.version_gate is not None and acc.kind is AccountKind.ANTIGRAVITY:
                self.version_gate = None  # a request went through: the gate is over
            if finish:
                self.pool.mark_used(acc, ok=True)
            return result
        raise self._exhausted(call, model, last, state)

    def _reresolve(self, call: UpstreamCall) -> str:
        """After a model 404 and the catalogue re-read: does the client's name now resolve
        to another id? Then the request goes on with it. Returns the new rule ("" = same)."""
        old = call.resolution
        assert old is not None
        new = self.resolve(old.client_model, call.thinking)
        if new.model == call.model or not new.offered:
            return ""
        call.model, call.resolution = new.model, new
        return new.rule

    async def _react(self, acc: Account, model: str, err: UpstreamError, attempt: int, state: _RequestState) -> str:
        """Apply SPEC §7's reaction to one failure. Returns "same" (retry this account),
        "refreshed" (retry it after a token refresh, not counted), "next" (fail over) or
        "fail" (give the error to the client)."""
        kind = err.kind
        if kind is K.BAD_REQUEST or kind is K.CLIENT_OUTDATED:
            return "fail"
        if kind is K.UNAUTHORIZED:
            if acc.kind is AccountKind.GEMINI_KEY:
                self.store.mark_state(acc, AccountState.AUTH_FAILED, "API key rejected (401)")
                return "next"
            if acc.refresh_token and acc.id not in state.refreshed:
                state.refreshed.add(acc.id)
                try:
                    await self.tokens.ensure_token(acc, force=True)
                    return "refreshed"
                except UpstreamError as refresh_err:
                    return await self._react(acc, model, refresh_err, attempt, state)
            self.pool.cool(acc, model, AUTH_RETRY_COOL_S, account_wide=True, fault=True)
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
        if kind is K.NOT_FOUND:
            # SPEC §7: this model is not available to this account (renamed, retired, not
            # rolled out, client too old): never the account's fault for other models.
            state.not_found.append(model)
            self.store.mark_unavailable(acc, model)
            await self.catalogues.reread_after_404(acc)
            return "next"
        if kind is K.QUOTA_EXHAUSTED:
            state.saw_429 = True
            self.pool.cool(acc, model, self._quota_wait(acc, model, err))
            self.catalogues.read_soon(acc)  # SPEC §9: quota comes with the catalogue
            return "next"
        if kind is K.RATE_LIMITED:
            state.saw_429 = True
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
            self.pool.cool(acc, model, ENDPOINT_FAILURE_COOL_S, fault=True)
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

    def _fail(self, err: UpstreamError, acc: Account) -> ApiError:
        if err.kind is K.CLIENT_OUTDATED:
            return self._version_gated(err)
        return err.to_api_error()

    def _version_gated(self, err: UpstreamError) -> ApiError:
        """SPEC §7: no account burned; ERROR once an hour with the fix; a flag for the
        TUI header; 502 naming the version sent and the setting that fixes it."""
        ua = self.user_agent()
        fix = ('set upstream.user_agent = "auto" (reads the newest version) or a newer '
               '"antigravity/<version> <os>/<arch>" (agproxy config set upstream.user_agent …)')
        self.version_gate = VersionGate(err.message[:300], ua, time.time(), fix)
        now = time.monotonic()
        if not self._gate_logged or now - self._gate_logged >= VERSION_GATE_LOG_EVERY_S:
            self._gate_logged = now
            log.error("the upstream rejects the client version %r: %s — fix: %s", ua, err.message[:200], fix)
        return ApiError(ErrorKind.API_ERROR,
                        f"upstream rejected the client version (User-Agent {ua!r}): {err.message[:200]} — "
                        f"fix: {fix}")

    def _exhausted(self, call: UpstreamCall, model: str, last: UpstreamError | None, state: _RequestState) -> ApiError:
        """No attempt left: the honest error for the client (SPEC §7). A 429 only when a
        real 429 caused the cooling; a model nobody serves is a 404; an unreachable
        upstream a 502/504."""
        client_model = call.resolution.client_model if call.resolution is not None else model
        if state.saw_429 or (last is None and self._cooling_by_429(model)):
            wait = self.pool.shortest_wait(model)
            hint = last.retry_after if last is not None and last.kind in _REAL_429 else None
            seconds = max(1.0, wait if wait else (hint or RATE_LIMIT_DEFAULT_S))
            return ApiError(ErrorKind.RATE_LIMIT,
                            f"all accounts for model {model!r} are rate limited or out of quota; "
                            f"retry in {max(1, round(seconds))} s", retry_after=seconds)
        if last is not None and last.kind is K.NOT_FOUND:
            return self.not_served(client_model, state.not_found or [model])
        if last is not None and last.kind in (K.TRANSPORT, K.TIMEOUT):
            kind = ErrorKind.TIMEOUT if last.kind is K.TIMEOUT else ErrorKind.API_ERROR
            return ApiError(kind, f"upstream unreachable: {last.message}")
        if last is not None and last.kind in _REQUEST_LEVEL:
            return last.to_api_error()
        if last is not None:
            return last.to_api_error()
        if not self.store.list():
            return ApiError(ErrorKind.OVERLOADED, "no upstream accounts configured: add one with `agproxy accounts add`")
        if not any(a.serves(model) for a in self.store.list()):
            return self.not_served(client_model, [model])
        return ApiError(ErrorKind.OVERLOADED, f"every account for model {model!r} is disabled or needs attention")

    def _cooling_by_429(self, model: str) -> bool:
        wait = self.pool.shortest_wait(model)
        return wait is not None and wait > 0

    def not_served(self, client_model: str, tried: list[str]) -> ApiError:
        """404 naming the client model, the upstream ids tried and a few offered ids."""
        offer = self.resolver.offer
        close, alike = closest_ids(tried[-1], offer.ids) if offer.ids else ([], False)
        ids = list(dict.fromkeys(tried))
        if ids == [client_model]:
            shown = repr(client_model)
        elif len(ids) == 1:
            shown = f"{client_model!r} (mapped to {ids[0]!r})"
        else:
            shown = f"{client_model!r} (tried upstream ids {', '.join(map(repr, ids))})"
        hint = ""
        if close:
            hint = f"; {'offered ids like it' if alike else 'nothing like it; offered'}: {', '.join(close)}"
        return ApiError(ErrorKind.NOT_FOUND,
                        f"model {shown} is not served by any account{hint} "
                        "(see GET /v1/models or `agproxy models`; map it in model_mapping)", param="model")

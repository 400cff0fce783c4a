"""The Antigravity (Google Cloud Code `v1internal`) client (SPEC §6.1): envelope,
headers, endpoint fallback, project discovery, quota snapshot, and streaming with
`{"response": ...}` unwrapping. Knows nothing about pools or retries across accounts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache
from random import getrandbits
from typing import Any

from yarl import URL

from proxy import jsoncodec
from proxy.accounts.catalogue import Catalogue, ModelEntry, is_public_id
from proxy.accounts.model import Account, QuotaInfo
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.adapter import CatalogueRead
from proxy.upstream.client_version import ClientVersion, default_user_agent
from proxy.upstream.hints import parse_timestamp
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.oauth import TokenManager
from proxy.upstream.response import ChunkStream, collect, read_json, send

log = logging.getLogger(__name__)

# Failures that mean "this endpoint, not this account": try the next endpoint.
_NEXT_ENDPOINT = frozenset({UpstreamErrorKind.NOT_FOUND, UpstreamErrorKind.TIMEOUT, UpstreamErrorKind.SERVER,
                            UpstreamErrorKind.TRANSPORT})
_PROJECT_RETRY_S = 600.0  # after a failed loadCodeAssist, don't ask again on every request

__all__ = ["AntigravityClient", "default_user_agent"]


class AntigravityClient:
    kind = "antigravity"

    def __init__(self, sessions: UpstreamSessions, tokens: TokenManager, save: Callable[[Account], Any],
                 version: ClientVersion | None = None) -> None:
        self._sessions = sessions
        self.version = version or ClientVersion()
        self._tokens = tokens
        self._save = save
        self._project_failed: dict[str, float] = {}

    # -- request plumbing -------------------------------------------------------------

    def _headers(self, account: Account, token: str, with_project: bool, stream: bool) -> dict[str, str]:
        h = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "User-Agent": self.version.user_agent(self._sessions.user_agent),
            "Accept": "text/event-stream" if stream else "application/json",
        }
        if with_project and account.project_id:
            h["x-goog-user-project"] = account.project_id
        return h

    async def _post(self, account: Account, method: str, body: bytes, stream: bool = False):
        """POST <endpoint>:<method>, walking the endpoint list on endpoint-level failures;
        on 403 with x-goog-user-project, once more without it. Returns the open response."""
        token = await self._tokens.ensure_token(account)
        endpoints = self._sessions.config.upstream.antigravity_endpoints
        session = self._sessions.get("antigravity")
        timeout = self._sessions.timeout(stream)
        last: UpstreamError | None = None
        for endpoint in endpoints:
            url = _url(endpoint, method)
            with_project = True
            for _ in range(2):
                try:
                    return await send(session, url, body, self._headers(account, token, with_project, stream),
                                      proxy=self._sessions.http_proxy, timeout=timeout)
                except UpstreamError as err:
                    last = err
                    if err.status == 403 and with_project and account.project_id:
                        with_project = False
                        continue
                    break
            assert last is not None
            # A 503/529 may be one endpoint's trouble (the daily sandbox often is): try the next too.
            # Not after a broken connection that may have delivered the request (SPEC §6.4).
            if last.may_have_run and last.kind is UpstreamErrorKind.TRANSPORT:
                raise last
            if last.kind not in _NEXT_ENDPOINT and not (last.kind is UpstreamErrorKind.CAPACITY and last.status >= 500):
                raise last
            log.info("endpoint %s failed (%s); trying the next", endpoint, last.kind.value)
        assert last is not None
        raise last

    def _envelope(self, account: Account, model: str, request: dict[str, Any]) -> bytes:
        return jsoncodec.dumps({
            "project": account.project_id,
            "model": model,
            "request": request,
            "requestType": "agent",
            "userAgent": "antigravity",
            "requestId": f"agent-{_uuid4()}",
        })

    # -- public calls -------------------------------------------------------------------

    async def stream(self, account: Account, model: str, request: dict[str, Any]) -> ChunkStream:
        """Open `streamGenerateContent?alt=sse`; the returned stream yields unwrapped chunks."""
        await self.ensure_project(account)
        resp = await self._post(account, "streamGenerateContent?alt=sse", self._envelope(account, model, request), stream=True)
        return ChunkStream(resp, unwrap=True)

    async def generate(self, account: Account, model: str, request: dict[str, Any]) -> dict[str, Any]:
        """Non-stream answer, collected from the stream as the reference client does."""
        await self.ensure_project(account)
        resp = await self._post(account, "streamGenerateContent?alt=sse", self._envelope(account, model, request), stream=True)
        return collect(await ChunkStream(resp, unwrap=True).read_all())

    async def count_tokens(self, account: Account, model: str, request: dict[str, Any]) -> dict[str, Any]:
        req = request if "model" in request else {**request, "model": model}
        resp = await self._post(account, "countTokens", jsoncodec.dumps({"request": req}))
        return await read_json(resp, unwrap=True)

    async def ensure_project(self, account: Account) -> str:
        """The account's Cloud project: from the account file, else `loadCodeAssist`
        (cached and persisted). "" when Google has none for it."""
        if account.project_id:
            return account.project_id
        failed = self._project_failed.get(account.id)
        if failed and time.monotonic() - failed < _PROJECT_RETRY_S:
            return ""
        try:
            project = await self.load_project(account)
        except UpstreamError as err:
            if err.kind in (UpstreamErrorKind.UNAUTHORIZED, UpstreamErrorKind.INVALID_GRANT,
                            UpstreamErrorKind.FORBIDDEN, UpstreamErrorKind.VERIFICATION_REQUIRED):
                raise
            log.warning("loadCodeAssist failed for account %s: %s", account.id, err.kind.value)
            project = ""
        if project:
            account.project_id = project
            await _maybe_await(self._save(account))
        else:
            self._project_failed[account.id] = time.monotonic()
        return project

    async def load_project(self, account: Account) -> str:
        body = jsoncodec.dumps({"metadata": {"ideType": "ANTIGRAVITY"}})
        resp = await self._post(account, "loadCodeAssist", body)
        data = await read_json(resp, unwrap=False)
        project = data.get("cloudaicompanionProject")
        if isinstance(project, dict):
            project = project.get("id")
        return project if isinstance(project, str) else ""

    async def read_catalogue(self, account: Account) -> CatalogueRead:
        """The account's catalogue and quota from `fetchAvailableModels` (SPEC §9)."""
        await self.ensure_project(account)
        body = jsoncodec.dumps({"project": account.project_id} if account.project_id else {})
        resp = await self._post(account, "fetchAvailableModels", body)
        return parse_available_models(await read_json(resp, unwrap=False), time.time())


def parse_available_models(data: dict[str, Any], now: float) -> CatalogueRead:
    """`{"models": {id: {displayName, maxTokens, maxOutputTokens, supportsThinking,
    supportsImages, quotaInfo{remainingFraction, resetTime}, …}}, "deprecatedModelIds":
    {old: {"newModelId": new}}}` → catalogue + quota. Also takes `models` as a list."""
    models_raw = data.get("models") or {}
    if isinstance(models_raw, dict):
        items = list(models_raw.items())
    elif isinstance(models_raw, list):
        items = [(m.get("name") or m.get("id") or "", m) for m in models_raw if isinstance(m, dict)]
    else:
        items = []
    entries: dict[str, ModelEntry] = {}
    quota: dict[str, QuotaInfo] = {}
    for name, info in items:
        model = str(name).removeprefix("models/")
        if not model or not isinstance(info, dict):
            continue
        entries[model] = ModelEntry(
            id=model,
            display_name=str(info.get("displayName") or ""),
            max_tokens=_int(info.get("maxTokens")),
            max_output_tokens=_int(info.get("maxOutputTokens")),
            thinking=bool(info.get("supportsThinking")),
            images=bool(info.get("supportsImages")),
            internal=bool(info.get("isInternal")) or not is_public_id(model),
        )
        qi = info.get("quotaInfo") or {}
        if not isinstance(qi, dict):
            continue
        frac = qi.get("remainingFraction")
        reset = qi.get("resetTime")
        reset_at = None
        if isinstance(reset, str):
            wait = parse_timestamp(reset, now)
            reset_at = None if wait is None else now + wait
        quota[model] = QuotaInfo(
            remaining_fraction=float(frac) if isinstance(frac, (int, float)) else (0.0 if qi and reset else None),
            reset_time=reset_at, fetched_at=now)
    deprecated: dict[str, str] = {}
    dep_raw = data.get("deprecatedModelIds") or {}
    if isinstance(dep_raw, dict):
        for old, new in dep_raw.items():
            target = new.get("newModelId") if isinstance(new, dict) else new
            if isinstance(target, str) and target:
                deprecated[str(old).removeprefix("models/")] = target.removeprefix("models/")
    return CatalogueRead(Catalogue(entries, deprecated, now), quota)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()) else None


@lru_cache(maxsize=64)
def _url(endpoint: str, method: str) -> URL:
    """`<endpoint>:<method>` parsed once (aiohttp would parse the string on every call)."""
    return URL(f"{endpoint}:{method}")


def _uuid4() -> str:
    """A random UUID v4 string, as `str(uuid.uuid4())` writes it, without its per-call
    getrandom() syscall and UUID object: a request id needs uniqueness, not secrecy."""
    n = (getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value

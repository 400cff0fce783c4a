"""z.ai dispatch (SPEC §10): forward an Anthropic Messages request to z.ai's
Anthropic-compatible API and hand the response back to be relayed verbatim."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from proxy import jsoncodec
from proxy.accounts.catalogue import Catalogue, ModelEntry
from proxy.accounts.model import Account
from proxy.config.model import Config, ZaiModels
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.adapter import CatalogueRead
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.response import TRANSPORT_ERRORS, transport_error

# Hop-by-hop and framing headers aiohttp re-does (the body is already decompressed).
_DROP_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive",
                           "date", "server"})
_pool_turn = itertools.count()


def zai_should_handle(config: Config, google_available: bool, accounts: int = 1) -> bool:
    """Whether this Anthropic request goes to z.ai. `pooled`: z.ai is one more slot in
    a round-robin over `accounts` Google accounts + z.ai."""
    z = config.zai
    if not z.enabled or not z.api_key or z.dispatch_mode == "off":
        return False
    if z.dispatch_mode == "exclusive":
        return True
    if not google_available:
        return True  # fallback and pooled alike: nothing else can serve it
    if z.dispatch_mode == "pooled":
        return next(_pool_turn) % (max(1, accounts) + 1) == 0
    return False


def map_model(model: str, models: ZaiModels) -> str:
    low = model.lower()
    if low.startswith("glm-"):
        return model
    if "opus" in low:
        return models.opus
    if "haiku" in low:
        return models.haiku
    return models.sonnet


def strip_cache_control(obj: Any) -> None:
    """Remove every `cache_control` key in place (z.ai rejects or ignores it)."""
    if isinstance(obj, dict):
        obj.pop("cache_control", None)
        for value in obj.values():
            if isinstance(value, (dict, list)):
                strip_cache_control(value)
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)):
                strip_cache_control(item)


@dataclass
class ZaiResponse:
    """An open upstream response: relay `status`, `headers`, then the `chunks`."""

    status: int
    headers: dict[str, str]
    model: str  # the upstream model actually asked for
    _resp: aiohttp.ClientResponse

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._resp.content.iter_any():
                yield data
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, "z.ai stream", sent=True) from None
        finally:
            self._resp.close()

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, "z.ai", sent=True) from None
        finally:
            self._resp.release()

    def close(self) -> None:
        self._resp.close()


async def forward(sessions: UpstreamSessions, body: dict[str, Any], *, use_bearer: bool = False,
                  count_tokens: bool = False, anthropic_version: str = "2023-06-01",
                  anthropic_beta: str | None = None) -> ZaiResponse:
    """POST the (mutated: cache_control removed, model mapped) body to z.ai."""
    z = sessions.config.zai
    if not z.api_key:
        raise UpstreamError(UpstreamErrorKind.UNAUTHORIZED, 0, "z.ai dispatch is on but zai.api_key is empty")
    strip_cache_control(body)
    model = map_model(str(body.get("model") or ""), z.models)
    body["model"] = model
    stream = bool(body.get("stream")) and not count_tokens
    headers = {"Content-Type": "application/json", "anthropic-version": anthropic_version,
               "Accept": "text/event-stream" if stream else "application/json"}
    if anthropic_beta:
        headers["anthropic-beta"] = anthropic_beta
    if use_bearer:
        headers["Authorization"] = f"Bearer {z.api_key}"
    else:
        headers["x-api-key"] = z.api_key
    url = z.base_url.rstrip("/") + ("/v1/messages/count_tokens" if count_tokens else "/v1/messages")
    try:
        resp = await sessions.get("zai").post(url, data=jsoncodec.dumps(body), headers=headers,
                                              proxy=sessions.http_proxy, timeout=sessions.timeout(stream))
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc, "z.ai") from None
    relay = {k: v for k, v in resp.headers.items() if k.lower() not in _DROP_HEADERS}
    return ZaiResponse(resp.status, relay, model, resp)


class ZaiAdapter:
    """z.ai behind the dispatcher: the Anthropic body is forwarded as is (no Gemini
    translation), so it has `forward` instead of generate/stream; its catalogue is the
    `zai.models` table (z.ai offers no model listing on its Anthropic API)."""

    kind = "zai"

    def __init__(self, sessions: UpstreamSessions) -> None:
        self._sessions = sessions

    async def read_catalogue(self, account: Account | None = None) -> CatalogueRead:
        models = self._sessions.config.zai.models
        ids = dict.fromkeys((models.opus, models.sonnet, models.haiku))
        return CatalogueRead(Catalogue({m: ModelEntry(id=m) for m in ids}, {}, time.time()), None)

    async def forward(self, body: dict[str, Any], **kw: Any) -> ZaiResponse:
        return await forward(self._sessions, body, **kw)

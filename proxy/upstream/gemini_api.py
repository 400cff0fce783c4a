"""The Gemini API-key client (SPEC §6.2): `{base}/v1beta/models/<m>:<method>` with
`x-goog-api-key`, no envelope."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from proxy import jsoncodec
from proxy.accounts.catalogue import Catalogue, ModelEntry
from proxy.accounts.model import Account
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.models_table import gemini_api_model
from proxy.upstream.adapter import CatalogueRead
from proxy.upstream.hints import classify
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.response import ChunkStream, read_json, send, transport_error

MAX_LIST_PAGES = 20  # the listing is paged; a runaway pageToken loop stops here


class GeminiApiClient:
    kind = "gemini_api"

    def __init__(self, sessions: UpstreamSessions) -> None:
        self._sessions = sessions

    def _url(self, model: str, method: str) -> str:
        base = self._sessions.config.upstream.gemini_base_url.rstrip("/")
        return f"{base}/v1beta/models/{gemini_api_model(model.removeprefix('models/'))}:{method}"

    def _headers(self, account: Account, stream: bool) -> dict[str, str]:
        return {"x-goog-api-key": account.api_key, "Content-Type": "application/json",
                "Accept": "text/event-stream" if stream else "application/json"}

    async def stream(self, account: Account, model: str, request: dict[str, Any]) -> ChunkStream:
        s = self._sessions
        resp = await send(s.get("gemini"), self._url(model, "streamGenerateContent?alt=sse"), jsoncodec.dumps(request),
                          self._headers(account, True), proxy=s.http_proxy, timeout=s.timeout(True))
        return ChunkStream(resp, unwrap=False)

    async def generate(self, account: Account, model: str, request: dict[str, Any]) -> dict[str, Any]:
        # The public API answers non-stream calls directly: one JSON parse instead of many.
        s = self._sessions
        resp = await send(s.get("gemini"), self._url(model, "generateContent"), jsoncodec.dumps(request),
                          self._headers(account, False), proxy=s.http_proxy, timeout=s.timeout(False))
        return await read_json(resp, unwrap=False)

    async def count_tokens(self, account: Account, model: str, request: dict[str, Any]) -> dict[str, Any]:
        name = f"models/{gemini_api_model(model.removeprefix('models/'))}"
        body = {"generateContentRequest": {**request, "model": name}}
        s = self._sessions
        resp = await send(s.get("gemini"), self._url(model, "countTokens"), jsoncodec.dumps(body),
                          self._headers(account, False), proxy=s.http_proxy, timeout=s.timeout(False))
        return await read_json(resp, unwrap=False)

    async def read_catalogue(self, account: Account) -> CatalogueRead:
        """`GET /v1beta/models` (paged): the ids whose supportedGenerationMethods include
        generateContent. A rejected key raises UpstreamError (UNAUTHORIZED/FORBIDDEN)."""
        s = self._sessions
        base = s.config.upstream.gemini_base_url.rstrip("/")
        headers = {"x-goog-api-key": account.api_key, "Accept": "application/json"}
        entries: dict[str, ModelEntry] = {}
        token = ""
        for _ in range(MAX_LIST_PAGES):
            params = {"pageSize": "1000", **({"pageToken": token} if token else {})}
            try:
                async with s.get("gemini").get(f"{base}/v1beta/models", params=params, headers=headers,
                                               proxy=s.http_proxy, timeout=s.timeout(False)) as resp:
                    raw = await resp.read()
                    status = resp.status
                    resp_headers = resp.headers
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise transport_error(exc, "Gemini API") from None
            if status >= 300:
                raise classify(status, raw, resp_headers)
            try:
                data = jsoncodec.loads(raw)
            except ValueError:
                raise UpstreamError(UpstreamErrorKind.SERVER, status, "model listing is not JSON") from None
            for item in data.get("models") or () if isinstance(data, dict) else ():
                if not isinstance(item, dict):
                    continue
                methods = item.get("supportedGenerationMethods") or ()
                model = str(item.get("name") or "").removeprefix("models/")
                if model and "generateContent" in methods:
                    entries[model] = ModelEntry(
                        id=model, display_name=str(item.get("displayName") or ""),
                        max_tokens=item.get("inputTokenLimit") if isinstance(item.get("inputTokenLimit"), int) else None,
                        max_output_tokens=item.get("outputTokenLimit")
                        if isinstance(item.get("outputTokenLimit"), int) else None,
                        thinking=bool(item.get("thinking")))
            token = str(data.get("nextPageToken") or "") if isinstance(data, dict) else ""
            if not token:
                break
        return CatalogueRead(Catalogue(entries, {}, time.time()), None)

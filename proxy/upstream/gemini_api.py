"""The Gemini API-key client (SPEC §6.2): `{base}/v1beta/models/<m>:<method>` with
`x-goog-api-key`, no envelope."""

from __future__ import annotations

from typing import Any

from proxy import jsoncodec
from proxy.accounts.model import Account
from proxy.models_table import gemini_api_model
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.response import ChunkStream, read_json, send


class GeminiApiClient:
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

"""FakeUpstream: a real aiohttp server on 127.0.0.1 speaking the upstream wire
protocols — Google OAuth (token, userinfo), Cloud Code `v1internal` (served under
two prefixes `/a` and `/b` so endpoint fallback can be tested), the Gemini API
(`/v1beta/models/...`) and a z.ai-style Anthropic `/zai/v1/messages`.

Every request is recorded (`.requests`). Behaviour is scripted per route with
`script(route, *replies, token=..., prefix=...)` (each reply used once, in order)
or `always(...)`; unscripted calls get realistic default replies that echo the
last user text so tests can see what reached the upstream.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any, Self
from urllib.parse import parse_qs

from aiohttp import web

from proxy import jsoncodec
from tests.fakes.replies import Reply


@dataclass
class Received:
    route: str  # token, userinfo, generate, stream, count, load, models, gemini, gemini_stream, gemini_count, zai
    path: str
    headers: dict[str, str]
    body: Any
    token: str = ""  # bearer token or API key
    prefix: str = ""  # "a" / "b" for v1internal
    model: str = ""


@dataclass
class _Rule:
    route: str
    replies: list[Reply]
    token: str | None
    prefix: str | None
    persistent: bool


ROUTE_ALIASES = {"generate": ("generate", "stream"), "gemini": ("gemini", "gemini_stream")}


@dataclass
class FakeUpstream:
    project_id: str = "proj-fake-123"
    email: str = "someone@example.com"
    revoked: set[str] = field(default_factory=set)  # refresh tokens that get invalid_grant
    invalid_tokens: set[str] = field(default_factory=set)  # access tokens that get 401
    quota: dict[str, tuple[float, str | None]] = field(
        default_factory=lambda: {"gemini-2.5-pro": (0.8, "2030-01-01T00:00:00Z"), "claude-sonnet-4-5": (0.0, "2030-01-01T00:00:00Z")}
    )
    token_lifetime: int = 3600
    token_delay: float = 0.0

    def __post_init__(self) -> None:
        self.requests: list[Received] = []
        self._rules: list[_Rule] = []
        self._counter = itertools.count(1)
        self.issued: list[str] = []
        self.disconnects = 0
        self.disconnected = asyncio.Event()
        self.open_streams = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # URLs to put in a Config
    @property
    def endpoints(self) -> list[str]:
        return [f"{self.url}/a/v1internal", f"{self.url}/b/v1internal"]

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def userinfo_url(self) -> str:
        return f"{self.url}/userinfo"

    @property
    def zai_url(self) -> str:
        return f"{self.url}/zai"

    # -- scripting -----------------------------------------------------------------

    def script(self, route: str, *replies: Reply, token: str | None = None, prefix: str | None = None) -> None:
        """The next matching calls get these replies, one each, in order."""
        self._rules.append(_Rule(route, list(replies), token, prefix, persistent=False))

    def always(self, route: str, reply: Reply, token: str | None = None, prefix: str | None = None) -> None:
        self._rules.append(_Rule(route, [reply], token, prefix, persistent=True))

    def calls(self, route: str) -> list[Received]:
        names = ROUTE_ALIASES.get(route, (route,))
        return [r for r in self.requests if r.route in names]

    def _next_reply(self, rec: Received) -> Reply | None:
        for rule in self._rules:
            if rec.route not in ROUTE_ALIASES.get(rule.route, (rule.route,)):
                continue
            if rule.token is not None and rule.token != rec.token:
                continue
            if rule.prefix is not None and rule.prefix != rec.prefix:
                continue
            if rule.persistent:
                return rule.replies[0]
            if rule.replies:
                return rule.replies.pop(0)
        return None

    # -- dispatch ------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        raw = await request.read()
        headers = dict(request.headers)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else request.headers.get("x-goog-api-key") or request.headers.get("x-api-key", "")
        prefix, model, route = "", "", ""
        if path == "/token":
            route, body = "token", {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            body = jsoncodec.loads(raw) if raw else None
            if path == "/userinfo":
                route = "userinfo"
            elif path.startswith("/zai/"):
                route, model = "zai", (body or {}).get("model", "")
            elif "/v1internal:" in path:
                prefix = path.split("/")[1]
                method = path.split(":", 1)[1]
                route = {"generateContent": "generate", "streamGenerateContent": "stream", "countTokens": "count",
                         "loadCodeAssist": "load", "fetchAvailableModels": "models"}.get(method, method)
                model = (body or {}).get("model", "")
            elif path.startswith("/v1beta/models/"):
                model, _, method = path[len("/v1beta/models/"):].partition(":")
                route = {"generateContent": "gemini", "streamGenerateContent": "gemini_stream", "countTokens": "gemini_count"}.get(method, method)
        rec = Received(route, path, headers, body, token, prefix, model)
        self.requests.append(rec)
        reply = self._next_reply(rec) or Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200 or reply.body is not None or (reply.json is not None and route not in ("stream", "gemini_stream")):
            if reply.body is not None:
                return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
            return web.Response(status=reply.status, body=jsoncodec.dumps(reply.json), headers=reply.headers,
                                content_type="application/json")
        if route in ("generate", "stream", "count", "load", "models") and token in self.invalid_tokens:
            return web.json_response({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}, status=401)
        handler = getattr(self, f"_r_{route}", None)
        if handler is None:
            return web.json_response({"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}}, status=404)
        return await handler(request, rec, reply)

    # -- OAuth ---------------------------------------------------------------------

    async def _r_token(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        form = rec.body
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self.revoked:
            return web.json_response({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, status=400)
        access = f"at-{next(self._counter)}"
        self.issued.append(access)
        out = {"access_token": access, "expires_in": self.token_lifetime, "token_type": "Bearer", "scope": "openid"}
        if form.get("grant_type") == "authorization_code":
            out["refresh_token"] = f"rt-from-{form.get('code')}"
        return web.json_response(out)

    async def _r_userinfo(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        if not rec.token:
            return web.json_response({"error": {"code": 401, "message": "no token"}}, status=401)
        return web.json_response({"id": "1", "email": self.email, "verified_email": True})

    # -- Cloud Code v1internal ----------------------------------------------------

    async def _r_load(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        return web.json_response({"cloudaicompanionProject": self.project_id, "currentTier": {"id": "free-tier"}})

    async def _r_models(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        models = {m: {"displayName": m, "quotaInfo": {"remainingFraction": f, **({"resetTime": r} if r else {})}}
                  for m, (f, r) in self.quota.items()}
        return web.json_response({"models": models})

    async def _r_count(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        req = (rec.body or {}).get("request", {})
        return web.json_response({"totalTokens": max(1, len(jsoncodec.dumps(req)) // 4)})

    async def _r_generate(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        chunks = gemini_chunks(rec.body.get("request", {}), replace(reply, chunks=1))
        return web.json_response({"response": merge(chunks), "traceId": "t1"})

    async def _r_stream(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        return await self._sse(request, rec, reply, wrap=True)

    # -- Gemini API ------------------------------------------------------------------

    async def _r_gemini(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        return web.json_response(merge(gemini_chunks(rec.body or {}, replace(reply, chunks=1))))

    async def _r_gemini_stream(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        return await self._sse(request, rec, reply, wrap=False)

    async def _r_gemini_count(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        return web.json_response({"totalTokens": max(1, len(jsoncodec.dumps(rec.body)) // 4)})

    async def _sse(self, request: web.Request, rec: Received, reply: Reply, wrap: bool) -> web.StreamResponse:
        if reply.events is not None:
            pieces = reply.events
        else:
            req = rec.body.get("request", {}) if wrap else (rec.body or {})
            pieces = [b"data: " + jsoncodec.dumps({"response": c, "traceId": "t1"} if wrap else c) + b"\r\n\r\n"
                      for c in gemini_chunks(req, reply)]
        return await self._write_stream(request, pieces, reply)

    async def _write_stream(self, request: web.Request, pieces: list[bytes], reply: Reply) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **reply.headers})
        await resp.prepare(request)
        self.open_streams += 1
        try:
            for i, piece in enumerate(pieces):
                if reply.cut_after is not None and i >= reply.cut_after:
                    # Drop the connection mid-stream without the terminating chunk.
                    request.transport.close()  # type: ignore[union-attr]
                    return resp
                if i and reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                await resp.write(piece)
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            self.disconnects += 1
            self.disconnected.set()
            raise
        finally:
            self.open_streams -= 1
        return resp

    # -- z.ai (Anthropic Messages) ------------------------------------------------

    async def _r_zai(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        body = rec.body or {}
        text = reply.text if reply.text is not None else "echo: " + last_user_text_anthropic(body)
        msg = {"id": "msg_fake1", "type": "message", "role": "assistant", "model": body.get("model", ""),
               "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
               "usage": {"input_tokens": 10, "output_tokens": 5}}
        if not body.get("stream"):
            return web.json_response(msg)
        events = [
            ("message_start", {"type": "message_start", "message": {**msg, "content": [], "stop_reason": None}}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            *[("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})
              for t in split_text(text, reply.chunks)],
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        pieces = [f"event: {name}\n".encode() + b"data: " + jsoncodec.dumps(data) + b"\n\n" for name, data in events]
        return await self._write_stream(request, pieces, reply)


# -- default reply content ------------------------------------------------------------


def last_user_text(request: dict[str, Any]) -> str:
    for content in reversed(request.get("contents") or []):
        if content.get("role", "user") == "user":
            texts = [p["text"] for p in content.get("parts", []) if isinstance(p, dict) and "text" in p]
            if texts:
                return " ".join(texts)
    return ""


def last_user_text_anthropic(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") == "user":
            c = msg.get("content")
            if isinstance(c, str):
                return c
            return " ".join(b.get("text", "") for b in c if isinstance(b, dict) and b.get("type") == "text")
    return ""


def split_text(text: str, n: int) -> list[str]:
    if n <= 1 or len(text) < n:
        return [text]
    words = text.split(" ")
    if len(words) >= n:
        per = -(-len(words) // n)
        out = [" ".join(words[i:i + per]) for i in range(0, len(words), per)]
        return [w + " " if i < len(out) - 1 else w for i, w in enumerate(out)]
    per = -(-len(text) // n)
    return [text[i:i + per] for i in range(0, len(text), per)]


def gemini_chunks(request: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    """A realistic streamed answer: optional thought (with thoughtSignature), text
    pieces, an optional functionCall, usage and finishReason on the last chunk."""
    user = last_user_text(request)
    text = reply.text if reply.text is not None else f"echo: {user}"
    chunks: list[dict[str, Any]] = []
    thinking = ((request.get("generationConfig") or {}).get("thinkingConfig") or {}).get("includeThoughts")
    if thinking:
        chunks.append({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Thinking about it.", "thought": True, "thoughtSignature": "c2lnLWZha2U="}]}, "index": 0}]})
    for piece in split_text(text, reply.chunks):
        chunks.append({"candidates": [{"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}]})
    decls = [d for t in request.get("tools") or [] for d in t.get("functionDeclarations") or []]
    if decls and "use tool" in user:
        chunks.append({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": decls[0]["name"], "args": {"echo": user}}, "thoughtSignature": "c2lnLXRvb2w="}]}, "index": 0}]})
    prompt = max(1, len(user) // 4)
    out = max(1, len(text) // 4)
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    chunks[-1]["usageMetadata"] = {"promptTokenCount": prompt, "candidatesTokenCount": out,
                                   "totalTokenCount": prompt + out, **({"thoughtsTokenCount": 4} if thinking else {})}
    for c in chunks:
        c["modelVersion"] = "fake-model"
        c["responseId"] = "resp-fake"
    return chunks


def merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    last = chunks[-1]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": last.get("usageMetadata", {}), "modelVersion": "fake-model", "responseId": "resp-fake",
            "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

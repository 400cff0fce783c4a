"""FakeUpstream: a real aiohttp server on 127.0.0.1 speaking the upstream wire
protocols — Google OAuth (token, userinfo), Cloud Code `v1internal` (served under
two prefixes `/a` and `/b` so endpoint fallback can be tested), the Gemini API
(`/v1beta/models/...`) and a z.ai-style Anthropic `/zai/v1/messages`.

Every request is recorded (`.requests`). Behaviour is scripted per route with
`script(route, *replies, token=..., prefix=...)` (each reply used once, in order)
or `always(...)`; unscripted calls get realistic default replies that echo the
last user text so tests can see what reached the upstream.

Model catalogues (SPEC §9; catalogues in tests/fakes/catalogue.py). Without one the
fake serves any model, `fetchAvailableModels` lists `quota` (+ `deprecated`) and
`GET /v1beta/models` lists `gemini_models` (the old behaviour). With one, the
upstream moves like Google's does:

    fake.use_catalogues(today(), gemini_key_today())  # every account / every key
    fake.set_catalogue("proj-b", last_month())         # one account: by project id,
                                                       # access token, or API key
    fake.catalogue("proj-a").add("gemini-3.8-flash")   # live changes: add, retire(m,
    fake.retire_model(None, "gemini-3.5-flash", "gemini-3.8-flash")  # replacement),
                                                       # rename(old, new), set_quota(...)
- `fetchAvailableModels` answers `models` (limits, thinking/image support, quotaInfo,
  internal entries with no displayName), `deprecatedModelIds` and `agentModelSorts`;
  `GET /v1beta/models` (route `gemini_list`) pages (`pageSize` ≤ `gemini_page_size`,
  `pageToken`) over the key's models with `supportedGenerationMethods`;
  `GET /v1beta/models/<m>` (route `gemini_model`) gets one.
- A generation for an id the account does not serve (unknown, retired, deprecated,
  internal, or gated on a newer client) → 404 "Requested entity was not found."
  (Gemini API: "models/<m> is not found for API version v1beta …"); a served model
  whose quota is 0 → 429 QUOTA_EXHAUSTED until its reset.
- Gemini keys in `invalid_keys` (or `invalid_tokens`) → 400 API_KEY_INVALID, no key
  → 403, on every Gemini API route.
- `gate_versions_below("1.16.0", form="error" | "text")`: an Antigravity generation
  whose User-Agent version (`antigravity/<v> …`) is older gets Google's "This version
  of Antigravity is no longer supported …" as a 400 error body ("error") or as the
  whole text of a 200 reply ("text"); `ungate()` ends it. Catalogue reads are not gated.
- `await fake.stop()` closes the port (connections refused), `await fake.start()`
  serves again on the same port; `async with fake.down(): ...` does both.
Scripted replies (`script`/`always`) win over all of this.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Self
from urllib.parse import parse_qs

from aiohttp import web

from proxy import jsoncodec
from tests.fakes.catalogue import (
    VERSION_GATE_MESSAGE,
    Catalogue,
    ModelInfo,
    gemini_api_generates,
    gemini_key_today,
    version_tuple,
)
from tests.fakes.replies import Reply, entity_not_found, google_error, quota_exhausted

_UA_VERSION = re.compile(r"antigravity/(?:hub/)?(\d+(?:\.\d+)*)", re.IGNORECASE)
_GENERATION = frozenset({"generate", "stream"})
_GEMINI_ROUTES = frozenset({"gemini", "gemini_stream", "gemini_count", "gemini_list", "gemini_model"})


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


# Without a catalogue, `fetchAvailableModels` lists these too (full quota), so the
# proxy's catalogue read finds the ids ordinary tests ask for.
DEFAULT_MODELS = ("claude-sonnet-4-6", "claude-sonnet-4-6-thinking", "claude-opus-4-6-thinking", "gemini-3-pro-high",
                  "gemini-3-pro-low", "gemini-3-flash", "gemini-2.5-flash", "gemini-2.5-flash-lite",
                  "gemini-2.5-flash-thinking", "gpt-oss-120b-medium")


@dataclass
class FakeUpstream:
    project_id: str = "proj-fake-123"
    email: str = "someone@example.com"
    revoked: set[str] = field(default_factory=set)  # refresh tokens that get invalid_grant
    invalid_tokens: set[str] = field(default_factory=set)  # access tokens that get 401
    quota: dict[str, tuple[float, str | None]] = field(
        default_factory=lambda: {"gemini-2.5-pro": (0.8, "2030-01-01T00:00:00Z"), "claude-sonnet-4-5": (0.0, "2030-01-01T00:00:00Z"),
                                 **{m: (1.0, None) for m in DEFAULT_MODELS}}
    )
    deprecated: dict[str, str] = field(default_factory=dict)  # without a catalogue: deprecatedModelIds old -> new
    # without a catalogue: what GET /v1beta/models lists for any Gemini API key
    gemini_models: list[str] = field(default_factory=lambda: ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite",
                                                              "gemini-3-pro-preview", "gemini-3-flash-preview"])
    token_lifetime: int = 3600
    token_delay: float = 0.0
    # Catalogues (None: serve any model, list `quota`); see the module docstring.
    default_catalogue: Catalogue | None = None
    default_key_catalogue: Catalogue | None = None
    invalid_keys: set[str] = field(default_factory=set)  # Gemini API keys Google rejects
    gemini_page_size: int = 50  # most models one `GET /v1beta/models` page holds
    min_client_version: str | None = None  # version gate (gate_versions_below)
    gate_form: str = "error"  # "error" (400 body) or "text" (200 whose text is the message)

    def __post_init__(self) -> None:
        self.requests: list[Received] = []
        self._rules: list[_Rule] = []
        self._counter = itertools.count(1)
        self.issued: list[str] = []
        self.disconnects = 0
        self.disconnected = asyncio.Event()
        self.open_streams = 0
        self._runner: web.AppRunner | None = None
        self._catalogues: dict[str, Catalogue] = {}
        self.port = 0
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve (again) on 127.0.0.1; after a stop(), on the same port as before."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Close the port and every open connection: the upstream is down."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def running(self) -> bool:
        return self._runner is not None

    @asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        """The upstream is unreachable inside the block and back after it."""
        await self.stop()
        try:
            yield
        finally:
            await self.start()

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

    # -- catalogues (SPEC §9) ---------------------------------------------------------

    def use_catalogues(self, antigravity: Catalogue | None, gemini_key: Catalogue | None = None) -> None:
        """Every account without its own catalogue is served `antigravity` (a copy
        each), every Gemini key `gemini_key` (default: gemini_key_today())."""
        self.default_catalogue = antigravity.copy() if antigravity else None
        self.default_key_catalogue = (gemini_key or gemini_key_today()).copy() if antigravity or gemini_key else None
        self._catalogues.clear()

    def set_catalogue(self, account: str, catalogue: Catalogue) -> Catalogue:
        """`account` (its project id, access token or API key) is served `catalogue`
        (copied); returns the live copy, which later changes reach at once."""
        self._catalogues[account] = catalogue.copy()
        return self._catalogues[account]

    def catalogue(self, account: str, *, gemini_key: bool | None = None) -> Catalogue:
        """The live catalogue of `account` (made its own from the default if needed;
        `gemini_key` says which default, else a key is recognised by its `AIza` prefix)."""
        if account not in self._catalogues:
            is_key = account.startswith("AIza") if gemini_key is None else gemini_key
            base = self.default_key_catalogue if is_key else self.default_catalogue
            if base is None:
                raise KeyError(f"no catalogue for {account!r}: call use_catalogues() or set_catalogue() first")
            self._catalogues[account] = base.copy()
        return self._catalogues[account]

    def _every(self, account: str | None) -> list[Catalogue]:
        if account is not None:
            return [self.catalogue(account)]
        return [c for c in (self.default_catalogue, self.default_key_catalogue, *self._catalogues.values()) if c]

    def add_model(self, account: str | None, model: str, **info: Any) -> None:
        """Add `model` (ModelInfo fields as keywords) to one account, or to all (None)."""
        for cat in self._every(account):
            cat.add(model, **info)

    def retire_model(self, account: str | None, model: str, replacement: str | None = None) -> None:
        """`model` is gone; with a replacement it is listed as deprecated → replacement."""
        for cat in self._every(account):
            cat.retire(model, replacement)

    def rename_model(self, account: str | None, old: str, new: str) -> None:
        for cat in self._every(account):
            cat.rename(old, new)

    def gate_versions_below(self, version: str, form: str = "error") -> None:
        """Antigravity clients older than `version` are refused (see module docstring)."""
        assert form in ("error", "text"), form
        self.min_client_version, self.gate_form = version, form

    def ungate(self) -> None:
        self.min_client_version = None

    def _catalogue_of(self, rec: Received) -> Catalogue | None:
        if rec.route in _GEMINI_ROUTES:
            return self._catalogues.get(rec.token) or self.default_key_catalogue
        project = (rec.body or {}).get("project") if isinstance(rec.body, dict) else None
        for key in (project, rec.token):
            if key and key in self._catalogues:
                return self._catalogues[key]
        return self.default_catalogue

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
                route = {"generateContent": "gemini", "streamGenerateContent": "gemini_stream", "countTokens": "gemini_count",
                         "": "gemini_model"}.get(method, method)
            elif path == "/v1beta/models":
                route = "gemini_list"
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
        refusal = self._refusal(request, rec)
        if refusal is not None:
            return refusal
        handler = getattr(self, f"_r_{route}", None)
        if handler is None:
            return web.json_response({"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}}, status=404)
        return await handler(request, rec, reply)

    def _refusal(self, request: web.Request, rec: Received) -> web.StreamResponse | None:
        """What Google answers instead of the default reply: a bad key, a rejected
        client version, a model this account does not serve, an exhausted quota."""
        if rec.route in _GEMINI_ROUTES:
            if not rec.token:
                return _reply(google_error(403, "Method doesn't allow unregistered callers (callers without established "
                                                "identity). Please use API Key or other form of API consumer identity to call this API.",
                                           "SERVICE_DISABLED"))
            if rec.token in self.invalid_keys or rec.token in self.invalid_tokens:
                err = google_error(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
                err.json["error"]["details"][0]["domain"] = "googleapis.com"
                err.json["error"]["status"] = "INVALID_ARGUMENT"
                return _reply(err)
        if rec.route in _GENERATION and self.min_client_version is not None:
            sent = _UA_VERSION.search(rec.headers.get("User-Agent", ""))
            if sent is None or version_tuple(sent.group(1)) < version_tuple(self.min_client_version):
                if self.gate_form == "error":
                    err = google_error(400, VERSION_GATE_MESSAGE)
                    err.json["error"]["status"] = "FAILED_PRECONDITION"
                    return _reply(err)
                return None  # the "text" form: _r_generate / _r_stream answer with the message
        catalogue = self._catalogue_of(rec)
        if catalogue is None or rec.route not in (*_GENERATION, "gemini", "gemini_stream", "gemini_model"):
            return None
        if rec.route in ("gemini", "gemini_stream", "gemini_model"):
            known = rec.model in catalogue.models if rec.route == "gemini_model" else gemini_api_generates(catalogue, rec.model)
            if not known:
                return _reply(gemini_api_not_found(rec.model))
            return None
        sent = _UA_VERSION.search(rec.headers.get("User-Agent", ""))
        if not catalogue.serves(rec.model, sent.group(1) if sent else None):
            return _reply(entity_not_found())
        info = catalogue.models[rec.model]
        if info.remaining is not None and info.remaining <= 0:
            reset = f"{int(info.reset_in)}s" if info.reset_in else "3600s"
            return _reply(quota_exhausted(reset))
        return None

    def _gated_text(self, rec: Received) -> bool:
        if self.min_client_version is None or self.gate_form != "text":
            return False
        sent = _UA_VERSION.search(rec.headers.get("User-Agent", ""))
        return sent is None or version_tuple(sent.group(1)) < version_tuple(self.min_client_version)

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
        catalogue = self._catalogue_of(rec)
        if catalogue is not None:
            return web.json_response(catalogue.fetch_available_models())
        models = {m: {"displayName": m, "quotaInfo": {"remainingFraction": f, **({"resetTime": r} if r else {})}}
                  for m, (f, r) in self.quota.items()}
        out: dict[str, Any] = {"models": models}
        if self.deprecated:
            out["deprecatedModelIds"] = {old: {"newModelId": new} for old, new in self.deprecated.items()}
        return web.json_response(out)

    async def _r_count(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        req = (rec.body or {}).get("request", {})
        return web.json_response({"totalTokens": max(1, len(jsoncodec.dumps(req)) // 4)})

    async def _r_generate(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        chunks = [gate_chunk()] if self._gated_text(rec) else gemini_chunks(rec.body.get("request", {}), replace(reply, chunks=1))
        return web.json_response({"response": merge(chunks), "traceId": "t1"})

    async def _r_stream(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        if self._gated_text(rec):
            reply = replace(reply, events=[b"data: " + jsoncodec.dumps({"response": gate_chunk(), "traceId": "t1"}) + b"\r\n\r\n"])
        return await self._sse(request, rec, reply, wrap=True)

    # -- Gemini API ------------------------------------------------------------------

    async def _r_gemini(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        return web.json_response(merge(gemini_chunks(rec.body or {}, replace(reply, chunks=1))))

    async def _r_gemini_stream(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        return await self._sse(request, rec, reply, wrap=False)

    async def _r_gemini_list(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        catalogue = self._catalogue_of(rec)
        if catalogue is None:  # the old behaviour: `gemini_models`, all generating
            catalogue = Catalogue({m: gemini_key_today().models.get(m) or ModelInfo(display_name=m) for m in self.gemini_models})
        models = catalogue.gemini_api_models()
        size = min(int(request.query.get("pageSize") or 50), 1000, self.gemini_page_size)
        start = int(request.query.get("pageToken") or 0)
        page: dict[str, Any] = {"models": models[start:start + size]}
        if start + size < len(models):
            page["nextPageToken"] = str(start + size)
        return web.json_response(page)

    async def _r_gemini_model(self, request: web.Request, rec: Received, reply: Reply) -> web.StreamResponse:
        catalogue = self._catalogue_of(rec)
        info = catalogue.models.get(rec.model) if catalogue else ModelInfo(display_name=rec.model)
        if info is None:
            return _reply(gemini_api_not_found(rec.model))
        return web.json_response(info.gemini_api_wire(rec.model))

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


def gate_chunk() -> dict[str, Any]:
    """The 200 answer whose only text is the version-gate message."""
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": VERSION_GATE_MESSAGE}]}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 17, "totalTokenCount": 18},
            "modelVersion": "fake-model", "responseId": "resp-gate"}


def gemini_api_not_found(model: str) -> Reply:
    return google_error(404, f"models/{model} is not found for API version v1beta, or is not supported for "
                             "generateContent. Call ListModels to see the list of available models and their "
                             "supported methods.")


def _reply(reply: Reply) -> web.Response:
    return web.Response(status=reply.status, body=jsoncodec.dumps(reply.json), headers=reply.headers,
                        content_type="application/json")


def merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    last = chunks[-1]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": last.get("usageMetadata", {}), "modelVersion": "fake-model", "responseId": "resp-fake",
            "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

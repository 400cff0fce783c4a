"""Routes that need no account (SPEC §3): health, connection probes, Claude Code
telemetry sink, the Codex WebSocket refusal; and the hook that plugs in the three
API faces (`proxy.server.openai`, `.anthropic`, `.gemini`, each with `register(app)`)."""

from __future__ import annotations

import importlib
import logging

from aiohttp import hdrs, web

from proxy import __version__, jsoncodec
from proxy.errors import ApiError, ErrorKind, Protocol, error_response

logger = logging.getLogger(__name__)

API_MODULES = ("proxy.server.openai", "proxy.server.anthropic", "proxy.server.gemini")

# Built once: health is polled often and must cost next to nothing.
_HEALTH_BODY = jsoncodec.dumps({"status": "ok", "version": __version__})


async def health(request: web.Request) -> web.Response:
    return web.Response(body=_HEALTH_BODY, content_type="application/json")


async def root(request: web.Request) -> web.Response:
    """`HEAD /` is Claude Code's pre-connect; `GET /` tells a person where they are."""
    if request.method == hdrs.METH_HEAD:
        return web.Response()
    base = f"{request.scheme}://{request.host}"
    body = {
        "name": "agproxy",
        "version": __version__,
        "status": "ok",
        "base_urls": {"openai": f"{base}/v1", "anthropic": base, "gemini": base},
    }
    return web.Response(body=jsoncodec.dumps(body), content_type="application/json")


async def probe(request: web.Request) -> web.Response:
    return web.Response()


async def telemetry_sink(request: web.Request) -> web.Response:
    """Claude Code's event logging: accepted and dropped, never recorded."""
    return web.Response()


async def responses_get(request: web.Request) -> web.Response:
    """Codex's built-in provider tries a WebSocket first; 426 makes it fall back to
    HTTP at once (other answers cost it seconds of retries, 400 makes it abort)."""
    if request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
        err = ApiError(
            ErrorKind.INVALID_REQUEST,
            "WebSocket transport is not supported; use HTTP POST /v1/responses",
            status=426,
        )
    else:
        err = ApiError(ErrorKind.INVALID_REQUEST, "use POST /v1/responses", status=405)
    return error_response(Protocol.OPENAI, err)


def add_base_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/healthz", health)
    router.add_get("/health", health)
    router.add_get("/", root)  # GET also answers HEAD
    router.add_route(hdrs.METH_HEAD, "/v1", probe)
    router.add_post("/v1/api/event_logging", telemetry_sink)
    router.add_post("/v1/api/event_logging/batch", telemetry_sink)
    router.add_get("/v1/responses", responses_get, allow_head=False)


def add_api_routes(app: web.Application) -> list[str]:
    """Let each API face that exists register its routes; returns the ones found.
    Routes are registered on canonical paths only (`/v1/...`): the path
    normalisation middleware maps `/chat/completions`, `/v1/v1/...` and the like."""
    found: list[str] = []
    for name in API_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)
        found.append(name)
    return found

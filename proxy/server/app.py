"""build_app(ctx): the aiohttp application with its middlewares and routes."""

from __future__ import annotations

import importlib
import logging

from aiohttp import web

from proxy import metrics
from proxy.context import CTX, ProxyContext
from proxy.server.middlewares import make_edge_middleware, on_response_prepare
from proxy.server.routes import add_api_routes, add_base_routes

logger = logging.getLogger(__name__)

# The monitor plugs in here (ARCHITECTURE.md): `make_hooks(ctx)` returns the begin/finish
# hooks the edge middleware calls after CORS and before auth, so rejected (401) calls are
# recorded too.
MONITOR_MIDDLEWARE_MODULE = "proxy.monitor.middleware"


def build_app(ctx: ProxyContext) -> web.Application:
    # One middleware: request id, path normalisation, CORS, monitor, auth, body limit and
    # errors inline (middlewares.py), a coroutine frame per request instead of seven.
    middlewares = [make_edge_middleware(ctx, _monitor_hooks(ctx))]
    app = web.Application(middlewares=middlewares, client_max_size=ctx.max_body_bytes)
    app[CTX] = ctx
    app.on_response_prepare.append(on_response_prepare)
    add_base_routes(app)
    add_api_routes(app)
    metrics.register(app)  # GET /metrics (SPEC §18), behind the same auth
    return app


def apply_body_limit(app: web.Application, ctx: ProxyContext) -> None:
    """Hot-apply `proxy.max_body_mb` to chunked uploads too (declared lengths are
    checked by the edge middleware). aiohttp keeps the limit privately."""
    app._client_max_size = ctx.max_body_bytes


def _monitor_hooks(ctx: ProxyContext):
    try:
        module = importlib.import_module(MONITOR_MIDDLEWARE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != MONITOR_MIDDLEWARE_MODULE:
            raise
        return None
    return module.make_hooks(ctx)

"""The monitor's hooks on the request path (SPEC §11): a record begun when a proxied
request arrives, finished when the handler returns.

`make_hooks(ctx)` gives the app's one edge middleware (proxy/server/middlewares.py) a
`begin`, a `finish` and a `failed` to call inline, so the monitor costs no coroutine
frame of its own per request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from proxy.context import BODY_HEAD, RECORD
from proxy.errors import protocol_for_path
from proxy.redact import redact_headers

# Not proxied traffic: health checks, scrapes, Claude Code telemetry, pre-connect probes.
_UNRECORDED = frozenset(
    {
        "/healthz",
        "/health",
        "/metrics",
        "/v1/api/event_logging",
        "/v1/api/event_logging/batch",
        "/",
        "/v1",
    }
)


@dataclass(frozen=True, slots=True)
class MonitorHooks:
    # begin(request, canonical_path) -> the record (also in request[RECORD]) or None
    begin: Callable[[web.Request, str], Any]
    # finish(request, record, status, response)
    finish: Callable[[web.Request, Any, int, web.StreamResponse | None], None]
    # failed(record, exc) -> the status a request that ended in `exc` is recorded with
    failed: Callable[[Any, BaseException], int]


def make_hooks(ctx: Any) -> MonitorHooks:
    def begin(request: web.Request, path: str) -> Any:
        monitor = ctx.monitor
        method = request.method
        if monitor is None or method == "OPTIONS" or method == "HEAD" or path in _UNRECORDED:
            return None
        headers = request.headers
        record = monitor.begin(
            method=method,
            path=request.path_qs
            if path == request.path
            else path + (f"?{request.query_string}" if request.query_string else ""),
            protocol=protocol_for_path(path, headers).value,
            client=request.remote or "",
            user_agent=headers.get("User-Agent", ""),
            # redacted into the record by finish(), after the response is out: the copy
            # costs the request nothing on its way (the record shows them once finished)
            headers=None,
            body=None,
        )
        request[RECORD] = record
        return record

    def finish(
        request: web.Request, record: Any, status: int, response: web.StreamResponse | None
    ) -> None:
        monitor = ctx.monitor
        if monitor is None:
            return
        if monitor.settings.enabled and not record.request_headers:
            record.request_headers = redact_headers(request.headers)
        if monitor.settings.capture_bodies != "off":
            # the body the handler read (aiohttp caches it); never read it here.
            # A large body is not kept: read_json left its head instead.
            head = request.get(BODY_HEAD)
            if head is None:
                record.raw_body = getattr(request, "_read_bytes", None)
            else:
                record.raw_body, record.raw_body_size = head, request.content_length or len(head)
        body = response.body if isinstance(response, web.Response) else None
        monitor.finish(
            record, status=status, response_body=body if isinstance(body, bytes) else None
        )

    return MonitorHooks(begin, finish, failure_status)


def failure_status(record: Any, exc: BaseException) -> int:
    """The status a request that ended in `exc` is recorded with."""
    if isinstance(exc, web.HTTPException):
        return exc.status
    if isinstance(exc, asyncio.CancelledError):
        record.error = record.error or "client disconnected"
        return 499
    if isinstance(exc, Exception):  # rendered by the error handling further in
        record.error = record.error or f"{type(exc).__name__}"
        return 500
    return 0

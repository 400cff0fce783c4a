"""The aiohttp middleware that gives every proxied request its monitor record
(SPEC §11): begun when the request arrives, finished when the handler returns."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from proxy.context import CANONICAL_PATH, RECORD
from proxy.errors import protocol_for_path
from proxy.server.exchange import BODY_HEAD, BodyHead

# Not proxied traffic: health checks, Claude Code telemetry, pre-connect probes.
_UNRECORDED = frozenset(
    {"/healthz", "/health", "/v1/api/event_logging", "/v1/api/event_logging/batch", "/", "/v1"}
)


def make_middleware(ctx: Any):
    @web.middleware
    async def monitor_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        monitor = ctx.monitor
        path = request.get(CANONICAL_PATH) or request.path
        if monitor is None or request.method in ("OPTIONS", "HEAD") or path in _UNRECORDED:
            return await handler(request)
        headers = request.headers
        record = monitor.begin(
            method=request.method,
            path=request.path_qs
            if path == request.path
            else path + (f"?{request.query_string}" if request.query_string else ""),
            protocol=protocol_for_path(path, headers).value,
            client=request.remote or "",
            user_agent=headers.get("User-Agent", ""),
            headers=headers,
            body=None,
        )
        request[RECORD] = record
        status = 0
        response = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499
            record.error = record.error or "client disconnected"
            raise
        except Exception as exc:  # rendered by the error middleware further in
            status = 500
            record.error = record.error or f"{type(exc).__name__}"
            raise
        finally:
            if monitor.settings.capture_bodies != "off":
                # the body the handler read (aiohttp caches it); never read it here.
                # A large body is not kept: read_json left its head instead.
                head = request.get(BODY_HEAD)
                record.raw_body = (
                    getattr(request, "_read_bytes", None)
                    if head is None
                    else _usable(head, monitor)
                )
            body = response.body if isinstance(response, web.Response) else None
            monitor.finish(
                record, status=status, response_body=body if isinstance(body, bytes) else None
            )

    return monitor_middleware


def _usable(head: bytes, monitor: Any) -> bytes:
    """A BodyHead cut for a smaller `max_body_kb` than the current one (hot-applied
    mid-request) cannot stand in for the whole body any more: keep it as plain bytes."""
    if (
        isinstance(head, BodyHead)
        and memoryview(head).nbytes <= monitor.settings.max_body_kb * 1024
    ):
        return bytes(head)
    return head

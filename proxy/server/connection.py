"""The HTTP connection below the app (SPEC §14): what aiohttp answers itself, before a
request reaches the edge middleware, answered in the client's protocol too; and the
limits that keep a client that never finishes its request from holding a socket.

- Framing errors (a lying or doubled Content-Length, Content-Length with
  Transfer-Encoding, bad chunks, an oversized header, an unknown Content-Encoding) get
  the protocol's error JSON instead of aiohttp's plain-text 400; the protocol comes
  from the request line when it could be read.
- A client that half-closes (shuts down its sending side) in the middle of its upload
  still gets its 400: the body read fails, the answer goes out, then the connection
  closes.
- Slowloris (no key is needed to open a connection, and with LAN access on anyone on
  the network can): a request's line and headers must be complete within
  `header_timeout` of its first byte (of the connection's opening for the first one),
  a body may not stall for `body_stall_timeout`, a keep-alive connection may sit idle
  between requests for `idle_timeout`, and one client address may hold at most
  `max_per_address` connections. All of them bound reading the client's request only:
  a response we are still sending (an SSE stream of many minutes) is never cut, and an
  upload that keeps moving is never cut either.

`EdgeRunner` is `web.AppRunner` with this connection handler."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import StreamReader, http_exceptions, web
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from proxy.errors import ApiError, ErrorKind, Protocol, error_response, protocol_for_path

logger = logging.getLogger(__name__)

# The request line of the message being received, for the protocol of an error the
# parser raises before any request object exists.
_REQUEST_LINE = re.compile(rb"[A-Z]{3,10} (\S{1,2048}) HTTP/1\.[01]\r?\n")
_HEAD_KEPT = 2100  # bytes of an unfinished head kept to find that line in


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send its request, and how many connections one
    address may hold. Constants rather than config keys: no honest client comes near
    them, so there is nothing for a user to tune (tests pass small values).

    - header_timeout 15 s: SDKs write the request line and headers in one go, within
      milliseconds; 15 s leaves room for a congested Wi-Fi link and still frees a
      slowloris socket quickly (nginx's client_header_timeout is 60 s, Go servers
      commonly use 5-20 s).
    - body_stall_timeout 60 s: counted from the last body byte, not from the start, so
      a 20 MiB upload on a slow uplink is fine as long as bytes keep coming; a stall
      of a whole minute is a dead or hostile client. Time the proxy itself is not
      reading (its buffer is full) does not count.
    - idle_timeout 75 s: longer than the idle limit of the clients' own pools (httpx,
      behind the openai and anthropic SDKs, drops idle connections after 5 s; aiohttp
      after 15 s; Node's undici after 4 s), so a client never sends on a connection
      we are closing; and the common 75 s of nginx/Go. Idle = between requests only.
    - max_per_address 256 for other machines: a client pool opens at most ~100
      (httpx, aiohttp defaults), and a NAT-ed office shares one address; 256 of them
      still leaves most of the default 1024 descriptors to everyone else.
    - max_per_loopback 1024: processes on this machine could exhaust it anyway; the
      cap only guards against a runaway local client, and must stay well above the
      benchmark's 128 concurrent connections and a few agents' pools."""

    header_timeout: float = 15.0
    body_stall_timeout: float = 60.0
    idle_timeout: float = 75.0
    max_per_address: int = 256
    max_per_loopback: int = 1024


# A connection closed for one of the limits is logged at most once a minute per
# reason (a flood must not flood the log), with the count of the ones left unlogged.
_LOG_EVERY = 60.0


class ConnectionGuard:
    """The per-address counts and the tally of connections closed for a limit; one per
    server (so one per start of the service)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open: Counter[str] = Counter()  # client address -> open connections
        self.admitted = 0  # connections accepted since the start
        self.closed: Counter[str] = Counter()  # reason -> connections closed for it
        self._unlogged: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}

    def admit(self, address: str) -> bool:
        cap = self.limits.max_per_loopback if _is_loopback(address) else self.limits.max_per_address
        if self.open[address] >= cap:
            self.note("refused", address, f"it already holds {cap} connections")
            return False
        self.open[address] += 1
        self.admitted += 1
        return True

    def release(self, address: str) -> None:
        left = self.open[address] - 1
        if left > 0:
            self.open[address] = left
        else:
            del self.open[address]

    def note(self, reason: str, address: str, detail: str) -> None:
        self.closed[reason] += 1
        now = time.monotonic()
        if now - self._logged_at.get(reason, -_LOG_EVERY) < _LOG_EVERY:
            self._unlogged[reason] += 1
            return
        self._logged_at[reason] = now
        more = self._unlogged.pop(reason, 0)
        tail = f" (and {more} more since the last such line)" if more else ""
        logger.info("closed a connection from %s: %s%s", address, detail, tail)


@lru_cache(maxsize=1024)
def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return False  # a unix socket path or an unparsable peer: the stricter cap


class BodyStalled(ConnectionError):
    """The client stopped sending its request body (read_json answers 408)."""


class _HeadersTooSlow(Exception):
    pass


# What a refused connection is told before it is closed: the protocol is unknown (no
# request was read), so the shape is the most common one, OpenAI's.
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
)


class EdgeRequestHandler(RequestHandler):
    """aiohttp's connection protocol, with protocol-shaped parse errors, half-close,
    and the `ConnectionLimits`."""

    _agproxy_target: bytes = b""
    _agproxy_payload: StreamReader | None = None  # the body of the newest request
    _agproxy_guard: ConnectionGuard | None = None  # set once the connection is admitted
    _agproxy_address: str = ""
    # The header clock: armed at the connection's opening and at the first byte of a
    # request whose headers did not arrive in that same read; disarmed when they did.
    _agproxy_header_timer: asyncio.TimerHandle | None = None
    _agproxy_partial: bool = False  # bytes of an unfinished request head were received
    _agproxy_head: bytes = b""  # its first bytes, for its request line
    # The body clock: one timer per body, pushed back lazily (a read per chunk only
    # stores the time: a large upload arrives in thousands of reads).
    _agproxy_body_timer: asyncio.TimerHandle | None = None
    _agproxy_body_seen: float = 0.0

    # -- the connection ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        manager = self._manager
        guard: ConnectionGuard | None = getattr(manager, "guard", None)
        if guard is not None:
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")
            if not guard.admit(address):
                self._refuse(transport, address, guard.limits)
                return
            self._agproxy_guard, self._agproxy_address = guard, address
        super().connection_made(transport)
        if guard is not None:
            self._arm_header_timer(self._loop.time())

    def _refuse(self, transport: asyncio.BaseTransport, address: str, limits: ConnectionLimits) -> None:
        """Over the per-address cap: a 503 and the close, without a handler task or a
        parser ever running (the socket is given back at once)."""
        cap = limits.max_per_loopback if _is_loopback(address) else limits.max_per_address
        body = (
            b'{"error":{"message":"too many connections from %s (at most %d): '
            b'reuse connections or lower the concurrency","type":"server_error",'
            b'"code":"overloaded","param":null}}' % (address.encode(), cap)
        )
        self._manager = None  # connection_lost then has nothing to undo
        self._force_close = True
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_REFUSED % (len(body), body))
        transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm_header_timer()
        if self._agproxy_body_timer is not None:
            self._agproxy_body_timer.cancel()
            self._agproxy_body_timer = None
        guard, self._agproxy_guard = self._agproxy_guard, None
        if guard is not None:
            guard.release(self._agproxy_address)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._force_close or self._close:
            return  # as aiohttp does: nothing more is read from this client
        payload = self._agproxy_payload
        in_body = payload is not None and not payload.is_eof()
        if in_body:
            self._agproxy_body_seen = self._loop.time()
        else:  # a request head, maybe in pieces: its target names the error protocol
            head = self._agproxy_head + data if self._agproxy_head else data
            if head[:1].isupper():
                match = _REQUEST_LINE.match(head)
                if match is not None:
                    self._agproxy_target = match.group(1)
        count = self._request_count
        super().data_received(data)
        if self._request_count != count:  # a request head completed (or failed to parse)
            self._agproxy_partial, self._agproxy_head = False, b""
            self._disarm_header_timer()
            if self._messages:
                payload = self._agproxy_payload = self._messages[-1][1]
                if not payload.is_eof():  # its body follows in later reads
                    self._agproxy_body_seen = self._loop.time()
                    if self._agproxy_body_timer is None:
                        self._arm_body_timer(self._agproxy_body_seen)
        elif data and not in_body:  # the first bytes of a head that is not complete yet
            self._agproxy_partial = True
            if len(head) <= _HEAD_KEPT:
                self._agproxy_head = head
            if self._agproxy_header_timer is None:
                self._arm_header_timer(self._loop.time())

    # -- the header clock ----------------------------------------------------------------

    def _arm_header_timer(self, start: float) -> None:
        guard = self._agproxy_guard
        if guard is not None:
            when = start + guard.limits.header_timeout
            self._agproxy_header_timer = self._loop.call_at(when, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._agproxy_header_timer is not None:
            self._agproxy_header_timer.cancel()
            self._agproxy_header_timer = None

    def _header_timeout(self) -> None:
        self._agproxy_header_timer = None
        guard = self._agproxy_guard
        if guard is None or self._force_close or self._close or self.transport is None:
            return
        if self._request_in_progress:
            # A head pipelined behind a request we are still answering (a stream): the
            # time belongs to our response, not to the client. Look again later.
            self._arm_header_timer(self._loop.time())
            return
        seconds = f"{guard.limits.header_timeout:g} s"
        if not self._agproxy_partial:
            # Silence since the connection opened: nothing to answer; just close.
            guard.note("silent", self._agproxy_address, f"no request within {seconds} of connecting")
            self.force_close()
            return
        guard.note("headers", self._agproxy_address, f"request headers not complete within {seconds}")
        # Answer 408 in the request's protocol through aiohttp's own error path (the
        # handler task is waiting for a message: give it this one), then close.
        message = f"request headers not complete within {seconds}"
        self._messages.append((_ErrInfo(status=408, exc=_HeadersTooSlow(message), message=message), EMPTY_PAYLOAD))
        self._close = True  # read nothing more from this client
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the body clock ------------------------------------------------------------------

    def _arm_body_timer(self, start: float) -> None:
        guard = self._agproxy_guard
        if guard is not None:
            when = start + guard.limits.body_stall_timeout
            self._agproxy_body_timer = self._loop.call_at(when, self._body_timeout)

    def _body_timeout(self) -> None:
        self._agproxy_body_timer = None
        guard, payload = self._agproxy_guard, self._agproxy_payload
        if guard is None or payload is None or payload.is_eof() or self.transport is None:
            return
        if not self._request_in_progress:
            return  # answered already: aiohttp's lingering read (10 s) bounds the rest
        now = self._loop.time()
        if self._reading_paused:
            # Our buffer is full: the client waits for us, not the other way round.
            self._agproxy_body_seen = now
        limit = guard.limits.body_stall_timeout
        if now - self._agproxy_body_seen < limit:
            self._arm_body_timer(self._agproxy_body_seen)
            return
        guard.note("body", self._agproxy_address, f"request body stalled for {limit:g} s")
        payload.set_exception(BodyStalled(f"no bytes of the request body for {limit:g} s"))
        self.abandon_body()

    def abandon_body(self) -> None:
        """The request body cannot be read to its end (bad framing or encoding, a stall,
        a half-close): close the connection after the answer, without aiohttp's
        lingering read, which would only meet the body's error again and log it as an
        unhandled exception with a traceback (a log flood anyone could cause)."""
        self._lingering_time = 0.0
        self.close()

    # -- half-close and parse errors -------------------------------------------------

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client shut down its side. Mid-request: fail the body read (the handler
        answers 400), keep the socket open for that answer, close after it."""
        payload = self._agproxy_payload
        if payload is None or payload.is_eof():
            return None  # between requests: close, as aiohttp does
        message = "the client closed the connection before the request body was complete"
        parser = self._parser
        try:
            if parser is not None:
                parser.feed_eof()
        except http_exceptions.HttpProcessingError as exc:
            message = f"{message}: {exc.message}"
        if not payload.is_eof():
            payload.set_exception(ConnectionError(message))
        self.abandon_body()
        return True

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status == 500:
            return super().handle_error(request, status, exc, message)
        self.log_debug("malformed request from %s: %s", request.remote, message)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started: cannot send the error")
        detail = (message or (str(exc) if exc else "") or "malformed request").strip()
        kind = ErrorKind.TOO_LARGE if status == 413 else ErrorKind.INVALID_REQUEST
        text = detail if status == 408 else f"malformed HTTP request: {detail}"
        err = ApiError(kind, text, status=status)
        response = error_response(self._agproxy_protocol(), err)
        response.force_close()
        return response

    def _agproxy_protocol(self) -> Protocol:
        from proxy.server.middlewares import canonical_path  # no import cycle at load

        target = self._agproxy_target.decode("latin-1").split("?", 1)[0]
        return protocol_for_path(canonical_path(target or "/"))


def abandon_body(request: web.BaseRequest) -> None:
    """See `EdgeRequestHandler.abandon_body` (a no-op under another handler)."""
    protocol = request.protocol
    if isinstance(protocol, EdgeRequestHandler):
        protocol.abandon_body()


class EdgeServer(Server):
    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = ConnectionGuard(limits)

    def __call__(self) -> RequestHandler:
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """`web.AppRunner` whose connections are `EdgeRequestHandler`s, with the
    `ConnectionLimits` of the app's ProxyContext (or the defaults)."""

    async def _make_server(self) -> Server:
        from proxy.context import CTX  # proxy.context imports this module

        server = await super()._make_server()
        ctx = self.app.get(CTX)
        limits = ctx.connection_limits if ctx is not None else ConnectionLimits()
        kwargs: dict[str, Any] = dict(server._kwargs)
        # aiohttp's keep-alive timer closes a connection only while it waits for the
        # next request: it is our idle timeout, and never cuts a response.
        kwargs["keepalive_timeout"] = limits.idle_timeout
        edge = EdgeServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            limits=limits,
            **kwargs,
        )
        if ctx is not None:
            ctx.connection_guard = edge.guard
        return edge

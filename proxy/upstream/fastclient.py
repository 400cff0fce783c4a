"""A lean HTTP/1.1 client for the Antigravity / Gemini API hot path (SPEC §16).

aiohttp's client costs ≈ 0.1 ms per call here (request building, a separate body-writer
task on Python 3.11, a Python callback per HTTP chunk before the headers are handed back).
This one is an `asyncio.Protocol` with a keep-alive pool per (scheme, host, port): the
request goes out in one `write()`, the status line and headers are parsed as soon as they
arrive and the body is decoded lazily by the reader (a 500-chunk burst does not delay the
headers). Used by `response.send()` only without an outbound proxy (`UpstreamSessions.client`).

The response offers what `response.py` uses of `aiohttp.ClientResponse`: `status`,
`headers` (a `CIMultiDict`), `read()`, `content.readany()` / `content.iter_any()`,
`release()`, `close()`, `closed`. Errors are `aiohttp.ClientError` subclasses, `OSError`
or `asyncio.TimeoutError`, as aiohttp raises, so callers classify them unchanged.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import Callable, Mapping

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from proxy.upstream.fastbody import HIGH_WATER, FastResponse, expire

SLICED_BODY = 1024 * 1024  # bodies above this are written in slices (no joined copy)
SEND_SLICE = 256 * 1024
KEEPALIVE_S = 30.0  # an idle pooled connection older than this is closed, as aiohttp's pool does
MAX_IDLE = 64  # idle connections kept per host
MAX_CONNECTIONS = 256  # open connections per client, as aiohttp's connector limit
MAX_HEAD = 64 * 1024
_Key = tuple[str, str, int]


class MalformedResponse(aiohttp.ClientConnectionError):
    """The upstream's response head is not HTTP/1.x."""


class _Conn(asyncio.Protocol):
    """One connection: parses the response head, hands raw body bytes to the response."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_gone: Callable[[], None] | None = None) -> None:
        self.loop = loop
        self._on_gone = on_gone  # frees the client's connection slot, once
        self.transport: asyncio.Transport | None = None
        self.resp: FastResponse | None = None  # the response being received
        self.head = bytearray()
        self.head_waiter: asyncio.Future[None] | None = None
        self.lost = False
        self.received = 0  # response bytes seen on this request (0: a retry is safe)
        self.idle_since = 0.0
        self._drain: asyncio.Future[None] | None = None
        self._paused_reading = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        resp = self.resp
        if resp is not None and resp._head_done:
            resp._feed(data)
            if resp._raw_size > HIGH_WATER and not self._paused_reading and self.transport is not None:
                self._paused_reading = True
                self.transport.pause_reading()
            return
        if self.head_waiter is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        self.head += data
        self._parse_head()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.transport = None
        self.gone()
        err = exc if exc is not None else aiohttp.ServerDisconnectedError()
        if self.head_waiter is not None and not self.head_waiter.done():
            self.head_waiter.set_exception(err)
        if self.resp is not None:
            self.resp._raw_eof(err)
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(err)

    def pause_writing(self) -> None:
        self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # -- used by the client and the response ---------------------------------------

    def resume(self) -> None:
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        if self._drain is not None:
            await self._drain
        if self.lost:
            raise aiohttp.ServerDisconnectedError()

    def gone(self) -> None:
        """This connection no longer counts against the client's limit."""
        callback, self._on_gone = self._on_gone, None
        if callback is not None:
            callback()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # no lingering half-read connection (RST, like aiohttp's close)
        self.lost = True

    def fail_head(self, exc: BaseException) -> None:
        if self.head_waiter is not None and not self.head_waiter.done():
            self.head_waiter.set_exception(exc)

    def _parse_head(self) -> None:
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEAD:
                self.fail_head(MalformedResponse("response head too long"))
                self.close()
            return
        raw, rest = bytes(self.head[:end]), bytes(self.head[end + 4:])
        self.head = bytearray()
        try:
            lines = raw.decode("latin-1").split("\r\n")
            version, status_s, *_ = lines[0].split(" ", 2)
            status = int(status_s)
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
            headers: CIMultiDict[str] = CIMultiDict()
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers.add(name.strip(), value.strip())
        except ValueError:
            self.fail_head(MalformedResponse("malformed response head"))
            self.close()
            return
        if 100 <= status < 200:  # an interim answer (100 Continue): the real head follows
            self.head = bytearray(rest)
            if rest:
                self._parse_head()
            return
        assert self.resp is not None
        self.resp._start(status, headers, version == "HTTP/1.1")
        waiter, self.head_waiter = self.head_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if rest:
            if self.resp is not None:
                self.resp._feed(rest)
            else:  # bytes after an empty body: the connection is unusable
                self.close()


class FastClient:
    """Keep-alive HTTP/1.1 POSTs; one instance per upstream kind."""

    def __init__(self, max_connections: int = MAX_CONNECTIONS) -> None:
        self._loop = asyncio.get_running_loop()
        # Bounds the sockets a burst can open to an upstream (idle ones included): past
        # the limit a request waits for a connection to come back or to close.
        self._max = max_connections
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._idle: dict[_Key, list[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._closed = False
        self._urls: dict[str, URL] = {}

    @property
    def closed(self) -> bool:
        return self._closed

    def _put(self, key: _Key, conn: _Conn) -> None:
        if self._closed or conn.lost:
            conn.close()
            return
        idle = self._idle.setdefault(key, [])
        if len(idle) >= MAX_IDLE:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conn.received = 0
        idle.append(conn)
        self._wake()

    def _freed(self) -> None:
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _take(self, key: _Key) -> _Conn | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.lost and now - conn.idle_since < KEEPALIVE_S:
                return conn
            conn.close()
        return None

    async def _connect(self, key: _Key, timeout: float | None) -> _Conn:
        scheme, host, port = key
        ctx: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ctx = self._ssl
        while self._open >= self._max:
            self._close_one_idle()  # an idle socket to another host yields its place
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            if timeout is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, timeout)
            idle = self._take(key)
            if idle is not None:
                return idle
        self._open += 1
        conn = _Conn(self._loop, self._freed)
        coro = self._loop.create_connection(lambda: conn, host, port, ssl=ctx,
                                            server_hostname=host if ctx is not None else None)
        try:
            if timeout is None:
                await coro
            else:
                await asyncio.wait_for(coro, timeout)
        except BaseException:
            conn.gone()  # never connected: connection_lost will not free the slot
            raise
        return conn

    def _close_one_idle(self) -> None:
        for idle in self._idle.values():
            if idle:
                idle.pop(0).close()
                return

    async def post(self, url: str | URL, body: bytes, headers: Mapping[str, str],
                   timeout: aiohttp.ClientTimeout) -> FastResponse:
        """POST and wait for the response head; the body is read from the response."""
        if isinstance(url, str):
            u = self._urls.get(url)
            if u is None:
                u = URL(url)
                if len(self._urls) < 256:
                    self._urls[url] = u
        else:
            u = url
        scheme, host = u.scheme, u.raw_host or ""
        port = u.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
        name = f"[{host}]" if ":" in host else host  # an IPv6 literal
        lines = [f"POST {u.raw_path_qs} HTTP/1.1\r\nHost: {name if default_port else f'{name}:{port}'}\r\n"]
        for k, v in headers.items():
            if "\n" in v or "\r" in v or "\n" in k or "\r" in k:  # no header injection (aiohttp refuses too)
                raise ValueError(f"newline in the upstream request header {k!r}")
            lines.append(f"{k}: {v}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        head = "".join(lines).encode()
        total = timeout.total
        deadline = self._loop.time() + total if total else None
        connect_t = _min(timeout.sock_connect or timeout.connect, total)
        read_t = timeout.sock_read or None
        for attempt in range(2):
            conn = self._take(key)
            if conn is None:
                try:
                    conn = await self._connect(key, connect_t)
                except TimeoutError:
                    raise
                except OSError as exc:
                    raise aiohttp.ClientConnectorError(_ConnKey(host, port, scheme == "https"), exc) from None  # type: ignore[arg-type]
            reused = conn.idle_since > 0  # it came from the pool (it may have gone stale there)
            try:
                return await self._exchange(conn, key, head, body, read_t, deadline)
            except (aiohttp.ServerDisconnectedError, ConnectionResetError, BrokenPipeError):
                # A pooled connection the server closed while idle: it never saw the
                # request (no byte of an answer came), so once more on a fresh one.
                if reused and conn.received == 0 and attempt == 0:
                    continue
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, conn: _Conn, key: _Key, head: bytes, body: bytes, read_t: float | None,
                        deadline: float | None) -> FastResponse:
        resp = FastResponse(self._loop, conn, lambda c: self._put(key, c), read_t, deadline)
        conn.resp = resp
        conn.received = 0
        conn.head_waiter = waiter = self._loop.create_future()
        timeout = read_t
        if deadline is not None:
            left = deadline - self._loop.time()
            timeout = left if timeout is None else min(timeout, left)
        try:
            transport = conn.transport
            if transport is None or conn.lost:
                raise aiohttp.ServerDisconnectedError()
            if len(body) <= SLICED_BODY:
                transport.write(head + body)
            else:
                transport.write(head)
                view = memoryview(body)
                for pos in range(0, len(body), SEND_SLICE):
                    transport.write(view[pos:pos + SEND_SLICE])
                    await conn.drain()
            timer = self._loop.call_later(max(timeout, 0), expire, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
        except BaseException:
            conn.head_waiter = None
            resp.close()
            raise
        return resp

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class _ConnKey:
    """What `aiohttp.ClientConnectorError` reads from its first argument."""

    def __init__(self, host: str, port: int, is_ssl: bool) -> None:
        self.host, self.port, self.ssl = host, port, is_ssl


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)

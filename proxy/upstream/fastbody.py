"""The body side of the lean upstream client (fastclient.py): `FastResponse` holds the
raw bytes the connection received after the response head and decodes them (Content-Length,
chunked, until-close; gzip/deflate if sent anyway) as the reader asks, a few HTTP chunks per
`readany()`, so a burst of events is relayed while the rest is still undecoded."""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from multidict import CIMultiDict

if TYPE_CHECKING:
    from proxy.upstream.fastclient import _Conn

HIGH_WATER = 1024 * 1024  # raw body bytes buffered before the socket is paused
DECODE_CHUNKS = 32  # HTTP chunks decoded per readany(): the first event is relayed before a burst is parsed

_LENGTH, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2
_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class FastResponse:
    """An open response; its body is decoded from the raw bytes as it is read."""

    def __init__(self, loop: asyncio.AbstractEventLoop, conn: _Conn | None, pool: Callable[[_Conn], None] | None,
                 read_timeout: float | None, deadline: float | None) -> None:
        self._loop = loop
        self._pool = pool  # takes the connection back once the body is complete
        self._conn = conn
        self._read_timeout = read_timeout
        self._deadline = deadline  # loop time: the whole attempt (non-stream `total`)
        self.status = 0
        self.reason = ""
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.content = self  # aiohttp's `resp.content.readany()` shape
        self.closed = False
        self._head_done = False
        self._keep_alive = False
        self._mode = _UNTIL_CLOSE
        self._left = 0  # content-length bytes, or the current chunk's, still to come
        self._state = _SIZE
        self._line = b""  # a partial chunk-size / trailer line
        self._raw: deque[bytes] = deque()
        self._raw_size = 0
        self._raw_pos = 0  # consumed bytes of _raw[0]
        self._raw_done = False  # the connection ended (or failed: _error)
        self._error: BaseException | None = None
        self._eof = False  # the whole body was decoded
        self._waiter: asyncio.Future[None] | None = None
        self._unzip: Any = None

    # -- fed by the connection -------------------------------------------------------

    def _start(self, status: int, headers: CIMultiDict[str], http11: bool) -> None:
        self.status, self.headers, self._head_done = status, headers, True
        conn_tokens = headers.get("Connection", "").lower()
        self._keep_alive = http11 and "close" not in conn_tokens
        if status in (204, 304):
            self._mode, self._left = _LENGTH, 0
        elif "chunked" in headers.get("Transfer-Encoding", "").lower():
            self._mode = _CHUNKED
        elif "Content-Length" in headers:
            self._mode = _LENGTH
            try:
                self._left = int(headers["Content-Length"])
            except ValueError:
                self._mode, self._keep_alive = _UNTIL_CLOSE, False
        else:
            self._mode, self._keep_alive = _UNTIL_CLOSE, False
        enc = headers.get("Content-Encoding", "").lower().strip()
        if enc in ("gzip", "x-gzip", "deflate"):  # not asked for (no Accept-Encoding), but undone if sent
            self._unzip = zlib.decompressobj(zlib.MAX_WBITS | 32)
        if self._mode == _LENGTH and self._left == 0:
            self._finish()

    def _feed(self, data: bytes) -> None:
        self._raw.append(data)
        self._raw_size += len(data)
        self._wake()

    def _raw_eof(self, exc: BaseException) -> None:
        if not self._raw_done:
            self._raw_done = True
            self._error = exc
            self._conn = None
            self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- decoding --------------------------------------------------------------------

    def _decode(self, limit: int) -> list[bytes]:
        """Body bytes from the raw buffer (at most `limit` HTTP chunks' data)."""
        out: list[bytes] = []
        raw = self._raw
        while raw and not self._eof:
            data, pos = raw[0], self._raw_pos
            if self._mode == _CHUNKED:
                pos = self._dechunk(data, pos, out)
            else:
                piece = data[pos:] if pos else data
                pos = len(data)
                if self._mode == _LENGTH:
                    if len(piece) > self._left:  # bytes after the body: drop them, do not reuse
                        piece, self._keep_alive = piece[:self._left], False
                    self._left -= len(piece)
                    if self._left == 0:
                        self._finish()
                out.append(piece)
            if pos >= len(data):
                raw.popleft()
                self._raw_size -= len(data)
                self._raw_pos = 0
            else:
                self._raw_pos = pos
            if len(out) >= limit:
                break
        if self._conn is not None and self._raw_size < HIGH_WATER:
            self._conn.resume()
        if self._unzip is not None and out:
            out = [self._unzip.decompress(b"".join(out))]
        return out

    def _dechunk(self, data: bytes, pos: int, out: list[bytes]) -> int:
        """Decode chunked bytes from `pos` into `out` until one chunk's data is out or
        `data` is used up; returns the new position."""
        n = len(data)
        while pos < n:
            st = self._state
            if st == _DATA:
                take = min(self._left, n - pos)
                out.append(data[pos:pos + take] if take < n else data)
                pos += take
                self._left -= take
                if self._left == 0:
                    self._state = _DATA_END
                    return pos
            elif st == _DATA_END:  # the CRLF after a chunk's data, possibly split across reads
                take = 2 - len(self._line)
                self._line += data[pos:pos + take]
                pos = min(pos + take, n)
                if len(self._line) < 2:
                    return pos
                if self._line != b"\r\n":
                    raise aiohttp.ClientPayloadError("malformed chunk end")
                self._line, self._state = b"", _SIZE
            else:  # _SIZE or _TRAILER: a line
                eol = data.find(b"\n", pos)
                if eol < 0:
                    self._line += data[pos:]
                    if len(self._line) > 8192:
                        raise aiohttp.ClientPayloadError("chunk size line too long")
                    return n
                line = (self._line + data[pos:eol]).rstrip(b"\r") if self._line else data[pos:eol].rstrip(b"\r")
                self._line = b""
                pos = eol + 1
                if st == _SIZE:
                    try:
                        size = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        raise aiohttp.ClientPayloadError("malformed chunk size") from None
                    if size < 0:
                        raise aiohttp.ClientPayloadError("malformed chunk size")
                    if size == 0:
                        self._state = _TRAILER
                    else:
                        self._state, self._left = _DATA, size
                elif not line:  # the blank line after the trailers: the body is complete
                    self._state = _DONE
                    if pos < n or len(self._raw) > 1:
                        self._keep_alive = False  # bytes after the body: do not reuse
                    self._finish()
                    return n
        return pos

    def _finish(self) -> None:
        """The whole body is in: the connection goes back to the pool (or closes)."""
        self._eof = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.resp = None
            if self._keep_alive and self._pool is not None:
                self._pool(conn)
            else:
                conn.close()

    # -- the aiohttp-shaped API -------------------------------------------------------

    async def readany(self) -> bytes:
        """The next decoded body bytes; b"" at the end of the body."""
        while True:
            try:
                out = self._decode(DECODE_CHUNKS)
            except aiohttp.ClientPayloadError:
                self.close()
                raise
            if out:
                return out[0] if len(out) == 1 else b"".join(out)
            if self._eof:
                if self._unzip is not None:
                    tail, self._unzip = self._unzip.flush(), None
                    if tail:
                        return tail
                return b""
            if self._raw_done:
                if self._mode == _UNTIL_CLOSE and isinstance(self._error, aiohttp.ServerDisconnectedError):
                    self._eof = True
                    continue
                self.close()
                raise aiohttp.ClientPayloadError(f"response payload is not completed ({type(self._error).__name__})")
            await self._wait()

    async def iter_any(self) -> AsyncIterator[bytes]:
        while data := await self.readany():
            yield data

    async def read(self) -> bytes:
        parts: list[bytes] = []
        while data := await self.readany():
            parts.append(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _wait(self) -> None:
        loop = self._loop
        timeout = self._read_timeout
        if self._deadline is not None:
            left = self._deadline - loop.time()
            timeout = left if timeout is None else min(timeout, left)
            if left <= 0:
                self.close()
                raise TimeoutError()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(timeout, expire, waiter) if timeout is not None else None
        try:
            await waiter
        except BaseException:  # timeout or cancelled reader: the connection cannot be reused
            self.close()
            raise
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def release(self) -> None:
        """Done with the response: the connection is pooled if the body was read to its
        end (or already is in the buffer), closed otherwise."""
        if self.closed:
            return
        if not self._eof and self._conn is not None:
            try:
                while self._raw and not self._eof:
                    self._decode(1 << 30)
            except aiohttp.ClientPayloadError:
                pass
        self.close()

    def close(self) -> None:
        self.closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.resp = None
            conn.close()
        self._raw.clear()
        self._raw_size = 0


def expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())

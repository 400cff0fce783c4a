"""The lean HTTP/1.1 upstream client (proxy/upstream/fastclient.py) against raw asyncio
servers that write exactly the bytes each test needs."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from typing import Self

import aiohttp
import pytest

from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.fastbody import FastResponse
from proxy.upstream.fastclient import FastClient
from proxy.upstream.response import ChunkStream, send
from tests.fakes.harness import Harness

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
NON_STREAM = aiohttp.ClientTimeout(total=5)


class RawServer:
    """Reads one request at a time and lets the handler answer; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1/x:y?alt=sse"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        conn_no = self.connections
        try:
            await self.handler(reader, writer, conn_no)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()
            writer.close()


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def keep_answering(server_ref: list[RawServer], reply: Callable[[bytes], bytes]) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        while True:
            body = await server_ref[0].read_request(reader)
            writer.write(reply(body or b""))
            await writer.drain()
    return handler


async def echo_server() -> RawServer:
    ref: list[RawServer] = []
    server = RawServer(await keep_answering(ref, lambda body: answer(b"echo:" + body)))
    ref.append(server)
    return server


# -- the chunked decoder ----------------------------------------------------------------


async def feed_read(raw: bytes, cuts: list[int]) -> FastResponse:
    resp = FastResponse(asyncio.get_running_loop(), None, None, None, None)
    resp._start(200, __import__("multidict").CIMultiDict({"Transfer-Encoding": "chunked"}), True)
    prev = 0
    for cut in [*cuts, len(raw)]:
        if cut > prev:
            resp._feed(raw[prev:cut])
        prev = cut
    return resp


async def test_chunked_body_split_at_every_boundary():
    body_pieces = [b"data: {\"a\":1}\r\n\r\n", b"x" * 17, b"data: end\r\n\r\n"]
    raw = chunked(*body_pieces) + b""
    want = b"".join(body_pieces)
    for i in range(len(raw) + 1):
        for j in range(i, len(raw) + 1, 7):
            resp = await feed_read(raw, [i, j])
            resp._raw_done = True  # nothing more will come; the body must be complete anyway
            resp._error = aiohttp.ServerDisconnectedError()
            assert await resp.read() == want, (i, j)
            assert resp._eof


async def test_chunked_body_byte_by_byte_with_extensions_and_trailers():
    raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    resp = await feed_read(raw, list(range(1, len(raw))))
    assert await resp.read() == b"hello world"


async def test_readany_hands_out_a_burst_a_few_chunks_at_a_time():
    raw = chunked(*[b"data: %d\r\n\r\n" % i for i in range(500)])
    resp = await feed_read(raw, [])
    first = await resp.readany()
    assert first.startswith(b"data: 0\r\n\r\n") and len(first) < 1000
    rest = await resp.read()
    assert (first + rest).count(b"data: ") == 500


async def test_malformed_chunk_size_fails_the_read():
    resp = await feed_read(b"zz\r\nhello\r\n0\r\n\r\n", [])
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


# -- over the network -------------------------------------------------------------------


async def test_content_length_answer_and_keep_alive_reuse():
    async with await echo_server() as server:
        client = FastClient()
        try:
            for i in range(3):
                resp = await client.post(server.url, b"req%d" % i, {"X-Test": "1"}, NON_STREAM)
                assert resp.status == 200 and await resp.read() == b"echo:req%d" % i
                resp.release()
            assert server.connections == 1
            head = server.requests[0].split(b"\r\n\r\n")[0].lower()
            assert b"post /v1/x:y?alt=sse http/1.1" in head and b"x-test: 1" in head
            assert b"accept-encoding" not in head and b"content-length: 4" in head
        finally:
            await client.close()


async def test_unread_body_is_not_reused():
    async def handler(reader, writer, _n):
        await server.read_request(reader)
        writer.write(CHUNKED_HEAD + b"3\r\nabc\r\n")
        await writer.drain()
        await reader.read()  # until the client goes
    async with RawServer(handler) as server:
        client = FastClient()
        resp = await client.post(server.url, b"x", {}, NON_STREAM)
        resp.release()  # body not complete: the connection must close, not be pooled
        await asyncio.wait_for(server.closed.wait(), 2)
        assert not client._idle.get(("http", "127.0.0.1", server.server.sockets[0].getsockname()[1]))
        await client.close()


async def test_connection_close_answer_is_not_reused():
    ref: list[RawServer] = []
    server = RawServer(await keep_answering(ref, lambda body: answer(b"ok", b"Connection: close\r\n")))
    ref.append(server)
    async with server:
        client = FastClient()
        for _ in range(2):
            resp = await client.post(server.url, b"x", {}, NON_STREAM)
            assert await resp.read() == b"ok"
            resp.release()
        assert server.connections == 2
        await client.close()


async def test_idle_pooled_connection_closed_by_the_server_is_retried_on_a_fresh_one():
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(answer(b"first" if n == 1 else b"fresh"))
        await writer.drain()
        if n == 1:
            # The next request on this connection arrives, but the server had already
            # decided to drop it (an idle timeout racing the request): no answer.
            await server.read_request(reader)
            return
        await asyncio.sleep(5)
    async with RawServer(handler) as server:
        client = FastClient()
        resp = await client.post(server.url, b"a", {}, NON_STREAM)
        assert await resp.read() == b"first"
        resp = await client.post(server.url, b"b", {}, NON_STREAM)
        assert await resp.read() == b"fresh"
        assert server.connections == 2
        await client.close()


async def test_server_closing_an_idle_connection_is_noticed_before_reuse():
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(answer(b"n%d" % n))
        await writer.drain()
    async with RawServer(handler) as server:
        client = FastClient()
        for i in (1, 2):
            resp = await client.post(server.url, b"a", {}, NON_STREAM)
            assert await resp.read() == b"n%d" % i
            await asyncio.sleep(0.05)  # the server's close arrives while pooled
        await client.close()


async def test_timeout_waiting_for_the_head_and_between_chunks():
    async def handler(reader, writer, n):
        await server.read_request(reader)
        if n == 2:
            writer.write(CHUNKED_HEAD + b"3\r\nabc\r\n")
            await writer.drain()
        await asyncio.sleep(5)
    async with RawServer(handler) as server:
        client = FastClient()
        with pytest.raises(asyncio.TimeoutError):
            await client.post(server.url, b"x", {}, aiohttp.ClientTimeout(total=0.2))
        stream_t = aiohttp.ClientTimeout(total=None, connect=1, sock_connect=1, sock_read=0.2)
        resp = await client.post(server.url, b"x", {}, stream_t)
        assert await resp.readany() == b"abc"
        with pytest.raises(asyncio.TimeoutError):
            await resp.readany()
        assert resp.closed
        await client.close()


async def test_cancelled_reader_closes_the_connection():
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(CHUNKED_HEAD + b"3\r\nabc\r\n")
        await writer.drain()
        assert await reader.read() == b""  # the client's disconnect
        disconnected.set()
    disconnected = asyncio.Event()
    async with RawServer(handler) as server:
        client = FastClient()
        resp = await client.post(server.url, b"x", {}, aiohttp.ClientTimeout(total=None, sock_read=5))
        assert await resp.readany() == b"abc"
        task = asyncio.create_task(resp.readany())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(disconnected.wait(), 2)
        await client.close()


async def test_cut_stream_is_a_payload_error():
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(CHUNKED_HEAD + b"3\r\nabc\r\n")
        await writer.drain()
    async with RawServer(handler) as server:
        client = FastClient()
        resp = await client.post(server.url, b"x", {}, NON_STREAM)
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
        await client.close()


async def test_gzip_body_is_decompressed_and_large_request_arrives_whole():
    big = bytes(range(256)) * (5 * 1024 * 4 + 3)  # > 1 MiB: written in slices
    ref: list[RawServer] = []
    server = RawServer(await keep_answering(ref, lambda body: answer(
        gzip.compress(b"%d" % len(body)), b"Content-Encoding: gzip\r\n")))
    ref.append(server)
    async with server:
        client = FastClient()
        resp = await client.post(server.url, big, {}, NON_STREAM)
        assert await resp.read() == b"%d" % len(big)
        assert server.requests[0].endswith(big)
        await client.close()


async def test_send_classifies_errors_with_their_headers():
    ref: list[RawServer] = []
    body = b'{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}'
    server = RawServer(await keep_answering(ref, lambda _b: b"HTTP/1.1 429 Too Many\r\nretry-after: 7\r\n"
                                            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)))
    ref.append(server)
    async with server:
        client = FastClient()
        with pytest.raises(UpstreamError) as info:
            await send(client, server.url, b"{}", {}, proxy=None, timeout=NON_STREAM)
        assert info.value.status == 429 and info.value.retry_after == 7
        await client.close()


async def test_connect_failure_is_a_transport_error():
    client = FastClient()
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(UpstreamError) as info:
        await send(client, f"http://127.0.0.1:{port}/x", b"{}", {}, proxy=None, timeout=NON_STREAM)
    assert info.value.kind is UpstreamErrorKind.TRANSPORT
    await client.close()


async def test_sessions_use_the_lean_client_only_without_a_proxy(harness: Harness):
    assert isinstance(harness.sessions.client("antigravity"), FastClient)
    assert isinstance(harness.sessions.client("gemini"), FastClient)
    assert isinstance(harness.sessions.client("zai"), aiohttp.ClientSession)
    acc = harness.add_antigravity("a")
    stream = await harness.dispatcher.antigravity.stream(acc, "gemini-2.5-pro",
                                                         {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert isinstance(stream, ChunkStream) and [c async for c in stream]
    harness.sessions.fast = False
    assert isinstance(harness.sessions.client("antigravity"), aiohttp.ClientSession)
    harness.sessions.fast = True
    cfg = harness.config
    cfg.upstream.proxy_url = "http://127.0.0.1:1"
    harness.sessions.apply(cfg)
    assert isinstance(harness.sessions.client("antigravity"), aiohttp.ClientSession)


async def test_newline_in_a_header_is_refused():
    client = FastClient()
    with pytest.raises(ValueError):
        await client.post("http://127.0.0.1:9/x", b"{}", {"Authorization": "Bearer a\r\nX-Evil: 1"}, NON_STREAM)
    await client.close()


async def test_a_burst_opens_no_more_connections_than_the_limit():
    """Six concurrent slow requests with a limit of two: two sockets at a time, all answered."""
    open_now = 0
    most = 0

    async def handler(reader, writer, _n):
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            while True:
                body = await server.read_request(reader)
                await asyncio.sleep(0.05)
                writer.write(answer(b"ok:" + (body or b"")))
                await writer.drain()
        finally:
            open_now -= 1

    async with RawServer(handler) as server:
        client = FastClient(max_connections=2)
        try:

            async def one(i: int) -> bytes:
                resp = await client.post(server.url, b"%d" % i, {}, NON_STREAM)
                data = await resp.read()
                resp.release()
                return data

            answers = await asyncio.gather(*(one(i) for i in range(6)))
            assert sorted(answers) == sorted(b"ok:%d" % i for i in range(6))
            assert most == 2 and server.connections == 2
        finally:
            await client.close()

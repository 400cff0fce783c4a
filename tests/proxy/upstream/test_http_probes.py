"""The one upstream HTTP client (UpstreamSessions + response.send, SPEC §6.4) probed with
raw asyncio servers on 127.0.0.1 that write exactly the bytes each edge case needs:
no resend of a request that may have reached the server, early answers read, strict
framing, decompression faults classified, happy eyeballs and a connect timeout, the
outbound proxy path, the request timeout and cancellation."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Self

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from proxy.config.model import Config
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.response import ChunkStream, read_json, send
from tests.fakes.socks5 import Socks5Proxy

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
FINISHED = b'data: {"response":{"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"STOP"}]}}\r\n\r\n'


class RawServer:
    """Hands each connection to `handler` (with its number); records every request read."""

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
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1internal:streamGenerateContent?alt=sse"

    async def read_head(self, reader: asyncio.StreamReader) -> tuple[bytes, int]:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return head, length

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head, length = await self.read_head(reader)
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await self.handler(reader, writer, self.connections)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()
            writer.close()


def answer(body: bytes, extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashing server or a middlebox does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()


@pytest.fixture
async def sessions():
    s = UpstreamSessions(Config())
    yield s
    await s.close()


async def post(sessions: UpstreamSessions, url: str, body: bytes = b"{}", *, stream: bool = False,
               kind: Any = "antigravity") -> Any:
    return await send(sessions.get(kind), url, body, {"Content-Type": "application/json"},
                      proxy=sessions.http_proxy, timeout=sessions.timeout(stream))


async def failure(sessions: UpstreamSessions, url: str, body: bytes = b"{}") -> UpstreamError:
    """What a non-stream Antigravity call ends with: send, then read the whole SSE body."""
    with pytest.raises(UpstreamError) as info:
        resp = await post(sessions, url, body)
        await ChunkStream(resp, unwrap=True).read_all()
    return info.value


async def test_upstream_requests_ask_for_no_compression_and_carry_no_library_user_agent(sessions):
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(answer(FINISHED))
        await writer.drain()

    async with RawServer(handler) as server:
        resp = await post(sessions, server.url)
        assert len(await ChunkStream(resp, unwrap=True).read_all()) == 1
    head = server.requests[0].split(b"\r\n\r\n")[0].lower()
    assert b"\r\naccept-encoding:" not in head
    assert b"aiohttp" not in head and b"python" not in head


# -- never resend a request that may have reached the server -----------------------------


async def test_post_reset_after_the_server_read_it_on_a_reused_connection_is_not_sent_again(sessions):
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(answer(FINISHED))  # the first call: answered, the connection is pooled
        await writer.drain()
        await server.read_request(reader)  # the second call arrives on the pooled connection...
        reset(writer)  # ...and the connection dies before an answer

    async with RawServer(handler) as server:
        resp = await post(sessions, server.url, b'{"n":1}')
        assert len(await ChunkStream(resp, unwrap=True).read_all()) == 1
        err = await failure(sessions, server.url, b'{"n":2}')
        await asyncio.sleep(0.05)  # a resend would be on its way by now
    assert err.kind is UpstreamErrorKind.TRANSPORT and err.may_have_run
    assert "not sent again" in err.message
    assert [r.endswith(b'{"n":2}') for r in server.requests] == [False, True]  # the second one exactly once
    assert server.connections == 1


async def test_post_reset_on_a_fresh_connection_is_not_sent_again(sessions):
    async def handler(reader, writer, n):
        await server.read_request(reader)
        reset(writer)

    async with RawServer(handler) as server:
        err = await failure(sessions, server.url)
        await asyncio.sleep(0.05)
    assert err.kind is UpstreamErrorKind.TRANSPORT and err.may_have_run
    assert len(server.requests) == 1 and server.connections == 1


async def test_server_closing_an_idle_pooled_connection_is_noticed_and_the_next_call_uses_a_fresh_one(sessions):
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(answer(FINISHED))
        await writer.drain()  # then close: an idle timeout on the server's side

    async with RawServer(handler) as server:
        for _ in range(2):
            resp = await post(sessions, server.url)
            assert len(await ChunkStream(resp, unwrap=True).read_all()) == 1
            await asyncio.wait_for(server.closed.wait(), 2)
            server.closed.clear()
            await asyncio.sleep(0.02)  # the FIN reaches the pooled connection
    assert len(server.requests) == 2 and server.connections == 2


async def test_refused_connect_never_sent_the_request(sessions):
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    err = await failure(sessions, f"http://127.0.0.1:{port}/v1internal:x")
    assert err.kind is UpstreamErrorKind.TRANSPORT and not err.may_have_run


# -- an early answer is read, not mistaken for a reset ----------------------------------

TOO_LARGE = b'{"error":{"code":413,"message":"Request payload size exceeds the limit","status":"INVALID_ARGUMENT"}}'


@pytest.mark.parametrize("linger", [True, False], ids=["drains-then-closes", "closes-at-once"])
async def test_early_413_during_a_large_upload_is_the_answer(sessions, linger):
    got = 0

    async def handler(reader, writer, n):
        nonlocal got
        await server.read_head(reader)
        writer.write(answer(TOO_LARGE, b"Content-Type: application/json\r\nConnection: close\r\n",
                            b"413 Request Entity Too Large"))
        await writer.drain()
        if linger:  # a polite server reads (and drops) the rest before closing
            while chunk := await reader.read(1 << 20):
                got += len(chunk)

    big = b"x" * (24 * 1024 * 1024)  # far more than the socket buffers take: still uploading at the 413
    async with RawServer(handler) as server:
        with pytest.raises(UpstreamError) as info:
            await post(sessions, server.url, big)
    err = info.value
    assert err.status == 413, err
    assert "payload size exceeds" in err.message
    assert server.connections == 1


# -- strict framing from llhttp; decompression faults are upstream faults -------------------

CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
    CHUNKED + b"\r\n0x5\r\nhello\r\n0\r\n\r\n",
    CHUNKED + b"\r\n-5\r\nhello\r\n0\r\n\r\n",
    CHUNKED + b"\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Broken-Header\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
], ids=["conflicting-length", "negative-length", "listed-lengths", "hex-prefixed-chunk-size",
        "negative-chunk-size", "garbage-chunk-size", "header-without-colon", "length-and-chunked", "bad-status"])
async def test_malformed_framing_is_an_upstream_transport_error(sessions, raw):
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(raw)
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as server:
        err = await failure(sessions, server.url)
    assert err.kind is UpstreamErrorKind.TRANSPORT and err.status == 0
    assert err.may_have_run  # the server read the request: whatever it sent back, it is not resent
    assert err.to_api_error().status == 502


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate", b"br"])
async def test_body_that_does_not_decompress_is_an_upstream_error(sessions, encoding):
    body = FINISHED + b"not compressed at all"

    async def handler(reader, writer, n):
        while True:
            await server.read_request(reader)
            writer.write(answer(body, b"Content-Encoding: %s\r\n" % encoding))
            await writer.drain()

    async with RawServer(handler) as server:
        err = await failure(sessions, server.url)  # the non-stream read
        assert err.kind is UpstreamErrorKind.TRANSPORT
        with pytest.raises(UpstreamError) as info:  # the streamed read
            resp = await post(sessions, server.url, stream=True)
            _ = [c async for c in ChunkStream(resp, unwrap=True)]
        assert info.value.kind is UpstreamErrorKind.TRANSPORT
        with pytest.raises(UpstreamError) as info:  # a JSON call (countTokens)
            await read_json(await post(sessions, server.url), unwrap=True)
        assert info.value.kind is UpstreamErrorKind.TRANSPORT


async def test_error_answer_that_does_not_decompress_is_still_classified_by_its_status(sessions):
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(answer(b"garbage", b"Content-Encoding: gzip\r\n", b"503 Service Unavailable"))
        await writer.drain()

    async with RawServer(handler) as server:
        with pytest.raises(UpstreamError) as info:
            await post(sessions, server.url)
    assert info.value.status == 503 and info.value.kind is UpstreamErrorKind.CAPACITY


# -- connects: happy eyeballs and a connect timeout -----------------------------------------


class Blackhole:
    """A listener on 127.0.0.1 whose accept queue is full: the kernel drops further SYNs,
    so a connect to it hangs like one to a black-holed route (no traffic leaves the host)."""

    async def __aenter__(self) -> Self:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(4):  # a backlog of 0 still queues one or two; fill them
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):  # the premise: a new connect gets no answer
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 0.3)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for s in self.fillers:
            s.close()
        self.sock.close()


class Resolver(AbstractResolver):
    """`dualstack.test` resolves to the given (address, port) pairs, in order."""

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        assert host == "dualstack.test"
        return [ResolveResult(hostname=host, host=a, port=p, family=socket.AF_INET, proto=0,
                              flags=socket.AI_NUMERICHOST) for a, p in self.addresses]

    async def close(self) -> None:
        pass


async def echo_handler_for(server_ref: list[RawServer]) -> Handler:
    async def handler(reader, writer, n):
        while True:
            await server_ref[0].read_request(reader)
            writer.write(answer(FINISHED))
            await writer.drain()
    return handler


async def test_a_silent_first_address_is_passed_over_by_happy_eyeballs():
    ref: list[RawServer] = []
    async with Blackhole() as hole, RawServer(await echo_handler_for(ref)) as server:
        ref.append(server)
        sessions = UpstreamSessions(Config(), connect_timeout=60,
                                    resolver=Resolver([("127.0.0.1", hole.port), ("127.0.0.1", server.port)]))
        try:
            # Without happy eyeballs this waits for the 60 s connect timeout of the first address.
            resp = await asyncio.wait_for(post(sessions, "http://dualstack.test/v1internal:x"), 10)
            assert len(await ChunkStream(resp, unwrap=True).read_all()) == 1
        finally:
            await sessions.close()
    assert len(server.requests) == 1


async def test_connect_to_a_black_hole_times_out_as_unreachable_and_unsent():
    async with Blackhole() as hole:
        sessions = UpstreamSessions(Config(), connect_timeout=0.3, resolver=Resolver([("127.0.0.1", hole.port)]))
        try:
            err = await asyncio.wait_for(failure(sessions, "http://dualstack.test/v1internal:x"), 10)
        finally:
            await sessions.close()
    assert err.kind is UpstreamErrorKind.TIMEOUT and not err.may_have_run
    assert err.message == "connect timed out"
    assert err.to_api_error().status == 504


async def test_connect_timeout_is_bounded_separately_from_the_request_timeout():
    cfg = Config()
    cfg.proxy.request_timeout = 600
    sessions = UpstreamSessions(cfg)
    assert sessions.timeout().sock_connect == 10 and sessions.timeout().total == 600
    assert sessions.timeout(stream=True).sock_connect == 10 and sessions.timeout(stream=True).sock_read == 600
    connector = sessions.get("gemini").connector
    assert connector is not None and connector._happy_eyeballs_delay == 0.25  # type: ignore[attr-defined]
    await sessions.close()


# -- the request timeout and cancellation ------------------------------------------------


async def test_no_answer_within_the_request_timeout_is_a_timeout_that_may_have_run():
    cfg = Config()
    cfg.proxy.request_timeout = 0.3  # below the config's own floor: only a test does this
    sessions = UpstreamSessions(cfg)

    async def handler(reader, writer, n):
        await server.read_request(reader)
        await reader.read()

    try:
        async with RawServer(handler) as server:
            err = await failure(sessions, server.url)
    finally:
        await sessions.close()
    assert err.kind is UpstreamErrorKind.TIMEOUT and err.may_have_run
    assert len(server.requests) == 1


async def test_cancelling_the_reader_of_a_stream_drops_the_upstream_connection(sessions):
    gone = asyncio.Event()

    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(CHUNKED + b"\r\n" + b"%x\r\n%s\r\n" % (len(FINISHED), FINISHED.replace(b'"STOP"', b'null')))
        await writer.drain()
        assert await reader.read() == b""  # the proxy went away
        gone.set()

    async with RawServer(handler) as server:
        stream = ChunkStream(await post(sessions, server.url, stream=True), unwrap=True)
        assert (await stream.__anext__())["candidates"]
        task = asyncio.create_task(stream.__anext__())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stream.close()  # what UpstreamStream does when its consumer is cancelled
        await asyncio.wait_for(gone.wait(), 5)


# -- the outbound proxy path: the same semantics through SOCKS5 -----------------------------


async def test_through_a_socks5_proxy_a_reset_after_sending_is_not_sent_again():
    async def handler(reader, writer, n):
        await server.read_request(reader)
        reset(writer)

    async with RawServer(handler) as server, Socks5Proxy(hosts={"upstream.internal": ("127.0.0.1", server.port)}) as socks:
        cfg = Config()
        cfg.upstream.proxy_url = socks.url
        sessions = UpstreamSessions(cfg)
        try:
            err = await failure(sessions, "http://upstream.internal/v1internal:x")
            await asyncio.sleep(0.05)
        finally:
            await sessions.close()
    assert err.kind is UpstreamErrorKind.TRANSPORT and err.may_have_run
    assert len(server.requests) == 1 and socks.connects == [("upstream.internal", 80)]


async def test_an_unreachable_socks_proxy_is_a_transport_error_before_sending():
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    cfg = Config()
    cfg.upstream.proxy_url = f"socks5://127.0.0.1:{port}"
    sessions = UpstreamSessions(cfg)
    try:
        err = await failure(sessions, "http://upstream.internal/v1internal:x")
    finally:
        await sessions.close()
    assert err.kind is UpstreamErrorKind.TRANSPORT and not err.may_have_run


async def test_a_socks_proxy_dropping_the_handshake_is_a_transport_error_before_sending():
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    # The proxy cannot reach the target and hangs up mid-handshake.
    async with Socks5Proxy(hosts={"nowhere.internal": ("127.0.0.1", port)}) as socks:
        cfg = Config()
        cfg.upstream.proxy_url = socks.url
        sessions = UpstreamSessions(cfg)
        try:
            err = await failure(sessions, "http://nowhere.internal/v1internal:x")
        finally:
            await sessions.close()
    assert err.kind is UpstreamErrorKind.TRANSPORT and not err.may_have_run


async def test_through_an_http_proxy_an_early_answer_is_read():
    """An http:// proxy gets the absolute URL; its own refusal (a 407/403) is its answer."""
    async def handler(reader, writer, n):
        head, _ = await server.read_head(reader)
        server.requests.append(head)
        writer.write(answer(b'{"error":{"code":403,"message":"proxy says no"}}', b"Connection: close\r\n",
                            b"403 Forbidden"))
        await writer.drain()

    async with RawServer(handler) as server:
        cfg = Config()
        cfg.upstream.proxy_url = f"http://127.0.0.1:{server.port}"
        sessions = UpstreamSessions(cfg)
        try:
            with pytest.raises(UpstreamError) as info:
                await post(sessions, "http://upstream.internal/v1internal:x", b"y" * 100_000)
        finally:
            await sessions.close()
    assert info.value.status == 403 and "proxy says no" in info.value.message
    assert server.requests[0].startswith(b"POST http://upstream.internal/v1internal:x HTTP/1.1")


# -- what the callers do with it: no other endpoint, no other account ----------------------


async def test_a_generation_reset_after_it_was_sent_runs_once_not_on_every_endpoint_and_account(harness):
    from proxy.dispatch import UpstreamCall
    from proxy.errors import ApiError

    async def handler(reader, writer, n):
        await server.read_request(reader)
        reset(writer)

    async with RawServer(handler) as server:
        base = f"http://127.0.0.1:{server.port}"
        harness.config.upstream.antigravity_endpoints = [f"{base}/one/v1internal", f"{base}/two/v1internal"]
        harness.add_antigravity("a")
        harness.add_antigravity("b")
        call = UpstreamCall(model="gemini-2.5-pro", request={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        with pytest.raises(ApiError) as info:
            await harness.dispatcher.generate(call)
        await asyncio.sleep(0.05)
    generations = [r for r in server.requests if b":streamGenerateContent" in r.split(b"\r\n", 1)[0]]
    assert len(generations) == 1  # one endpoint, one account: the generation ran at most once
    assert info.value.status == 502 and "not sent again" in info.value.message


async def test_a_refused_connect_still_moves_to_the_next_endpoint(harness):
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    closed = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    acc = harness.add_antigravity("a")
    harness.config.upstream.antigravity_endpoints = [f"http://127.0.0.1:{closed}/v1internal",
                                                     f"{harness.fake.url}/v1internal"]
    resp = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro",
                                                          {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert resp["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi"


# -- the same edge cases through the production path (AntigravityClient over the sessions) ----

GEN_REQ = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


# Each answer is a complete, finished event stream to a lenient reader: only strict framing
# (and a real decompression check) turns it into the error it is.
_N = len(FINISHED)


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n%sx" % (_N, _N + 1, FINISHED),
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n" + FINISHED,
    CHUNKED + b"\r\n0x%x\r\n%s\r\n0\r\n\r\n" % (_N, FINISHED),
    b"HTTP/1.1 200 OK\r\nX-Broken-Header\r\nContent-Length: %d\r\n\r\n%s" % (_N, FINISHED),
    answer(FINISHED, b"Content-Encoding: gzip\r\n"),
], ids=["conflicting-length", "negative-length", "hex-prefixed-chunk-size", "header-without-colon", "bad-gzip"])
async def test_a_broken_answer_to_a_generation_is_an_upstream_error_sent_once(harness, raw):
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(raw)
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as server:
        base = f"http://127.0.0.1:{server.port}"
        harness.config.upstream.antigravity_endpoints = [f"{base}/one/v1internal", f"{base}/two/v1internal"]
        acc = harness.add_antigravity("a")
        with pytest.raises(UpstreamError) as info:
            await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", GEN_REQ)
    assert info.value.kind is UpstreamErrorKind.TRANSPORT and info.value.may_have_run
    assert len(server.requests) == 1


async def test_an_early_413_to_a_large_generation_is_the_answer_not_a_reset(harness):
    async def handler(reader, writer, n):
        await server.read_head(reader)
        server.requests.append(b"head")
        writer.write(answer(TOO_LARGE, b"Content-Type: application/json\r\nConnection: close\r\n",
                            b"413 Request Entity Too Large"))
        await writer.drain()

    async with RawServer(handler) as server:
        harness.config.upstream.antigravity_endpoints = [f"http://127.0.0.1:{server.port}/v1internal"]
        acc = harness.add_antigravity("a")
        big = {"contents": [{"role": "user", "parts": [{"text": "x" * (24 * 1024 * 1024)}]}]}
        with pytest.raises(UpstreamError) as info:
            await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", big)
    assert info.value.status == 413 and "payload size exceeds" in info.value.message
    assert server.requests == [b"head"]

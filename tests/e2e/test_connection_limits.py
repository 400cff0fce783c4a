"""Slowloris and open connections (issue 11): a request's head must arrive within the
header timeout, a body may not stall, an idle keep-alive connection is closed, and one
address holds a bounded number of connections. Real clients are not affected: a
keep-alive SDK client keeps its connection across short pauses, a stream longer than
every timeout is not cut, and an upload that keeps moving is not cut.

The limits are shrunk (`FAST`) so the tests run in about a second each; raw sockets
play the hostile clients, the official SDKs and aiohttp the real ones."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

import aiohttp
import pytest

from proxy import jsoncodec
from proxy.server.connection import ConnectionGuard, ConnectionLimits
from tests.e2e.conftest import E2E, E2EFactory
from tests.fakes.replies import Reply

FAST = ConnectionLimits(
    header_timeout=0.3, body_stall_timeout=0.3, idle_timeout=0.6, max_per_address=2, max_per_loopback=3
)
CHAT = "/v1/chat/completions"
PATHS = {
    "openai": CHAT,
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/gemini-2.5-flash:generateContent",
}
BODIES = {
    "openai": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    "anthropic": {"model": "claude-sonnet-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}


async def start(factory: E2EFactory, limits: ConnectionLimits = FAST) -> E2E:
    env = await factory(start=False)
    env.service.context.connection_limits = limits
    await env.service.start()
    await env.service.start_reads_done()
    env.fake.requests.clear()
    return env


@pytest.fixture
async def edge(e2e_factory: E2EFactory) -> E2E:
    return await start(e2e_factory)


def guard(env: E2E) -> ConnectionGuard:
    g = env.service.context.connection_guard
    assert g is not None
    return g


def head(env: E2E, path: str, *extra: str, keep_alive: bool = False) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{env.port}",
        "Content-Type: application/json",
        f"Authorization: Bearer {env.key}",
        *extra,
    ]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_until_closed(reader: asyncio.StreamReader, limit: float = 5.0) -> bytes:
    return await asyncio.wait_for(reader.read(), limit)


def parse(answer: bytes) -> tuple[int, dict]:
    top, _, body = answer.partition(b"\r\n\r\n")
    return int(top.split()[1]), jsoncodec.loads(body)


# -- the request head -------------------------------------------------------------------


async def test_a_head_trickled_byte_by_byte_gets_408_after_the_header_timeout(edge: E2E) -> None:
    """Slowloris proper: the request line, then a header byte every 0.05 s keeps the
    socket busy but the head never ends; the clock runs from the first byte, not from
    the last."""
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    began = time.monotonic()
    writer.write(head(edge, PATHS["anthropic"])[:-2])  # all but the blank line ending it

    async def send() -> None:
        for _ in range(200):
            writer.write(b"X-Slow: a\r\n"[_ % 11 : _ % 11 + 1])
            await asyncio.sleep(0.05)

    sender = asyncio.ensure_future(send())
    try:
        answer = await read_until_closed(reader)
    finally:
        sender.cancel()
        writer.close()
    took = time.monotonic() - began
    status, body = parse(answer)
    assert status == 408 and 0.3 <= took < 3.0, (status, took)
    # in the protocol of the request line it managed to send
    assert body["type"] == "error" and "headers not complete within 0.3 s" in body["error"]["message"]
    assert guard(edge).closed["headers"] == 1
    assert not edge.fake.requests


async def test_a_silent_connection_is_closed_after_the_header_timeout(edge: E2E) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    began = time.monotonic()
    answer = await read_until_closed(reader)
    writer.close()
    took = time.monotonic() - began
    assert answer == b"" and 0.25 <= took < 3.0, took  # nothing asked, nothing answered
    assert guard(edge).closed["silent"] == 1
    assert guard(edge).open["127.0.0.1"] == 0  # its slot is free again


# -- the body ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", list(PATHS))
async def test_a_stalled_body_is_answered_408_in_the_protocols_shape(edge: E2E, protocol: str) -> None:
    body = jsoncodec.dumps(BODIES[protocol])
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(head(edge, PATHS[protocol], f"Content-Length: {len(body)}") + body[:10])
    began = time.monotonic()
    answer = await read_until_closed(reader)
    writer.close()
    took = time.monotonic() - began
    status, reply = parse(answer)
    assert status == 408 and 0.25 <= took < 3.0, (status, took)
    message = {
        "openai": lambda r: r["error"]["message"],
        "anthropic": lambda r: r["error"]["message"],
        "gemini": lambda r: r["error"]["message"],
    }[protocol](reply)
    assert "no bytes of the request body for 0.3 s" in message
    if protocol == "gemini":
        assert reply["error"]["code"] == 408 and reply["error"]["status"] == "INVALID_ARGUMENT"
    if protocol == "anthropic":
        assert reply["type"] == "error"
    assert guard(edge).closed["body"] == 1
    assert not edge.fake.requests


async def test_an_upload_that_keeps_moving_is_not_cut(edge: E2E) -> None:
    """1.5 s of upload, a piece every 0.1 s: five times the body and header timeouts."""
    body = jsoncodec.dumps(BODIES["openai"]) + b" " * 1500
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(head(edge, CHAT, f"Content-Length: {len(body)}"))
    for i in range(0, len(body), 100):
        writer.write(body[i : i + 100])
        await writer.drain()
        await asyncio.sleep(0.1)
    answer = await read_until_closed(reader)
    writer.close()
    status, reply = parse(answer)
    assert status == 200, reply
    assert reply["choices"][0]["message"]["content"] == "echo: hi"
    assert sum(guard(edge).closed.values()) == 0


# -- between requests -------------------------------------------------------------------


async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(edge: E2E) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    request = (
        f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {edge.key}\r\n\r\n"
    ).encode()
    for _ in range(2):  # 0.4 s between requests: longer than the header timeout, kept
        writer.write(request)
        top = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert top.startswith(b"HTTP/1.1 200"), top
        length = int(top.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        answered = time.monotonic()
        await asyncio.sleep(0.4)
    assert await read_until_closed(reader) == b""
    writer.close()
    idle = time.monotonic() - answered
    assert 0.5 <= idle < 3.0, idle
    assert guard(edge).admitted == 1


async def test_the_header_clock_of_a_later_request_starts_at_its_first_byte(e2e_factory: E2EFactory) -> None:
    """On a keep-alive connection the wait for the next request is idle time (5 s
    here); once its first byte arrives, its head has the header timeout (0.3 s)."""
    env = await start(e2e_factory, replace(FAST, idle_timeout=5.0))
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {env.key}\r\n\r\n".encode())
    top = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await reader.readexactly(int(top.lower().split(b"content-length:")[1].split(b"\r\n")[0]))
    await asyncio.sleep(0.5)  # idle, longer than the header timeout: kept
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    began = time.monotonic()
    answer = await read_until_closed(reader)
    writer.close()
    took = time.monotonic() - began
    status, body = parse(answer)
    assert status == 408 and 0.25 <= took < 3.0, (status, took)
    assert body["error"]["type"] == "invalid_request_error"  # OpenAI's shape, from its path
    assert guard(env).closed == {"headers": 1} and guard(env).admitted == 1


async def test_a_keep_alive_client_reuses_its_connection_across_short_pauses(edge: E2E) -> None:
    """aiohttp and the openai SDK (httpx) each keep one connection for all their calls,
    with pauses longer than the header and body timeouts but shorter than the idle one."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for _ in range(4):
            async with session.post(edge.url + CHAT, json=BODIES["openai"], headers=edge.auth_headers()) as resp:
                assert resp.status == 200
                await resp.read()
            await asyncio.sleep(0.4)
    assert guard(edge).admitted == 1  # one connection made for the four calls
    before = guard(edge).admitted
    client = edge.openai()
    for _ in range(4):
        reply = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "echo: hi"
        await asyncio.sleep(0.4)
    assert guard(edge).admitted == before + 1
    assert sum(guard(edge).closed.values()) == 0


async def test_a_stream_longer_than_every_timeout_is_not_cut(edge: E2E) -> None:
    """2.4 s of SSE with 0.4 s gaps and no keep-alive comments: four times the idle
    timeout; the timeouts bound reading the request, never writing the response."""
    edge.service.context.keepalive_interval = 60.0
    edge.fake.script("generate", Reply(chunk_delay=0.4, chunks=6, text="one two three four five six"))
    client = edge.openai()
    began = time.monotonic()
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert time.monotonic() - began >= 2.0
    assert text == "one two three four five six"
    assert sum(guard(edge).closed.values()) == 0


# -- connections per address ------------------------------------------------------------


async def test_the_per_address_cap_refuses_extra_connections_and_a_closed_one_frees_a_slot(
    e2e_factory: E2EFactory,
) -> None:
    env = await start(e2e_factory, replace(FAST, header_timeout=30.0))
    held = [await asyncio.open_connection("127.0.0.1", env.port) for _ in range(3)]
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    began = time.monotonic()
    answer = await read_until_closed(reader)
    writer.close()
    assert time.monotonic() - began < 1.0  # refused at once, not after a timeout
    status, body = parse(answer)
    assert status == 503 and "too many connections from 127.0.0.1 (at most 3)" in body["error"]["message"]
    assert guard(env).closed["refused"] == 1 and guard(env).open["127.0.0.1"] == 3

    held.pop()[1].close()
    deadline = time.monotonic() + 3
    while guard(env).open["127.0.0.1"] > 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    async with (
        aiohttp.ClientSession() as session,
        session.get(env.url + "/healthz", headers=env.auth_headers()) as resp,
    ):
        assert resp.status == 200
    assert guard(env).closed["refused"] == 1
    for _, w in held:
        w.close()


def test_other_machines_get_the_stricter_cap_and_loopback_the_larger() -> None:
    g = ConnectionGuard(FAST)  # 2 per address, 3 per loopback address
    assert [g.admit("192.168.1.20") for _ in range(3)] == [True, True, False]
    assert g.admit("192.168.1.21")  # per address, not in all
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert [g.admit(address) for _ in range(4)] == [True, True, True, False]
    g.release("192.168.1.20")
    assert g.admit("192.168.1.20") and not g.admit("192.168.1.20")
    assert g.closed["refused"] == 5


def test_closed_connections_are_logged_at_most_once_a_minute_per_reason(caplog: pytest.LogCaptureFixture) -> None:
    g = ConnectionGuard(FAST)
    with caplog.at_level(logging.INFO, logger="proxy.server.connection"):
        for _ in range(5):
            g.note("headers", "10.0.0.9", "request headers not complete within 15 s")
        g.note("body", "10.0.0.9", "request body stalled for 60 s")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "closed a connection from 10.0.0.9: request headers not complete within 15 s",
        "closed a connection from 10.0.0.9: request body stalled for 60 s",
    ]
    assert g.closed == {"headers": 5, "body": 1}


@pytest.mark.parametrize("case", ["stall", "half-close", "bad gzip"])
async def test_an_unreadable_body_is_answered_and_closed_without_an_error_in_the_log(
    edge: E2E, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's lingering read after the answer used to meet the body's error again and
    log it at ERROR with a traceback: a log flood anyone could send."""
    body = jsoncodec.dumps(BODIES["openai"])
    extra = [f"Content-Length: {len(body) + (0 if case == 'bad gzip' else 20)}"]
    if case == "bad gzip":
        extra.append("Content-Encoding: gzip")
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    with caplog.at_level(logging.INFO):
        writer.write(head(edge, CHAT, *extra, keep_alive=True) + body)
        if case == "half-close":
            writer.write_eof()
        answer = await read_until_closed(reader)  # closed after the answer, keep-alive or not
        writer.close()
        await asyncio.sleep(0.1)
    status, _ = parse(answer)
    assert status == (408 if case == "stall" else 400)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []

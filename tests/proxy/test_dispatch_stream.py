"""Streaming through the dispatcher: peek-before-commit, mid-stream failures,
and releasing the upstream connection when the client goes away."""

from __future__ import annotations

import asyncio
import time

import pytest

from proxy.dispatch import UpstreamCall
from proxy.errors import ApiError, ErrorKind, UpstreamError, UpstreamErrorKind
from tests.fakes import replies
from tests.fakes.harness import Harness

MODEL = "gemini-2.5-pro"


def call(text: str = "hi") -> UpstreamCall:
    return UpstreamCall(MODEL, {"contents": [{"role": "user", "parts": [{"text": text}]}]}, None, True)


async def drain(stream) -> str:
    out = []
    async for chunk in stream:
        for part in chunk["candidates"][0]["content"].get("parts", []):
            out.append(part.get("text", ""))
    return "".join(out)


async def test_stream_yields_every_chunk_in_order(harness: Harness):
    harness.add_antigravity("a")
    stream = await harness.dispatcher.open_stream(call("hello world again"))
    assert await drain(stream) == "echo: hello world again"


async def test_failure_before_the_first_event_moves_to_another_account(harness: Harness):
    a, _ = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.pool.settings.preferred_account = a.id
    harness.fake.always("stream", replies.quota_exhausted("1h"), token="tok-a")
    stream = await harness.dispatcher.open_stream(call("x"))
    assert await drain(stream) == "echo: x"
    assert [c.token for c in harness.fake.calls("stream")] == ["tok-a", "tok-b"]


async def test_malformed_first_event_fails_over(harness: Harness):
    a, _ = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.pool.settings.preferred_account = a.id
    harness.fake.script("stream", replies.malformed_sse(), token="tok-a")
    stream = await harness.dispatcher.open_stream(call("x"))
    assert await drain(stream) == "echo: x"


async def test_stream_cut_midway_raises_instead_of_truncating(harness: Harness):
    harness.add_antigravity("a")
    harness.fake.script("stream", replies.cut_stream(after_chunks=1))
    stream = await harness.dispatcher.open_stream(call("one two three four"))
    first = await stream.__anext__()
    assert first["candidates"][0]["content"]["parts"][0]["text"]
    with pytest.raises(UpstreamError) as exc:
        async for _ in stream:
            pass
    assert exc.value.kind is UpstreamErrorKind.TRANSPORT


async def test_slow_first_byte_times_out_and_fails_over(harness: Harness):
    harness.config.proxy.request_timeout = 0.3
    harness.add_antigravity("a")
    harness.fake.always("stream", replies.slow(3))
    t0 = time.monotonic()
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.open_stream(call())
    assert exc.value.kind is ErrorKind.TIMEOUT and time.monotonic() - t0 < 1.5


async def test_client_cancel_releases_the_upstream_connection(harness: Harness):
    harness.add_antigravity("a")
    harness.fake.script("stream", replies.slow_stream(chunks=40, chunk_delay=0.05))
    got_first = asyncio.Event()

    async def consume() -> None:
        stream = await harness.dispatcher.open_stream(call())
        async for _ in stream:
            got_first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(harness.fake.disconnected.wait(), 2)
    assert harness.fake.open_streams == 0


async def test_gemini_key_stream(harness: Harness):
    harness.add_key("AIzaKEY000000001")
    stream = await harness.dispatcher.open_stream(UpstreamCall("gemini-2.5-flash", call("k").request, None, True))
    assert await drain(stream) == "echo: k"
    assert harness.fake.calls("gemini")[0].path.endswith(":streamGenerateContent")

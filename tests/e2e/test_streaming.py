"""Streams through the server (SPEC §7, §8): peek-before-commit failover, errors after
commit end with the protocol's error event, keep-alives while the upstream is silent,
and a client that goes away cancels the upstream request."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from google.genai import types

from proxy import jsoncodec
from tests.e2e.conftest import E2E, E2EFactory
from tests.e2e.scripts import cloudcode_sse, text_chunk
from tests.fakes.replies import Reply, quota_exhausted, slow_stream
from tests.proxy.protocols.anthropic_grammar import assert_anthropic_stream, parse_sse

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)

CHAT = (
    "/v1/chat/completions",
    {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "one two three"}]},
)
MESSAGES = (
    "/v1/messages",
    {
        "model": "claude-sonnet-4-6",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "one two three"}],
    },
)
GEMINI = (
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    {"contents": [{"role": "user", "parts": [{"text": "one two three"}]}]},
)
RESPONSES = ("/v1/responses", {"model": "gpt-5", "stream": True, "input": "one two three"})


async def post(e2e: E2E, path: str, body: dict) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(e2e.url + path, json=body, headers=e2e.auth_headers()) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


def data_lines(data: bytes) -> list[bytes]:
    return [line[6:] for line in data.split(b"\n") if line.startswith(b"data: ")]


# -- peek before commit ----------------------------------------------------------------


async def test_429_before_first_chunk_moves_to_the_next_account(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(accounts=("a", "b"))
    e2e.fake.script("generate", quota_exhausted("1h"))  # whichever account goes first
    client = e2e.openai()
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "fail over"}], stream=True
    )
    assert raw.http_response.status_code == 200
    text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
    assert text == "echo: fail over"
    first, second = e2e.upstream_calls()
    assert first.token != second.token
    assert raw.headers["x-agproxy-account"] == f"{second.token[4:]}@example.com"
    [record] = await e2e.records(1)
    assert [a.status for a in record.attempts] == [429, 200]


async def test_anthropic_stream_fails_over_cleanly(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(accounts=("a", "b"))
    e2e.fake.script("generate", quota_exhausted("1h"))
    status, _, data = await post(e2e, *MESSAGES)
    assert status == 200
    blocks = assert_anthropic_stream(data)
    assert blocks[0]["text"] == "echo: one two three"
    assert b"event: error" not in data


# -- errors after commit ---------------------------------------------------------------


async def test_anthropic_stream_cut_midway_ends_with_error_event(e2e: E2E) -> None:
    e2e.fake.script("generate", Reply(cut_after=1))
    status, _, data = await post(e2e, *MESSAGES)
    assert status == 200
    events = parse_sse(data)
    assert events[0][0] == "message_start"
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert_anthropic_stream(data)  # the grammar allows error as the last event


async def test_openai_stream_cut_midway_ends_with_error_and_done(e2e: E2E) -> None:
    e2e.fake.script("generate", Reply(cut_after=1))
    status, _, data = await post(e2e, *CHAT)
    assert status == 200
    lines = data_lines(data)
    assert lines[-1] == b"[DONE]"
    err = jsoncodec.loads(lines[-2])
    assert err["error"]["message"] and err["error"]["type"]


async def test_openai_sdk_raises_on_the_error_event(e2e: E2E) -> None:
    import openai

    e2e.fake.script("generate", Reply(cut_after=1))
    client = e2e.openai()
    with pytest.raises(openai.APIError):
        async for _ in await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x y z"}], stream=True
        ):
            pass


async def test_responses_stream_cut_midway_ends_with_failed_event(e2e: E2E) -> None:
    e2e.fake.script("generate", Reply(cut_after=1))
    status, _, data = await post(e2e, *RESPONSES)
    assert status == 200
    last = jsoncodec.loads(data_lines(data)[-1])
    assert last["type"] in ("response.failed", "error")


async def test_gemini_stream_cut_midway_ends_with_error_object(e2e: E2E) -> None:
    e2e.fake.script("generate", Reply(cut_after=1))
    status, _, data = await post(e2e, *GEMINI)
    assert status == 200
    lines = data_lines(data)
    assert "candidates" in jsoncodec.loads(lines[0])
    err = jsoncodec.loads(lines[-1])["error"]
    assert err["code"] >= 500 and err["status"] and err["message"]
    assert b"[DONE]" not in data


# -- keep-alives -----------------------------------------------------------------------


@pytest.fixture
async def slow(e2e: E2E) -> E2E:
    """Keep-alives every 0.2 s; the upstream waits 0.5 s before its first byte."""
    e2e.service.context.keepalive_interval = 0.2
    e2e.fake.script("generate", Reply(delay=0.5, chunk_delay=0.3, chunks=2))
    return e2e


async def test_openai_gets_ping_comments_and_sdk_still_parses(slow: E2E) -> None:
    status, _, data = await post(slow, *CHAT)
    assert status == 200
    head = data.split(b"data: ", 1)[0]
    assert head.count(b": ping\n\n") >= 2
    slow.fake.script("generate", Reply(delay=0.5, chunks=2))
    client = slow.openai()
    text = "".join(
        [
            c.choices[0].delta.content or ""
            async for c in await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "still parses"}], stream=True
            )
            if c.choices
        ]
    )
    assert text == "echo: still parses"


async def test_anthropic_gets_comment_before_message_start_and_ping_events_after(slow: E2E) -> None:
    status, _, data = await post(slow, *MESSAGES)
    assert status == 200
    head, _, rest = data.partition(b"event: message_start")
    assert head and set(head.split(b"\n\n")) <= {b": ping", b""}
    assert b"event: ping" in rest
    assert_anthropic_stream(b"event: message_start" + rest)
    slow.fake.script("generate", Reply(delay=0.5, chunk_delay=0.3, chunks=2))
    client = slow.anthropic()
    async with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=50,
        messages=[{"role": "user", "content": "still parses"}],
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].text == "echo: still parses"


async def test_gemini_sse_keepalive_is_a_bare_line_genai_can_parse(slow: E2E) -> None:
    status, _, data = await post(slow, *GEMINI)
    assert status == 200
    assert data.startswith(b"\r\n")
    assert b": ping" not in data
    slow.fake.script("generate", Reply(delay=0.5, chunk_delay=0.3, chunks=2))
    client = slow.genai()
    pieces = [
        c.text
        async for c in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="still parses", config=types.GenerateContentConfig()
        )
    ]
    assert "".join(pieces) == "echo: still parses"


# -- client disconnect -----------------------------------------------------------------


@pytest.mark.parametrize("route", [CHAT, MESSAGES, GEMINI], ids=["openai", "anthropic", "gemini"])
async def test_client_disconnect_cancels_the_upstream_request(
    e2e: E2E, route: tuple[str, dict]
) -> None:
    e2e.fake.script("generate", slow_stream(chunks=50, chunk_delay=0.1))
    path, body = route
    async with aiohttp.ClientSession() as session:
        resp = await session.post(e2e.url + path, json=body, headers=e2e.auth_headers())
        assert resp.status == 200
        await resp.content.readany()
        resp.close()  # drop the connection mid-stream
    await asyncio.wait_for(e2e.fake.disconnected.wait(), 3)
    assert e2e.fake.open_streams == 0
    [record] = await e2e.records(1)
    assert record.stream and record.error == "client disconnected"


# -- Gemini's JSON-array stream (no ?alt=sse) --------------------------------------------

GEMINI_ARRAY = ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", GEMINI[1])


async def test_gemini_json_array_stream_is_one_json_array(e2e: E2E) -> None:
    status, headers, data = await post(e2e, *GEMINI_ARRAY)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    chunks = jsoncodec.loads(data)
    text = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == "echo: one two three"


async def test_gemini_json_array_stream_cut_midway_ends_with_error_element(e2e: E2E) -> None:
    e2e.fake.script("generate", Reply(cut_after=1))
    status, _, data = await post(e2e, *GEMINI_ARRAY)
    assert status == 200
    chunks = jsoncodec.loads(data)  # still valid JSON
    assert "candidates" in chunks[0] and chunks[-1]["error"]["code"] >= 500


# -- a failure after an early (keep-alive) commit --------------------------------------


@pytest.mark.parametrize(
    "route", [MESSAGES, GEMINI_ARRAY, CHAT], ids=["anthropic", "gemini-array", "openai"]
)
async def test_failure_after_keepalive_commit_still_ends_with_error(
    e2e: E2E, route: tuple[str, dict]
) -> None:
    e2e.service.context.keepalive_interval = 0.2
    e2e.fake.script(
        "generate",
        Reply(
            status=400,
            delay=0.5,
            json={
                "error": {
                    "code": 400,
                    "message": "Invalid argument: slow refusal",
                    "status": "INVALID_ARGUMENT",
                }
            },
        ),
    )
    status, _, data = await post(e2e, *route)
    assert status == 200  # committed by the keep-alive before the upstream answered
    assert b"slow refusal" in data
    if route is MESSAGES:
        name, payload = parse_sse(data.split(b": ping\n\n")[-1])[-1]
        assert name == "error" and payload["error"]["type"] == "invalid_request_error"
    elif route is GEMINI_ARRAY:
        assert jsoncodec.loads(data)[-1]["error"]["code"] == 400
    else:
        assert data_lines(data)[-1] == b"[DONE]"


async def test_client_disconnect_during_keepalives_cancels_the_upstream_request(e2e: E2E) -> None:
    e2e.service.context.keepalive_interval = 0.1
    # Headers and an empty chunk at once, then silence: the proxy is still peeking
    # (nothing meaningful yet) and sending keep-alives when the client leaves.
    empty = {"candidates": [{"content": {"role": "model", "parts": []}, "index": 0}]}
    e2e.fake.script(
        "generate",
        cloudcode_sse(empty, text_chunk("late"), text_chunk(" reply", True), chunk_delay=0.6),
    )
    path, body = MESSAGES
    async with aiohttp.ClientSession() as session:
        resp = await session.post(e2e.url + path, json=body, headers=e2e.auth_headers())
        assert resp.status == 200
        assert (await resp.content.readany()).startswith(b": ping")
        resp.close()  # gone before the upstream said anything
    await asyncio.wait_for(e2e.fake.disconnected.wait(), 3)
    [record] = await e2e.records(1)
    assert record.status in (200, 499) and record.error == "client disconnected"
    status, _, data = await post(e2e, *MESSAGES)  # and the server carries on
    assert status == 200 and b"message_stop" in data

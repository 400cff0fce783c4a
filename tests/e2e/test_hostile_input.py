"""No 500 on any input (SPEC §14): wrong types at every level the translators read,
nesting bombs, compressed-looking plain bodies and broken HTTP framing all get a 4xx in
the client's own protocol, nothing reaches the upstream, and the server keeps serving."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest

from proxy import jsoncodec
from tests.e2e.conftest import E2E
from tests.e2e.test_bad_input import (
    ANTHROPIC,
    GEMINI,
    GOOD,
    OPENAI,
    PATHS,
    assert_error_shape,
    send,
    still_serving,
)

RESPONSES = "responses"
RESPONSES_PATH = "/v1/responses"
GOOD_RESPONSES = {"model": "gpt-4o", "input": "hi"}


NEST = "__NESTED__"


def nested(depth: int) -> str:
    """A placeholder for a JSON value `depth` objects deep (too deep for orjson to write:
    `deep()` splices it into the serialised body)."""
    return f"{NEST}{depth}"


def deep(body: Any) -> bytes:
    raw = jsoncodec.dumps(body).decode()
    while f'"{NEST}' in raw:
        start = raw.index(f'"{NEST}')
        end = raw.index('"', start + 1)
        depth = int(raw[start + 1 + len(NEST) : end])
        raw = raw[:start] + '{"a":' * depth + "1" + "}" * depth + raw[end + 1 :]
    return raw.encode()


def chat_with_tool_call(arguments: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
    }


def anthropic(**fields: Any) -> dict[str, Any]:
    return {**GOOD[ANTHROPIC], **fields}


# (protocol, case, body, words the message must contain)
CASES: list[tuple[str, str, Any, str]] = [
    (
        OPENAI,
        "text part not a string",
        {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
        "text",
    ),
    (OPENAI, "stream not a boolean", {**GOOD[OPENAI], "stream": "yes"}, "stream"),
    (OPENAI, "stream_options not an object", {**GOOD[OPENAI], "stream": True, "stream_options": 1}, "stream_options"),
    (OPENAI, "tool arguments nested too deep", chat_with_tool_call('{"a":' * 300 + "1" + "}" * 300), "nest"),
    (
        RESPONSES,
        "input_text not a string",
        {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text", "text": 5}]}]},
        "text",
    ),
    (RESPONSES, "stream not a boolean", {**GOOD_RESPONSES, "stream": "yes"}, "stream"),
    (
        ANTHROPIC,
        "block type not a string",
        anthropic(messages=[{"role": "user", "content": [{"type": []}]}]),
        "type",
    ),
    (ANTHROPIC, "missing max_tokens", {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    (ANTHROPIC, "metadata not an object", anthropic(metadata="x"), "metadata"),
    (ANTHROPIC, "stream not a boolean", anthropic(stream="yes"), "stream"),
    (
        ANTHROPIC,
        "tool_use input nested too deep",
        anthropic(
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": nested(300)}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ]
        ),
        "nest",
    ),
    (GEMINI, "unknown field nested 1000 deep", {**GOOD[GEMINI], "x": nested(1000)}, "nest"),
    (
        GEMINI,
        "functionCall args nested too deep",
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": nested(300)}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": 1}}}]},
            ]
        },
        "nest",
    ),
]

PROTOCOL_OF = {RESPONSES: OPENAI}
PATH_OF = {RESPONSES: RESPONSES_PATH}


@pytest.mark.parametrize(("protocol", "case", "body", "words"), CASES, ids=[f"{p}-{c}" for p, c, _, _ in CASES])
async def test_hostile_body_gets_a_precise_400_in_the_protocol(
    e2e: E2E, protocol: str, case: str, body: Any, words: str
) -> None:
    shape = PROTOCOL_OF.get(protocol, protocol)
    status, reply = await send(e2e, shape, deep(body), PATH_OF.get(protocol))
    assert status == 400, reply
    assert words in assert_error_shape(shape, status, reply)
    assert not e2e.fake.requests
    await still_serving(e2e, shape)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize("protocol", [OPENAI, ANTHROPIC, GEMINI])
async def test_content_encoding_over_a_plain_body_is_a_400(e2e: E2E, protocol: str, encoding: str) -> None:
    status, _, reply = await raw(
        e2e,
        "POST",
        PATHS[protocol],
        {"Content-Type": "application/json", "Content-Encoding": encoding},
        jsoncodec.dumps(GOOD[protocol]),
    )
    assert status == 400, reply
    assert "content-encoding" in assert_error_shape(protocol, status, reply).lower()
    await still_serving(e2e, protocol)


async def test_a_gzip_body_that_is_really_gzip_is_served(e2e: E2E) -> None:
    status, _, reply = await raw(
        e2e,
        "POST",
        PATHS[OPENAI],
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        gzip.compress(jsoncodec.dumps(GOOD[OPENAI])),
    )
    assert status == 200, reply


async def test_an_internal_error_is_not_labelled_upstream(e2e: E2E, monkeypatch: pytest.MonkeyPatch) -> None:
    from proxy.protocols import openai_chat

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(openai_chat, "from_gemini", broken)
    status, reply = await send(e2e, OPENAI, GOOD[OPENAI])
    assert status == 500
    err = jsoncodec.loads(reply)["error"]
    assert err["code"] != "upstream_error" and err["type"] == "server_error"
    assert "internal error in agproxy" in err["message"] and "boom" not in err["message"]


# -- HTTP framing, on a raw socket --------------------------------------------------------


async def raw(
    e2e: E2E, method: str, path: str, headers: dict[str, str], body: bytes = b"", *, length: int | None = None
) -> tuple[int, dict[str, str], bytes]:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{e2e.port}", "Connection: close"]
    head += [f"Authorization: Bearer {e2e.key}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if length is not None or body:
        head.append(f"Content-Length: {len(body) if length is None else length}")
    return await exchange_raw(e2e.port, ("\r\n".join(head) + "\r\n\r\n").encode() + body)


async def exchange_raw(port: int, data: bytes, *, half_close: bool = False) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if half_close:
        writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, payload


def request_head(port: int, path: str, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


FRAMING = {
    "content-length and transfer-encoding": lambda body: (
        ("Content-Length: 5", "Transfer-Encoding: chunked"),
        b"5\r\nhello\r\n0\r\n\r\n",
    ),
    "two different content-lengths": lambda body: (
        (f"Content-Length: {len(body)}", f"Content-Length: {len(body) + 1}"),
        body,
    ),
    "negative content-length": lambda body: (("Content-Length: -1",), body),
    "bad chunk size": lambda body: (("Transfer-Encoding: chunked",), b"zz\r\n" + body + b"\r\n0\r\n\r\n"),
    "16 KiB header": lambda body: (("X-Big: " + "a" * 16384, f"Content-Length: {len(body)}"), body),
}


@pytest.mark.parametrize("case", list(FRAMING))
@pytest.mark.parametrize("protocol", [OPENAI, ANTHROPIC, GEMINI])
async def test_broken_framing_is_answered_in_the_protocols_json(e2e: E2E, protocol: str, case: str) -> None:
    extra, body = FRAMING[case](jsoncodec.dumps(GOOD[protocol]))
    head = request_head(e2e.port, PATHS[protocol], *extra)
    status, headers, reply = await exchange_raw(e2e.port, head + body)
    assert 400 <= status < 500 and status != 404, reply
    assert headers["content-type"].startswith("application/json")
    assert_error_shape(protocol, status, reply)
    assert not e2e.fake.requests
    await still_serving(e2e, protocol)


@pytest.mark.parametrize("protocol", [OPENAI, ANTHROPIC, GEMINI])
async def test_truncated_upload_then_half_close_gets_an_answer(e2e: E2E, protocol: str) -> None:
    body = jsoncodec.dumps(GOOD[protocol])
    head = request_head(e2e.port, PATHS[protocol], f"Authorization: Bearer {e2e.key}", f"Content-Length: {len(body) + 50}")
    status, _, reply = await exchange_raw(e2e.port, head + body, half_close=True)
    assert status == 400, reply
    assert "body" in assert_error_shape(protocol, status, reply)
    assert not e2e.fake.requests
    await still_serving(e2e, protocol)

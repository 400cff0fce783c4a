"""No secret reaches a monitor record or the SQLite file (SPEC §11, §15): a key in
the path, after `#`, percent-encoded in the query, or in the User-Agent is redacted
like one in a header — every stored string field passes the one redactor."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.conftest import E2E

TAIL = "LeakLeak0123456789abcdef"  # the secret part of every planted key
KEY = f"sk-{TAIL}"
GEMINI = "/v1beta/models/gemini-2.5-flash:generateContent"
BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})


async def _raw(
    e2e: E2E, target: str, *, user_agent: str = "redaction-test", body: str = ""
) -> bytes:
    """One request sent byte for byte (no client normalises the target)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", e2e.port)
    auth = "".join(f"{k}: {v}\r\n" for k, v in e2e.auth_headers().items())
    head = (
        f"{'POST' if body else 'GET'} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        f"User-Agent: {user_agent}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body.encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def _assert_nowhere(e2e: E2E) -> None:
    [record] = await e2e.records(1)
    assert record.status
    text = json.dumps(record.to_dict())
    for leak in (TAIL, TAIL.lower()):
        assert leak not in text, text
    await e2e.service.monitor.flush()
    data = b"".join(
        p.read_bytes() for p in e2e.service.paths.monitor_db.parent.glob("monitor.sqlite3*")
    )
    assert TAIL.encode() not in data and TAIL.lower().encode() not in data


@pytest.mark.parametrize(
    "target",
    [
        f"/v1/models/{KEY}",
        f"/v1beta/models/{KEY}:generateContent",
        f"/v1/models#key={KEY}",
        f"/v1/models#{KEY}",
        f"/v1/models?x=1&key%3d{KEY}",
        f"/v1/models?q=sk%2D{TAIL}",
        f"/v1/models?q=sk%252D{TAIL}",
        f"/v1/models/sk%2D{TAIL}",
    ],
    ids=[
        "path",
        "gemini-model",
        "fragment-key",
        "fragment",
        "encoded-equals",
        "encoded-dash",
        "double-encoded",
        "encoded-path",
    ],
)
async def test_a_key_in_the_target_is_not_stored(e2e: E2E, target: str) -> None:
    e2e.set("monitor.capture_bodies", "all")
    body = BODY if ":generateContent" in target else ""
    await _raw(e2e, target, body=body)
    await _assert_nowhere(e2e)


@pytest.mark.parametrize(
    "agent", [f"tool/1.0 ({KEY})", f"tool/1.0 key=sk%2D{TAIL}"], ids=["plain", "encoded"]
)
async def test_a_key_in_the_user_agent_is_not_stored(e2e: E2E, agent: str) -> None:
    await _raw(e2e, "/v1/models", user_agent=agent)
    await _assert_nowhere(e2e)


async def test_an_encoded_key_in_a_captured_body_is_not_stored(e2e: E2E) -> None:
    e2e.set("monitor.capture_bodies", "all")
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": f"my key sk%2D{TAIL}"}]}]})
    await _raw(e2e, GEMINI, body=body)
    await _assert_nowhere(e2e)

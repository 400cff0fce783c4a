"""RequestRecord: lifecycle fields, and its SQLite and JSON shapes survive a round trip."""

from __future__ import annotations

import asyncio

import pytest
from monitor_helpers import begin_request, load_capture

from proxy import jsoncodec
from proxy.config.model import MonitorSettings
from proxy.monitor import Attempt, Monitor, RequestRecord

CASES = [
    ("py-openai-chat", "openai", "gpt-4o", "gemini-2.5-flash", "antigravity", False),
    (
        "py-anthropic-messages",
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-thinking",
        "antigravity",
        False,
    ),
    ("py-genai-stream", "gemini", "gemini-2.5-flash", "gemini-2.5-flash", "gemini_api", True),
]


@pytest.mark.parametrize(("folder", "protocol", "cmodel", "umodel", "kind", "stream"), CASES)
async def test_record_round_trips_through_sqlite_for_each_protocol(
    db_path, folder, protocol, cmodel, umodel, kind, stream
):
    cap = load_capture(folder)
    m = Monitor(db_path, MonitorSettings(capture_bodies="all"))
    await m.open()
    rec = m.begin(
        method=cap.method,
        path=cap.raw_path,
        protocol=protocol,
        client="127.0.0.1:5555",
        user_agent=cap.headers.get("User-Agent", ""),
        headers=cap.headers,
        body=cap.body,
    )
    rec.client_model, rec.upstream_model, rec.upstream_kind, rec.stream = (
        cmodel,
        umodel,
        kind,
        stream,
    )
    rec.account = "alice@example.com"
    rec.attempts = [
        Attempt("bob@example.com", 429, 120, "quota exhausted"),
        Attempt("alice@example.com", 200, 340),
    ]
    rec.input_tokens, rec.output_tokens, rec.cached_tokens = 1200, 85, 1024
    await asyncio.sleep(0.002)
    rec.mark_first_byte()
    if stream:
        rec.response_summary = {
            "text": "hi",
            "thinking": "",
            "tool_calls": [],
            "usage": {"input_tokens": 1200},
        }
    m.finish(rec, status=200, response_body=None if stream else b'{"id":"x","choices":[]}')
    expected = rec.to_dict()
    await m.close()

    again = Monitor(db_path, MonitorSettings())
    await again.open()
    try:
        stored = await again.get(rec.id)
    finally:
        await again.close()
    assert stored is not None
    assert stored.to_dict() == expected
    assert stored.protocol == protocol and stored.stream is stream
    assert stored.attempts[0] == Attempt("bob@example.com", 429, 120, "quota exhausted")
    assert stored.ttfb_ms is not None and 1.0 <= stored.ttfb_ms <= stored.duration_ms
    assert stored.request_body == cap.body.decode()
    assert stored.request_headers.get("User-Agent") == cap.headers["User-Agent"]
    if stream:
        assert stored.response_summary == {
            "text": "hi",
            "thinking": "",
            "tool_calls": [],
            "usage": {"input_tokens": 1200},
        }


def test_to_dict_is_plain_json_with_every_spec_field():
    rec = RequestRecord(
        7,
        1764000000.5,
        method="POST",
        path="/v1/messages",
        protocol="anthropic",
        status=200,
        ttfb_ms=12.5,
        stream=True,
        input_tokens=3,
        output_tokens=4,
        cached_tokens=1,
        attempts=[Attempt("a", 200, 5)],
    )
    data = jsoncodec.loads(jsoncodec.dumps(rec.to_dict()))
    for key in (
        "id",
        "started",
        "client",
        "user_agent",
        "method",
        "path",
        "protocol",
        "client_model",
        "upstream_model",
        "account",
        "upstream_kind",
        "status",
        "duration_ms",
        "ttfb_ms",
        "stream",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "attempts",
        "error",
        "request_headers",
        "request_body",
        "response_body",
        "response_summary",
    ):
        assert key in data
    assert data["attempts"] == [{"account": "a", "status": 200, "ms": 5, "error": ""}]
    assert data["ttfb_ms"] == 12.5 and data["stream"] is True


def test_from_row_inverts_to_row():
    rec = RequestRecord(
        9,
        1.5,
        path="/x",
        status=502,
        error="boom",
        ttfb_ms=None,
        attempts=[Attempt("a", 502, 10, "bad gateway")],
        request_headers={"A": "b"},
    )
    assert RequestRecord.from_row(rec.to_row()) == rec


async def test_record_is_in_flight_until_finished(monitor):
    rec = begin_request(monitor, method="GET", path="/v1/models")
    assert rec.in_flight and rec.status == 0
    monitor.finish(rec, status=200)
    assert not rec.in_flight and rec.duration_ms >= 0


async def test_first_byte_is_marked_once(monitor):
    rec = begin_request(monitor)
    rec.mark_first_byte()
    first = rec.ttfb_ms
    await asyncio.sleep(0.01)
    rec.mark_first_byte()
    assert rec.ttfb_ms == first


async def test_finish_without_a_status_is_not_left_in_flight(monitor):
    rec = begin_request(monitor)
    monitor.finish(rec, status=0, error="client disconnected")
    assert rec.status == 499 and not rec.in_flight


async def test_second_finish_is_ignored(monitor):
    rec = begin_request(monitor)
    monitor.finish(rec, status=200)
    monitor.finish(rec, status=500)
    assert rec.status == 200 and monitor.stats.requests == 1


async def test_ids_grow_and_stay_unique_across_restarts(db_path):
    ids = []
    for _ in range(2):
        m = Monitor(db_path, MonitorSettings())
        await m.open()
        for _ in range(50):
            rec = begin_request(m, method="GET", path="/")
            m.finish(rec, status=200)
            ids.append(rec.id)
        await m.close()
    assert ids == sorted(ids) and len(set(ids)) == 100

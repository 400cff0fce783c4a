"""Body capture policy (off / errors / all), truncation at max_body_kb, enabled = false."""

from __future__ import annotations

import pytest
from monitor_helpers import run_request

from proxy.config.model import MonitorSettings
from proxy.monitor import Monitor
from proxy.monitor.capture import capture_body


async def _stored(db_path, settings, **kw):
    m = Monitor(db_path, settings)
    await m.open()
    try:
        rec = run_request(m, **kw)
        return (
            await m.get(rec.id)
            if m.hub.find(rec.id) is None
            else (await m.query(f"status:{rec.status}", 1))[0]
        )
    finally:
        await m.close()


@pytest.mark.parametrize(
    ("mode", "status", "kept"),
    [
        ("off", 200, False),
        ("off", 500, False),
        ("errors", 200, False),
        ("errors", 429, True),
        ("all", 200, True),
    ],
)
async def test_capture_policy_decides_which_bodies_are_stored(db_path, mode, status, kept):
    rec = await _stored(
        db_path,
        MonitorSettings(capture_bodies=mode),
        status=status,
        body=b'{"q":"hello"}',
        response_body=b'{"a":"world"}',
    )
    assert (rec.request_body == '{"q":"hello"}') is kept
    assert (rec.response_body == '{"a":"world"}') is kept
    if not kept:
        assert rec.request_body == "" and rec.response_body == ""


async def test_errors_mode_keeps_bodies_of_a_request_with_error_text(db_path):
    rec = await _stored(
        db_path, MonitorSettings(capture_bodies="errors"), status=200, error="stream cut"
    )
    assert rec.request_body and rec.error == "stream cut"


async def test_stream_summary_is_kept_with_bodies_and_dropped_without(db_path, tmp_path):
    summary = {"text": "hello", "thinking": "hmm", "tool_calls": [], "usage": {"output_tokens": 2}}
    kept = await _stored(
        db_path, MonitorSettings(capture_bodies="all"), response_summary=dict(summary), stream=True
    )
    assert kept.response_summary == summary
    dropped = await _stored(
        tmp_path / "other.sqlite3",
        MonitorSettings(capture_bodies="off"),
        response_summary=dict(summary),
        stream=True,
    )
    assert dropped.response_summary is None


async def test_bodies_beyond_max_body_kb_are_truncated_with_a_marker(db_path):
    big = b'{"text":"' + b"hello world " * 500 + b'"}'
    rec = await _stored(db_path, MonitorSettings(capture_bodies="all", max_body_kb=1), body=big)
    assert rec.request_body.startswith('{"text":"hello world hello')
    assert f"[truncated: {len(big)} bytes in all]" in rec.request_body
    assert len(rec.request_body) < 1024 + 40


def test_a_long_base64_run_is_cut_at_the_limit_not_dropped():
    body = b'{"image":"' + b"QUJD" * 20000 + b'"}'
    text = capture_body(body, 64 * 1024)
    assert text.startswith('{"image":"QUJDQUJD') and 60 * 1024 < len(text) < 65 * 1024


def test_a_cut_never_leaves_part_of_a_secret_behind():
    secret = "sk-" + "A1b2C3d4" * 8
    body = (b"a" * 1000 + b" " + secret.encode() + b" tail").ljust(4000, b"z")
    for limit in range(1000, 1001 + len(secret), 7):  # cut at every place inside the key
        text = capture_body(body, limit)
        assert "A1b2C3d4" not in text, limit


def test_invalid_utf8_bodies_are_kept_readable():
    assert capture_body(b'{"a":"\xff\xfe"}', 1024).startswith('{"a":"')


async def test_disabled_monitor_returns_records_but_keeps_nothing(db_path):
    m = Monitor(db_path, MonitorSettings(enabled=False, capture_bodies="all"))
    await m.open()
    sub = m.subscribe()
    rec = run_request(m, status=500)
    assert rec.status == 500
    assert m.recent(10) == [] and sub.get_nowait_batch() == []
    assert await m.query() == []
    assert m.stats.requests == 1 and m.stats.errors == 1
    await m.close()


async def test_apply_changes_capture_while_running(monitor):
    run_request(monitor, status=200)
    monitor.apply(MonitorSettings(capture_bodies="off"))
    run_request(monitor, status=200)
    newest, older = await monitor.query(limit=2)
    assert older.request_body and not newest.request_body

"""No secret a client sends ever reaches the monitor database file (or its WAL)."""

from __future__ import annotations

from pathlib import Path

from monitor_helpers import load_capture

from proxy import jsoncodec
from proxy.config.model import MonitorSettings
from proxy.monitor import Attempt, Monitor

# Distinctive cores: if any of these bytes appear in a file, a secret leaked.
API_KEY = "sk-agproxyLEAK0001abcdef0123456789"
OPENAI_KEY = "sk-proj-LEAK0002abcdefghijklmnop"
ACCESS = "ya29.a0LEAK0003AfH6SMBxyzxyzxyzxyz"
REFRESH = "1//0gLEAK0004CgYIARAAGBASNwF-L9Ir"
GOOGLE_KEY = "AIzaSyLEAK0005abcdefghijklmnopqrstu"
COOKIE = "session=LEAK0006cookievalue"
CORES = ["LEAK0001", "LEAK0002", "LEAK0003", "LEAK0004", "LEAK0005", "LEAK0006"]


def _files_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


async def test_secrets_in_headers_query_and_bodies_never_reach_the_database(tmp_path):
    db = tmp_path / "monitor.sqlite3"
    m = Monitor(db, MonitorSettings(capture_bodies="all"))
    await m.open()
    cap = load_capture("py-anthropic-messages")
    headers = dict(
        cap.headers,
        **{
            "x-api-key": API_KEY,
            "Authorization": f"Bearer {ACCESS}",
            "x-goog-api-key": GOOGLE_KEY,
            "Cookie": COOKIE,
            "X-Refresh": REFRESH,
        },
    )
    body = jsoncodec.loads(cap.body)
    body["metadata"] = {
        "user_id": f"user {OPENAI_KEY}",
        "note": f"refresh_token={REFRESH} token {ACCESS}",
    }
    rec = m.begin(
        method="POST",
        path=f"/v1beta/models/gemini-2.5-flash:generateContent?key={GOOGLE_KEY}&alt=sse",
        protocol="anthropic",
        client="127.0.0.1",
        user_agent="claude-cli",
        headers=headers,
        body=jsoncodec.dumps(body),
    )
    rec.attempts = [Attempt("alice", 401, 20, f"upstream said: invalid key {GOOGLE_KEY}")]
    rec.response_summary = {
        "text": f"your key is {API_KEY}",
        "tool_calls": [{"arguments": {"k": ACCESS}}],
    }
    m.finish(
        rec,
        status=500,
        response_body=f'{{"echo":"Bearer {ACCESS}","k":"{OPENAI_KEY}"}}'.encode(),
        error=f"upstream rejected x-goog-api-key: {GOOGLE_KEY} and Bearer {REFRESH}",
    )
    await m.flush()

    while_open = _files_bytes(tmp_path)  # main file + WAL + shm as another reader would see them
    stored = await m.get(rec.id)
    await m.close()
    after_close = _files_bytes(tmp_path)

    assert b"gemini-2.5-flash" in while_open + after_close  # the record is really there
    for core in CORES:
        assert core.encode() not in while_open, core
        assert core.encode() not in after_close, core
        assert core not in jsoncodec.dumps(stored.to_dict()).decode(), core
    assert stored.request_headers["x-api-key"] == "…"
    assert stored.request_headers["Authorization"] == "Bearer …"
    assert "key=…" in stored.path and "alt=sse" in stored.path


async def test_live_records_are_redacted_too(monitor):
    sub = monitor.subscribe()
    rec = monitor.begin(
        method="POST",
        path=f"/v1/models?key={GOOGLE_KEY}",
        protocol="gemini",
        client="c",
        user_agent="u",
        headers={"x-goog-api-key": GOOGLE_KEY},
        body=None,
    )
    live = sub.get_nowait_batch()[0]
    assert "LEAK0005" not in live.path and "LEAK0005" not in str(live.request_headers)
    monitor.finish(rec, status=200)


async def test_secret_values_in_ordinary_headers_are_redacted_every_time(monitor):
    headers = {"X-Debug": f"caller {API_KEY}", "Accept": "application/json"}
    for _ in range(2):  # the second pass goes through the header-value cache
        rec = monitor.begin(
            method="GET",
            path="/v1/models",
            protocol="openai",
            client="c",
            user_agent="u",
            headers=headers,
            body=None,
        )
        assert rec.request_headers == {"X-Debug": "caller sk-…", "Accept": "application/json"}
        monitor.finish(rec, status=200)

"""The SQLite store: history across restarts, paging, totals, pruning, recovery."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

from monitor_helpers import run_request

from proxy.config.model import MonitorSettings
from proxy.monitor import Monitor


async def _open(db_path, **settings) -> Monitor:
    m = Monitor(db_path, MonitorSettings(**settings))
    await m.open()
    return m


async def test_history_survives_a_restart(db_path):
    m = await _open(db_path)
    ids = [run_request(m, status=200).id for _ in range(5)]
    await m.close()
    again = await _open(db_path)
    try:
        assert [r.id for r in await again.query(limit=10)] == ids[::-1]
    finally:
        await again.close()


async def test_records_are_written_in_the_background_without_flush(monitor, db_path):
    rec = run_request(monitor)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # the writer batches every ~200 ms
        with sqlite3.connect(db_path) as conn:
            if conn.execute("SELECT count(*) FROM requests WHERE id = ?", (rec.id,)).fetchone()[0]:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("record never reached the database")


async def test_query_pages_newest_first_without_gaps_or_repeats(monitor):
    ids = [run_request(monitor).id for _ in range(25)]
    seen, before = [], None
    while True:
        page = await monitor.query(limit=10, before=before)
        if not page:
            break
        seen += [r.id for r in page]
        before = page[-1]
    assert seen == ids[::-1]


async def test_query_applies_the_filter(monitor):
    run_request(monitor, status=200, client_model="gpt-4o")
    run_request(monitor, status=429, client_model="claude-sonnet-4-5", account="alice@example.com")
    run_request(monitor, status=503, client_model="gemini-2.5-pro")
    got = await monitor.query("status:4xx account:alice")
    assert [r.client_model for r in got] == ["claude-sonnet-4-5"]
    assert {r.status for r in await monitor.query("errors")} == {429, 503}


async def test_totals_per_model_and_per_account(monitor):
    run_request(
        monitor,
        client_model="claude-x",
        upstream_model="gemini-3-pro",
        account="alice",
        input_tokens=100,
        output_tokens=10,
    )
    run_request(
        monitor, status=429, client_model="claude-x", upstream_model="gemini-3-pro", account="bob"
    )
    run_request(
        monitor,
        client_model="gpt-4o",
        account="alice",
        input_tokens=5,
        output_tokens=1,
        cached_tokens=2,
    )
    t = await monitor.totals()
    assert t["by_model"]["gemini-3-pro"] == {
        "requests": 2,
        "errors": 1,
        "input_tokens": 100,
        "output_tokens": 10,
        "cached_tokens": 0,
    }
    assert t["by_model"]["gpt-4o"]["requests"] == 1  # no upstream model: totalled by the client's
    assert t["by_account"]["alice"] == {
        "requests": 2,
        "errors": 0,
        "input_tokens": 105,
        "output_tokens": 11,
        "cached_tokens": 2,
    }
    assert t["by_account"]["bob"]["errors"] == 1


async def test_records_older_than_retention_days_are_pruned_at_open(db_path):
    m = await _open(db_path, retention_days=30)
    old = run_request(m, started=time.time() - 31 * 86400)
    recent = run_request(m, started=time.time() - 29 * 86400)
    await m.close()
    again = await _open(db_path, retention_days=30)
    try:
        assert [r.id for r in await again.query()] == [recent.id]
        assert await again.get(old.id) is None
    finally:
        await again.close()


async def test_pruning_by_days_runs_while_serving(monitor):
    run_request(monitor, started=time.time() - 3 * 86400)
    keep = run_request(monitor)
    monitor.apply(MonitorSettings(capture_bodies="all", retention_days=2))
    await monitor.flush()
    await monitor.prune()
    assert [r.id for r in await monitor.query()] == [keep.id]


async def test_oldest_records_beyond_max_records_are_pruned(db_path):
    m = await _open(db_path, max_records=10)
    ids = [run_request(m).id for _ in range(25)]
    await m.flush()
    await m.prune()
    assert [r.id for r in await m.query(limit=100)] == ids[-10:][::-1]
    await m.close()


async def test_a_corrupt_database_is_moved_aside_and_a_fresh_one_works(db_path, caplog):
    db_path.write_bytes(b"this is not a database" * 300)
    m = Monitor(db_path, MonitorSettings())
    with caplog.at_level(logging.ERROR, logger="proxy.monitor"):
        await m.open()
    try:
        aside = list(db_path.parent.glob("monitor.sqlite3.corrupt-*"))
        assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
        assert any("moved" in r.getMessage() for r in caplog.records)
        rec = run_request(m)
        assert [r.id for r in await m.query()] == [rec.id]
    finally:
        await m.close()


async def test_a_locked_database_is_moved_aside_and_serving_goes_on(db_path):
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the file hostage
    try:
        m = Monitor(db_path, MonitorSettings())
        await m.open()
        rec = run_request(m)
        assert [r.id for r in await m.query()] == [rec.id]
        assert list(db_path.parent.glob("monitor.sqlite3.corrupt-*"))
        await m.close()
    finally:
        holder.close()


async def test_a_database_that_cannot_be_created_leaves_the_monitor_in_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    m = Monitor(blocker / "monitor.sqlite3", MonitorSettings())  # parent is a file
    await m.open()
    rec = run_request(m)
    assert m.recent(1)[0] is rec and await m.query() == []
    await m.close()


async def test_another_connection_reads_while_the_monitor_writes(monitor, db_path):
    run_request(monitor)
    await monitor.flush()
    reader = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM requests").fetchone()[0] == 1
        run_request(monitor)  # the writer is not blocked by an open read transaction
        await monitor.flush()
        assert len(await monitor.query()) == 2
    finally:
        reader.close()

"""The live side: ring, subscriptions (bounded, dropping), stats."""

from __future__ import annotations

import asyncio
import time

from monitor_helpers import run_request

from proxy.config.model import MonitorSettings
from proxy.monitor import Monitor


def _begin(m: Monitor):
    return m.begin(
        method="POST",
        path="/v1/messages",
        protocol="anthropic",
        client="c",
        user_agent="u",
        headers={"Content-Type": "application/json"},
        body=b"{}",
    )


async def test_subscriber_sees_a_record_begin_and_finish(monitor):
    sub = monitor.subscribe()
    rec = _begin(monitor)
    first = await asyncio.wait_for(sub.get(), 1)
    assert first is rec and first.in_flight
    monitor.finish(rec, status=200)
    second = await asyncio.wait_for(sub.get(), 1)
    assert second.id == rec.id and second.status == 200


async def test_async_iteration_ends_when_the_subscription_closes(monitor):
    sub = monitor.subscribe()
    got = []

    async def consume():
        async for record in sub:
            got.append(record.status)

    task = asyncio.create_task(consume())
    run_request(monitor, status=201)
    await asyncio.sleep(0)
    sub.close()
    await asyncio.wait_for(task, 1)
    assert got == [201, 201]  # begin (object already finished by now) and finish
    assert sub not in monitor.hub.subscribers


async def test_a_stuck_subscriber_drops_updates_and_never_slows_requests(tmp_path):
    async def cycles(m: Monitor) -> float:
        t = time.perf_counter()
        for _ in range(500):
            rec = _begin(m)
            m.finish(rec, status=200, response_body=b"{}")
        return time.perf_counter() - t

    plain = Monitor(tmp_path / "a.sqlite3", MonitorSettings(capture_bodies="all"))
    await plain.open()
    baseline = min([await cycles(plain) for _ in range(3)])
    await plain.close()

    m = Monitor(tmp_path / "b.sqlite3", MonitorSettings(capture_bodies="all"))
    await m.open()
    stuck = m.subscribe(maxsize=10)  # never read
    loaded = min([await cycles(m) for _ in range(3)])
    await m.close()
    assert stuck.dropped == 3 * 1000 - 10
    assert stuck.qsize() == 10
    assert loaded < baseline * 3 + 0.05, (loaded, baseline)


async def test_get_nowait_batch_drains_in_order(monitor):
    sub = monitor.subscribe()
    recs = [run_request(monitor, status=200 + i) for i in range(3)]
    batch = sub.get_nowait_batch()
    assert [r.id for r in batch] == [r.id for r in recs for _ in (0, 1)]
    assert sub.get_nowait_batch() == []


async def test_ring_keeps_only_the_newest_records(db_path):
    m = Monitor(db_path, MonitorSettings(), ring_size=50)
    await m.open()
    recs = [run_request(m) for _ in range(120)]
    assert [r.id for r in m.recent(1000)] == [r.id for r in recs[-50:]]
    assert [r.id for r in m.recent(3)] == [r.id for r in recs[-3:]]
    await m.close()


async def test_stats_count_requests_errors_tokens_and_in_flight(monitor):
    pending = _begin(monitor)
    run_request(monitor, status=200, input_tokens=10, output_tokens=5)
    run_request(monitor, status=429, input_tokens=1)
    run_request(monitor, status=200, error="stream cut")
    s = monitor.stats
    assert (s.requests, s.errors, s.input_tokens, s.output_tokens, s.in_flight) == (3, 2, 11, 5, 1)
    monitor.finish(pending, status=200)
    assert monitor.stats.in_flight == 0


async def test_get_finds_an_in_flight_record_in_memory(monitor):
    rec = _begin(monitor)
    assert await monitor.get(rec.id) is rec
    monitor.finish(rec, status=200)

"""Usage rollups (SPEC §18): what the stats answer equals the raw records they summarise."""

from __future__ import annotations

import random
import sqlite3
import time
from collections import defaultdict
from datetime import datetime

import pytest

from proxy.config.model import MonitorSettings
from proxy.monitor.record import RequestRecord
from proxy.monitor.rollup import (
    LATENCY_BUCKETS_MS,
    N_LAT,
    UsageRow,
    latency_bucket,
    query_series,
    range_start,
)
from proxy.monitor.store import MonitorStore

MODELS = [
    ("claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("gpt-4o", "gemini-2.5-pro"),
    ("gemini-2.5-flash", "gemini-2.5-flash"),
    ("glm", ""),
    ("x", ""),
]
ACCOUNTS = ["", "a@example.com", "b@example.com", "key-1"]
KEYS = ["", "alice", "bob", "ci"]
STATUSES = [200, 200, 200, 200, 400, 401, 429, 499, 500, 503]


def random_records(rng: random.Random, n: int, span_s: float, now: float) -> list[RequestRecord]:
    out = []
    for i in range(n):
        cm, um = rng.choice(MODELS)
        status = rng.choice(STATUSES)
        dur = rng.choice([rng.uniform(0, 120_000), float(rng.choice(LATENCY_BUCKETS_MS))])
        rec = RequestRecord(
            id=i + 1,
            started=now - rng.uniform(0, span_s),
            protocol=rng.choice(["openai", "anthropic", "gemini"]),
            client_model=cm,
            upstream_model=um,
            account=rng.choice(ACCOUNTS),
            client_key=rng.choice(KEYS),
            status=status,
            duration_ms=round(dur, 1),
            ttfb_ms=None if rng.random() < 0.3 else round(rng.uniform(0, dur), 1),
            input_tokens=rng.randrange(0, 5000),
            output_tokens=rng.randrange(0, 2000),
            cached_tokens=rng.randrange(0, 100),
            thinking_tokens=rng.randrange(0, 300),
            error="boom" if status == 200 and rng.random() < 0.05 else "",
        )
        out.append(rec)
    return out


def expected(records: list[RequestRecord], keyfn) -> dict[str, UsageRow]:
    """The stats computed the slow, obvious way from the raw records."""
    out: dict[str, UsageRow] = defaultdict(lambda: UsageRow(""))
    for r in records:
        u = out[keyfn(r)]
        u.requests += 1
        u.errors += r.status >= 400 or bool(r.error)
        u.input_tokens += r.input_tokens
        u.output_tokens += r.output_tokens
        u.cached_tokens += r.cached_tokens
        u.thinking_tokens += r.thinking_tokens
        u.duration_ms += r.duration_ms
        if r.ttfb_ms is not None:
            u.ttfb_ms += r.ttfb_ms
            u.ttfb_count += 1
        index = next(
            (i for i, b in enumerate(LATENCY_BUCKETS_MS) if r.duration_ms <= b),
            len(LATENCY_BUCKETS_MS),
        )
        u.latency_hist[index] += 1
    for k, u in out.items():
        u.key = k
    return dict(out)


BY_KEY = {
    "model": lambda r: r.upstream_model or r.client_model,
    "client_model": lambda r: r.client_model,
    "account": lambda r: r.account,
    "key": lambda r: r.client_key,
    "protocol": lambda r: r.protocol,
    "status": lambda r: f"{r.status // 100}xx",
    "day": lambda r: datetime.fromtimestamp(int(r.started // 3600) * 3600).strftime("%Y-%m-%d"),
    "hour": lambda r: datetime.fromtimestamp(int(r.started // 3600) * 3600).strftime(
        "%Y-%m-%d %H:00"
    ),
    "total": lambda r: "",
}


def assert_same(got: list[UsageRow], want: dict[str, UsageRow]) -> None:
    assert sorted(u.key for u in got) == sorted(want)
    for u in got:
        w = want[u.key]
        assert (
            u.requests,
            u.errors,
            u.input_tokens,
            u.output_tokens,
            u.cached_tokens,
            u.thinking_tokens,
            u.ttfb_count,
            u.latency_hist,
        ) == (
            w.requests,
            w.errors,
            w.input_tokens,
            w.output_tokens,
            w.cached_tokens,
            w.thinking_tokens,
            w.ttfb_count,
            w.latency_hist,
        ), u.key
        assert u.duration_ms == pytest.approx(w.duration_ms)
        assert u.ttfb_ms == pytest.approx(w.ttfb_ms)


def write(store: MonitorStore, records: list[RequestRecord], rng: random.Random) -> None:
    """In batches of random size, the way the writer meets them."""
    i = 0
    while i < len(records):
        n = rng.randrange(1, 300)
        for r in records[i : i + n]:
            store.put(r)
        store.flush()
        i += n


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hourly_rollups_equal_the_raw_records_for_every_grouping(tmp_path, seed):
    rng = random.Random(seed)
    now = time.time()
    records = random_records(rng, 3000, 30 * 86400, now)
    store = MonitorStore(tmp_path / "m.sqlite3", MonitorSettings())
    store.open()
    try:
        write(store, records, rng)
        stored = store.reader.query("1", [], 10**6)
        assert len(stored) == len(records)
        since = now - 31 * 86400
        for by, keyfn in BY_KEY.items():
            assert_same(store.reader.usage(by, since), expected(stored, keyfn))
    finally:
        store.close()


@pytest.mark.parametrize("span", [3600, 86400, 7 * 86400])
def test_every_range_answers_exactly_from_its_first_bucket(tmp_path, span):
    rng = random.Random(7)
    now = time.time()
    records = random_records(rng, 3000, 10 * 86400, now)
    store = MonitorStore(tmp_path / "m.sqlite3", MonitorSettings())
    store.open()
    try:
        write(store, records, rng)
        since = now - span
        start = range_start(since, now)
        assert since - start < (300 if span <= 7200 else 3600 if span <= 2 * 86400 else 86400)
        inside = [r for r in records if r.started >= start]
        assert 0 < len(inside) < len(records)
        for by in ("model", "key", "day", "hour"):
            inside = [r for r in records if r.started >= range_start(since, now, by)]
            assert_same(store.reader.usage(by, since), expected(inside, BY_KEY[by]))
        series = store.reader.series(since, max(300, span // 24))
        first = series[0][0]
        assert sum(u.requests for _, u in series) == len([r for r in records if r.started >= first])
    finally:
        store.close()


def test_series_has_one_point_per_step_with_empty_steps_included(tmp_path):
    now = 1_800_000_000.0 + 1800  # half past an hour
    store = MonitorStore(tmp_path / "m.sqlite3", MonitorSettings())
    store.open()
    try:
        for i, hours_ago in enumerate([0.1, 0.2, 5.8]):
            store.put(RequestRecord(id=i + 1, started=now - hours_ago * 3600, status=200))
        store.flush()
        with store.reader._lock:
            series = query_series(store.reader._c(), now - 6 * 3600, 3600, now=now)
        counts = [u.requests for _, u in series]
        assert len(counts) == 7 and sum(counts) == 3
        assert counts[0] == 1 and counts[-1] == 2 and counts[1:-1] == [0] * 5
    finally:
        store.close()


def test_rollups_outlive_raw_records_and_have_their_own_retention(tmp_path):
    now = time.time()
    settings = MonitorSettings(retention_days=1, max_records=100, stats_retention_days=10)
    store = MonitorStore(tmp_path / "m.sqlite3", settings)
    store.open()
    try:
        ages_days = [0.1] * 150 + [5] * 3 + [20] * 2
        for i, age in enumerate(ages_days):
            store.put(RequestRecord(id=i + 1, started=now - age * 86400, status=200))
        store.flush()
        store.prune()
        assert store.reader.count() == 100  # raw: max_records and 1 day
        total = store.reader.usage("total", now - 30 * 86400)
        assert total[0].requests == 153  # rollups: 10 days
    finally:
        store.close()


def test_a_database_from_before_rollups_gets_them_from_its_raw_records(tmp_path):
    path = tmp_path / "m.sqlite3"
    rng = random.Random(5)
    now = time.time()
    records = random_records(rng, 500, 10 * 86400, now)
    for r in records:
        r.thinking_tokens, r.client_key = 0, ""  # an old database has neither column
    store = MonitorStore(path, MonitorSettings())
    store.open()
    write(store, records, rng)
    store.close()
    with sqlite3.connect(path) as conn:  # make it look like the previous schema
        conn.execute("DROP TABLE rollups")
        conn.execute("DROP TABLE rollups_5m")
        conn.execute("ALTER TABLE requests DROP COLUMN client_key")
        conn.execute("ALTER TABLE requests DROP COLUMN thinking_tokens")
    store = MonitorStore(path, MonitorSettings())
    store.open()
    try:
        assert_same(
            store.reader.usage("model", now - 11 * 86400), expected(records, BY_KEY["model"])
        )
        for span in (3600, 86400):
            start = range_start(now - span, now)
            assert_same(
                store.reader.usage("account", now - span),
                expected([r for r in records if r.started >= start], BY_KEY["account"]),
            )
    finally:
        store.close()


def test_percentiles_come_from_the_histogram():
    # sums that do not fit the counts (no duration kept): linear within the bucket
    u = UsageRow("m", requests=100, latency_hist=[0, 50, 40, 10, 0, 0, 0, 0, 0, 0])
    assert u.p50_ms == 250.0  # the 50th request is the last of the 100-250 ms bucket
    assert 250 < u.p95_ms <= 1000
    assert UsageRow("m").p95_ms == 0.0
    assert UsageRow("m", requests=1, latency_hist=[0] * 9 + [1]).p95_ms == 60_000


def seeded(durations: list[float]) -> UsageRow:
    hist = [0] * N_LAT
    for ms in durations:
        hist[latency_bucket(ms)] += 1
    return UsageRow("m", requests=len(durations), duration_ms=sum(durations), latency_hist=hist)


def test_percentiles_of_fast_requests_are_not_the_bucket_midpoint():
    """All requests at 1-3 ms sit in the 0-100 ms bucket: the summed duration says how
    fast they were (the estimate was 50 / 95 ms, whatever their real latency)."""
    assert seeded([2.0] * 53).p50_ms <= 10 and seeded([2.0] * 53).p95_ms <= 10
    mixed = seeded([1.0, 2.0, 3.0] * 20)
    assert 1 <= mixed.p50_ms <= 4 and mixed.p95_ms <= 4
    # one bucket only: its mean is exact, the open-ended last bucket included
    assert seeded([70_000.0] * 5).p95_ms == 70_000
    assert seeded([40.0] * 10).p50_ms == 40


def test_percentiles_of_a_mix_land_in_the_right_buckets():
    mix = seeded([50.0] * 90 + [5000.0] * 10)
    assert mix.p50_ms <= 100  # 50 ms requests
    assert 2500 < mix.p95_ms <= 5000  # the 5 s ones' bucket (2.5-5 s)
    assert seeded([50.0] * 94 + [5000.0] * 6).p95_ms > 2500
    spread = seeded([40.0, 60.0, 80.0, 120.0, 300.0, 700.0] * 5)
    assert 0 < spread.p50_ms <= 100 and 500 < spread.p95_ms <= 1000

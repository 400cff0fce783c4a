"""Usage rollups (SPEC §18): per time bucket and (protocol, client model, upstream model,
account, client key, status class), the sums every stats view needs, kept longer than the
raw records and small enough that a stats query never scans those.

Three tables with the same shape: `rollups` (hourly, kept `monitor.stats_retention_days`),
`rollups_5m` (5-minute buckets, kept two days: the 1h view) and `rollups_1d` (local
calendar days, kept as long as the hourly ones: 7d/30d answer from a few thousand rows).
The monitor's writer thread updates all three in the transaction that inserts the raw
records (`upsert`).
"""

from __future__ import annotations

import sqlite3
import time
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proxy.monitor.record import RequestRecord

# Latency histogram bucket upper bounds (ms); one more bucket holds everything slower.
LATENCY_BUCKETS_MS: tuple[int, ...] = (100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000)
N_LAT = len(LATENCY_BUCKETS_MS) + 1
INF = float("inf")
LAT_COLUMNS = tuple(f"lat{i}" for i in range(N_LAT))

HOURLY, FINE, DAILY = "rollups", "rollups_5m", "rollups_1d"
STEP = {HOURLY: 3600, FINE: 300, DAILY: 86400}  # DAILY buckets start at local midnight
FINE_KEEP_SECONDS = 2 * 86400
FINE_STEP = 300

DIMS = ("protocol", "client_model", "upstream_model", "account", "client_key", "status_class")
SUMS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "thinking_tokens",
    "duration_ms",
    "ttfb_ms",
    "ttfb_count",
    *LAT_COLUMNS,
)
_N_SUMS = len(SUMS)
_FIRST_LAT = SUMS.index("lat0")


def schema(table: str) -> str:
    dims = ", ".join(
        f"{d} INTEGER NOT NULL" if d == "status_class" else f"{d} TEXT NOT NULL" for d in DIMS
    )
    sums = ", ".join(
        f"{s} REAL NOT NULL DEFAULT 0" if s.endswith("_ms") else f"{s} INTEGER NOT NULL DEFAULT 0"
        for s in SUMS
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (bucket INTEGER NOT NULL, {dims}, {sums}, "
        f"PRIMARY KEY (bucket, {', '.join(DIMS)})) WITHOUT ROWID"
    )


def _upsert_sql(table: str) -> str:
    cols = ("bucket", *DIMS, *SUMS)
    updates = ", ".join(f"{s} = {s} + excluded.{s}" for s in SUMS)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        f"ON CONFLICT (bucket, {', '.join(DIMS)}) DO UPDATE SET {updates}"
    )


_UPSERT = {t: _upsert_sql(t) for t in STEP}


def latency_bucket(duration_ms: float) -> int:
    """Index of the histogram bucket: the first bound >= duration (last: slower than all)."""
    return bisect_left(LATENCY_BUCKETS_MS, duration_ms)


_DAY_STARTS: dict[int, int] = {}


def day_start(ts: float) -> int:
    """Epoch of the local midnight that starts `ts`'s day (memoised per quarter hour:
    every time zone offset is a multiple of 15 minutes)."""
    q = int(ts // 900)
    start = _DAY_STARTS.get(q)
    if start is None:
        if len(_DAY_STARTS) > 10_000:
            _DAY_STARTS.clear()
        d = datetime.fromtimestamp(q * 900)
        start = _DAY_STARTS[q] = int(
            d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        )
    return start


def bucket_of(ts: float, step: int) -> int:
    return day_start(ts) if step == 86400 else int(ts // step) * step


def aggregate(records: Iterable[RequestRecord], step: int) -> dict[tuple[Any, ...], list[Any]]:
    """Sum finished records into {(bucket, *dims): sums in SUMS order}."""
    if step != FINE_STEP:  # sum the 5-minute groups: a batch has far fewer than records
        return regroup(aggregate(records, FINE_STEP), step)
    out: dict[tuple[Any, ...], list[Any]] = {}
    get = out.get
    lat_index = _FIRST_LAT
    for r in records:
        status = r.status
        key = (
            int(r.started // 300) * 300,
            r.protocol,
            r.client_model,
            r.upstream_model,
            r.account,
            r.client_key,
            status // 100,
        )
        s = get(key)
        if s is None:
            s = out[key] = [0, 0, 0, 0, 0, 0, 0.0, 0.0, *([0] * (_N_SUMS - 8))]
        s[0] += 1
        if status >= 400 or r.error:
            s[1] += 1
        s[2] += r.input_tokens
        s[3] += r.output_tokens
        s[4] += r.cached_tokens
        s[5] += r.thinking_tokens
        duration = r.duration_ms
        s[6] += duration
        if r.ttfb_ms is not None:
            s[7] += r.ttfb_ms
            s[8] += 1
        s[lat_index + bisect_left(LATENCY_BUCKETS_MS, duration)] += 1
    return out


def regroup(
    groups: dict[tuple[Any, ...], list[Any]], step: int
) -> dict[tuple[Any, ...], list[Any]]:
    """5-minute groups summed into `step` buckets (a local day for 86400)."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    for key, sums in groups.items():
        k = (bucket_of(key[0], step), *key[1:])
        have = out.get(k)
        if have is None:
            out[k] = list(sums)
        else:
            for i, v in enumerate(sums):
                have[i] += v
    return out


def upsert(conn: sqlite3.Connection, records: list[RequestRecord]) -> None:
    """Add `records` to every rollup table (inside the caller's transaction)."""
    fine = aggregate(records, FINE_STEP)
    for table, step in STEP.items():
        groups = fine if step == FINE_STEP else regroup(fine, step)
        conn.executemany(_UPSERT[table], [(*k, *v) for k, v in groups.items()])


def create(conn: sqlite3.Connection) -> None:
    """Create the tables; a database from before rollups gets them filled from its raw
    records once (so history is not lost on upgrade)."""
    for table, step in STEP.items():
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        conn.execute(schema(table))
        if not exists:
            _backfill(conn, table, step)


def _backfill(conn: sqlite3.Connection, table: str, step: int) -> None:
    lat = []
    lo: float | None = None
    for hi in LATENCY_BUCKETS_MS:
        lat.append(
            f"sum(duration_ms <= {hi})"
            if lo is None
            else f"sum(duration_ms > {lo} AND duration_ms <= {hi})"
        )
        lo = hi
    lat.append(f"sum(duration_ms > {lo})")
    since = "" if table != FINE else f"WHERE started >= {time.time() - FINE_KEEP_SECONDS}"
    bucket = (
        "CAST(strftime('%s', started, 'unixepoch', 'localtime', 'start of day', 'utc') AS INTEGER)"
        if table == DAILY
        else f"CAST(started / {step} AS INTEGER) * {step}"
    )
    conn.execute(
        f"INSERT INTO {table} (bucket, {', '.join(DIMS)}, {', '.join(SUMS)}) "
        f"SELECT {bucket} AS b, protocol, client_model, "
        "upstream_model, account, client_key, status / 100 AS sc, count(*), "
        "sum(status >= 400 OR error != ''), sum(input_tokens), sum(output_tokens), "
        "sum(cached_tokens), sum(thinking_tokens), sum(duration_ms), "
        f"coalesce(sum(ttfb_ms), 0), count(ttfb_ms), {', '.join(lat)} FROM requests {since} "
        "GROUP BY b, protocol, client_model, upstream_model, account, client_key, sc"
    )


def prune(conn: sqlite3.Connection, retention_days: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    for table in (HOURLY, DAILY):
        conn.execute(f"DELETE FROM {table} WHERE bucket < ?", (now - retention_days * 86400,))
    conn.execute(f"DELETE FROM {FINE} WHERE bucket < ?", (now - FINE_KEEP_SECONDS,))


# -- reading ------------------------------------------------------------------------------

BY = (
    "model",
    "client_model",
    "upstream_model",
    "account",
    "key",
    "protocol",
    "status",
    "day",
    "hour",
    "total",
)
_BY_EXPR = {
    "model": "CASE WHEN upstream_model != '' THEN upstream_model ELSE client_model END",
    "client_model": "client_model",
    "upstream_model": "upstream_model",
    "account": "account",
    "key": "client_key",
    "protocol": "protocol",
    "status": "status_class",
    "day": "date(bucket, 'unixepoch', 'localtime')",
    "hour": "CAST(bucket / 3600 AS INTEGER) * 3600",
    "total": "''",
}
_SUM_SELECT = ", ".join(f"sum({s})" for s in SUMS)


def _bounds(i: int) -> tuple[float, float]:
    """Latency bucket i's range in ms: (lower, upper]; the last has no upper bound."""
    lo = float(LATENCY_BUCKETS_MS[i - 1]) if i else 0.0
    hi = float(LATENCY_BUCKETS_MS[i]) if i < len(LATENCY_BUCKETS_MS) else INF
    return lo, hi


def bucket_means(hist: list[int], duration_sum: float) -> list[float]:
    """Each bucket's mean latency (ms), as near its midpoint as the total allows: the
    rollups keep only counts per bucket and one summed duration, and the sum bounds each
    bucket's share (the other buckets hold at least their lower bounds and at most their
    upper ones). With every request in one bucket its mean is exact."""
    bounds = [_bounds(i) for i in range(len(hist))]
    floor = sum(n * lo for n, (lo, _) in zip(hist, bounds))
    ceiling = sum(n * hi for n, (_, hi) in zip(hist, bounds) if n and hi != INF)
    open_ended = sum(1 for n, (_, hi) in zip(hist, bounds) if n and hi == INF)
    means: list[float] = []
    for n, (lo, hi) in zip(hist, bounds):
        if not n:
            means.append(lo)
            continue
        # this bucket's sum lies between the total less the most and the least the
        # other buckets can hold
        others_unbounded = open_ended - (hi == INF) > 0
        least = n * lo if others_unbounded else duration_sum - (ceiling - (0 if hi == INF else n * hi))
        most = duration_sum - (floor - n * lo)
        low_mean, high_mean = max(lo, least / n), min(hi, most / n)
        if low_mean > high_mean:  # sums that do not fit the counts: the bucket alone
            low_mean, high_mean = lo, hi
        mid = lo if hi == INF else (lo + hi) / 2  # open-ended: "at least"
        means.append(min(max(mid, low_mean), high_mean))
    return means


@dataclass(slots=True)
class UsageRow:
    """Usage of one group (a model, an account, a key, a day…) over a time range."""

    key: str
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    thinking_tokens: int = 0
    duration_ms: float = 0.0  # summed
    ttfb_ms: float = 0.0  # summed over the ttfb_count requests that sent a byte
    ttfb_count: int = 0
    latency_hist: list[int] = field(default_factory=lambda: [0] * N_LAT)

    @classmethod
    def from_sums(cls, key: str, sums: Iterable[Any]) -> UsageRow:
        v = [x or 0 for x in sums]
        return cls(
            key,
            int(v[0]),
            int(v[1]),
            int(v[2]),
            int(v[3]),
            int(v[4]),
            int(v[5]),
            float(v[6]),
            float(v[7]),
            int(v[8]),
            [int(x) for x in v[_FIRST_LAT:]],
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def avg_ms(self) -> float:
        return self.duration_ms / self.requests if self.requests else 0.0

    @property
    def avg_ttfb_ms(self) -> float:
        return self.ttfb_ms / self.ttfb_count if self.ttfb_count else 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def percentile_ms(self, q: float) -> float:
        """Estimated from the histogram and the summed duration: the q-th request's
        bucket, narrowed to what the sum allows (see `bucket_means`), then linear within
        a range centred on that bucket's mean. All requests at 2 ms give ~2 ms, not the
        0-100 ms bucket's midpoint; the last bucket has no upper bound, its mean is used."""
        hist = self.latency_hist
        total = sum(hist)
        if not total:
            return 0.0
        rank = q * total
        seen = 0
        means = bucket_means(hist, self.duration_ms)
        for i, n in enumerate(hist):
            if n and seen + n >= rank:
                lo, hi = _bounds(i)
                mean = means[i]
                if hi == INF:
                    return round(mean, 1)
                # the widest even spread inside the bucket with this mean
                half = min(mean - lo, hi - mean)
                return round(mean - half + 2 * half * (rank - seen) / n, 1)
            seen += n
        return float(LATENCY_BUCKETS_MS[-1])

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p95_ms(self) -> float:
        return self.percentile_ms(0.95)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "thinking_tokens": self.thinking_tokens,
            "avg_ms": round(self.avg_ms, 1),
            "avg_ttfb_ms": round(self.avg_ttfb_ms, 1),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
        }


def table_for(since: float, now: float, step: int | None = None) -> str:
    """The coarsest table that still answers the range (and the chart step) well: 5-minute
    buckets up to two hours back, hourly up to two days, local days beyond (a range over
    two days starts at the midnight before `since`)."""
    span = now - since
    if step is not None:
        if step < 3600 and span <= FINE_KEEP_SECONDS - 300:
            return FINE
        return DAILY if step >= 86400 else HOURLY
    if span <= 7200:
        return FINE
    return HOURLY if span <= 2 * 86400 else DAILY


def _usage_table(by: str, since: float, now: float) -> str:
    table = table_for(since, now)
    return HOURLY if by == "hour" and table == DAILY else table


def range_start(since: float, now: float | None = None, by: str = "model") -> int:
    """Where a usage query from `since` really starts: the start of its first bucket."""
    now = time.time() if now is None else now
    return bucket_of(since, STEP[_usage_table(by, since, now)])


def query_usage(
    conn: sqlite3.Connection,
    by: str,
    since: float,
    until: float | None = None,
    now: float | None = None,
) -> list[UsageRow]:
    """Usage grouped `by` one of BY over [since, until); busiest first (day/hour: in time
    order). The range starts at its first bucket's start (`range_start`)."""
    if by not in _BY_EXPR:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    now = time.time() if now is None else now
    table = _usage_table(by, since, now)
    where, params = "bucket >= ?", [float(bucket_of(since, STEP[table]))]
    if until is not None:
        where += " AND bucket < ?"
        params.append(until)
    rows = _select(
        conn,
        f"SELECT {_BY_EXPR[by]} AS k, {_SUM_SELECT} FROM {table} WHERE {where} GROUP BY k",
        params,
    )
    out = [UsageRow.from_sums(_key_text(by, r[0]), r[1:]) for r in rows]
    if by in ("hour", "day"):
        out.sort(key=lambda u: u.key)
    else:
        out.sort(key=lambda u: (-u.requests, u.key))
    return out


def query_series(
    conn: sqlite3.Connection,
    since: float,
    step: int,
    until: float | None = None,
    now: float | None = None,
) -> list[tuple[int, UsageRow]]:
    """Usage per `step` seconds from `since` to `until` (default now), one entry per step
    (empty steps included): what the Stats tab charts."""
    now = time.time() if now is None else now
    until = now if until is None else until
    table = table_for(since, now, step)
    if table == DAILY:  # local days are not all 86400 s long (DST): one point per day
        rows = _select(
            conn,
            f"SELECT bucket, {_SUM_SELECT} FROM {table} WHERE bucket >= ? AND bucket < ? "
            "GROUP BY bucket",
            [day_start(since), until],
        )
        found = {int(r[0]): UsageRow.from_sums(str(int(r[0])), r[1:]) for r in rows}
        days, t = [], day_start(since)
        while t <= until:
            days.append(t)
            t = day_start(t + 90_000)
        return [(d, found.get(d) or UsageRow(str(d))) for d in days]
    base = STEP[table]
    step = max(base, step // base * base)
    start = int(since // step) * step
    rows = _select(
        conn,
        f"SELECT CAST(bucket / {step} AS INTEGER) * {step} AS t, {_SUM_SELECT} FROM {table} "
        "WHERE bucket >= ? AND bucket < ? GROUP BY t",
        [start, until],
    )
    found = {int(r[0]): UsageRow.from_sums(str(int(r[0])), r[1:]) for r in rows}
    return [(t, found.get(t) or UsageRow(str(t))) for t in range(start, int(until) + 1, step)]


def _select(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[Any]:
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # a database written before rollups existed
            return []
        raise


def _key_text(by: str, value: Any) -> str:
    if by == "hour":
        return datetime.fromtimestamp(int(value)).strftime("%Y-%m-%d %H:00")
    if by == "status":
        return f"{int(value)}xx" if value else "in flight"
    return "" if value is None else str(value)

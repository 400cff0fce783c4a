"""`agproxy stats [--by model|account|key|day|hour|protocol|status] [--since 24h] [--json|--csv]`:
usage from the monitor's rollups (SPEC §18), read on a read-only connection (works while
`agproxy serve` writes)."""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
import time
from datetime import datetime
from typing import Any, TextIO

from proxy import jsoncodec
from proxy.monitor.filter import FilterError, parse_time
from proxy.monitor.rollup import UsageRow, range_start
from proxy.monitor.store import StoreReader
from proxy.paths import resolve_paths

BY_CHOICES = ("model", "account", "key", "day", "hour", "protocol", "status")
# what an empty group value means, per grouping
EMPTY_LABEL = {"key": "(proxy key)", "account": "(no account)", "model": "(no model)"}
FIELDS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "thinking_tokens",
    "avg_ms",
    "avg_ttfb_ms",
    "p50_ms",
    "p95_ms",
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats",
        help="usage per model, account, client key, day or hour",
        description="Usage from the monitor's rollups: requests, errors, tokens and latency "
        "grouped by model, account, client key, day or hour.",
    )
    p.add_argument("--by", choices=BY_CHOICES, default="model", help="grouping (default model)")
    p.add_argument(
        "--since",
        default="24h",
        metavar="RANGE",
        help="how far back: 1h, 24h, 7d, 30d (any N m/h/d/w, or a date; default 24h)",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON document")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = resolve_paths(getattr(args, "config", None))
    now = time.time()
    try:
        since = parse_time(args.since, now)
    except FilterError as exc:
        print(f"agproxy stats: {exc}", file=sys.stderr)
        return 2
    rows: list[UsageRow] = []
    total = UsageRow("total")
    db = paths.monitor_db
    if db.exists():
        reader = StoreReader(db, readonly=True)
        try:
            rows = reader.usage(args.by, since)
            found = reader.usage("total", since)
        except sqlite3.DatabaseError as exc:
            print(f"agproxy stats: cannot read {db}: {exc}", file=sys.stderr)
            return 1
        finally:
            reader.close()
        if found:
            total = found[0]
            total.key = "total"
    start = range_start(since, now, args.by)
    if args.json:
        write_json(sys.stdout, args.by, start, rows, total)
    elif args.csv:
        write_csv(sys.stdout, args.by, rows)
    else:
        write_table(sys.stdout, args.by, start, rows, total)
    return 0


def label(by: str, key: str) -> str:
    return key or EMPTY_LABEL.get(by, "(none)")


def _share(row: UsageRow, total: UsageRow) -> float:
    return round(100.0 * row.requests / total.requests, 1) if total.requests else 0.0


def write_json(out: TextIO, by: str, start: float, rows: list[UsageRow], total: UsageRow) -> None:
    doc: dict[str, Any] = {
        "by": by,
        "since": datetime.fromtimestamp(start).isoformat(timespec="seconds"),
        "rows": [{**r.to_dict(), "share": _share(r, total)} for r in rows],
        "total": {k: v for k, v in total.to_dict().items() if k != "key"},
    }
    out.write(jsoncodec.dumps_pretty(doc) + "\n")


def write_csv(out: TextIO, by: str, rows: list[UsageRow]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, *FIELDS])
    for r in rows:
        d = r.to_dict()
        writer.writerow([r.key, *(d[f] for f in FIELDS)])


def write_table(out: TextIO, by: str, start: float, rows: list[UsageRow], total: UsageRow) -> None:
    when = datetime.fromtimestamp(start).strftime("%Y-%m-%d %H:%M")
    if not rows:
        out.write(f"no requests since {when}\n")
        return
    out.write(f"usage by {by} since {when}\n")
    head = (
        by.upper(),
        "REQUESTS",
        "ERRORS",
        "ERR%",
        "INPUT",
        "OUTPUT",
        "CACHED",
        "THINKING",
        "P50 MS",
        "P95 MS",
        "SHARE",
    )
    body = [_cells(label(by, r.key), r, _share(r, total)) for r in rows]
    foot = _cells("TOTAL", total, 100.0)
    widths = [max(len(row[i]) for row in (head, *body, foot)) for i in range(len(head))]
    for row in (head, *body, foot):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        out.write("  ".join(cells).rstrip() + "\n")


def _cells(name: str, r: UsageRow, share: float) -> tuple[str, ...]:
    return (
        name,
        f"{r.requests:,}",
        f"{r.errors:,}",
        f"{100 * r.error_rate:.1f}%",
        f"{r.input_tokens:,}",
        f"{r.output_tokens:,}",
        f"{r.cached_tokens:,}",
        f"{r.thinking_tokens:,}",
        f"{r.p50_ms:,.0f}",
        f"{r.p95_ms:,.0f}",
        f"{share:.1f}%",
    )

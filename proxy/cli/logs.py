"""`agproxy logs [--follow] [--filter EXPR] [--json] [-n N]`: the monitor's stored requests,
read from SQLite on a read-only connection (works while `agproxy serve` writes)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

from proxy import jsoncodec
from proxy.monitor.filter import FilterError, parse_filter
from proxy.monitor.record import RequestRecord
from proxy.monitor.store import StoreReader
from proxy.paths import resolve_paths

POLL_SECONDS = 0.5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "logs",
        help="show monitored requests",
        description="Show monitored requests from the monitor database (newest last).",
        epilog="Filter terms: id:<X-Agproxy-Request-Id> status:4xx status:429 model:gemini* account:alice key:alice protocol:anthropic "
        "path:/v1/messages method:POST errors is:stream since:10m until:2026-11-25T10:00 "
        "-term (not) and plain words; terms combine with AND.",
    )
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new requests as they are stored"
    )
    p.add_argument("--filter", metavar="EXPR", default="", help="only requests matching EXPR")
    p.add_argument("--json", action="store_true", help="one JSON object per line (all fields)")
    p.add_argument(
        "-n",
        "--lines",
        type=int,
        default=20,
        metavar="N",
        help="how many recent requests (default 20)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = resolve_paths(getattr(args, "config", None))
    db = paths.monitor_db
    try:
        flt = parse_filter(args.filter)
    except FilterError as exc:
        print(f"agproxy logs: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout
    try:
        if not db.exists():
            if not args.follow:
                print(
                    f"agproxy logs: no monitor database at {db} (nothing recorded yet)",
                    file=sys.stderr,
                )
                return 1
            while not db.exists():  # follow: wait for `agproxy serve` to create it
                time.sleep(POLL_SECONDS)
        inode = _inode(db)
        reader = StoreReader(db, readonly=True)
        where, params = flt.to_sql()
        try:
            last_seq = reader.max_seq()
            records = reader.query(where, params, max(args.lines, 0))
        except sqlite3.DatabaseError as exc:
            print(f"agproxy logs: cannot read {db}: {exc}", file=sys.stderr)
            return 1
        for record in reversed(records):
            _emit(out, record, args.json)
        out.flush()
        if not args.follow:
            return 0
        while True:
            time.sleep(POLL_SECONDS)
            try:
                rows = reader.after(last_seq, where, params)
            except sqlite3.OperationalError:
                continue  # busy or being replaced: try again next poll
            except sqlite3.DatabaseError:
                reader.reset()  # the file was moved aside and recreated
                last_seq = 0
                continue
            for seq, record in rows:
                last_seq = seq
                _emit(out, record, args.json)
            if rows:
                out.flush()
            else:
                ino = _inode(db)
                if ino is not None and ino != inode:
                    # `agproxy serve` moved a broken file aside: read the fresh one from the start
                    reader.reset()
                    inode, last_seq = ino, 0
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # the reader of our output went away (`| head`): stop quietly, and keep Python's
        # final flush from failing on the closed pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        return 0


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _emit(out: TextIO, record: RequestRecord, as_json: bool) -> None:
    if as_json:
        out.write(jsoncodec.dumps(record.to_dict()).decode() + "\n")
    else:
        out.write(format_line(record) + "\n")


def format_line(r: RequestRecord) -> str:
    """time, status, method, path, protocol, model → upstream, account, ms, tokens, id
    (the X-Agproxy-Request-Id the client saw)."""
    when = datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M:%S")
    status = str(r.status) if r.status else "..."
    model = r.client_model or "-"
    if r.upstream_model and r.upstream_model != r.client_model:
        model = f"{model} → {r.upstream_model}"
    tokens = f"{r.input_tokens}/{r.output_tokens}" if r.input_tokens or r.output_tokens else "-"
    line = (
        f"{when}  {status:>3}  {r.method:<6} {r.path}  {r.protocol or '-'}  {model}  "
        f"{r.account or '-'}  {r.duration_ms:.0f}ms  {tokens}  id {r.id}"
    )
    if r.error:
        line += f"  ! {r.error.splitlines()[0][:200]}"
    return line

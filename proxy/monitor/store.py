"""The monitor's SQLite store (WAL): batched writes on one writer thread, reads on their own
connection, pruning by age and count, and recovery from a corrupt or locked file.

Nothing here runs on the event loop: `put()` only appends to a deque. Another process
(`agproxy logs`) may read the file while `agproxy serve` writes it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from proxy.config.model import MonitorSettings
from proxy.files import private_dir
from proxy.monitor import rollup
from proxy.monitor.record import COLUMNS, RequestRecord
from proxy.monitor.rollup import UsageRow

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY,            -- insertion order: what `logs --follow` tails
    id INTEGER NOT NULL UNIQUE,
    started REAL NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT '',
    protocol TEXT NOT NULL DEFAULT '',
    client_model TEXT NOT NULL DEFAULT '',
    upstream_model TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL DEFAULT '',
    upstream_kind TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL DEFAULT 0,
    duration_ms REAL NOT NULL DEFAULT 0,
    ttfb_ms REAL,
    stream INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    attempts TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    request_headers TEXT NOT NULL DEFAULT '',
    request_body TEXT NOT NULL DEFAULT '',
    response_body TEXT NOT NULL DEFAULT '',
    response_summary TEXT,
    thinking_tokens INTEGER NOT NULL DEFAULT 0,
    client_key TEXT NOT NULL DEFAULT '',
    mapping_rule TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS requests_started ON requests(started, id);
CREATE INDEX IF NOT EXISTS requests_status ON requests(status);
CREATE INDEX IF NOT EXISTS requests_client_model ON requests(client_model);
CREATE INDEX IF NOT EXISTS requests_upstream_model ON requests(upstream_model);
CREATE INDEX IF NOT EXISTS requests_account ON requests(account);
"""

SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM requests"
INSERT = f"INSERT OR REPLACE INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_MODEL_EXPR = "CASE WHEN upstream_model != '' THEN upstream_model ELSE client_model END"
_ERROR_EXPR = "(status >= 400 OR error != '')"
# columns added after the first release: (name, declaration) for ALTER TABLE
_ADDED_COLUMNS = (
    ("thinking_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("client_key", "TEXT NOT NULL DEFAULT ''"),
    ("mapping_rule", "TEXT NOT NULL DEFAULT ''"),
)

BATCH_SECONDS = 0.2
BATCH_RECORDS = 500  # wake the writer early beyond this
PRUNE_SECONDS = 60.0
MAX_PENDING = 50_000  # while the file is locked: beyond this the oldest are dropped


def _private_file(path: Path) -> None:
    """The database (and its -wal/-shm, which SQLite creates with the database's mode)
    readable by its owner only."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except FileNotFoundError:
            continue


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False, timeout=2.0
        )
    else:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=2.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 2000")
    return conn


class StoreReader:
    """Read queries over a monitor database, on one connection guarded by a lock (callers
    run these in worker threads). Used by the Monitor and by `agproxy logs`."""

    def __init__(self, path: Path, readonly: bool = True) -> None:
        self.path = path
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path, self.readonly)
        return self._conn

    def reset(self) -> None:
        """Forget the connection (the file was moved aside and replaced)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    close = reset

    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return self._c().execute(sql, params).fetchall()

    def query(
        self, where: str, params: list[Any], limit: int, before: tuple[float, int] | None = None
    ) -> list[RequestRecord]:
        """Newest first; `before=(started, id)` pages to older records."""
        args = list(params)
        if before is not None:
            where = f"({where}) AND (started, id) < (?, ?)"
            args += [before[0], before[1]]
        rows = self._rows(
            f"{SELECT} WHERE {where} ORDER BY started DESC, id DESC LIMIT ?", [*args, limit]
        )
        return [RequestRecord.from_row(r) for r in rows]

    def get(self, record_id: int) -> RequestRecord | None:
        rows = self._rows(f"{SELECT} WHERE id = ?", (record_id,))
        return RequestRecord.from_row(rows[0]) if rows else None

    def max_seq(self) -> int:
        return int(self._rows("SELECT coalesce(max(seq), 0) FROM requests", ())[0][0])

    def after(
        self, seq: int, where: str = "1", params: list[Any] | None = None
    ) -> list[tuple[int, RequestRecord]]:
        """Rows inserted after `seq`, in insertion order, as (seq, record)."""
        rows = self._rows(
            f"SELECT seq, {', '.join(COLUMNS)} FROM requests WHERE seq > ? AND ({where}) ORDER BY seq",
            [seq, *(params or [])],
        )
        return [(int(r[0]), RequestRecord.from_row(r[1:])) for r in rows]

    def usage(self, by: str, since: float, until: float | None = None) -> list[UsageRow]:
        """Usage grouped by model / account / key / day / … from the rollups (SPEC §18)."""
        with self._lock:
            return rollup.query_usage(self._c(), by, since, until)

    def series(
        self, since: float, step: int, until: float | None = None
    ) -> list[tuple[int, UsageRow]]:
        """Usage per `step` seconds since `since`, from the rollups."""
        with self._lock:
            return rollup.query_series(self._c(), since, step, until)

    def count(self) -> int:
        return int(self._rows("SELECT count(*) FROM requests", ())[0][0])

    def totals(
        self, where: str = "1", params: list[Any] | None = None
    ) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for name, expr in (("by_model", _MODEL_EXPR), ("by_account", "account")):
            rows = self._rows(
                f"SELECT {expr} AS k, count(*), sum({_ERROR_EXPR}), sum(input_tokens), "
                f"sum(output_tokens), sum(cached_tokens) FROM requests WHERE {where} GROUP BY k",
                params or [],
            )
            out[name] = {
                r[0]: {
                    "requests": r[1],
                    "errors": r[2] or 0,
                    "input_tokens": r[3] or 0,
                    "output_tokens": r[4] or 0,
                    "cached_tokens": r[5] or 0,
                }
                for r in rows
            }
        return out


class MonitorStore:
    """Owns the database file: one writer thread, batched inserts, pruning, recovery."""

    def __init__(self, path: Path, settings: MonitorSettings) -> None:
        self.path = Path(path)
        self.settings = settings
        self.reader = StoreReader(self.path, readonly=False)
        self.last_id = 0
        self._pending: deque[RequestRecord] = deque()
        self._conn: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0
        self._locked_since = 0.0

    # -- lifecycle (blocking: callers run these in a worker thread) --------------------

    def open(self) -> None:
        with self._write_lock:
            self._open_file()
            self._prune()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="monitor-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()
        with self._write_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self.reader.close()

    def _open_file(self) -> None:
        """Open (or create) the file; a corrupt or locked one is moved aside for a fresh one."""
        private_dir(self.path.parent)  # the database holds prompts (SPEC §15)
        for attempt in (1, 2):
            try:
                _private_file(self.path)
                conn = connect(self.path)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.executescript(SCHEMA)
                _migrate(conn)
                self.last_id = int(
                    conn.execute("SELECT coalesce(max(id), 0) FROM requests").fetchone()[0]
                )
                self._conn = conn
                return
            except sqlite3.DatabaseError as exc:
                if attempt == 2:
                    raise
                log.error("monitor database %s is unusable (%s); moving it aside", self.path, exc)
                self._move_aside()

    def _move_aside(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        self.reader.reset()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                try:
                    src.rename(Path(str(target) + suffix))
                except OSError as exc:
                    log.error("cannot move %s aside (%s); deleting it", src, exc)
                    src.unlink(missing_ok=True)
        log.error("monitor database moved to %s; a fresh one is used", target)

    # -- writing ---------------------------------------------------------------------

    def put(self, record: RequestRecord) -> None:
        """Queue a finished record (event loop; O(1), no I/O)."""
        pending = self._pending
        pending.append(record)
        if len(pending) >= BATCH_RECORDS:
            if len(pending) > MAX_PENDING:  # the writer is stuck: memory stays bounded
                pending.popleft()
            self._wake.set()

    def flush(self) -> None:
        """Write everything queued now (blocking)."""
        with self._write_lock:
            self._write_pending()

    def prune(self) -> None:
        with self._write_lock:
            self._prune()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(BATCH_SECONDS)
            self._wake.clear()
            try:
                with self._write_lock:
                    self._write_pending()
                    if time.monotonic() - self._last_prune >= PRUNE_SECONDS:
                        self._prune()
            except Exception:  # the writer must survive anything; the loop keeps serving
                log.exception("monitor writer failed")

    def _write_pending(self) -> None:
        pending = self._pending
        if not pending:
            return
        if self._conn is None:  # an earlier recovery failed: try again, keep the records
            try:
                self._open_file()
            except sqlite3.Error as exc:
                log.error("monitor database %s cannot be opened (%s)", self.path, exc)
                return
        batch: list[RequestRecord] = []
        while pending:
            batch.append(pending.popleft())
        rows = [r.to_row() for r in batch]
        for attempt in (1, 2):
            try:
                self._insert(rows, batch)
                self._locked_since = 0.0
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                self._requeue(batch, exc)
                return
            except sqlite3.DatabaseError as exc:
                log.error("monitor database %s failed on write (%s)", self.path, exc)
                self._move_aside()
                self._open_file()
        log.error("monitor: dropped %d records that could not be written", len(batch))

    def _insert(self, rows: list[tuple[Any, ...]], records: list[RequestRecord]) -> None:
        """Raw records and their rollups in one transaction: they never disagree."""
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN")
        try:
            conn.executemany(INSERT, rows)
            rollup.upsert(conn, records)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _requeue(self, batch: list[RequestRecord], exc: Exception) -> None:
        """Another process holds the write lock: keep the records and retry next batch;
        after 30 s of it the file is treated as unusable and replaced."""
        now = time.monotonic()
        if not self._locked_since:
            self._locked_since = now
            log.warning("monitor database is locked (%s); retrying", exc)
        self._pending.extendleft(reversed(batch))
        while len(self._pending) > MAX_PENDING:
            self._pending.popleft()
        if now - self._locked_since > 30:
            log.error("monitor database %s stayed locked for 30 s", self.path)
            self._locked_since = 0.0
            self._move_aside()
            self._open_file()

    def _prune(self) -> None:
        """Delete records older than retention_days and beyond max_records (oldest first),
        rollups older than stats_retention_days."""
        self._last_prune = time.monotonic()
        conn = self._conn
        if conn is None:
            return
        cutoff = time.time() - self.settings.retention_days * 86400
        try:
            conn.execute("DELETE FROM requests WHERE started < ?", (cutoff,))
            row = conn.execute(
                "SELECT seq FROM requests ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (self.settings.max_records,),
            ).fetchone()
            if row is not None:
                conn.execute("DELETE FROM requests WHERE seq <= ?", (row[0],))
            rollup.prune(conn, self.settings.stats_retention_days)
        except sqlite3.OperationalError as exc:
            log.warning("monitor: pruning skipped (%s)", exc)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a database written by an older agproxy up to this schema (adds columns,
    creates and back-fills the rollups)."""
    have = {r[1] for r in conn.execute("PRAGMA table_info(requests)")}
    for name, decl in _ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE requests ADD COLUMN {name} {decl}")
    rollup.create(conn)

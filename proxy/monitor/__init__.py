"""The request monitor (SPEC §11): records every proxied request, keeps the newest in
memory for live views, stores them in SQLite off the event loop, answers queries.

    monitor = Monitor(paths.monitor_db, config.monitor); await monitor.open()
    record = monitor.begin(method=..., path=..., protocol=..., client=..., user_agent=...,
                           headers=request.headers, body=raw)      # hot path: cheap
    ... handlers fill record fields, call record.mark_first_byte() ...
    monitor.finish(record, status=200, response_body=raw_reply)   # capture, redact, queue
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from proxy.config.model import MonitorSettings
from proxy.monitor.capture import capture_body, capture_summary, should_capture
from proxy.monitor.filter import FilterError, RecordFilter, parse_filter
from proxy.monitor.live import LiveHub, MonitorStats, Subscription
from proxy.monitor.record import Attempt, RequestRecord
from proxy.monitor.rollup import UsageRow
from proxy.monitor.store import MonitorStore
from proxy.redact import redact_headers, redact_text

# the record's text fields a handler or the dispatcher fills in (path and user agent
# are redacted at begin(), headers by redact_headers, bodies by capture)
_HANDLER_TEXT = (
    "user_agent", "path", "client_model", "upstream_model", "account", "upstream_kind",
    "client_key", "error",
)

__all__ = [
    "Attempt",
    "FilterError",
    "Monitor",
    "MonitorStats",
    "RecordFilter",
    "RequestRecord",
    "Subscription",
    "UsageRow",
    "parse_filter",
]

log = logging.getLogger(__name__)

Before = RequestRecord | tuple[float, int] | None


class Monitor:
    """Live ring + subscriptions + SQLite store behind one small API (see module doc)."""

    def __init__(
        self, db_path: str | Path, settings: MonitorSettings, ring_size: int = 5000
    ) -> None:
        self.db_path = Path(db_path)
        self.settings = settings
        self.hub = LiveHub(ring_size)
        self.stats = MonitorStats()
        self._store = MonitorStore(self.db_path, settings)
        self._open = False
        self._last_id = 0
        # called with every finished record on the loop (e.g. Metrics.observe): keep cheap
        self.observers: list[Callable[[RequestRecord], None]] = []

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Open the database (idempotent). A database that cannot be used is reported and
        the monitor keeps running in memory: serving is never blocked by it."""
        if self._open:
            return
        try:
            await asyncio.to_thread(self._store.open)
            self._open = True
            self._last_id = max(self._last_id, self._store.last_id)
        except Exception as exc:  # noqa: BLE001 - serving must never wait on the monitor
            log.error(
                "monitor database %s cannot be opened (%s); recording in memory only",
                self.db_path,
                exc,
            )

    async def close(self) -> None:
        """Write everything pending and close the database."""
        if self._open:
            self._open = False
            await asyncio.to_thread(self._store.close)

    def apply(self, settings: MonitorSettings) -> None:
        """Hot-apply new monitor settings (capture, limits, retention)."""
        self.settings = settings
        self._store.settings = settings

    # -- the request path --------------------------------------------------------------

    def begin(
        self,
        *,
        method: str,
        path: str,
        protocol: str,
        client: str,
        user_agent: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
    ) -> RequestRecord:
        """A new in-flight record, published to the ring and subscribers."""
        started = time.time()
        rid = int(started * 1_000_000)  # µs since epoch: unique, ordered, survives restarts
        if rid <= self._last_id:
            rid = self._last_id + 1
        self._last_id = rid
        settings = self.settings
        record = RequestRecord(
            rid,
            started,
            client=client,
            user_agent=redact_text(user_agent),
            method=method,
            path=redact_text(path),
            protocol=protocol,
            t0=time.monotonic(),
            # kept (not copied) until finish() knows whether the policy captures it
            raw_body=body if settings.capture_bodies != "off" else None,
        )
        self.stats.in_flight += 1
        if settings.enabled:
            if headers:
                record.request_headers = redact_headers(headers)
            self.hub.add(record)
        return record

    def finish(
        self,
        record: RequestRecord,
        *,
        status: int,
        response_body: bytes | None = None,
        error: str = "",
    ) -> None:
        """Complete a record: timing, capture policy, truncation, redaction; queue it for
        SQLite and publish the update. A second call for the same record is ignored."""
        if record.status:
            return
        record.status = status or 499  # 0 would read as in flight: the client went away
        record.duration_ms = record.elapsed_ms()
        if error:
            record.error = error
        # every text a handler may have set comes from the client or an upstream:
        # each passes the one redactor (a key can hide in a model name or an error)
        for name in _HANDLER_TEXT:
            value = getattr(record, name)
            if value:
                setattr(record, name, redact_text(value))
        for attempt in record.attempts:
            attempt.account = redact_text(attempt.account)
            if attempt.error:
                attempt.error = redact_text(attempt.error)
        raw, record.raw_body = record.raw_body, None
        stats = self.stats
        stats.in_flight -= 1
        stats.requests += 1
        if record.status >= 400 or record.error:
            stats.errors += 1
        stats.input_tokens += record.input_tokens
        stats.output_tokens += record.output_tokens
        stats.cached_tokens += record.cached_tokens
        for observe in self.observers:
            observe(record)
        settings = self.settings
        if not settings.enabled:
            return
        if should_capture(settings.capture_bodies, record.status, record.error):
            limit = settings.max_body_kb * 1024
            record.request_body = capture_body(raw, limit, record.raw_body_size)
            record.response_body = capture_body(response_body, limit)
            if record.response_summary is not None:
                record.response_summary, text = capture_summary(record.response_summary, limit)
                if text and not record.response_body:
                    record.response_body = text
        else:
            record.request_body = record.response_body = ""
            record.response_summary = None
        if self._open:
            self._store.put(record)
        self.hub.update(record)

    # -- live views ------------------------------------------------------------------

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        return self.hub.subscribe(maxsize)

    def recent(self, n: int = 5000) -> list[RequestRecord]:
        """The newest `n` records in memory (in-flight included), oldest first."""
        return self.hub.recent(n)

    # -- stored history (all reads run in a worker thread) ---------------------------

    async def flush(self) -> None:
        if self._open:
            await asyncio.to_thread(self._store.flush)

    async def prune(self) -> None:
        if self._open:
            await asyncio.to_thread(self._store.prune)

    async def query(
        self, filter: RecordFilter | str | None = None, limit: int = 100, before: Before = None
    ) -> list[RequestRecord]:
        """Stored records matching `filter`, newest first; page with `before` (the last
        record of the previous page, or its (started, id))."""
        if not self._open:
            return []
        where, params = _where(filter)
        if isinstance(before, RequestRecord):
            before = (before.started, before.id)
        await self.flush()  # so a record that just finished is in the answer
        return await asyncio.to_thread(self._store.reader.query, where, params, limit, before)

    async def get(self, record_id: int) -> RequestRecord | None:
        """One record by id: from memory if it is there (in flight too), else stored."""
        record = self.hub.find(record_id)
        if record is not None or not self._open:
            return record
        await self.flush()
        return await asyncio.to_thread(self._store.reader.get, record_id)

    async def totals(
        self, filter: RecordFilter | str | None = None
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """{by_model: {model: {requests, errors, input_tokens, output_tokens, cached_tokens}},
        by_account: {...}} over the stored history."""
        if not self._open:
            return {"by_model": {}, "by_account": {}}
        where, params = _where(filter)
        await self.flush()
        return await asyncio.to_thread(self._store.reader.totals, where, params)


    async def usage(
        self, by: str, since: float, until: float | None = None
    ) -> list[UsageRow]:
        """Usage grouped `by` (model, account, key, protocol, status, day, hour, total)
        over [since, until), from the rollups (SPEC §18); busiest first."""
        if not self._open:
            return []
        await self.flush()
        return await asyncio.to_thread(self._store.reader.usage, by, since, until)

    async def usage_series(
        self, since: float, step: int, until: float | None = None
    ) -> list[tuple[int, UsageRow]]:
        """Usage per `step` seconds since `since` (every step, empty ones too)."""
        if not self._open:
            return []
        await self.flush()
        return await asyncio.to_thread(self._store.reader.series, since, step, until)


def _where(filter: RecordFilter | str | None) -> tuple[str, list[Any]]:
    if filter is None:
        return "1", []
    if isinstance(filter, str):
        filter = parse_filter(filter)
    return filter.to_sql()

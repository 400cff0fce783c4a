"""The live log stream (SPEC §12 Log tab, §17): a logging handler that keeps the
newest lines and hands them to bounded subscriptions. The proxy's own process
installs it (`setup_logging(extra_handler=hub)`); the in-process TUI reads it
directly, an attached one through the control socket's `/v1/log/stream`."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

LOG_LINES = 2000
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class LogSubscription:
    """(level, line) pairs for one consumer; the oldest are dropped when it lags."""

    def __init__(self, hub: LogHub | None, maxsize: int) -> None:
        self._hub = hub
        self.pending: deque[tuple[int, str]] = deque(maxlen=maxsize)
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def put(self, item: tuple[int, str]) -> None:
        self.pending.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    def drain(self) -> list[tuple[int, str]]:
        out = list(self.pending)
        self.pending.clear()
        return out

    async def wait(self) -> None:
        """Until a line is pending (or closed)."""
        while not self.pending and not self.closed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self._hub is not None:
            self._hub.remove(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LogHub(logging.Handler):
    """Thread-safe enough for logging from worker threads: deque appends are atomic
    and waiters are woken through their loop."""

    def __init__(self, keep: int = LOG_LINES) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        self.ring: deque[tuple[int, str]] = deque(maxlen=keep)
        self.subscribers: list[LogSubscription] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            item = (record.levelno, self.format(record))
        except Exception:  # noqa: BLE001 - a logging handler must never raise
            self.handleError(record)
            return
        self.ring.append(item)
        for sub in list(self.subscribers):
            sub.put(item)

    def subscribe(self, maxsize: int = LOG_LINES, recent: int = LOG_LINES) -> LogSubscription:
        sub = LogSubscription(self, maxsize)
        if recent:
            sub.pending.extend(list(self.ring)[-recent:])
        self.subscribers.append(sub)
        return sub

    def remove(self, sub: LogSubscription) -> None:
        try:
            self.subscribers.remove(sub)
        except ValueError:
            pass

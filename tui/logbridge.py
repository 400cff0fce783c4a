"""A logging handler that feeds the Log tab. The TUI owns the terminal, so log
records must never reach stdout/stderr; they queue here (thread-safe, bounded)
and the Log tab drains them on a timer."""

from __future__ import annotations

import logging
from collections import deque

LOG_LINES = 2000
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class TuiLogHandler(logging.Handler):
    def __init__(self, maxlen: int = LOG_LINES) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        self.pending: deque[tuple[int, str]] = deque(maxlen=maxlen)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.pending.append((record.levelno, self.format(record)))
        except Exception:  # noqa: BLE001 - a logging handler must never raise
            self.handleError(record)

    def drain(self) -> list[tuple[int, str]]:
        out = []
        pending = self.pending
        while pending:
            out.append(pending.popleft())
        return out

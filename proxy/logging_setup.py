"""Logging for every front end: a rotated file, optionally stderr (`agproxy serve`)
and an extra handler (the TUI's Log tab); every line passes the secret redactor."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import traceback
from typing import Any

from proxy.paths import Paths
from proxy.redact import redact_text

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
MAX_BYTES = 5 * 1024 * 1024
BACKUP_COUNT = 3
# `logger.info(..., extra=FILE_ONLY)`: keep a line out of stderr (e.g. a start error
# that `agproxy serve` already prints as its one line).
FILE_ONLY = {"agproxy_file_only": True}

_OURS = "_agproxy_handler"


class RedactingFilter(logging.Filter):
    """Masks secrets in the formatted message and in exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info))).rstrip()
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files are 0600 like every other agproxy file (the log
    names accounts and paths). Rotation renames, so the backups keep the mode; a log an
    older agproxy left 0644, with its backups, is made 0600 when opened."""

    def __init__(self, filename: str | os.PathLike[str], **kwargs: Any) -> None:
        super().__init__(filename, **kwargs)  # opens the log (0600, below)
        for n in range(1, self.backupCount + 1):
            try:
                os.chmod(f"{self.baseFilename}.{n}", 0o600)
            except FileNotFoundError:
                pass

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class _NotFileOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "agproxy_file_only", False)


def setup_logging(
    paths: Paths,
    *,
    stderr: bool,
    extra_handler: logging.Handler | None = None,
    level: int = logging.INFO,
) -> None:
    """Install agproxy's handlers on the root logger (idempotent: earlier agproxy
    handlers are replaced, foreign ones such as pytest's are left alone)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    redactor = RedactingFilter()
    handlers: list[logging.Handler] = []
    problem = ""
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handlers.append(
            PrivateRotatingFileHandler(
                paths.log_file, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
            )
        )
    except OSError as exc:  # an unwritable log dir must not stop the proxy
        # Reported through the handlers below, never straight to a terminal the TUI owns.
        problem = f"cannot write log file {paths.log_file}: {exc.strerror or exc}"
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.addFilter(_NotFileOnly())
        handlers.append(console)
    if extra_handler is not None:
        handlers.append(extra_handler)
    for handler in handlers:
        handler.addFilter(redactor)
        if handler.formatter is None:
            handler.setFormatter(formatter)
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(level)
    if problem:
        logging.getLogger(__name__).warning("%s", problem)
    # aiohttp's access log would cost a line per request (SPEC §16); the monitor records requests.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

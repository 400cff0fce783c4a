"""Private files on disk (SPEC §15): the one atomic 0600 writer, 0700 directories, and the
clean-up of the temp files a killed writer leaves behind (they may hold credentials)."""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from pathlib import Path

logger = logging.getLogger(__name__)

# `.<name>.<8 hex>.tmp`: the writer's temp names (see write_private_file).
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")
# Younger temp files may belong to a write still in progress in another process.
STALE_AFTER_S = 60.0


def private_dir(directory: Path) -> None:
    """`directory` exists and only its owner may enter it (0700)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)
    except OSError as exc:
        logger.warning("could not make %s private: %s", directory, exc)


def write_private_file(path: Path, data: bytes) -> None:
    """Atomic 0600 write: temp file in the same directory, fsync, rename, fsync dir.
    A crash leaves either the old file or the new one, never a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove_stale_temp_files(directory: Path, now: float | None = None) -> list[Path]:
    """Delete the writer's temp files older than STALE_AFTER_S in `directory` (a SIGKILL
    mid-write leaves one, possibly with tokens in it). Returns what was removed."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
        logger.info("removed a stale temp file left by an interrupted write: %s", entry.path)
    return removed

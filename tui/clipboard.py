"""Handing text to the user honestly (SPEC §12): OSC 52 asks the *terminal* to set
the clipboard, and many setups drop it silently (tmux's default
`set-clipboard external`, VTE terminals). So every copy also writes the text to a
0600 file in the data dir and the notification says both what was sent and where
the file is; the plain view (tui/screens/plain.py) shows the text unwrapped.

Those files hold the proxy key (Connect snippets) or a request body (curl), so they
do not pile up: one file per kind (the newest Connect snippet per snippet, the
newest curl command), the files this TUI wrote are deleted when it quits, and files
older than an hour (a TUI that was killed) are deleted when the next one starts."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from proxy.files import write_private_file

log = logging.getLogger(__name__)

CLIPBOARD_DIR = "clipboard"
TMUX_HINT = "in tmux: set -g set-clipboard on"
MAX_AGE_S = 3600.0

# the files this process wrote (deleted by forget_copies when the TUI quits)
_written: set[Path] = set()


def _kind(name: str) -> str:
    """`curl-1234` → `curl` (one file for every request copied); other names are their
    own kind (`snippet-openai`)."""
    return re.sub(r"-\d+$", "", name)


def save_copy(data_dir: Path, name: str, text: str) -> Path:
    """Write `text` to <data dir>/clipboard/<name>.txt (0600, in a 0700 folder) and
    delete the older files of the same kind."""
    folder = data_dir / CLIPBOARD_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "copy"
    path = folder / f"{safe}.txt"
    write_private_file(path, text.encode() + (b"" if text.endswith("\n") else b"\n"))
    _written.add(path)
    kind = _kind(safe)
    for old in folder.glob("*.txt"):
        if old != path and _kind(old.stem) == kind:
            _remove(old)
    return path


def forget_copies(data_dir: Path) -> int:
    """Delete the clipboard files this process wrote under `data_dir` (the TUI quits)."""
    folder = data_dir / CLIPBOARD_DIR
    mine = [p for p in _written if p.parent == folder]
    for path in mine:
        _written.discard(path)
        _remove(path)
    return len(mine)


def prune_copies(data_dir: Path, max_age_s: float = MAX_AGE_S, now: float | None = None) -> int:
    """Delete clipboard files older than `max_age_s` (left by a TUI that did not quit)."""
    folder = data_dir / CLIPBOARD_DIR
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        try:
            old = entry.is_file() and now - entry.stat().st_mtime > max_age_s
        except OSError:
            continue
        if old and entry.name.endswith(".txt"):
            removed += _remove(Path(entry.path))
    return removed


def _remove(path: Path) -> int:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not delete the clipboard file %s: %s", path, exc)
        return 0
    _written.discard(path)
    return 1


def copy_text(app: Any, text: str, what: str, name: str, note: str = "") -> Path | None:
    """Send `text` to the terminal clipboard (OSC 52), save it to a file and say so."""
    app.copy_to_clipboard(text)
    try:
        path: Path | None = save_copy(app.paths.data_dir, name, text)
    except OSError:
        path = None
    where = ""
    if path is not None:
        where = f"; also saved to {path}\n(that file is deleted when agproxy-tui quits)"
    extra = f"\n{note}" if note else ""
    app.notify(
        f"{what} sent to the terminal clipboard (OSC 52{'; ' + TMUX_HINT if _in_tmux() else ''})"
        f"{where}{extra}",
        timeout=6,
        markup=False,
    )
    return path


def _in_tmux() -> bool:
    return bool(os.environ.get("TMUX"))

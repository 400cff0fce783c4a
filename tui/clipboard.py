"""Handing text to the user honestly (SPEC §12): OSC 52 asks the *terminal* to set
the clipboard, and many setups drop it silently (tmux's default
`set-clipboard external`, VTE terminals). So every copy also writes the text to a
0600 file in the data dir and the notification says both what was sent and where
the file is; the plain view (tui/screens/plain.py) shows the text unwrapped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from proxy.files import write_private_file

CLIPBOARD_DIR = "clipboard"
TMUX_HINT = "in tmux: set -g set-clipboard on"


def save_copy(data_dir: Path, name: str, text: str) -> Path:
    """Write `text` to <data dir>/clipboard/<name>.txt (0600, in a 0700 folder)."""
    folder = data_dir / CLIPBOARD_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "copy"
    path = folder / f"{safe}.txt"
    write_private_file(path, text.encode() + (b"" if text.endswith("\n") else b"\n"))
    return path


def copy_text(app: Any, text: str, what: str, name: str, note: str = "") -> Path | None:
    """Send `text` to the terminal clipboard (OSC 52), save it to a file and say so."""
    app.copy_to_clipboard(text)
    try:
        path: Path | None = save_copy(app.paths.data_dir, name, text)
    except OSError:
        path = None
    where = f"; also saved to {path}" if path is not None else ""
    extra = f"\n{note}" if note else ""
    app.notify(
        f"{what} sent to the terminal clipboard (OSC 52{'; ' + TMUX_HINT if _in_tmux() else ''})"
        f"{where}{extra}",
        timeout=6,
        markup=False,
    )
    return path


def _in_tmux() -> bool:
    import os

    return bool(os.environ.get("TMUX"))

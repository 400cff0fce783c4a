"""How agproxy writes a duration for people, in the CLI and the TUI alike: 45s,
12m05s, 3h02m, 2d04h (always two units at most, never negative)."""

from __future__ import annotations


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"

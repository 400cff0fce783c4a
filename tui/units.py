"""How the TUI writes numbers, durations, clock times and ages (one place, so every
tab agrees: 12.3k tokens, 1h02m uptime, "5m ago")."""

from __future__ import annotations

import time

from proxy.humanize import duration


def count(n: float) -> str:
    """12, 1.2k, 34k, 1.2M."""
    n = float(n)
    if n < 1000:
        return str(int(n))
    if n < 10_000:
        return f"{n / 1000:.1f}k"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    if n < 10_000_000:
        return f"{n / 1_000_000:.1f}M"
    return f"{n / 1_000_000:.0f}M"


def span(seconds: float) -> str:
    """A duration for people: 45s, 12m05s, 3h02m, 2d04h (the CLI writes them alike)."""
    return duration(seconds)


def millis(ms: float) -> str:
    """Request durations: 85ms, 1.24s, 12.3s, 2m05s."""
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 10_000:
        return f"{ms / 1000:.2f}s"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    return span(ms / 1000)


def ago(ts: float, now: float) -> str:
    """'never', 'just now', '5m ago'."""
    if not ts:
        return "never"
    delta = now - ts
    if delta < 5:
        return "just now"
    return f"{span(delta)} ago"


def clock(ts: float, utc: bool = False) -> str:
    """HH:MM:SS in local time (UTC for deterministic screenshots)."""
    return time.strftime("%H:%M:%S", time.gmtime(ts) if utc else time.localtime(ts))


def stamp(ts: float, utc: bool = False) -> str:
    """A full date and time for the detail view."""
    t = time.gmtime(ts) if utc else time.localtime(ts)
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", t)
        + f".{int((ts % 1) * 1000):03d}"
        + (" UTC" if utc else "")
    )


def percent(part: float, whole: float) -> str:
    if not whole:
        return "0%"
    value = 100.0 * part / whole
    return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"

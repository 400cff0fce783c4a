"""The Stats tab (SPEC §18): usage over 1h · 24h · 7d · 30d through the Controller
(the monitor's rollups of this process or of the attached serve) —
requests, tokens, error rate and p95 latency over time, and who used what (by model,
account and client key, with share bars) — plus the client keys (SPEC §19).

Charts are Textual's own Sparkline: it ships with the pinned Textual, follows the theme
(light and dark) through its component classes, and a one-line chart per series fits 80×24
where a plotting library's axes would not; the numbers beside each chart say the scale."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Sparkline, Static

from tui.bindings import bindings_for
from tui.widgets.keys import KeysTable

if TYPE_CHECKING:
    from tui.app import AgproxyApp

log = logging.getLogger(__name__)

# range label → (seconds back, chart step in seconds)
RANGES: dict[str, tuple[int, int]] = {
    "1h": (3600, 300),
    "24h": (86400, 3600),
    "7d": (7 * 86400, 6 * 3600),
    "30d": (30 * 86400, 86400),
}
BAR_WIDTH = 10
TOP_ROWS = 6


def share_bar(share: float, width: int = BAR_WIDTH) -> str:
    """A bar of `share` (0..1) in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return bar.ljust(width)


def human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def usage_table(title: str, rows: list[Any], total_requests: int, empty: str) -> Table:
    table = Table(title=title, title_justify="left", expand=True, box=None, pad_edge=False)
    table.add_column(title.split()[-1].capitalize(), ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("req", justify="right", no_wrap=True)
    table.add_column("share", no_wrap=True, width=BAR_WIDTH + 5)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("err", justify="right", no_wrap=True)
    table.add_column("p95", justify="right", no_wrap=True)
    for r in rows[:TOP_ROWS]:
        share = r.requests / total_requests if total_requests else 0.0
        table.add_row(
            r.key or empty,
            human(r.requests),
            Text(share_bar(share), style="bold") + Text(f"{share * 100:3.0f}%"),
            human(r.tokens),
            f"{r.error_rate * 100:.0f}%",
            f"{r.p95_ms / 1000:.1f}s",
        )
    if len(rows) > TOP_ROWS:
        table.add_row(f"… {len(rows) - TOP_ROWS} more", "", "", "", "", "")
    if not rows:
        table.add_row("no requests in this range", "", "", "", "", "")
    return table


class Chart(Horizontal):
    """A label, a one-line Sparkline and the latest/peak value."""

    def __init__(self, label: str, chart_id: str) -> None:
        super().__init__(classes="stats-chart", id=f"chart-{chart_id}")
        self.label = label

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="stats-chart-label")
        yield Sparkline([], summary_function=max)
        yield Static("", classes="stats-chart-value")

    def show(self, data: list[float], value: str) -> None:
        self.query_one(Sparkline).data = data
        self.query_one(".stats-chart-value", Static).update(value)


class StatsPane(VerticalScroll):
    BINDINGS = bindings_for("stats")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.range = "24h"
        self.loads = 0  # finished refreshes (tests wait on it)

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="stats-range")
        yield Chart("requests", "requests")
        yield Chart("tokens  ", "tokens")
        yield Chart("errors  ", "errors")
        yield Chart("p50/p95 ", "latency")
        yield Static(id="stats-by-model", classes="stats-table")
        yield Static(id="stats-by-account", classes="stats-table")
        yield Static(id="stats-by-key", classes="stats-table")
        yield Static("Client keys  (n new · v revoke · R rotate · x remove · y copy prefix)", classes="stats-keys-title")
        yield KeysTable(id="keys-table")

    def on_mount(self) -> None:
        self._show_range()
        self.set_interval(5.0, self._tick)

    def _tick(self) -> None:
        if self.display and self.is_on_screen:
            self.run_worker(self.reload(), exclusive=True, group="stats")

    def on_show(self) -> None:
        self.run_worker(self.reload(), exclusive=True, group="stats")

    def _show_range(self) -> None:
        parts = [f"[reverse] {r} [/]" if r == self.range else f" {r} " for r in RANGES]
        self.query_one("#stats-range", Static).update(
            "Range " + "·".join(parts) + "   [dim]\\[ ] change[/]"
        )

    def action_range(self, step: int) -> None:
        names = list(RANGES)
        self.range = names[(names.index(self.range) + step) % len(names)]
        self._show_range()
        self.run_worker(self.reload(), exclusive=True, group="stats")

    async def reload(self) -> None:
        controller = self.agapp.controller  # in-process or attached: the same rollups
        span, step = RANGES[self.range]
        since = self.agapp.now() - span
        try:
            series = await controller.usage_series(since, step)
            by = {b: await controller.usage(b, since) for b in ("model", "account", "key", "total")}
        except Exception:  # a stats failure (a serve gone away) must not take the panel down
            log.exception("stats query failed")
            return
        total = by["total"][0] if by["total"] else None
        points = [u for _, u in series]
        req = [float(u.requests) for u in points]
        tok = [float(u.tokens) for u in points]
        err = [100.0 * u.error_rate for u in points]
        p95 = [u.p95_ms / 1000 for u in points]
        reqs = total.requests if total else 0
        self.query_one("#chart-requests", Chart).show(
            req, f"{human(reqs)} total, peak {human(max(req, default=0))}"
        )
        self.query_one("#chart-tokens", Chart).show(
            tok, f"{human(total.tokens if total else 0)} total"
        )
        self.query_one("#chart-errors", Chart).show(
            err, f"{(total.error_rate if total else 0) * 100:.1f}% overall"
        )
        self.query_one("#chart-latency", Chart).show(
            p95,
            f"{(total.p50_ms if total else 0) / 1000:.1f}s / {(total.p95_ms if total else 0) / 1000:.1f}s",
        )
        for name, empty in (("model", "(none)"), ("account", "(none)"), ("key", "(proxy key)")):
            self.query_one(f"#stats-by-{name}", Static).update(
                usage_table(f"by {name}", by[name], reqs, empty)
            )
        await self.query_one(KeysTable).reload()
        self.loads += 1

    def focus_keys(self) -> DataTable:
        table = self.query_one(KeysTable)
        table.focus()
        return table

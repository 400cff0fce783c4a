"""One request in full: summary, attempts, redacted headers, pretty-printed
request and response bodies; `y` copies it as a curl command."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from proxy import jsoncodec
from tui import units
from tui.bindings import bindings_for
from tui.widgets.footer import AgproxyFooter

if TYPE_CHECKING:
    from tui.app import AgproxyApp

# Bodies bigger than this are shown cut (the monitor already truncates at max_body_kb).
SHOW_BODY_CHARS = 64_000
LIVE_INTERVAL = 0.5  # repaint of an in-flight request's detail


def pretty_body(body: Any) -> str:
    """JSON pretty-printed when it is JSON; SSE/text as is; cut for the screen."""
    if body is None or body == "":
        return "(not captured — see monitor.capture_bodies)"
    if isinstance(body, (dict, list)):
        text = jsoncodec.dumps_pretty(body)
    else:
        text = str(body)
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                text = jsoncodec.dumps_pretty(jsoncodec.loads(text))
            except ValueError:
                pass  # truncated or not JSON: show it raw
    if len(text) > SHOW_BODY_CHARS:
        text = text[:SHOW_BODY_CHARS] + f"\n… ({len(text) - SHOW_BODY_CHARS} more characters)"
    return text


def account_cell(rec: Any) -> str:
    """The account that served the request, or why there is none."""
    if rec.account:
        return f"{rec.account} ({rec.upstream_kind or '—'})"
    if rec.status == 0:
        return "— (not chosen yet)"
    return "— (no upstream call)" if not rec.attempts else "—"


def summary_table(rec: Any, utc: bool) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", min_width=14)
    table.add_column()
    status = "in flight" if rec.status == 0 else str(rec.status)
    ttfb = "—" if rec.ttfb_ms is None else units.millis(rec.ttfb_ms)
    took = units.millis(rec.duration_ms)
    if rec.status == 0:
        t0 = getattr(rec, "t0", 0.0)
        took = f"running for {units.millis((time.monotonic() - t0) * 1000)}" if t0 else "running"
    rows = [
        ("id", str(rec.id)),
        ("started", units.stamp(rec.started, utc)),
        ("request", f"{rec.method} {rec.path}"),
        ("status", status),
        ("protocol", rec.protocol or "—"),
        ("model", rec.client_model or "—"),
        ("upstream model", rec.upstream_model or "—"),
        ("chosen by", rec.mapping_rule or "—"),  # SPEC §9: the rule that decided the upstream model
        ("account", account_cell(rec)),
        ("duration", f"{took}  (first byte {ttfb})"),
        ("stream", "yes" if rec.stream else "no"),
        ("tokens", f"{rec.input_tokens} in, {rec.output_tokens} out, {rec.cached_tokens} cached"),
        ("client", f"{rec.client or '—'}  {rec.user_agent}"),
        # SPEC §19: the client key's name (never the key); none = the proxy key or no key
        ("client key", getattr(rec, "client_key", "") or "—"),
    ]
    if rec.error:
        rows.append(("error", rec.error))
    for k, v in rows:
        table.add_row(k, Text(v))
    return table


def attempts_table(rec: Any) -> Table | Text:
    if not rec.attempts:
        return Text("(no upstream attempt)")
    table = Table(box=None, pad_edge=False)
    for col in ("#", "account", "status", "time", "error"):
        table.add_column(col)
    for i, a in enumerate(rec.attempts, 1):
        table.add_row(str(i), a.account, str(a.status), units.millis(a.ms), Text(a.error or ""))
    return table


def headers_text(headers: dict[str, str]) -> Text:
    if not headers:
        return Text("(none recorded)")
    return Text("\n".join(f"{k}: {v}" for k, v in headers.items()))


class DetailScreen(Screen[None]):
    BINDINGS = bindings_for("detail")

    def __init__(self, record: Any) -> None:
        super().__init__()
        self.record = record

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-content")
        yield AgproxyFooter()

    async def on_mount(self) -> None:
        self.render_record()
        full = await self.agapp.fetch_record(self.record.id)
        if full is not None:
            self.record = full
            self.render_record()
        self.query_one(VerticalScroll).focus()
        if self.record.status == 0:  # in flight: follow it until it finishes
            self._live = self.set_interval(LIVE_INTERVAL, self._follow_live)

    async def _follow_live(self) -> None:
        """The monitor updates the in-flight record in place; repaint while it moves and
        take the finished record (with its captured bodies) once it is done."""
        rec = self.record
        if rec.status == 0:
            self.render_record()  # duration, attempts and tokens so far
            return
        self._live.stop()
        full = await self.agapp.fetch_record(rec.id)
        if full is not None:
            self.record = full
        self.render_record()

    def render_record(self) -> None:
        rec = self.record
        utc = self.agapp.utc_clock
        from rich.console import Group

        response = rec.response_body
        if not response and rec.response_summary is not None:
            response = rec.response_summary
        parts = [
            Text(f"Request {rec.id}", style="bold"),
            summary_table(rec, utc),
            Text("\nAttempts", style="bold"),
            attempts_table(rec),
            Text("\nRequest headers (redacted)", style="bold"),
            headers_text(rec.request_headers),
            Text("\nRequest body", style="bold"),
            Text(pretty_body(rec.request_body)),
            Text("\nResponse" + (" (consolidated stream)" if rec.stream else ""), style="bold"),
            Text(pretty_body(response)),
        ]
        self.parts = parts
        self.query_one("#detail-content", Static).update(Group(*parts))

    def plain_text(self, width: int = 120) -> str:
        """The detail as plain text (tests, and handy when debugging)."""
        from rich.console import Console, Group

        console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
        console.print(Group(*self.parts))
        return console.export_text()

    def action_copy_curl(self) -> None:
        from tui.widgets.traffic import copy_curl

        copy_curl(self.agapp, self.record)

    def action_view_curl(self) -> None:
        from tui.widgets.traffic import view_curl

        view_curl(self.agapp, self.record)

    def action_close(self) -> None:
        self.dismiss()

"""The always-visible status header: RUNNING/STOPPED, bind address, base URL,
effective auth mode (with a loud badge when the API is open to the LAN without a
key), where the proxy lives ("in-process" or "attached to serve (pid N, up …)"),
accounts, request/error totals, tokens and uptime; and a banner line while the
upstream refuses the client version (the version gate, SPEC §7), with the fix.

It is refreshed once a second while the proxy shares the event loop, so it only
repaints when its text changed, never asks for a layout pass (fixed height), and
picks a shorter wording when the full one does not fit the width (80 columns)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import Static

from tui import units

SEP = "  "  # either side of a "│"
SEP_SHORT = " "
# A style of its own for the spaces around "│", so no painted segment starts with
# blanks (SVG renderers such as rsvg drop a segment's leading blanks: items glue).
GAP = Style(bold=False)

# (text, component class or "") pieces of one item, e.g. [("requests ", "muted"), ("3.1k", "")]
Item = list[tuple[str, str]]


class StatusHeader(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--running",
        "header--stopped",
        "header--warning",
        "header--badge",
        "header--muted",
    }

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._status: Any = None
        self._shown: list[Text | None] = [None, None]
        self._gate = ""
        self.today: tuple[int, int] | None = None  # (requests, errors) stored since midnight

    def compose(self) -> ComposeResult:
        yield Static(id="status-line-1", classes="status-line")
        yield Static(id="status-line-2", classes="status-line")
        yield Static(id="status-banner", markup=False)

    def on_mount(self) -> None:
        # colours are baked into the lines: repaint in the new palette once it applies
        self.app.theme_changed_signal.subscribe(
            self, lambda _theme: self.call_after_refresh(self._reshow)
        )

    def on_resize(self, _event: Resize) -> None:
        self._reshow()

    def _reshow(self) -> None:
        if self._status is not None:
            self._shown = [None, None]
            self.show(self._status)

    def set_today(self, today: tuple[int, int] | None) -> None:
        if today != self.today:
            self.today = today
            self._reshow()

    def show(self, st: Any) -> None:
        """Render a `ServiceStatus` (or anything with its fields)."""
        self._status = st
        width = self.content_region.width or 80
        line1 = self._fit([_state(st, full) for full in (True, False)], width)
        line2 = self._fit(
            [_totals(st, full, today) for today in (self.today, None) for full in (True, False)],
            width,
        )
        for i, (wid, line) in enumerate((("#status-line-1", line1), ("#status-line-2", line2))):
            if line != self._shown[i]:  # fixed one-line Statics: no layout pass
                self._shown[i] = line
                self.query_one(wid, Static).update(line, layout=False)
        self._banner(getattr(st, "version_gate", "") or "")

    def _banner(self, gate: str) -> None:
        """The version-gate banner: a layout pass only when it appears or goes."""
        if gate == self._gate:
            return
        self._gate = gate
        banner = self.query_one("#status-banner", Static)
        banner.update(f"⚠ {gate}" if gate else "")
        self.set_class(bool(gate), "-gated")

    def _fit(self, variants: list[list[Item]], width: int) -> Text:
        """The first variant (items joined by separators) that fits; else the last, clipped."""
        text = Text()
        for items in variants:
            for sep in (SEP, SEP_SHORT):
                text = self._join(items, sep)
                if text.cell_len <= width:
                    return text
        text.truncate(width, overflow="ellipsis")
        return text

    def _join(self, items: list[Item], sep: str) -> Text:
        muted = self._style("header--muted")
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, item in enumerate(items):
            if i:
                text.append(sep, GAP)
                text.append("│", muted)
                text.append(sep, GAP)
            for piece, cls in item:
                text.append(piece, self._style(f"header--{cls}") if cls else None)
        return text

    def _style(self, cls: str) -> Style:
        return self.get_component_rich_style(cls)  # full: alpha colours blended


def _state(st: Any, full: bool) -> list[Item]:
    items: list[Item] = [
        [("● RUNNING", "running")] if st.running else [("○ STOPPED", "stopped")],
    ]
    urls = list(st.base_urls or [])
    if urls:
        url: Item = [(urls[0], "badge" if st.running else "muted")]
        if len(urls) > 1:
            url.append((f" +{len(urls) - 1} LAN", "muted"))
        if full and not urls[0].endswith(f"{st.host}:{st.port}"):
            items.append([(f"{st.host}:{st.port}", "" if st.running else "muted")])
        items.append(url)
    else:
        items.append([(f"{st.host}:{st.port}", "" if st.running else "muted")])
    items.append([("auth ", "muted"), (str(st.auth_mode), "")])
    if st.lan_open_warning:
        items.append([(" ⚠ LAN OPEN, NO KEY " if full else " ⚠ LAN, NO KEY ", "warning")])
    items.append(_mode(st, full))
    return items


def _mode(st: Any, full: bool) -> Item:
    """Where the proxy lives (SPEC §17): this process, or the daemon the TUI drives."""
    if getattr(st, "mode", "") != "attached":
        return [("in-process", "muted")]
    owner = "serve" if st.owner == "serve" else "agproxy-tui"
    if not full:
        return [(f"attached pid {st.pid}", "muted")]
    return [(f"attached to {owner} (pid {st.pid}, up {units.span(st.process_uptime_s)})", "muted")]


def _totals(st: Any, full: bool, today: tuple[int, int] | None = None) -> list[Item]:
    tokens = f"{units.count(st.input_tokens)} in / {units.count(st.output_tokens)} out"
    if not full:
        tokens = f"{units.count(st.input_tokens)}↑ {units.count(st.output_tokens)}↓"
    items: list[Item] = []
    if today is not None:  # after a relaunch the session counters start at 0; today does not
        items.append(
            [("today ", "muted"), (f"{units.count(today[0])} req {units.count(today[1])} err", "")]
        )
    return items + [
        [
            ("accounts " if full else "acc ", "muted"),
            (f"{st.accounts_active}/{st.accounts_total}", ""),
        ],
        [("requests " if full else "req ", "muted"), (units.count(st.requests), "")],
        [
            ("errors " if full else "err ", "muted"),
            (f"{units.count(st.errors)} ({units.percent(st.errors, st.requests)})", ""),
        ],
        [("tokens " if full else "tok ", "muted"), (tokens, "")],
        [
            ("uptime " if full else "up ", "muted"),
            (units.span(st.uptime_s) if st.running else "—", ""),
        ],
    ]

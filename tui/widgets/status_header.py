"""The always-visible status header: RUNNING/STOPPED, bind address, base URL,
effective auth mode (with a loud badge when the API is open to the LAN without a
key), accounts, request/error totals, tokens and uptime."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from tui import units


class StatusHeader(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--running",
        "header--stopped",
        "header--warning",
        "header--badge",
        "header--muted",
    }

    def compose(self) -> ComposeResult:
        yield Static(id="status-line-1", classes="status-line")
        yield Static(id="status-line-2", classes="status-line")

    def show(self, st: Any) -> None:
        """Render a `ServiceStatus` (or anything with its fields)."""
        style = self.get_component_rich_style
        muted = style("header--muted", partial=True)
        line1 = Text(no_wrap=True, overflow="ellipsis")
        if st.running:
            line1.append("● RUNNING", style("header--running", partial=True))
        else:
            line1.append("○ STOPPED", style("header--stopped", partial=True))
        line1.append(f"  {st.host}:{st.port}", muted if not st.running else "")
        urls = list(st.base_urls or [])
        if urls:
            line1.append("  ")
            line1.append(urls[0], style("header--badge", partial=True) if st.running else muted)
            if len(urls) > 1:
                line1.append(f" +{len(urls) - 1} LAN", muted)
        line1.append("  auth: ")
        line1.append(st.auth_mode)
        if st.lan_open_warning:
            line1.append("  ")
            line1.append(" ⚠ LAN OPEN, NO KEY ", style("header--warning", partial=True))

        line2 = Text(no_wrap=True, overflow="ellipsis")
        line2.append("accounts ", muted)
        line2.append(f"{st.accounts_active}/{st.accounts_total}")
        line2.append("  requests ", muted)
        line2.append(units.count(st.requests))
        line2.append("  errors ", muted)
        line2.append(f"{units.count(st.errors)} ({units.percent(st.errors, st.requests)})")
        line2.append("  tokens ", muted)
        line2.append(f"{units.count(st.input_tokens)} in / {units.count(st.output_tokens)} out")
        line2.append("  uptime ", muted)
        line2.append(units.span(st.uptime_s) if st.running else "—")
        self.query_one("#status-line-1", Static).update(line1)
        self.query_one("#status-line-2", Static).update(line2)

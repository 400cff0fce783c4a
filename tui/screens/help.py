"""The `?` help screen, generated from the bindings table (tui/bindings.py)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from tui.bindings import SCOPE_TITLES, TABLE, bindings_for, key_label
from tui.widgets.footer import AgproxyFooter

ABOUT = (
    "agproxy — a local LLM API gateway. Traffic shows every proxied request live; "
    "the filter language: id:<request id> status:4xx status:429 model:gemini* account:alice path:/v1/messages "
    "protocol:anthropic is:stream is:inflight errors since:10m -term words."
)


def help_table() -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, expand=False)
    table.add_column("key", style="bold", min_width=10)
    table.add_column("what")
    for scope, title in SCOPE_TITLES.items():
        rows = [k for k in TABLE if k.scope == scope]
        if not rows:
            continue
        table.add_row(Text(title, style="bold underline"), "")
        for k in rows:
            table.add_row(key_label(k), k.description)
        table.add_row("", "")
    return table


class HelpScreen(Screen[None]):
    BINDINGS = bindings_for("help")

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(ABOUT))
            yield Static(help_table())
        yield AgproxyFooter()

    def action_close(self) -> None:
        self.dismiss()

"""A plain view of copyable text (an OAuth URL, a Connect snippet, copy-as-curl):
no border, no padding, no wrapping, so a mouse selection in the terminal takes the
text as it is when the OSC 52 clipboard did not reach the user. Long lines scroll
sideways; the file the text was also saved to is named below it."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Static

from tui.bindings import bindings_for
from tui.widgets.footer import AgproxyFooter


class PlainTextScreen(Screen[None]):
    BINDINGS = bindings_for("plain")
    DEFAULT_CSS = """
    PlainTextScreen { background: $background; }
    PlainTextScreen #plain-scroll { overflow-x: auto; overflow-y: auto; height: 1fr; padding: 0; }
    PlainTextScreen #plain-text { width: auto; padding: 0; }
    PlainTextScreen #plain-note { height: auto; color: $text-muted; padding: 0; }
    """

    def __init__(self, title: str, text: str, path: Path | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.path = path

    def compose(self) -> ComposeResult:
        with ScrollableContainer(id="plain-scroll"):
            yield Static(Text(self.text, no_wrap=True, overflow="ignore"), id="plain-text")
        where = f"  File: {self.path}" if self.path is not None else ""
        yield Static(Text(f"{self.title_text} — select it with the mouse.{where}"), id="plain-note")
        yield AgproxyFooter()

    def on_mount(self) -> None:
        self.query_one("#plain-scroll").focus()

    def action_close(self) -> None:
        self.dismiss()

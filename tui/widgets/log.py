"""The Log tab: the application log in a bounded RichLog, coloured by level."""

from __future__ import annotations

import logging

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog

from tui.logbridge import LOG_LINES, TuiLogHandler

_LEVEL_STYLE = {logging.WARNING: "yellow", logging.ERROR: "bold red", logging.CRITICAL: "bold red"}


class LogPane(Vertical):
    def __init__(self, handler: TuiLogHandler, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.handler = handler

    def compose(self) -> ComposeResult:
        yield RichLog(max_lines=LOG_LINES, wrap=False, markup=False, highlight=False, id="log-view")

    def on_mount(self) -> None:
        self.set_interval(0.5, self.drain)
        self.drain()

    def drain(self) -> None:
        lines = self.handler.drain()
        if not lines:
            return
        view = self.query_one(RichLog)
        for level, line in lines:
            view.write(Text(line, style=_LEVEL_STYLE.get(level, "")))

"""The Log tab: the application log (bounded), coloured by level. It follows new
lines by default (like `tail -f`; moving up turns that off, f/End back on), wraps
long lines on `w`, filters by level on `l` and by text on `/`."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, RichLog, Static

from proxy.control.api import LogFeed
from proxy.control.logs import LOG_LINES
from tui.bindings import bindings_for

_LEVEL_STYLE = {logging.WARNING: "yellow", logging.ERROR: "bold red", logging.CRITICAL: "bold red"}
LEVELS = ((logging.NOTSET, "all"), (logging.WARNING, "warnings+"), (logging.ERROR, "errors"))
_UP_KEYS = frozenset({"up", "k", "pageup", "home", "g"})


class LogPane(Vertical):
    BINDINGS = bindings_for("log")
    DEFAULT_CSS = """
    LogPane #log-bar { height: 1; padding: 0 1; background: $boost; }
    LogPane #log-search { display: none; height: 1; }
    LogPane.-searching #log-search { display: block; }
    """

    def __init__(self, handler: LogFeed, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.handler = handler
        self.lines: deque[tuple[int, str]] = deque(maxlen=LOG_LINES)
        self.follow = True
        self.wrap = False
        self.level_index = 0
        self.search = ""

    def compose(self) -> ComposeResult:
        yield Static(id="log-bar")
        yield Input(placeholder="search the log (Enter apply, Esc close)", id="log-search",
                    compact=True)  # fmt: skip
        yield RichLog(max_lines=LOG_LINES, wrap=False, markup=False, highlight=False, id="log-view")

    def on_mount(self) -> None:
        self.set_interval(0.5, self.drain)
        self.drain()
        self.update_bar()

    @property
    def view(self) -> RichLog:
        return self.query_one("#log-view", RichLog)

    def _shown(self, level: int, line: str) -> bool:
        if level < LEVELS[self.level_index][0]:
            return False
        return not self.search or self.search.lower() in line.lower()

    def _write(self, view: RichLog, level: int, line: str) -> None:
        view.write(Text(line, style=_LEVEL_STYLE.get(level, "")), scroll_end=self.follow)

    def drain(self) -> None:
        lines = self.handler.drain()
        if not lines:
            return
        self.lines.extend(lines)
        view = self.view
        for level, line in lines:
            if self._shown(level, line):
                self._write(view, level, line)

    def rebuild(self) -> None:
        view = self.view
        view.wrap = self.wrap
        view.clear()
        for level, line in self.lines:
            if self._shown(level, line):
                self._write(view, level, line)
        if self.follow:
            view.scroll_end(animate=False, immediate=True)
        self.update_bar()

    def shown_lines(self) -> list[str]:
        """The lines the view shows now, as text (tests)."""
        return [line for level, line in self.lines if self._shown(level, line)]

    def update_bar(self) -> None:
        parts = ["[reverse] FOLLOW [/]" if self.follow else "[dim] follow off: f/End [/]"]
        parts.append(f"wrap {'on' if self.wrap else 'off'} (w)")
        parts.append(f"level {LEVELS[self.level_index][1]} (l)")
        if self.search:
            parts.append(f"search: [b]{self.search.replace('[', chr(92) + '[')}[/b] (/ change)")
        else:
            parts.append("[dim]/ search[/]")
        self.query_one("#log-bar", Static).update("  ".join(parts))

    # -- actions -----------------------------------------------------------------------

    def action_follow(self) -> None:
        self.follow = True
        self.view.scroll_end(animate=False)
        self.update_bar()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.rebuild()

    def action_cycle_level(self) -> None:
        self.level_index = (self.level_index + 1) % len(LEVELS)
        self.rebuild()

    def action_search(self) -> None:
        self.add_class("-searching")
        box = self.query_one("#log-search", Input)
        box.value = self.search
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "log-search":
            return
        event.stop()
        self.search = event.value.strip()
        self.remove_class("-searching")
        self.view.focus()
        self.rebuild()

    def on_key(self, event: Any) -> None:
        if event.key == "escape" and self.has_class("-searching"):
            event.stop()
            self.remove_class("-searching")
            self.view.focus()
        elif event.key in _UP_KEYS and self.follow and not isinstance(self.app.focused, Input):
            self.follow = False
            self.update_bar()

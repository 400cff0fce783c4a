"""Leaving an in-process TUI whose proxy is running (SPEC §17): stop it, keep it serving
in the background (hand over to a detached `agproxy serve`), or cancel; then, while
in-flight requests and streams drain, what it waits for with a countdown."""

from __future__ import annotations

import contextlib
import time

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.bindings import bindings_for

STOP = "stop"
HANDOVER = "handover"


class QuitScreen(ModalScreen[str | None]):
    BINDINGS = bindings_for("modal")
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 76; max-width: 98%; height: auto; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    QuitScreen #quit-text { margin: 1 0; height: auto; }
    QuitScreen .dialog-buttons { height: auto; margin-bottom: 1; }
    QuitScreen Button { margin-right: 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "The proxy runs inside this TUI. Quitting stops it, unless it keeps "
                "serving in the background (a detached `agproxy serve` on the same "
                "config takes over; `agproxy-tui` attaches to it next time).",
                id="quit-text",
                markup=False,
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stop the proxy", id=STOP, variant="error", compact=True)
                yield Button("Keep serving in the background", id=HANDOVER, variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#{HANDOVER}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id if event.button.id in (STOP, HANDOVER) else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DrainScreen(ModalScreen[None]):
    """Shown while the proxy stops: in-flight requests/streams and the seconds left
    of the grace period; then the hand-over steps. `ctrl+c` forces (the app's binding)."""

    DEFAULT_CSS = """
    DrainScreen { align: center middle; }
    DrainScreen > Static {
        width: 76; max-width: 98%; height: auto; padding: 1 2;
        border: thick $warning; background: $surface;
    }
    """

    def __init__(self, grace: float) -> None:
        super().__init__()
        self.grace = grace
        self.deadline = time.monotonic() + grace
        self.step = "Stopping the proxy"
        self.in_flight = 0

    def compose(self) -> ComposeResult:
        yield Static(id="drain-text", markup=False)

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(0.25, self.tick)

    def say(self, step: str) -> None:
        self.step = step
        self.tick()

    def tick(self) -> None:
        with contextlib.suppress(Exception):  # the proxy is going away: keep the last count
            self.in_flight = self.app.read_status().in_flight  # type: ignore[attr-defined]
        left = max(0.0, self.deadline - time.monotonic())
        if self.step == "Stopping the proxy" and self.in_flight:
            text = (
                f"Stopping the proxy: waiting for {self.in_flight} request(s)/stream(s) to "
                f"finish … {left:.0f}s left, then they are cut.\nctrl+c stops now."
            )
        else:
            text = f"{self.step} …\nctrl+c stops now."
        self.query_one("#drain-text", Static).update(text)

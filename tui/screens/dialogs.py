"""Modal dialogs: a yes/no confirmation and a one-line prompt (token, key, path,
OAuth code). Both dismiss with the answer; `esc` cancels (None / False). A prompt
given `run` does the work itself and stays open on failure, with what was typed and
the error inline (a rejected key or token must not be lost)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui.bindings import bindings_for


class ConfirmScreen(ModalScreen[bool]):
    """ "Really do X?" → True / False."""

    BINDINGS = bindings_for("modal")

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="error")

    def on_mount(self) -> None:
        # the safe answer has the focus: a reflexive Enter cancels (SPEC §12)
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_cancel(self) -> None:
        self.dismiss(False)


class PromptScreen(ModalScreen[Any]):
    """Ask for one line of text; `secret` masks it (tokens, keys). Without `run` it
    dismisses with the text; with `run`, it awaits `run(text)` and dismisses with its
    result, or shows `describe(error)` under the field and keeps the text."""

    BINDINGS = bindings_for("modal")

    def __init__(
        self,
        title: str,
        placeholder: str = "",
        *,
        secret: bool = False,
        extra: str = "",
        value: str = "",
        run: Callable[[str], Awaitable[Any]] | None = None,
        describe: Callable[[BaseException], str] = str,
        busy: str = "Checking…",
        allow_empty: bool = False,
    ) -> None:
        super().__init__()
        self.run = run
        self.describe = describe
        self.busy = busy
        self.working = False
        self.allow_empty = allow_empty  # with `run`: an empty answer is run too
        self.title_text = title
        self.placeholder = placeholder
        self.secret = secret
        self.extra = extra
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, markup=False)
            if self.extra:
                yield Static(self.extra, classes="dialog-extra", markup=False)
            yield Input(
                value=self.value,
                placeholder=self.placeholder,
                password=self.secret,
                id="prompt-input",
            )
            yield Static(id="prompt-status", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._answer()
        else:
            self.dismiss(None)

    def _answer(self) -> None:
        text = self.query_one(Input).value.strip()
        if self.run is None or not (text or self.allow_empty):
            self.dismiss(text or None)
        elif not self.working:
            self.working = True
            self.status(self.busy, error=False)
            self.run_worker(self._run(text), group="prompt")

    async def _run(self, text: str) -> None:
        assert self.run is not None
        try:
            result = await self.run(text)
        except Exception as exc:  # noqa: BLE001 - shown inline; the dialog stays for a retry
            self.working = False
            self.status(self.describe(exc), error=True)
            self.query_one(Input).focus()
            return
        self.dismiss(result)

    def status(self, text: str, error: bool) -> None:
        line = self.query_one("#prompt-status", Static)
        line.set_class(error, "-error")
        line.update(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""Modal dialogs: a yes/no confirmation and a one-line prompt (token, key, path,
OAuth code). Both dismiss with the answer; `esc` cancels (None / False)."""

from __future__ import annotations

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


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; `secret` masks it (tokens, keys)."""

    BINDINGS = bindings_for("modal")

    def __init__(
        self,
        title: str,
        placeholder: str = "",
        *,
        secret: bool = False,
        extra: str = "",
        value: str = "",
    ) -> None:
        super().__init__()
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
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)

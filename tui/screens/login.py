"""The OAuth login dialog (SPEC §5, §12): shows the consent URL and copies it
(OSC 52, so it reaches the user's own clipboard over SSH), then takes whichever
comes first: Google's redirect to the local listener (browser on this machine)
or a redirect URL / code pasted into the field (browser elsewhere).

The login itself runs in the proxy (the Controller's `login()`: in this process or
in the attached `agproxy serve`); this screen only shows it. Everything runs in a
worker: waiting for the code and exchanging it never blocks the UI. The dialog
dismisses with the onboarding AddResult, or None when cancelled or failed
(failures are notified)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from proxy.control.api import Controller, LoginSession
from tui import account_actions
from tui.account_actions import AddResult, LoginError
from tui.bindings import bindings_for
from tui.clipboard import copy_text
from tui.screens.plain import PlainTextScreen


class LoginScreen(ModalScreen[AddResult | None]):
    BINDINGS = bindings_for("modal")
    DEFAULT_CSS = """
    LoginScreen { align: center middle; }
    LoginScreen > Vertical {
        width: 100; max-width: 98%; height: auto; max-height: 98%;
        padding: 0 1; border: thick $primary; background: $surface;
    }
    LoginScreen #login-url { color: $accent; height: auto; margin: 1 0; }
    LoginScreen #login-status { color: $text-muted; height: auto; }
    LoginScreen #login-status.-error { color: $error; text-style: bold; }
    LoginScreen Input { margin: 1 0 0 0; }
    LoginScreen .dialog-buttons { margin-top: 1; }
    """

    def __init__(self, controller: Controller) -> None:
        super().__init__()
        self.controller = controller
        self.flow: LoginSession | None = None
        self.url_file: Path | None = None  # the URL's copy on disk (the honest clipboard)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "OAuth login: open this URL in a browser and sign in with the Google account "
                "to add (View URL shows it unwrapped, for a mouse selection):",
                markup=False,
            )
            yield Static("starting the redirect listener…", id="login-url", markup=False)
            yield Static("", id="login-status", markup=False)
            yield Input(
                placeholder="paste the address the browser ends on (or just its code)",
                id="login-paste",
                compact=True,
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Copy URL", id="copy", compact=True)
                yield Button("View URL", id="view", compact=True)
                yield Button("Use pasted", id="ok", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_screen_resume(self) -> None:
        # back from View URL: the next thing to do is pasting the redirect
        paste = self.query_one(Input)
        if not paste.disabled:
            paste.focus()
        self.run_worker(self._login(), group="login", exclusive=True)

    # -- the flow ----------------------------------------------------------------------

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#login-status", Static)
        status.set_class(error, "-error")
        status.update(text)

    async def _login(self) -> None:
        result: AddResult | None = None
        try:
            result = await self._run_flow()
        except Exception as exc:  # noqa: BLE001 - any failure is shown, the app goes on
            self.app.notify(
                account_actions.error_text(exc),
                title="Login failed",
                severity="error",
                timeout=10,
                markup=False,
            )
        finally:  # also on cancel (the screen went away): free the port
            if self.flow is not None:
                await self.flow.close()
        self.dismiss(result)

    async def _run_flow(self) -> AddResult:
        self.flow = flow = await self.controller.login()
        self.query_one("#login-url", Static).update(flow.url)
        self.url_file = copy_text(self.app, flow.url, "Login URL", "login-url")
        port = flow.redirect_uri.rsplit(":", 1)[1].split("/")[0]
        self._status(
            f"Waiting for the redirect to {flow.redirect_uri}. Over SSH that page fails "
            f"to load: paste its address below (or ssh -L {port}:127.0.0.1:{port})."
        )
        await flow.wait_code(account_actions.LOGIN_TIMEOUT_S)
        self._status("Code received; exchanging it with Google…")
        self.query_one(Input).disabled = True
        return await flow.finish()

    async def _submit(self) -> None:
        text = self.query_one(Input).value.strip()
        if not text:
            return
        if self.flow is None:
            self._status("the login is not ready yet", True)
            return
        try:
            await self.flow.submit(text)
        except LoginError as exc:
            self._status(f"{exc}; paste the redirect URL or the code again", True)

    # -- events ------------------------------------------------------------------------

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self._submit()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            await self._submit()
        elif event.button.id == "copy" and self.flow is not None and self.flow.url:
            self.url_file = copy_text(self.app, self.flow.url, "Login URL", "login-url")
        elif event.button.id == "view" and self.flow is not None and self.flow.url:
            # the dialog wraps the ~600-character URL inside its border; this view does not
            self.app.push_screen(PlainTextScreen("Login URL", self.flow.url, self.url_file))
        elif event.button.id == "cancel":
            self.action_cancel()

    def action_cancel(self) -> None:
        # dismissing removes the screen, which cancels the worker; its `finally`
        # closes the redirect listener
        self.dismiss(None)

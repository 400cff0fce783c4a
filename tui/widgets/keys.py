"""The client keys list of the Stats tab (SPEC §19): name, prefix, state, limits, tokens
today, last use. `n` adds a key (shown once, with copy), `v` revokes, `R` rotates (the new
secret shown once) and `x` removes the selected one — all through the Controller."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.widgets import DataTable

from proxy.control.api import ControlError
from proxy.keys.store import KeyCommandError, parse_expiry
from tui.bindings import bindings_for
from tui.screens.dialogs import ConfirmScreen, PromptScreen

if TYPE_CHECKING:
    from tui.app import AgproxyApp

T = TypeVar("T")

COLUMNS = ("name", "key", "state", "models", "rpm", "tokens/day", "today", "last used")
ADD_HELP = (
    "NAME [models=GLOB,…] [rpm=N] [tokens=N per day] [expires=30d]   "
    "e.g.  alice models=claude-*,gemini-* rpm=30 tokens=2000000 expires=90d"
)

AUTH_OFF_NOTE = (
    "auth is off: keys and their limits are not checked until proxy.auth_mode is "
    "all_except_health or strict (Settings)."
)


def parse_add(text: str) -> dict[str, Any]:
    """`alice models=claude-* rpm=10 tokens=1000 expires=30d` → KeyStore.add() arguments."""
    words = shlex.split(text)
    if not words:
        raise KeyCommandError("a key needs a name")
    out: dict[str, Any] = {"name": words[0]}
    for word in words[1:]:
        k, sep, v = word.partition("=")
        if not sep:
            raise KeyCommandError(f"{word!r}: expected option=value ({ADD_HELP})")
        if k == "models":
            out["models"] = [g for g in v.split(",") if g]
        elif k in ("rpm", "tokens"):
            if not v.isdigit():
                raise KeyCommandError(f"{k} must be a whole number, got {v!r}")
            out["rpm" if k == "rpm" else "tokens_per_day"] = int(v)
        elif k == "expires":
            out["expires"] = parse_expiry(v)
        else:
            raise KeyCommandError(f"unknown option {k!r} ({ADD_HELP})")
    return out


class KeysTable(DataTable):
    """The keys as the process that serves them has them, through the Controller: an
    attached TUI changes the serve's KeyStore over the socket (effective at once), never
    keys.json beside it."""

    BINDINGS = bindings_for("keys")

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.described: dict[str, dict[str, object]] = {}  # name → describe() as last shown

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        for col in COLUMNS:
            self.add_column(col, key=col)

    async def reload(self) -> None:
        """Raises ControlError when the proxy cannot answer (the Stats tab logs it)."""
        described = await self.agapp.controller.client_keys()
        self.described = {str(d["name"]): d for d in described}
        selected = self._selected()
        self.clear()
        for d in described:
            rpm, per_day, today = d["rpm"], d["tokens_per_day"], d["tokens_today"]
            self.add_row(
                d["name"],
                d["prefix"],
                d["state"],
                d["models"],
                str(rpm or "-"),
                f"{per_day:,}" if per_day else "-",
                f"{today:,}",
                str(d["last_used"] or "never"),
                key=str(d["name"]),
            )
        if selected in self.described:  # a repaint keeps the cursor on the same key
            self.move_cursor(row=list(self.described).index(selected))

    def _selected(self) -> str | None:
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    async def _change(self, what: Awaitable[T]) -> T | None:
        """Run one key command; its error becomes a notification, the list repaints."""
        try:
            result = await what
        except (KeyCommandError, ControlError) as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            result = None
        try:
            await self.reload()
        except ControlError as exc:
            self.app.notify(f"client keys: {exc}", severity="error", markup=False)
        return result

    def auth_off_note(self) -> str:
        """A key added while auth is off is accepted and does nothing yet: say so."""
        from tui.widgets.connect import enforced_auth_mode

        return AUTH_OFF_NOTE if enforced_auth_mode(self.agapp) == "off" else ""

    def _show_once(self, title: str, key: str) -> None:
        shown = key if not self.agapp.mask_secrets else key[:10] + "…"
        note = self.auth_off_note()

        def copy(yes: bool | None) -> None:
            if yes:
                self.app.copy_to_clipboard(key)
                self.app.notify("client key copied")

        self.app.push_screen(
            ConfirmScreen(
                f"{title} (shown only now; agproxy keeps only its hash):\n\n"
                + (f"{note}\n\n" if note else "")
                + shown,
                yes="Copy",
                no="Close",
            ),
            copy,
        )

    def action_new_key(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            try:
                args = parse_add(text)
            except KeyCommandError as exc:
                self.app.notify(str(exc), severity="error", markup=False)
                return
            self.run_worker(self._add(args), group="keys")

        note = self.auth_off_note()
        extra = f"{ADD_HELP}\n{note}" if note else ADD_HELP
        self.app.push_screen(PromptScreen("New client key", "alice rpm=30", extra=extra), done)

    async def _add(self, args: dict[str, Any]) -> None:
        key = await self._change(
            self.agapp.controller.add_client_key(
                args["name"],
                models=args.get("models", []),
                rpm=args.get("rpm", 0),
                tokens_per_day=args.get("tokens_per_day", 0),
                expires=args.get("expires", 0.0),
            )
        )
        if key is not None:
            self._show_once("New client key", key)

    def _confirmed(self, question: str, yes: str, then: Callable[[str], Awaitable[None]]) -> None:
        """Ask about the selected key; on yes run `then(name)` in a worker."""
        name = self._selected()
        if name is None:
            return

        def done(ok: bool | None) -> None:
            if ok:
                self.run_worker(then(name), group="keys")

        self.app.push_screen(ConfirmScreen(question.format(name=name), yes=yes), done)

    def action_revoke_key(self) -> None:
        async def revoke(name: str) -> None:
            await self._change(self.agapp.controller.revoke_client_key(name))

        self._confirmed("Revoke client key '{name}'? It stops working at once.", "Revoke", revoke)

    def action_rotate_key(self) -> None:
        async def rotate(name: str) -> None:
            key = await self._change(self.agapp.controller.rotate_client_key(name))
            if key is not None:
                self._show_once(f"New secret for '{name}'", key)

        self._confirmed(
            "Rotate client key '{name}'? The old secret stops working at once; the new one "
            "keeps its limits.",
            "Rotate",
            rotate,
        )

    def action_remove_key(self) -> None:
        async def remove(name: str) -> None:
            await self._change(self.agapp.controller.remove_client_key(name))

        self._confirmed(
            "Remove client key '{name}'? It stops working and leaves the list.", "Remove", remove
        )

    def action_copy_prefix(self) -> None:
        name = self._selected()
        if name and name in self.described:
            self.app.copy_to_clipboard(str(self.described[name]["prefix"]).rstrip("…"))

"""The client keys list of the Stats tab (SPEC §19): name, prefix, state, limits, tokens
today, last use. `n` adds a key (shown once, with copy), `v` revokes the selected one."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from textual.widgets import DataTable

from proxy.keys.store import KeyCommandError, parse_expiry
from tui.bindings import bindings_for
from tui.screens.dialogs import ConfirmScreen, PromptScreen

if TYPE_CHECKING:
    from tui.app import AgproxyApp

COLUMNS = ("name", "key", "state", "models", "rpm", "tokens/day", "today", "last used")
ADD_HELP = (
    "NAME [models=GLOB,…] [rpm=N] [tokens=N per day] [expires=30d]   "
    "e.g.  alice models=claude-*,gemini-* rpm=30 tokens=2000000 expires=90d"
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
    BINDINGS = bindings_for("keys")

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        for col in COLUMNS:
            self.add_column(col, key=col)

    def reload(self, now: float | None = None) -> None:
        from proxy.keys.store import describe

        store = self.agapp.key_store()
        if store is None:
            return
        store.reload_if_changed()
        now = self.agapp.now() if now is None else now
        self.clear()
        for k in store.list_keys():
            d = describe(k, now)
            self.add_row(
                d["name"],
                d["prefix"],
                d["state"],
                d["models"],
                str(d["rpm"] or "-"),
                f"{d['tokens_per_day']:,}" if d["tokens_per_day"] else "-",
                f"{d['tokens_today']:,}",
                str(d["last_used"] or "never"),
                key=k.name,
            )

    def _selected(self) -> str | None:
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def action_new_key(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            store = self.agapp.key_store()
            try:
                args = parse_add(text)
                key = store.add(args.pop("name"), **args)
            except KeyCommandError as exc:
                self.app.notify(str(exc), severity="error")
                return
            self.reload()
            shown = key if not self.agapp.mask_secrets else key[:10] + "…"

            def copy(yes: bool | None) -> None:
                if yes:
                    self.app.copy_to_clipboard(key)
                    self.app.notify("client key copied")

            self.app.push_screen(
                ConfirmScreen(
                    f"New client key (shown only now; agproxy keeps only its hash):\n\n{shown}",
                    yes="Copy",
                    no="Close",
                ),
                copy,
            )

        self.app.push_screen(PromptScreen("New client key", "alice rpm=30", extra=ADD_HELP), done)

    def action_revoke_key(self) -> None:
        name = self._selected()
        if name is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                try:
                    self.agapp.key_store().revoke(name)
                except KeyCommandError as exc:
                    self.app.notify(str(exc), severity="error")
                self.reload()

        self.app.push_screen(
            ConfirmScreen(f"Revoke client key '{name}'? It stops working at once.", yes="Revoke"),
            done,
        )

    def action_copy_prefix(self) -> None:
        name = self._selected()
        store = self.agapp.key_store()
        if name and store is not None and name in store.by_name:
            self.app.copy_to_clipboard(store.by_name[name].prefix)

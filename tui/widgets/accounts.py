"""The Accounts tab: every upstream account with its state (and how many of its
models are cooling or unavailable), quota per model group (bar, reset countdown,
data age), last use and request/error counts; `enter` opens the account in full.
Add (refresh token, OAuth login with the local redirect or a pasted code, Gemini
key), import, name, enable/disable, remove and refresh (token + project + quota).
The network work is the proxy's (proxy/onboarding.py), reached through the app's
Controller. Columns drop by width so 80 columns need no sideways scrolling."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.widgets import DataTable, Static

from proxy.accounts.model import AccountKind
from tui import account_actions, units
from tui.account_actions import AddResult, RefreshResult
from tui.bindings import bindings_for
from tui.screens.account import AccountScreen
from tui.screens.dialogs import ConfirmScreen, PromptScreen
from tui.screens.login import LoginScreen

if TYPE_CHECKING:
    from tui.app import AgproxyApp

COLUMNS = (
    ("label", 20),
    ("kind", 11),
    ("state", 20),
    ("quota", 36),
    ("last used", 10),
    ("req/err", 9),
)
# (least pane width, columns shown, label width, quota narrow): the label and state
# always; then quota; kind, last use and counts only where they fit (each cell has
# 2 columns of padding).
LAYOUTS = (
    (118, ("label", "kind", "state", "quota", "last used", "req/err"), 20, False),
    (98, ("label", "kind", "state", "quota"), 22, False),
    (0, ("label", "state", "quota"), 20, True),
)
NARROW_QUOTA = 28
T = TypeVar("T")
GROUP_ORDER = ("claude", "gemini pro", "gemini flash", "image", "other")
SHORT_GROUP = {"claude": "claude", "gemini pro": "g-pro", "gemini flash": "g-flash",
               "image": "image", "other": "other"}
BAR = 8


def layout_for(width: int) -> tuple[list[tuple[str, int]], bool]:
    """The columns (name, width) for a pane `width` columns wide, and whether the
    quota cell is the narrow one."""
    for least, names, label_width, narrow in LAYOUTS:
        if width >= least:
            widths = dict(COLUMNS, label=label_width)
            if narrow:
                widths["quota"] = NARROW_QUOTA
                widths["state"] = max(14, width - label_width - NARROW_QUOTA - 9)
            return [(n, widths[n]) for n in names], narrow
    raise AssertionError("LAYOUTS ends with a 0 width")


# The line above the table, longest wording first: the first that fits the width is
# shown (one line always). The short ones name first the keys the footer leaves out.
NOTE_KEYS = (
    ("Enter details · a token · o OAuth · k key · i import · n name · e on/off · x remove · "
     "u refresh"),
    "Enter details · n name · x remove · i import · a/o/k add · e on/off · u refresh",
    "Enter details · n name · x remove · i import",
)
NOTE_EMPTY = (
    "No accounts yet: a add refresh token · o OAuth login · k Gemini key · i import",
    "No accounts yet: a token · o OAuth login · k Gemini key · i import",
)


def accounts_note(width: int, total: int, active: int, version: str | None) -> str:
    """The hint line for a pane `width` columns wide (the client version goes last)."""
    head = "" if not total else f"{active}/{total} active   "
    tiers = NOTE_KEYS if total else NOTE_EMPTY
    clients = [f"client version {version}   ", f"client {version}   ", ""] if version else [""]
    for client in clients:
        for keys in tiers:
            text = f"{head}{client}{keys}"
            if len(text) <= width:
                return text
    return f"{head}{tiers[-1]}"


def model_group(model: str) -> str:
    m = model.lower()
    if m.startswith("claude"):
        return "claude"
    if "image" in m:
        return "image"
    if m.startswith("gemini") and "pro" in m:
        return "gemini pro"
    if m.startswith("gemini") and "flash" in m:
        return "gemini flash"
    return "other"


def quota_groups(quota: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """(group, lowest remaining fraction, its reset time), in a stable order."""
    groups: dict[str, tuple[float | None, float | None]] = {}
    for model, q in quota.items():
        g = model_group(model)
        frac = q.remaining_fraction
        old = groups.get(g)
        if old is None or (frac is not None and (old[0] is None or frac < old[0])):
            groups[g] = (frac, q.reset_time)
    return [(g, *groups[g]) for g in GROUP_ORDER if g in groups]


class AccountsTable(DataTable):
    COMPONENT_CLASSES: ClassVar[set[str]] = DataTable.COMPONENT_CLASSES | {
        "accounts--active",
        "accounts--cooling",
        "accounts--failed",
        "accounts--disabled",
        "quota--high",
        "quota--mid",
        "quota--low",
        "accounts--muted",
    }

    def style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)


class AccountsPane(Vertical):
    BINDINGS = bindings_for("accounts")

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="accounts-note")
        yield AccountsTable(cursor_type="row", id="accounts-table")

    def on_mount(self) -> None:
        self.columns: list[tuple[str, int]] = []
        self.narrow = False
        self._set_columns(self.size.width or 120)
        self.refresh_accounts()
        # countdowns and ages move: repaint every few seconds (accounts are few)
        self.set_interval(5.0, self.refresh_accounts)

    def on_resize(self, event: Resize) -> None:
        if self._set_columns(event.size.width):
            self.refresh_accounts()
        else:
            self.show_note(self.agapp.controller.accounts(), self.agapp.now())

    def _set_columns(self, width: int) -> bool:
        """Lay the columns out for `width`; True when they changed."""
        columns, narrow = layout_for(width)
        if columns == self.columns:
            return False
        self.columns, self.narrow = columns, narrow
        table = self.query_one(AccountsTable)
        table.clear(columns=True)
        for name, col_width in columns:
            table.add_column(name, key=name, width=col_width)
        return True

    # -- rendering ---------------------------------------------------------------------

    def refresh_accounts(self) -> None:
        table = self.query_one(AccountsTable)
        accounts = self.agapp.controller.accounts()
        now = self.agapp.now()
        selected = self.selected_id()
        table.clear()
        shown = [name for name, _w in self.columns]
        for acc in accounts:
            cells, height = self.row(table, acc, now)
            table.add_row(*(cells[name] for name in shown), key=acc.id, height=height)
        if selected is not None:
            ids = [a.id for a in accounts]
            if selected in ids:
                table.move_cursor(row=ids.index(selected), animate=False)
        self.show_note(accounts, now)

    def show_note(self, accounts: list[Any], now: float) -> None:
        active = sum(1 for a in accounts if a.effective_state(now).value == "active")
        version = self.agapp.controller.status().client_version
        text = accounts_note(self.size.width or 120, len(accounts), active, version)
        self.query_one("#accounts-note", Static).update(
            Text(text, no_wrap=True, overflow="ellipsis")
        )

    def row(self, table: AccountsTable, acc: Any, now: float) -> tuple[dict[str, Text], int]:
        state = acc.effective_state(now).value
        style = {
            "active": "accounts--active",
            "cooling": "accounts--cooling",
            "disabled": "accounts--disabled",
        }.get(state, "accounts--failed")
        state_text = Text(state.replace("_", " "), style=table.style(style))
        if state in ("cooling", "verification_required") and acc.state_until > now:
            state_text.append(
                f" {units.span(acc.state_until - now)}", table.style("accounts--muted")
            )
        elif state == "cooling":
            until = acc.cooling_until()
            if until > now:
                state_text.append(f" {units.span(until - now)}", table.style("accounts--muted"))
        self._model_marks(table, state_text, acc, now)
        if acc.state_reason and state != "active":
            state_text.append("\n" + acc.state_reason[:60], table.style("accounts--muted"))
        quota = self.quota_text(table, acc, now)
        height = min(5, max(quota.plain.count("\n"), state_text.plain.count("\n")) + 1)
        cells = {
            "label": Text(acc.label, no_wrap=True, overflow="ellipsis"),
            "kind": Text(acc.kind.value.replace("_", " ")),
            "state": state_text,
            "quota": quota,
            "last used": Text(units.ago(acc.last_used, now), style=table.style("accounts--muted")),
            "req/err": Text(f"{acc.requests}/{acc.errors}"),
        }
        return cells, height

    def _model_marks(self, table: AccountsTable, out: Text, acc: Any, now: float) -> None:
        """The per-model faults under the state: "2 models cooling 4m10s", "1 model 404"."""
        cooling = acc.model_cooldowns(now)
        if cooling:
            n = len(cooling)
            out.append(f"\n{n} model{'s' if n > 1 else ''} cooling", table.style("accounts--cooling"))
            out.append(f" ≤{units.span(max(cooling.values()) - now)}", table.style("accounts--muted"))
        if acc.unavailable:
            n = len(acc.unavailable)
            out.append(f"\n{n} model{'s' if n > 1 else ''} 404", table.style("accounts--failed"))

    def quota_text(self, table: AccountsTable, acc: Any, now: float) -> Text:
        if acc.kind.value != "antigravity":
            return Text("n/a (API key)", style=table.style("accounts--muted"))
        if not acc.quota:
            return Text("unknown (never fetched)", style=table.style("accounts--muted"))
        out = Text(no_wrap=True)
        offered = acc.offered() if acc.catalogue is not None else None
        groups = quota_groups(
            acc.quota if offered is None else {m: q for m, q in acc.quota.items() if m in offered}
        )
        pad, bar = (7, BAR - 2) if self.narrow else (12, BAR)
        for i, (group, frac, reset) in enumerate(groups):
            if i:
                out.append("\n")
            out.append(f"{SHORT_GROUP[group] if self.narrow else group:<{pad}} ")
            if frac is None:
                out.append("?" * bar + "  ?", table.style("accounts--muted"))
            else:
                filled = round(frac * bar)
                level = (
                    "quota--high" if frac > 0.5 else "quota--mid" if frac > 0.2 else "quota--low"
                )
                out.append("█" * filled + "░" * (bar - filled), table.style(level))
                out.append(f" {frac * 100:3.0f}%")
            if reset and reset > now:
                out.append(f" ↻{units.span(reset - now)}", table.style("accounts--muted"))
        age = now - acc.quota_fetched_at if acc.quota_fetched_at else None
        if age is not None:
            out.append(f"\n{'':<{pad}} data {units.span(age)} old", table.style("accounts--muted"))
        return out

    # -- selection ---------------------------------------------------------------------

    def selected_id(self) -> str | None:
        table = self.query_one(AccountsTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside the rows
            return None

    def selected(self) -> Any:
        rid = self.selected_id()
        return None if rid is None else self.agapp.controller.account(rid)

    # -- actions -----------------------------------------------------------------------

    def _report_added(self, result: AddResult) -> None:
        account, created, warnings = result.account, result.created, result.warnings
        verb = "Added" if created else "Updated"
        self.agapp.notify(f"{verb} account {account.label}", timeout=4, markup=False)
        for warning in warnings:
            self._problem(account.label, warning)
        self.refresh_accounts()

    def _problem(self, label: str, text: str) -> None:
        self.agapp.notify(text, title=label, severity="warning", timeout=10, markup=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # the table takes `enter` itself and says which row
        self.action_details()

    def action_details(self) -> None:
        rid = self.selected_id()
        if rid is not None:
            self.app.push_screen(AccountScreen(rid))

    def action_rename(self) -> None:
        acc = self.selected()
        if acc is None:
            return

        def done(renamed: Any) -> None:
            if renamed is not None:
                self.agapp.notify(f"Account {acc.id} is now {renamed.label}", timeout=3,
                                  markup=False)
                self.refresh_accounts()

        self.app.push_screen(
            PromptScreen(
                f"Name account {acc.label}",
                "e.g. work laptop",
                extra="Shown in the list, in traffic rows and in X-Agproxy-Account; "
                "empty: back to its email or key.",
                value=acc.name,
                run=lambda name: self.agapp.controller.rename_account(acc.id, name),
                describe=account_actions.error_text,
                busy="Saving…",
                allow_empty=True,
            ),
            done,
        )

    def _adding(self, title: str, placeholder: str, add: Callable[[str], Any],
                busy: str) -> None:
        """A prompt that adds an account itself: a rejected token or key keeps the dialog
        open with what was pasted and the upstream's answer under it."""

        def done(result: AddResult | None) -> None:
            if result is not None:
                self._report_added(result)

        self.app.push_screen(
            PromptScreen(title, placeholder, secret=True, run=add,
                         describe=account_actions.error_text, busy=busy),
            done,
        )

    def action_add_token(self) -> None:
        self._adding(
            "Add an Antigravity account: paste its refresh token",
            "1//0…",
            self.agapp.controller.add_refresh_token,
            "Checking the refresh token with Google…",
        )

    def action_add_oauth(self) -> None:
        def done(result: AddResult | None) -> None:
            if result is not None:
                self._report_added(result)

        self.app.push_screen(
            LoginScreen(self.agapp.controller),
            done,
        )

    def action_add_gemini_key(self) -> None:
        # validated by the Gemini API's model listing (Onboarding.add_gemini_key, SPEC §9)
        self._adding(
            "Add a Gemini API key",
            "AIza…",
            self.agapp.controller.add_gemini_key,
            "Checking the key with the Gemini API…",
        )

    def action_import_accounts(self) -> None:
        def imported(report: Any) -> None:
            severity = (
                "warning"
                if report.skipped and not (report.added or report.updated)
                else "information"
            )
            detail = "".join(f"\n{src}: {why}" for src, why in report.skipped[:3])
            detail += "".join(f"\n{problem}" for problem in report.warnings[:3])
            self.agapp.notify(
                f"Import: {report.summary()}{detail}", severity=severity, timeout=6, markup=False
            )
            self.refresh_accounts()

        def got(path: str | None) -> None:
            if path:
                self._network(
                    "Importing…", self.agapp.controller.import_accounts(path), imported
                )

        self.app.push_screen(
            PromptScreen(
                "Import accounts from a file or folder",
                "~/.antigravity_tools  or  agproxy-export.json",
                value="~/.antigravity_tools",
            ),
            got,
        )

    def action_toggle_enabled(self) -> None:
        acc = self.selected()
        if acc is None:
            return
        def done(acc: Any) -> None:
            self.agapp.notify(
                f"{acc.label} {'disabled' if acc.disabled else 'enabled'}", timeout=3, markup=False
            )
            self.refresh_accounts()

        self._network("", self.agapp.controller.set_disabled(acc.id, not acc.disabled), done)

    def action_remove(self) -> None:
        acc = self.selected()
        if acc is None:
            return

        def answer(yes: bool | None) -> None:
            if yes:

                def done(_removed: bool) -> None:
                    self.agapp.notify(f"Removed {acc.label}", timeout=3, markup=False)
                    self.refresh_accounts()

                self._network("", self.agapp.controller.remove_account(acc.id), done)

        self.app.push_screen(
            ConfirmScreen(f"Remove account {acc.label}? Its file is deleted.", yes="Remove"), answer
        )

    def action_refresh_quota(self) -> None:
        acc = self.selected()
        if acc is None:
            return
        if acc.kind is not AccountKind.ANTIGRAVITY:
            self.agapp.notify("API keys report no quota.", timeout=3)
            return

        def done(result: RefreshResult) -> None:
            for problem in result.problems:
                self._problem(result.account.label, problem)
            if not result.problems:
                self.agapp.notify(
                    f"{result.account.label}: quota for {len(result.account.quota)} models",
                    timeout=3,
                    markup=False,
                )
            self.refresh_accounts()

        self._network(
            f"Refreshing {acc.label}…",
            self.agapp.controller.refresh_account(acc.id),
            done,
        )

    def _network(
        self,
        busy: str,
        job: Coroutine[Any, Any, T],
        done: Callable[[T], None],
        failed: str = "Account action failed",
    ) -> None:
        """Run an action through the Controller in a worker (the proxy may share the
        loop); errors become notifications. `busy` ("": none) is shown meanwhile."""

        async def run() -> None:
            try:
                result = await job
            except Exception as exc:  # noqa: BLE001 - any failure is shown, the app goes on
                self.agapp.notify(
                    account_actions.error_text(exc),
                    title=failed,
                    severity="error",
                    timeout=8,
                    markup=False,
                )
                return
            done(result)

        if busy:
            self.agapp.notify(busy, timeout=2, markup=False)
        self.run_worker(run(), group="accounts")

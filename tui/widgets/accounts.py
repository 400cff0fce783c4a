"""The Accounts tab: every upstream account with its state, quota per model group
(bar, reset countdown, data age), last use and request/error counts; add (refresh
token, OAuth login with the local redirect or a pasted code, Gemini key), import,
enable/disable, remove and refresh (token + project + quota). The network work is
the proxy's (proxy/onboarding.py), reached through the app's Controller."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from proxy.accounts.model import AccountKind
from tui import account_actions, units
from tui.account_actions import AddResult, RefreshResult
from tui.bindings import bindings_for
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
T = TypeVar("T")
GROUP_ORDER = ("claude", "gemini pro", "gemini flash", "image", "other")
BAR = 8


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
        table = self.query_one(AccountsTable)
        for name, width in COLUMNS:
            table.add_column(name, key=name, width=width)
        self.refresh_accounts()
        # countdowns and ages move: repaint every few seconds (accounts are few)
        self.set_interval(5.0, self.refresh_accounts)

    # -- rendering ---------------------------------------------------------------------

    def refresh_accounts(self) -> None:
        table = self.query_one(AccountsTable)
        accounts = self.agapp.controller.accounts()
        now = self.agapp.now()
        selected = self.selected_id()
        table.clear()
        for acc in accounts:
            cells, height = self.row(table, acc, now)
            table.add_row(*cells, key=acc.id, height=height)
        if selected is not None:
            ids = [a.id for a in accounts]
            if selected in ids:
                table.move_cursor(row=ids.index(selected), animate=False)
        note = self.query_one("#accounts-note", Static)
        if not accounts:
            note.update(
                "No accounts yet: a add refresh token · o OAuth login · k Gemini key · i import"
            )
        else:
            active = sum(1 for a in accounts if a.effective_state(now).value == "active")
            note.update(
                f"{active}/{len(accounts)} active   a token · o OAuth · k key · i import · "
                "e enable/disable · x remove · u refresh quota"
            )

    def row(self, table: AccountsTable, acc: Any, now: float) -> tuple[list[Text], int]:
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
        if acc.state_reason and state != "active":
            state_text.append("\n" + acc.state_reason[:60], table.style("accounts--muted"))
        quota = self.quota_text(table, acc, now)
        height = min(5, max(quota.plain.count("\n"), state_text.plain.count("\n")) + 1)
        cells = [
            Text(acc.label, no_wrap=True, overflow="ellipsis"),
            Text(acc.kind.value.replace("_", " ")),
            state_text,
            quota,
            Text(units.ago(acc.last_used, now), style=table.style("accounts--muted")),
            Text(f"{acc.requests}/{acc.errors}"),
        ]
        return cells, height

    def quota_text(self, table: AccountsTable, acc: Any, now: float) -> Text:
        if acc.kind.value != "antigravity":
            return Text("n/a (API key)", style=table.style("accounts--muted"))
        if not acc.quota:
            return Text("unknown (never fetched)", style=table.style("accounts--muted"))
        out = Text(no_wrap=True)
        groups = quota_groups(acc.quota)
        for i, (group, frac, reset) in enumerate(groups):
            if i:
                out.append("\n")
            out.append(f"{group:<12} ")
            if frac is None:
                out.append("?" * BAR + "  ?", table.style("accounts--muted"))
            else:
                filled = round(frac * BAR)
                level = (
                    "quota--high" if frac > 0.5 else "quota--mid" if frac > 0.2 else "quota--low"
                )
                out.append("█" * filled + "░" * (BAR - filled), table.style(level))
                out.append(f" {frac * 100:3.0f}%")
            if reset and reset > now:
                out.append(f" ↻{units.span(reset - now)}", table.style("accounts--muted"))
        age = now - acc.quota_fetched_at if acc.quota_fetched_at else None
        if age is not None:
            out.append(f"\n{'':<12} data {units.span(age)} old", table.style("accounts--muted"))
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

    def action_add_token(self) -> None:
        def got(token: str | None) -> None:
            if token:
                self._network(
                    "Checking the refresh token…",
                    self.agapp.controller.add_refresh_token(token),
                    self._report_added,
                )

        self.app.push_screen(
            PromptScreen(
                "Add an Antigravity account: paste its refresh token", "1//0…", secret=True
            ),
            got,
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
        def got(key: str | None) -> None:
            if key:
                self._network(
                    "Adding the key…",
                    self.agapp.controller.add_gemini_key(key),
                    self._report_added,
                    failed="Key not added",
                )

        self.app.push_screen(PromptScreen("Add a Gemini API key", "AIza…", secret=True), got)

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

"""The Accounts tab: every upstream account with its state, quota per model group
(bar, reset countdown, data age), last use and request/error counts; add (refresh
token, OAuth with a pasted code, Gemini key), import, enable/disable, remove and
refresh quota."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tui import account_actions, units
from tui.bindings import bindings_for
from tui.screens.dialogs import ConfirmScreen, PromptScreen

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
        store = self.agapp.accounts
        accounts = list(store.list()) if store is not None else []
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
        store = self.agapp.accounts
        rid = self.selected_id()
        return None if store is None or rid is None else store.by_id(rid)

    # -- actions -----------------------------------------------------------------------

    def _report_added(self, result: tuple[Any, bool]) -> None:
        account, created = result
        verb = "Added" if created else "Updated"
        self.agapp.notify(f"{verb} account {account.label}", timeout=4)
        self.refresh_accounts()

    def action_add_token(self) -> None:
        async def got(token: str | None) -> None:
            if token:
                await self._network(
                    "Checking the refresh token…",
                    account_actions.add_refresh_token(
                        self.agapp.accounts, self.agapp.service.upstreams, token
                    ),
                )

        self.app.push_screen(
            PromptScreen(
                "Add an Antigravity account: paste its refresh token", "1//0…", secret=True
            ),
            got,
        )

    def action_add_oauth(self) -> None:
        url, _state = account_actions.login_url(self.agapp.config)
        self.app.copy_to_clipboard(url)

        async def got(pasted: str | None) -> None:
            if pasted:
                await self._network(
                    "Exchanging the code…",
                    account_actions.add_oauth_code(
                        self.agapp.accounts, self.agapp.service.upstreams, pasted
                    ),
                )

        self.app.push_screen(
            PromptScreen(
                "OAuth login: open this URL in a browser (copied to your clipboard), sign in, "
                "then paste the address the browser ends on (or just its code):",
                "http://localhost:51121/oauth-callback?code=…",
                extra=url,
            ),
            got,
        )

    def action_add_gemini_key(self) -> None:
        def got(key: str | None) -> None:
            if not key:
                return
            try:
                self._report_added(account_actions.add_gemini_key(self.agapp.accounts, key))
            except (ValueError, OSError) as exc:
                self.agapp.notify(str(exc), title="Key not added", severity="error", markup=False)

        self.app.push_screen(PromptScreen("Add a Gemini API key", "AIza…", secret=True), got)

    def action_import_accounts(self) -> None:
        def got(path: str | None) -> None:
            if not path:
                return
            report = account_actions.import_accounts(self.agapp.accounts, path)
            severity = (
                "warning"
                if report.skipped and not (report.added or report.updated)
                else "information"
            )
            detail = "".join(f"\n{src}: {why}" for src, why in report.skipped[:3])
            self.agapp.notify(
                f"Import: {report.summary()}{detail}", severity=severity, timeout=6, markup=False
            )
            self.refresh_accounts()

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
        self.agapp.accounts.set_disabled(acc.id, not acc.disabled)
        self.agapp.notify(f"{acc.label} {'disabled' if acc.disabled else 'enabled'}", timeout=3)
        self.refresh_accounts()

    def action_remove(self) -> None:
        acc = self.selected()
        if acc is None:
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.agapp.accounts.remove(acc.id)
                self.agapp.notify(f"Removed {acc.label}", timeout=3)
                self.refresh_accounts()

        self.app.push_screen(
            ConfirmScreen(f"Remove account {acc.label}? Its file is deleted.", yes="Remove"), answer
        )

    async def action_refresh_quota(self) -> None:
        acc = self.selected()
        if acc is None:
            return
        await self._network(
            f"Fetching quota for {acc.label}…",
            account_actions.refresh_quota(self.agapp.service, acc),
        )

    async def _network(self, busy: str, job: Any) -> None:
        """Run a network action in the background; errors become notifications."""

        async def run() -> None:
            try:
                result = await job
            except Exception as exc:  # noqa: BLE001 - any failure is shown, the app goes on
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                self.agapp.notify(
                    message,
                    title="Account action failed",
                    severity="error",
                    timeout=8,
                    markup=False,
                )
                return
            if isinstance(result, tuple):
                self._report_added(result)
            else:
                self.agapp.notify(f"Quota updated ({result} models)", timeout=3)
                self.refresh_accounts()

        self.agapp.notify(busy, timeout=2)
        self.run_worker(run(), group="accounts")

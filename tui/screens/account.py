"""One account in full (`enter` on an Accounts row): state with its whole reason (cooling
until, why auth failed, where to verify), every model its catalogue offers with quota
bar, reset countdown and any per-model cooldown or 404 mark, the catalogue's age and
the deprecations it reports. Repainted every second from the Controller's snapshot,
so it follows the proxy live, in-process and attached alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from proxy.accounts.model import AccountKind, AccountState
from tui import units
from tui.bindings import bindings_for
from tui.widgets.footer import AgproxyFooter

if TYPE_CHECKING:
    from tui.app import AgproxyApp

LIVE_INTERVAL = 1.0  # countdowns move every second
BAR = 10


def state_line(acc: Any, now: float) -> tuple[str, str]:
    """(state wording with its countdown, the full reason) for people."""
    state = acc.effective_state(now)
    text = state.value.replace("_", " ")
    if state is AccountState.COOLING:
        text += f" until {units.span(max(acc.cooling_until(), acc.state_until) - now)} from now"
    elif state is AccountState.VERIFICATION_REQUIRED and acc.state_until > now:
        text += f" (tried again in {units.span(acc.state_until - now)})"
    reason = acc.state_reason if state is not AccountState.ACTIVE else ""
    return text, reason


class AccountView(Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "account--title",
        "account--good",
        "account--warn",
        "account--bad",
        "account--muted",
    }

    def style(self, name: str) -> Style:
        return self.get_component_rich_style(f"account--{name}", partial=True)


class AccountScreen(Screen[None]):
    BINDINGS = bindings_for("account")

    def __init__(self, account_id: str) -> None:
        super().__init__()
        self.account_id = account_id
        self.text = Text()

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="account-body"):
            yield AccountView(id="account-content")
        yield AgproxyFooter()

    def on_mount(self) -> None:
        self.show_account()
        self.query_one(VerticalScroll).focus()
        self.set_interval(LIVE_INTERVAL, self.show_account)

    def show_account(self) -> None:
        acc = self.agapp.controller.account(self.account_id)
        view = self.query_one(AccountView)
        text = self.render_account(view, acc, self.agapp.now())
        if text.plain != self.text.plain:
            self.text = text
            view.update(text)

    def render_account(self, view: AccountView, acc: Any, now: float) -> Text:
        s = view.style
        out = Text(no_wrap=False)
        if acc is None:
            out.append("This account was removed.", s("bad"))
            return out
        out.append(acc.label, s("title"))
        out.append(f"   {acc.kind.value.replace('_', ' ')} · id {acc.id}\n", s("muted"))
        if acc.name and acc.email:
            out.append(f"email   {acc.email}\n")
        if acc.project_id:
            out.append(f"project {acc.project_id}\n")
        state, reason = state_line(acc, now)
        level = {"active": "good", "cooling": "warn", "disabled": "muted"}.get(
            acc.effective_state(now).value, "bad"
        )
        out.append("state   ")
        out.append(state, s(level))
        out.append("\n")
        if reason:
            out.append(f"reason  {reason}\n")
        if acc.validation_url and acc.effective_state(now) is AccountState.VERIFICATION_REQUIRED:
            out.append(f"verify  {acc.validation_url}\n")
        out.append(
            f"used    {units.ago(acc.last_used, now)} · {acc.requests} requests, "
            f"{acc.errors} errors\n",
            s("muted"),
        )
        cat = acc.catalogue
        out.append("\nModels", s("title"))
        if cat is None:
            out.append("   catalogue never read (tried as is; read at the next start or u)\n",
                       s("muted"))
        else:
            out.append(f"   catalogue read {units.span(cat.age(now))} ago\n", s("muted"))
        self._models(out, acc, now, s)
        if cat is not None and cat.deprecated:
            out.append("\nDeprecations it reports\n", s("title"))
            for old, new in sorted(cat.deprecated.items()):
                out.append(f"  {old} → {new}\n")
        return out

    def _models(self, out: Text, acc: Any, now: float, s: Any) -> None:
        cooling = acc.model_cooldowns(now)
        # the offered ids and those with a mark; a never-read catalogue: the quota's ids.
        # Internal ids (chat_…, tab_…) carry quota too but are never offered: counted only.
        known = acc.offered() if acc.catalogue is not None else acc.quota.keys()
        models = sorted(set(known) | acc.unavailable.keys() | cooling.keys())
        cat = acc.catalogue
        internal = sum(1 for e in cat.models.values() if e.internal) if cat is not None else 0
        if not models:
            out.append("  (it offers no model)\n", s("muted"))
        width = min(36, max((len(m) for m in models), default=10))
        for model in models:
            out.append(f"  {model:<{width}} ")
            q = acc.quota.get(model)
            if acc.kind is not AccountKind.ANTIGRAVITY:
                out.append("no quota (API key)", s("muted"))
            elif q is None or q.remaining_fraction is None:
                out.append("░" * BAR + "    ?", s("muted"))
            else:
                frac = q.remaining_fraction
                filled = round(frac * BAR)
                out.append("█" * filled + "░" * (BAR - filled),
                           s("good" if frac > 0.5 else "warn" if frac > 0.2 else "bad"))
                out.append(f" {frac * 100:3.0f}%")
                if q.reset_time and q.reset_time > now:
                    out.append(f" resets in {units.span(q.reset_time - now)}", s("muted"))
            if model in acc.unavailable:
                out.append("  unavailable (404)", s("bad"))
            elif model in cooling:
                out.append(f"  cooling {units.span(cooling[model] - now)}", s("warn"))
            out.append("\n")
        if internal > 0:
            out.append(f"  (+{internal} internal id{'s' if internal != 1 else ''} the upstream "
                       "reports, never offered to clients)\n", s("muted"))

    def action_close(self) -> None:
        self.dismiss()

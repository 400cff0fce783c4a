"""The Connect tab: base URLs (the LAN one too when LAN access is on) and one
focusable snippet per client. The key is shown masked (`^r` reveals it, as in
Settings); `y` copies the focused snippet with the real key, `v` shows it plain
(no border, no wrapping) for a mouse selection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from proxy.redact import mask_secret
from tui.bindings import bindings_for
from tui.snippets import Snippet as SnippetData
from tui.snippets import connect_snippets

if TYPE_CHECKING:
    from tui.app import AgproxyApp


def enforced_auth_mode(app: AgproxyApp) -> str:
    """What the running proxy enforces (its listener keeps the LAN state it was bound
    with, whatever the file says now); stopped, what a start would enforce."""
    st = app.read_status()
    return str(st.auth_mode) if st.running else app.config.effective_auth_mode


class Snippet(Static, can_focus=True):
    """One snippet; focus it (tab / arrows / click) and press y."""

    def __init__(self, snippet: SnippetData, shown: str) -> None:
        super().__init__(_unwrapped(shown), id=f"snippet-{snippet.id}", markup=False)
        self.snippet = snippet
        self.shown = shown
        self.border_title = snippet.title

    def set(self, snippet: SnippetData, shown: str) -> None:
        self.snippet = snippet
        self.shown = shown
        self.border_title = snippet.title
        self.update(_unwrapped(shown))


def _unwrapped(text: str) -> Text:
    # never soft-wrap a command into two: a line too long ends in "…" (v shows it whole)
    return Text(text, no_wrap=True, overflow="ellipsis")


class ConnectPane(VerticalScroll):
    BINDINGS = bindings_for("connect")

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.revealed = False

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="connect-urls")
        for snip, shown in self._snippets():
            yield Snippet(snip, shown)

    def _snippets(self) -> list[tuple[SnippetData, str]]:
        app = self.agapp
        cfg = app.config
        key = cfg.proxy.api_key
        base = app.local_base_url()
        mode = self.auth_mode()
        real = connect_snippets(base, key, mode)
        if app.mask_secrets or not self.revealed:
            shown = connect_snippets(base, mask_secret(key), mode)
            return [(r, s.text) for r, s in zip(real, shown, strict=True)]
        return [(r, r.text) for r in real]

    def auth_mode(self) -> str:
        return enforced_auth_mode(self.agapp)

    def lan_urls(self) -> list[str]:
        """LAN base URLs: the running proxy's, or where it will listen once started."""
        app = self.agapp
        urls = app.base_urls()[1:]
        if urls or not app.config.proxy.allow_lan_access or app.mask_secrets:
            return urls
        from proxy.service import lan_address

        address = lan_address()
        return [f"http://{address}:{app.config.proxy.port} (once started)"] if address else []

    def refresh_snippets(self) -> None:
        app = self.agapp
        mode = self.auth_mode()
        lines = Text()
        lines.append("Base URL: ", style="bold")
        lines.append(app.local_base_url())
        for url in self.lan_urls():
            lines.append("\nLAN URL: ", style="bold")
            lines.append(f"{url} — from other machines, in place of the one above")
        lines.append(f"\nauth: {mode}")
        if mode == "off":
            lines.append(" — clients may send any key")
        elif mode == "all_except_health":
            lines.append(" — every path but /healthz needs the key")
        else:
            lines.append(" — every path needs the key")
        lines.append(
            "\nkey " + ("shown" if self.revealed else "masked") + " (^r)  ·  y copy  ·  v plain"
        )
        if not app.proxy_running:
            lines.append("\nThe proxy is stopped: press s to start it.", style="bold")
        self.query_one("#connect-urls", Static).update(lines)
        for view, (snip, shown) in zip(self.query(Snippet), self._snippets(), strict=False):
            view.set(snip, shown)

    def on_mount(self) -> None:
        self.refresh_snippets()

    def focused_snippet(self) -> Snippet | None:
        focused = self.app.focused
        if isinstance(focused, Snippet):
            return focused
        views = list(self.query(Snippet))
        return views[0] if views else None

    def action_copy_snippet(self) -> None:
        from tui.clipboard import copy_text

        view = self.focused_snippet()
        if view is None:
            return
        copy_text(self.agapp, view.snippet.text, view.snippet.title, f"snippet-{view.snippet.id}")

    def action_view_snippet(self) -> None:
        from tui.clipboard import save_copy
        from tui.screens.plain import PlainTextScreen

        view = self.focused_snippet()
        if view is None:
            return
        try:
            path = save_copy(
                self.agapp.paths.data_dir, f"snippet-{view.snippet.id}", view.snippet.text
            )
        except OSError:
            path = None
        # for a mouse selection the plain view has the real key (not in demo screenshots)
        text = view.shown if self.agapp.mask_secrets else view.snippet.text
        self.app.push_screen(PlainTextScreen(view.snippet.title, text, path))

    def action_reveal_key(self) -> None:
        self.revealed = not self.revealed
        self.refresh_snippets()

    def _move(self, step: int) -> None:
        views = list(self.query(Snippet))
        if not views:
            return
        focused = self.app.focused
        index = views.index(focused) if focused in views else -step if step > 0 else 0
        target = views[max(0, min(len(views) - 1, index + step))]
        target.focus()
        target.scroll_visible()

    def action_focus_next_snippet(self) -> None:
        self._move(1)

    def action_focus_previous_snippet(self) -> None:
        self._move(-1)

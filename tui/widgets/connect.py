"""The Connect tab: base URLs and one focusable snippet per client; `y` copies
the focused snippet with the real key (the screen shows it masked when the app
runs in demo mode, for screenshots)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.bindings import bindings_for
from tui.snippets import Snippet as SnippetData
from tui.snippets import connect_snippets, mask_key

if TYPE_CHECKING:
    from tui.app import AgproxyApp


class Snippet(Static, can_focus=True):
    """One snippet; focus it (tab / arrows / click) and press y."""

    def __init__(self, snippet: SnippetData, shown: str) -> None:
        super().__init__(Text(shown), id=f"snippet-{snippet.id}", markup=False)
        self.snippet = snippet
        self.border_title = snippet.title

    def set(self, snippet: SnippetData, shown: str) -> None:
        self.snippet = snippet
        self.border_title = snippet.title
        self.update(Text(shown))


class ConnectPane(VerticalScroll):
    BINDINGS = bindings_for("connect")

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
        health_needs_key = cfg.effective_auth_mode == "strict"
        real = connect_snippets(base, key, health_needs_key)
        if app.mask_secrets:
            shown = connect_snippets(base, mask_key(key), health_needs_key)
            return [(r, s.text) for r, s in zip(real, shown)]
        return [(r, r.text) for r in real]

    def refresh_snippets(self) -> None:
        app = self.agapp
        urls = app.base_urls()
        cfg = app.config
        mode = cfg.effective_auth_mode
        lines = Text()
        lines.append("Base URL" + ("s" if len(urls) > 1 else "") + ": ", style="bold")
        lines.append("  ".join(urls))
        lines.append(f"\nauth: {mode}")
        if mode == "off":
            lines.append(" — clients may send any key")
        elif mode == "all_except_health":
            lines.append(" — every path but /healthz needs the key")
        else:
            lines.append(" — every path needs the key")
        if not app.proxy_running:
            lines.append("\nThe proxy is stopped: press s to start it.", style="bold")
        self.query_one("#connect-urls", Static).update(lines)
        for view, (snip, shown) in zip(self.query(Snippet), self._snippets()):
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
        view = self.focused_snippet()
        if view is None:
            return
        self.app.copy_to_clipboard(view.snippet.text)
        self.app.notify(f"Copied: {view.snippet.title}", timeout=3)

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

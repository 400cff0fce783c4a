"""The footer: Textual's, with `? Help` and `q Quit` first, so a narrow terminal
(80 columns) cuts the tab's rarer keys, never the way to help and out."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED = ("leave_input", "help", "back_or_quit", "close")


class AgproxyFooter(Footer):
    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        by_action: dict[str, tuple] = {}
        for _node, binding, enabled, tooltip in active.values():
            if binding.show:
                by_action.setdefault(binding.action, (binding, enabled, tooltip))
        items = sorted(
            by_action.values(),
            key=lambda item: PINNED.index(item[0].action) if item[0].action in PINNED else 99,
        )
        self.styles.grid_size_columns = len(items)
        for binding, enabled, tooltip in items:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)

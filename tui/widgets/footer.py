"""The footer: Textual's, with `? Help` and `q Quit` first, so a narrow terminal
(80 columns) cuts the tab's rarer keys, never the way to help and out. Keys that do
not fit are left out whole (no `e Enabl`); the help screen lists them all."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.events import Resize
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
        room = self.size.width or self.app.size.width
        fitting = []
        for item in items:
            # what FooterKey draws: " key desc " (compact: "key desc" and a 1-column margin)
            room -= len(self.app.get_key_display(item[0])) + len(item[0].description) + (
                2 if self.compact else 3
            )
            if room < -1:  # the last key may lose its trailing space, not a letter
                break
            fitting.append(item)
        self.styles.grid_size_columns = len(fitting)
        for binding, enabled, tooltip in fitting:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)

    def on_resize(self, event: Resize) -> None:
        # which keys fit depends on the width (a recompose does not change it)
        if event.size.width != getattr(self, "_laid_out_for", None):
            self._laid_out_for = event.size.width
            self.refresh(recompose=True)

"""The command palette (ctrl+p): every action of the bindings table, by name."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.bindings import SCOPE_TITLES, key_label, palette_entries

if TYPE_CHECKING:
    from tui.app import AgproxyApp


def _title(scope: str, description: str) -> str:
    return description if scope == "app" else f"{SCOPE_TITLES[scope]}: {description}"


class AgproxyCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        app = cast("AgproxyApp", self.app)
        out = []
        for k in palette_entries():
            out.append(
                (
                    _title(k.scope, k.description),
                    f"key {key_label(k)}",
                    partial(app.run_scoped_action, k.scope, k.action),
                )
            )
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]

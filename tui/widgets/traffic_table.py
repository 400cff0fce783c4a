"""The live request table: one row per monitored request, keyed by record id,
coloured by status class (429 distinct, in-flight rows italic with "…").

Row rendering is the per-record hot path of the TUI (the proxy shares its event
loop), so a row is built from a handful of attribute reads and cached `Text`
styles, and an update touches only the cells that changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.events import MouseScrollUp
from textual.widgets import DataTable

from tui import units
from tui.bindings import bindings_for

if TYPE_CHECKING:
    from tui.widgets.traffic import TrafficPane

# (key, header, width): widths are fixed so rows never re-measure the table.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time", "time", 8),
    ("status", "st", 3),
    ("method", "meth", 4),
    ("path", "path", 24),
    ("protocol", "api", 4),
    ("model", "model → upstream", 26),
    ("account", "account", 14),
    ("duration", "time", 6),
    ("tokens", "tok in→out", 11),
)
PROTOCOL_SHORT = {"openai": "oai", "anthropic": "anth", "gemini": "gem"}
STYLE_CLASSES = (
    "traffic--ok",
    "traffic--redirect",
    "traffic--client-error",
    "traffic--rate-limited",
    "traffic--server-error",
    "traffic--inflight",
    "traffic--muted",
)


def status_class(status: int) -> str:
    if status == 0:
        return "traffic--inflight"
    if status == 429:
        return "traffic--rate-limited"
    if status >= 500:
        return "traffic--server-error"
    if status >= 400:
        return "traffic--client-error"
    if status >= 300:
        return "traffic--redirect"
    return "traffic--ok"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def row_values(rec: Any, utc: bool = False) -> tuple[str, ...]:
    """The plain text of a row, in COLUMNS order (also what change detection compares)."""
    status = rec.status
    model = rec.client_model
    if rec.upstream_model and rec.upstream_model != model:
        model = f"{model} → {rec.upstream_model}" if model else rec.upstream_model
    if status == 0:
        duration = tokens = "…"
    else:
        duration = units.millis(rec.duration_ms)
        tokens = (
            f"{units.count(rec.input_tokens)}→{units.count(rec.output_tokens)}"
            if rec.input_tokens or rec.output_tokens
            else ""
        )
    return (
        units.clock(rec.started, utc),
        "…" if status == 0 else str(status),
        rec.method[:4],
        _clip(rec.path, 24),
        PROTOCOL_SHORT.get(rec.protocol, rec.protocol),
        _clip(model, 26),
        _clip(rec.account, 14),
        duration,
        tokens,
    )


class TrafficTable(DataTable):
    """DataTable that tells its pane when the user moves away from the newest row."""

    BINDINGS = bindings_for("traffic")
    COMPONENT_CLASSES: ClassVar[set[str]] = DataTable.COMPONENT_CLASSES | set(STYLE_CLASSES)

    def __init__(self, pane: TrafficPane, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.pane = pane
        self._styles: dict[str, Style] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.restyle())

    # -- styles from the stylesheet palette -----------------------------------------

    def style_for(self, css_class: str) -> Style:
        style = self._styles.get(css_class)
        if style is None:
            style = self.get_component_rich_style(css_class, partial=True)
            self._styles[css_class] = style
        return style

    def restyle(self) -> None:
        """Theme changed: drop cached styles and repaint every row in the new palette."""
        self._styles.clear()
        self.pane.rebuild()

    def cells(self, values: tuple[str, ...], status: int) -> list[Text]:
        status_style = self.style_for(status_class(status))
        muted = self.style_for("traffic--muted")
        out = [Text(v, no_wrap=True, overflow="ellipsis") for v in values]
        out[0].stylize(muted)
        out[1].stylize(status_style)
        if status == 0 or status >= 400:
            out[3].stylize(status_style)
            out[7].stylize(status_style)
        return out

    # -- follow mode: moving up turns it off, End/f turns it back on --------------------

    def action_cursor_up(self) -> None:
        at_top = self.cursor_row <= 0
        self.pane.set_follow(False)
        super().action_cursor_up()
        if at_top:
            self.pane.load_older()

    def action_page_up(self) -> None:
        at_top = self.cursor_row <= 0
        self.pane.set_follow(False)
        super().action_page_up()
        if at_top:
            self.pane.load_older()

    def action_scroll_top(self) -> None:
        self.pane.set_follow(False)
        super().action_scroll_top()

    def action_scroll_home(self) -> None:
        self.pane.set_follow(False)
        super().action_scroll_home()

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.pane.set_follow(False)
        if self.scroll_y <= 0:
            self.pane.load_older()

    # The traffic actions in the bindings table live on the pane.
    def action_filter(self) -> None:
        self.pane.action_filter()

    def action_details(self) -> None:
        self.pane.action_details()

    def action_follow(self) -> None:
        self.pane.action_follow()

    def action_pause(self) -> None:
        self.pane.action_pause()

    def action_clear(self) -> None:
        self.pane.action_clear()

    def action_copy_curl(self) -> None:
        self.pane.action_copy_curl()

    def action_clear_filter(self) -> None:
        self.pane.action_clear_filter()

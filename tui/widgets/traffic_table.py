"""The live request table: a line-based widget that paints only the visible rows.

One row per monitored request, ordered by record id, coloured by status class
(429 distinct, in-flight rows italic with "…"). The proxy shares this event loop,
so a new record costs O(1) (the pane keeps the record; nothing is rendered) and a
repaint costs O(visible rows): each row's `Strip` is built the first time it is
painted and cached until its record changes, the width or the theme does.

Columns adapt to the width (method and protocol are dropped below 100 columns;
path and model share what is left), so there is no horizontal scrolling."""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.events import Click, MouseScrollUp, Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from proxy.errors import Protocol
from tui import units
from tui.bindings import bindings_for

if TYPE_CHECKING:
    from tui.widgets.traffic import TrafficPane

# (key, header, width, dropped when narrow): index = position in row_values().
COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("time", "time", 8, False),
    ("status", "st", 3, False),
    ("method", "meth", 4, True),
    ("path", "path", 24, False),
    ("protocol", "api", 4, True),
    ("model", "model → upstream", 26, False),
    ("account", "account", 14, False),
    ("duration", "took", 6, False),
    ("tokens", "tok in→out", 11, False),
)
PATH, MODEL, ACCOUNT = 3, 5, 6
NARROW = 100  # below this width the optional columns go
# every protocol (proxy.errors.Protocol) has its short label
PROTOCOL_SHORT = {Protocol.OPENAI.value: "oai", Protocol.ANTHROPIC.value: "anth", Protocol.GEMINI.value: "gem"}
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


def row_values(rec: Any, utc: bool = False) -> tuple[str, ...]:
    """The plain text of a row, in COLUMNS order (unclipped: the layout clips)."""
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
        rec.path,
        PROTOCOL_SHORT.get(rec.protocol, rec.protocol),
        model or "",
        rec.account or "",
        duration,
        tokens,
    )


def column_widths(width: int, account_need: int = 24) -> list[int]:
    """Width of each column at this widget width (0 = column hidden): the fixed ones
    first, then path, model and account share what is left; the account column takes
    no more than its widest value needs (`key …9f2c` leaves the rest to the model)."""
    widths = [w if not (narrow and width < NARROW) else 0 for _k, _l, w, narrow in COLUMNS]
    shown = sum(1 for w in widths if w)
    fixed = sum(w for i, w in enumerate(widths) if i not in (PATH, MODEL, ACCOUNT)) + shown + 1
    spare = max(28, width - fixed)  # + gaps and the left margin
    widths[ACCOUNT] = max(10, min(24, spare // 4, max(account_need, len("account"))))
    widths[PATH] = max(8, min(40, (spare - widths[ACCOUNT]) * 3 // 8))
    widths[MODEL] = max(8, spare - widths[ACCOUNT] - widths[PATH])
    return widths


def _cell(text: str, width: int, style: Style, fill: Style) -> list[Segment]:
    """One cell: the text in its style, the padding in the row's (badges stay short)."""
    if len(text) > width:
        return [Segment(text[: width - 1] + "…", style), Segment(" ", fill)]
    return [Segment(text, style), Segment(" " * (width - len(text) + 1), fill)]


class TrafficTable(ScrollView, can_focus=True):
    """Rows of the pane's records with a cursor; tells the pane when the user moves
    away from the newest row (follow off) or past the oldest (page in history)."""

    BINDINGS: ClassVar[list[Any]] = [*bindings_for("traffic"), *bindings_for("move")]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *STYLE_CLASSES,
        "traffic-table--header",
        "traffic-table--cursor",
    }
    DEFAULT_CSS = """
    TrafficTable { overflow-x: hidden; background: $surface; }
    TrafficTable > .traffic-table--header { background: $panel; text-style: bold; }
    TrafficTable > .traffic-table--cursor { background: $block-cursor-blurred-background; }
    TrafficTable:focus > .traffic-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    """

    def __init__(self, pane: TrafficPane, **kw: Any) -> None:
        super().__init__(**kw)
        self.pane = pane
        self.order: list[int] = []  # record ids, ascending (= the pane's records order)
        self.cursor_row = 0
        self._strips: dict[int, Strip] = {}  # record id → painted row (cursor not applied)
        self._styles: dict[str, Style] = {}
        self._widths: list[int] = []
        self._header: Strip | None = None
        self._layout_width = -1
        self._account_need = -1

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.restyle())

    def on_resize(self, _event: Resize) -> None:
        self._scroll_to_cursor()

    # -- what the pane and tests use -------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.order)

    def get_row_at(self, row: int) -> tuple[str, ...]:
        return row_values(self.pane.records[self.order[row]], self.pane.agapp.utc_clock)

    def cursor_id(self) -> int | None:
        return self.order[self.cursor_row] if 0 <= self.cursor_row < len(self.order) else None

    def index_of(self, rid: int) -> int | None:
        i = bisect_left(self.order, rid)
        return i if i < len(self.order) and self.order[i] == rid else None

    def sync(self, follow: bool, keep: int | None = None) -> None:
        """The pane's record set changed: take its order, keep the cursor on record
        `keep` (or at the end when following), resize and repaint."""
        self.order = list(self.pane.records)
        n = len(self.order)
        if follow or keep is None:
            row = n - 1 if follow else min(self.cursor_row, n - 1)
        else:
            i = bisect_left(self.order, keep)
            row = min(i, n - 1)
        self.cursor_row = max(0, row)
        if len(self._strips) > 2 * n + 100:  # forget rows that left the view
            self._strips = {rid: s for rid, s in self._strips.items() if rid in self.pane.records}
        self._set_height(n + 1)
        self._scroll_to_cursor()
        self.refresh()

    def changed(self, rids: list[int]) -> None:
        """Records already shown were updated: repaint only if one of them is visible."""
        strips = self._strips
        for rid in rids:
            strips.pop(rid, None)
        top = int(self.scroll_y)
        bottom = top + self.size.height
        for rid in rids:
            i = self.index_of(rid)
            if i is not None and top <= i < bottom:
                self.refresh()
                return

    def clear(self) -> None:
        self.order = []
        self._strips.clear()
        self.cursor_row = 0
        self._set_height(1)
        self.refresh()

    def move_cursor(self, row: int, animate: bool = False) -> None:
        if not self.order:
            return
        self.cursor_row = max(0, min(row, len(self.order) - 1))
        self._scroll_to_cursor()
        self.refresh()

    # -- size and scrolling ------------------------------------------------------------

    def _set_height(self, lines: int) -> None:
        size = Size(0, lines)
        if size == self.virtual_size:
            return
        visible = self.size.height
        if self.show_vertical_scrollbar and lines > visible and hasattr(self, "_scroll_update"):
            # The scrollbar stays: skip the screen layout a virtual_size change costs
            # (Textual private API; the plain assignment below is the fallback).
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size

    def _body_height(self) -> int:
        return max(1, self.size.height - 1)

    def _scroll_to_cursor(self) -> None:
        top = int(self.scroll_y)
        body = self._body_height()
        row = self.cursor_row
        if row < top:
            top = row
        elif row >= top + body:
            top = row - body + 1
        if top != int(self.scroll_y):
            self.scroll_to(y=top, animate=False, force=True, immediate=True)

    # -- painting ----------------------------------------------------------------------

    def style_for(self, css_class: str) -> Style:
        style = self._styles.get(css_class)
        if style is None:
            style = self.get_component_rich_style(css_class)  # full: alpha colours blended
            self._styles[css_class] = style
        return style

    def _base_style(self) -> Style:
        style = self._styles.get("")
        if style is None:
            style = self._styles[""] = self.rich_style
        return style

    def restyle(self) -> None:
        """Theme changed: drop cached styles and rows; they are rebuilt when painted."""
        self._styles.clear()
        self._strips.clear()
        self._header = None
        self.refresh()

    def _check_layout(self) -> None:
        width = self.scrollable_content_region.width
        need = self.pane.account_width
        if width != self._layout_width or need != self._account_need:
            self._layout_width = width
            self._account_need = need
            self._widths = column_widths(width, need)
            self._strips.clear()
            self._header = None

    def _line(self, cells: list[tuple[str, Style]], fill: Style) -> Strip:
        segments = [Segment(" ", fill)]
        for (text, style), width in zip(cells, self._widths, strict=True):
            if width:
                segments += _cell(text, width, style, fill)
        strip = Strip(segments)
        return strip.extend_cell_length(self._layout_width, fill).crop(0, self._layout_width)

    def _row_strip(self, rid: int) -> Strip:
        rec = self.pane.records[rid]
        values = row_values(rec, self.pane.agapp.utc_clock)
        base = self._base_style()
        status = self.style_for(status_class(rec.status))
        muted = self.style_for("traffic--muted")
        loud = rec.status == 0 or rec.status >= 400
        styles = [base] * len(values)
        styles[0] = muted
        styles[1] = status
        if loud:
            styles[3] = styles[7] = status
        return self._line(list(zip(values, styles, strict=True)), base)

    def render_line(self, y: int) -> Strip:
        self._check_layout()
        if y == 0:
            if self._header is None:
                style = self.style_for("traffic-table--header")
                self._header = self._line([(label, style) for _k, label, _w, _n in COLUMNS], style)
            return self._header
        row = int(self.scroll_y) + y - 1
        if row >= len(self.order):
            return Strip.blank(self._layout_width, self._base_style())
        rid = self.order[row]
        strip = self._strips.get(rid)
        if strip is None:
            strip = self._strips[rid] = self._row_strip(rid)
        if row == self.cursor_row:
            cursor = self.get_component_rich_style("traffic-table--cursor", partial=True)
            return Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
        return strip

    # -- keys and mouse: moving up turns follow off, End/f turns it back on -------------

    def action_cursor_up(self) -> None:
        self.pane.set_follow(False)
        if self.cursor_row <= 0:
            self.pane.load_older()
        else:
            self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)
        if self.cursor_row == len(self.order) - 1:
            self.pane.set_follow(True)

    def action_page_up(self) -> None:
        self.pane.set_follow(False)
        if self.cursor_row <= 0:
            self.pane.load_older()
        else:
            self.move_cursor(self.cursor_row - self._body_height())

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._body_height())
        if self.cursor_row == len(self.order) - 1:
            self.pane.set_follow(True)

    def action_scroll_home(self) -> None:
        self.pane.set_follow(False)
        self.move_cursor(0)

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.pane.set_follow(False)
        if self.scroll_y <= 0:
            self.pane.load_older()

    def on_click(self, event: Click) -> None:
        row = int(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.order):
            if row != len(self.order) - 1:
                self.pane.set_follow(False)
            if row == self.cursor_row and event.chain >= 2:
                self.pane.action_details()
            self.move_cursor(row)

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

    def action_view_curl(self) -> None:
        self.pane.action_view_curl()

    def action_clear_filter(self) -> None:
        self.pane.action_clear_filter()

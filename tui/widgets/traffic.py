"""The Traffic tab: the live table plus its bar (FOLLOW / PAUSED badges, filter,
counts) and the `/` filter input.

Records arrive in batches from the app's drain timer (`ingest`), so the table is
repainted at most a few times a second whatever the request rate. The view holds
at most `MAX_ROWS` rows; older ones are paged in from the monitor store when the
user scrolls past the top."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.widgets.traffic_table import TrafficTable

if TYPE_CHECKING:
    from tui.app import AgproxyApp

MAX_ROWS = 1000
# Trim in chunks, so the O(rows) slice runs once per TRIM_SLACK new records.
TRIM_SLACK = 200
HISTORY_PAGE = 200
# How to add an account, worded once: the first-launch hint and the "no available
# accounts" toast say the same keys.
ADD_ACCOUNT_KEYS = (
    "press 2 (Accounts), then a (refresh token) · o (OAuth login) · k (Gemini key) · i (import)"
)


def first_steps(accounts: int, running: bool, url: str) -> str:
    """What to do on an empty Traffic tab (first launch), by how far the user got."""
    connect = f"Point a client at {url} with the API key: 4 (Connect) has ready-made snippets."
    if not accounts:
        return (f"No requests yet. Add an account: {ADD_ACCOUNT_KEYS}. "
                f"Then s starts the proxy.\n{connect}")  # fmt: skip
    if not running:
        return f"No requests yet. Press s to start the proxy.\n{connect}"
    return f"No requests yet. {connect}"


class TrafficPane(Vertical):
    """Live traffic: follow mode, pause, clear, filter, history paging."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.records: dict[int, Any] = {}  # id → record, oldest first (the view's order)
        self._held: dict[int, Any] = {}  # arrived while paused
        self.follow = True
        self.paused = False
        self.filter: Any = None  # RecordFilter | None
        self.refreshes = 0  # repaints of the table (the benchmark reads this)
        self._history_done = False
        self._loading_history = False
        self._bar_text = ""
        self.hint = ""  # the first-launch text shown while the view is empty
        self.account_width = 0  # the widest account name seen (the column's need)
        self.matched: int | None = None  # stored records matching the filter (None: unknown)

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="traffic-bar")
        yield Static(id="traffic-empty", markup=False)
        yield Input(
            placeholder="filter: status:4xx model:gemini* account:alice text  (Enter apply, Esc cancel)",
            id="traffic-filter",
        )
        yield TrafficTable(self, id="traffic-table")

    def on_mount(self) -> None:
        self.update_bar()

    @property
    def table(self) -> TrafficTable:
        return self.query_one(TrafficTable)

    # -- live records --------------------------------------------------------------

    def ingest(self, batch: list[Any]) -> None:
        """Apply one drained batch (the same record may appear several times)."""
        if not batch:
            return
        if self.paused:
            for rec in batch:
                self._held[rec.id] = rec
            if len(self._held) > MAX_ROWS:
                for rid in list(self._held)[: len(self._held) - MAX_ROWS]:
                    del self._held[rid]
            self.update_bar()
            return
        self._apply(batch)

    def _apply(self, batch: Any) -> None:
        """O(len(batch)) dict work; the table paints only the rows on screen."""
        records = self.records
        flt = self.filter
        table = self.table
        last = table.order[-1] if table.order else -1
        grown = unsorted = False
        updated: list[int] = []
        widest = self.account_width
        for rec in batch:
            rid = rec.id
            widest = max(widest, len(rec.account))  # O(1); the layout reads it when painting
            if flt is not None and not flt.matches(rec):
                if records.pop(rid, None) is not None:  # no longer matches (e.g. finished)
                    grown = True
                continue
            if rid in records:
                records[rid] = rec
                updated.append(rid)
            else:
                records[rid] = rec
                grown = True
                if rid < last:
                    unsorted = True  # e.g. an older request that now matches the filter
                else:
                    last = rid
        if widest != self.account_width:
            self.account_width = widest
            table.refresh()
        if unsorted:
            self.records = records = dict(sorted(records.items()))
        if len(records) > MAX_ROWS + TRIM_SLACK:
            # drop the oldest in one slice (amortised: once per TRIM_SLACK new rows)
            self.records = records = dict(list(records.items())[-MAX_ROWS:])
            self._history_done = False
        if updated:
            table.changed(updated)
        if grown:
            table.sync(self.follow, table.cursor_id())
            self.refreshes += 1
            self.update_bar()
        elif updated:
            self.refreshes += 1

    def rebuild(self) -> None:
        """Re-take every row from `records` (after a history page or a filter)."""
        table = self.table
        table.restyle()
        table.sync(self.follow, table.cursor_id())
        self.refreshes += 1
        self.update_bar()

    def selected_record(self) -> Any:
        rid = self.table.cursor_id()
        return None if rid is None else self.records.get(rid)

    # -- history paging --------------------------------------------------------------

    def load_older(self) -> None:
        if self._history_done or self._loading_history:
            return
        self._loading_history = True
        self.run_worker(self._load_older(), group="history", exclusive=True)

    async def _load_older(self) -> None:
        try:
            oldest = min(self.records) if self.records else None
            before = self.records[oldest] if oldest is not None else None
            older = await self.agapp.query_history(self.filter, HISTORY_PAGE, before)
            if not older:
                self._history_done = True
                self.agapp.notify("No older requests.", timeout=2)
                return
            merged: dict[int, Any] = {}
            for rec in sorted(older, key=lambda r: r.id):
                if oldest is None or rec.id < oldest:
                    merged[rec.id] = rec
            first_new = len(merged)
            merged.update(self.records)
            self.records = dict(list(merged.items())[: MAX_ROWS + TRIM_SLACK])
            self.follow = False
            self.rebuild()
            self.table.move_cursor(max(0, first_new - 1))
        finally:
            self._loading_history = False

    def load_recent(self) -> None:
        """After a relaunch the live ring is empty: show the newest stored requests."""
        self.run_worker(self._load_recent(), group="history", exclusive=True)

    async def _load_recent(self) -> None:
        recent = await self.agapp.query_history(self.filter, HISTORY_PAGE, None)
        if recent:
            self._merge(recent)

    def _merge(self, records: list[Any]) -> None:
        merged = {r.id: r for r in records if r.id not in self.records}
        if not merged:
            return
        self.account_width = max(self.account_width, *(len(r.account) for r in records))
        merged.update(self.records)
        self.records = dict(sorted(merged.items())[-(MAX_ROWS + TRIM_SLACK) :])
        self.rebuild()

    async def _filter_history(self, flt: Any) -> None:
        """A filter covers the history too: the newest stored matches join the view and
        the bar says how many match in all (scrolling up pages in the rest)."""
        older = await self.agapp.query_history(flt, HISTORY_PAGE, None)
        if flt is not self.filter:
            return  # the user typed another filter meanwhile
        self._merge(older)
        if flt is None:
            return
        matched = await self.agapp.count_history(flt)
        if flt is self.filter:
            self.matched = matched
            self.update_bar()

    # -- actions -----------------------------------------------------------------------

    def set_follow(self, on: bool) -> None:
        if self.follow != on:
            self.follow = on
            self.update_bar()

    def action_follow(self) -> None:
        self.set_follow(True)
        table = self.table
        if table.row_count:
            table.move_cursor(table.row_count - 1)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self._held:
            held, self._held = list(self._held.values()), {}
            self._apply(held)
        self.update_bar()
        self.agapp.notify("Traffic paused" if self.paused else "Traffic resumed", timeout=2)

    def action_clear(self) -> None:
        self.records.clear()
        self._held.clear()
        self._history_done = True  # cleared means "start from now"
        self.table.clear()
        self.refreshes += 1
        self.update_bar()

    def action_filter(self) -> None:
        self.add_class("-filtering")
        box = self.query_one("#traffic-filter", Input)
        box.value = self.filter.text if self.filter is not None else ""
        box.focus()

    def action_clear_filter(self) -> None:
        if self.filter is not None:
            self.apply_filter("")

    def action_copy_curl(self) -> None:
        rec = self.selected_record()
        if rec is not None:
            copy_curl(self.agapp, rec)

    def action_view_curl(self) -> None:
        rec = self.selected_record()
        if rec is not None:
            view_curl(self.agapp, rec)

    def action_details(self) -> None:
        rec = self.selected_record()
        if rec is not None:
            self.agapp.open_detail(rec)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "traffic-filter":
            return
        event.stop()
        if self.apply_filter(event.value):
            self.remove_class("-filtering")
            self.table.focus()

    def on_key(self, event: Any) -> None:
        if event.key == "escape" and self.has_class("-filtering"):
            event.stop()
            self.remove_class("-filtering")
            self.table.focus()

    def apply_filter(self, text: str) -> bool:
        """Set the filter and rebuild the view from the live ring; False if it does not parse."""
        from proxy.monitor.filter import FilterError, parse_filter

        try:
            flt = parse_filter(text) if text.strip() else None
        except FilterError as exc:
            self.agapp.notify(str(exc), title="Filter", severity="error", markup=False)
            return False
        self.filter = flt if flt is not None and not flt.empty else None
        recent = self.agapp.recent_records(MAX_ROWS * 5)
        if self.filter is not None:
            recent = [r for r in recent if self.filter.matches(r)]
        self.records = {r.id: r for r in sorted(recent, key=lambda r: r.id)[-MAX_ROWS:]}
        self._history_done = False
        self.follow = True
        self.matched = None
        self.rebuild()
        # the stored history too (after a relaunch the ring holds nothing older)
        self.run_worker(self._filter_history(self.filter), group="history", exclusive=True)
        return True

    # -- the bar ---------------------------------------------------------------------

    def update_bar(self) -> None:
        parts: list[str] = []
        parts.append("[reverse] FOLLOW [/]" if self.follow else "[dim] follow off: f/End [/]")
        if self.paused:
            held = f" +{len(self._held)}" if self._held else ""
            parts.append(f"[reverse bold] PAUSED{held} [/]")
        parts.append(plural(len(self.records), "row"))
        if self.filter is not None:
            if self.matched is not None:
                parts.append(f"{self.matched} matched in the history")
            parts.append(f"filter: [b]{_escape(self.filter.text)}[/b]  (Esc clears)")
        else:
            parts.append("[dim]/ filter · enter details · p pause · c clear[/]")
        text = "  ".join(parts)
        if text != self._bar_text:  # fixed height: no layout pass needed
            self._bar_text = text
            self.query_one("#traffic-bar", Static).update(text, layout=False)
        self.show_first_steps()

    def show_first_steps(self, st: Any = None) -> None:
        """An empty, unfiltered view says what to do (only while there is no row; the
        app calls it with each status tick, so it follows accounts and start/stop)."""
        empty = not self.records and self.filter is None and not self.paused
        if empty:
            st = st or self.agapp.read_status()
            url = st.base_urls[0] if st.base_urls else f"http://127.0.0.1:{st.port}"
            hint = first_steps(st.accounts_total, st.running, url)
            if hint != self.hint:
                self.hint = hint
                self.query_one("#traffic-empty", Static).update(hint)
        self.set_class(empty, "-empty")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def copy_curl(app: AgproxyApp, rec: Any) -> None:
    """Copy as curl (Traffic and the detail): clipboard + file, and what it lacks."""
    from tui.clipboard import copy_text
    from tui.curl import curl_command, missing_body_note

    copy_text(
        app,
        curl_command(rec, app.local_base_url()),
        "curl command (uses $AGPROXY_API_KEY)",
        f"curl-{rec.id}",
        missing_body_note(rec),
    )


def view_curl(app: AgproxyApp, rec: Any) -> None:
    from tui.clipboard import save_copy
    from tui.curl import curl_command
    from tui.screens.plain import PlainTextScreen

    text = curl_command(rec, app.local_base_url())
    try:
        path = save_copy(app.paths.data_dir, f"curl-{rec.id}", text)
    except OSError:
        path = None
    app.push_screen(PlainTextScreen(f"Request {rec.id} as curl", text, path))


def _escape(text: str) -> str:
    return text.replace("[", "\\[")

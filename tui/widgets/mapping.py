"""The model mapping editor of the Settings tab (SPEC §9).

Above: the user's `model_mapping` (client model, exact or with `*` → upstream
model), editable — `enter` loads a row into the edit line, `x`/`del` deletes it,
the edit line saves on `enter`, `u` undoes the last change (add, edit, delete). The
upstream model completes from the accounts' live catalogues; a target no account
offers is only saved after a confirmation that names the closest offered ids. Below: the built-in family rules (proxy/models_table.py
FAMILY_RULES), read-only; `enter`/`c` copies one into the edit line to override
it. Last: how a typed client model resolves right now over the live catalogue
(the dispatcher's resolution, with the rule that decided it).

Mapping edits save at once through ConfigStore (hot-applied), independent of the
form's ^s: a mapping entry is a whole row, not a field with a half-typed value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.widgets import Button, DataTable, Input, Static

from proxy.config.model import ConfigError
from proxy.control.api import ACCOUNTS
from proxy.models_table import FAMILY_RULES, FamilyRule
from proxy.routing import Offer, build_offer, closest_ids, pick_newest, resolve
from tui.bindings import bindings_for
from tui.screens.dialogs import ConfirmScreen

if TYPE_CHECKING:
    from tui.app import AgproxyApp


def check_entry(pattern: str, target: str) -> str | None:
    """Why a mapping row cannot be saved, or None."""
    if not pattern:
        return "the client model is empty"
    if not target:
        return "the upstream model is empty"
    if any(c.isspace() for c in pattern + target):
        return "model names have no spaces"
    if "*" in target:
        return "the upstream model is a name, not a pattern (no *)"
    return None


def explain(client_model: str, mapping: dict[str, str], offer: Offer | None = None) -> str:
    """Where a client model goes and which rule decided it (SPEC §9)."""
    return resolve(client_model, mapping, offer or Offer(unknown=True)).explain()


UNDO_DEPTH = 20
PATTERN_WIDTH = 30
MIN_TARGET_WIDTH = 30


def route_cell(rule: FamilyRule, offered: frozenset[str]) -> str:
    """The id a built-in route picks today first (what a request gets), then why."""
    chosen = pick_newest(offered, rule.families, False)
    why = f"{rule.note}; of {', '.join(rule.families)}"
    return f"{chosen}  ({why})" if chosen else f"nothing offered yet  ({why})"


class OfferSuggester(Suggester):
    """Completes an upstream model from the ids the accounts offer *now* (read on each
    keystroke, not cached: a catalogue read or a new account changes them)."""

    def __init__(self, editor: MappingEditor) -> None:
        super().__init__(use_cache=False, case_sensitive=False)
        self.editor = editor

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        offered = sorted(self.editor.offer.ids)
        return next((m for m in offered if m.casefold().startswith(value)), None)


class MappingTable(DataTable):
    """The user's mapping rows."""

    BINDINGS = bindings_for("mapping")

    def action_edit(self) -> None:
        self.editor.edit_selected()

    async def action_delete(self) -> None:
        await self.editor.delete_selected()

    async def action_undo(self) -> None:
        await self.editor.undo()

    @property
    def editor(self) -> MappingEditor:
        return next(a for a in self.ancestors if isinstance(a, MappingEditor))


class RoutesTable(DataTable):
    """The built-in routes (read-only)."""

    BINDINGS = bindings_for("routes")

    def action_copy_route(self) -> None:
        next(a for a in self.ancestors if isinstance(a, MappingEditor)).copy_route()


class MappingEditor(Vertical):
    DEFAULT_CSS = """
    MappingEditor { height: auto; }
    MappingEditor DataTable { height: auto; max-height: 14; margin-left: 2; }
    MappingEditor .mapping-note { color: $text-muted; padding-left: 2; }
    MappingEditor .mapping-note.-error { color: $error; text-style: bold; }
    MappingEditor .mapping-row { height: 1; padding-left: 2; }
    MappingEditor .mapping-row Input { width: 1fr; }
    MappingEditor .mapping-row Static { width: auto; padding: 0 1; }
    MappingEditor .mapping-row Button { width: auto; min-width: 8; }
    MappingEditor .subsection { color: $text-muted; text-style: bold; padding-left: 2; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.editing: str | None = None  # the pattern being edited (renames drop it)
        # (the mapping before a change, what the change was): `u` goes back one step
        self.undo_stack: list[tuple[dict[str, str], str]] = []

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(
            "client model (exact, or with * wildcards) → upstream model; yours win over "
            "the built-in routes. Saved at once.  enter edit · x delete · u undo",
            classes="mapping-note",
            markup=False,
        )
        yield MappingTable(cursor_type="row", id="mapping-user", zebra_stripes=True)
        with Horizontal(classes="mapping-row"):
            yield Input(placeholder="client model, e.g. gpt-4o*", compact=True, id="map-pattern")
            yield Static("→")
            yield Input(
                placeholder="upstream model",
                compact=True,
                id="map-target",
                suggester=OfferSuggester(self),
            )
            yield Button("Save", id="map-save", compact=True)
        yield Static("", id="map-message", classes="mapping-note", markup=False)
        yield Static("Built-in routes (enter/c: copy into your mapping)", classes="subsection")
        yield RoutesTable(cursor_type="row", id="mapping-builtin")
        with Horizontal(classes="mapping-row"):
            yield Static("try:")
            yield Input(placeholder="a client model, e.g. claude-3-5-sonnet", compact=True,
                        id="map-try")  # fmt: skip
        yield Static("", id="map-resolved", classes="mapping-note", markup=False)

    def on_mount(self) -> None:
        self.widths = (0, 0)
        self.route_cells: list[str] = []
        self._routes_due = False
        self.agapp.controller.add_listener(self._on_controller_change)
        self.set_interval(1.0, self._routes_tick)
        self.size_columns()
        self.refresh_rows()

    def on_unmount(self) -> None:
        self.agapp.controller.remove_listener(self._on_controller_change)

    def on_resize(self) -> None:
        if self.size_columns():
            self.refresh_rows()

    def _on_controller_change(self, kind: str) -> None:
        # a catalogue read or a new account changes the id a route picks; accounts change
        # on every request (maybe off the loop): a flag, looked at once a second
        if kind == ACCOUNTS:
            self._routes_due = True

    def _routes_tick(self) -> None:
        if self._routes_due:
            self.refresh_routes()

    def size_columns(self) -> bool:
        """Give the upstream model what the client model column leaves (the chosen id of
        a route must show at 80 columns); True when the widths changed."""
        width = self.size.width or self.app.size.width
        patterns = [r.pattern for r in FAMILY_RULES] + list(self.mapping)
        left = min(PATTERN_WIDTH, max(len("client model"), *map(len, patterns)))
        # the table's 2-column margin, its scrollbar and 1 cell of padding each side
        right = max(MIN_TARGET_WIDTH, width - 2 - 2 - 4 - left)
        if (left, right) == self.widths:
            return False
        self.widths = (left, right)
        for table in self.query(DataTable):
            table.clear(columns=True)
            table.add_column("client model", key="pattern", width=left)
            table.add_column("upstream model", key="target", width=right)
        self.route_cells = []
        return True

    def refresh_routes(self) -> None:
        """The built-in routes with the id each picks from the live catalogues now."""
        self._routes_due = False
        offered = self.offer.ids  # one walk over the accounts, not one per route
        cells = [route_cell(rule, offered) for rule in FAMILY_RULES]
        if cells == self.route_cells:
            return
        self.route_cells = cells
        routes = self.query_one(RoutesTable)
        row = routes.cursor_row
        routes.clear()
        for rule, cell in zip(FAMILY_RULES, cells, strict=True):
            routes.add_row(rule.pattern, cell, key=rule.pattern)
        routes.move_cursor(row=max(0, min(row, routes.row_count - 1)), animate=False)

    # -- showing ----------------------------------------------------------------------

    @property
    def offer(self) -> Offer:
        """What the accounts' live catalogues offer now (completion, warnings, try:), from
        the Controller's account view (in-process or attached: the same catalogues)."""
        return build_offer(self.agapp.controller.accounts())

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.agapp.config.model_mapping)

    def refresh_rows(self) -> None:
        """Show the saved mapping (after a save here, in the form or outside)."""
        table = self.query_one(MappingTable)
        row = table.cursor_row
        table.clear()
        mapping = self.mapping
        for pattern, target in mapping.items():
            table.add_row(pattern, target, key=pattern)
        if not mapping:
            table.add_row(Text("(none yet)", style="italic"), Text("type one below", style="italic"))
        table.move_cursor(row=min(row, table.row_count - 1), animate=False)
        self.refresh_routes()
        self.show_resolved()

    def message(self, text: str, error: bool = False) -> None:
        line = self.query_one("#map-message", Static)
        line.set_class(error, "-error")
        line.update(text)

    def show_resolved(self) -> None:
        typed = self.query_one("#map-try", Input).value.strip()
        line = self.query_one("#map-resolved", Static)
        if not typed:
            line.update("type a client model above to see where it goes")
            return
        mapping = self.mapping
        line.update(explain(typed, mapping, self.offer))

    # -- editing ----------------------------------------------------------------------

    def selected_pattern(self) -> str | None:
        table = self.query_one(MappingTable)
        if not table.row_count or not self.mapping:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return key if key in self.mapping else None

    def load(self, pattern: str, target: str, editing: str | None) -> None:
        self.editing = editing
        self.query_one("#map-pattern", Input).value = pattern
        target_input = self.query_one("#map-target", Input)
        target_input.value = target
        target_input.focus()
        self.message(f"editing {editing}" if editing else "new mapping: enter saves")

    def edit_selected(self) -> None:
        pattern = self.selected_pattern()
        if pattern is None:
            self.load("", "", None)
            self.query_one("#map-pattern", Input).focus()
            return
        self.load(pattern, self.mapping[pattern], pattern)

    def copy_route(self) -> None:
        routes = self.query_one(RoutesTable)
        if not routes.row_count:
            return
        pattern = routes.coordinate_to_cell_key(routes.cursor_coordinate).row_key.value or ""
        rule = next(r for r in FAMILY_RULES if r.pattern == pattern)
        target = pick_newest(self.offer.ids, rule.families, False) or ""
        self.load(pattern, target, self.editing if pattern == self.editing else None)
        self.message(f"override the built-in route {pattern}: change the upstream model, enter")

    def not_offered(self, target: str) -> list[str] | None:
        """None when some account offers `target` (or nothing is known yet: no
        catalogue read); else the closest offered ids (routing's own choice)."""
        offer = self.offer
        if not offer.ids or target in offer.ids or target in offer.deprecated:
            return None
        return closest_ids(target, offer.ids)[0]

    async def save_entry(self) -> None:
        pattern = self.query_one("#map-pattern", Input).value.strip()
        target = self.query_one("#map-target", Input).value.strip()
        problem = check_entry(pattern, target)
        if problem:
            self.message(problem, error=True)
            return
        close = self.not_offered(target)
        if close is None:
            await self._store_entry(pattern, target)
            return
        alike = f" Closest offered: {', '.join(close)}." if close else ""

        async def answer(yes: bool | None) -> None:
            if yes:
                await self._store_entry(pattern, target, close)
            else:
                self.message(f"not saved: no account offers {target}.{alike}", error=True)
                self.query_one("#map-target", Input).focus()

        question = f"No account offers {target}.{alike}\nSave {pattern} → {target} anyway?"
        self.app.push_screen(ConfirmScreen(question, yes="Save anyway"), answer)

    async def _store_entry(self, pattern: str, target: str, close: list[str] | None = None) -> None:
        mapping = self.mapping
        if self.editing and self.editing != pattern:
            mapping.pop(self.editing, None)
        before = self.mapping.get(pattern)
        change = f"{pattern} → {target}" + (f" (was → {before})" if before else "")
        if not await self._save(mapping | {pattern: target}, f"saved {change}"):
            return
        self.editing = None
        for name in ("#map-pattern", "#map-target"):
            self.query_one(name, Input).value = ""
        note = ""
        if close is not None:
            note = f" ({target} is not offered by any account" + (
                f"; closest offered: {', '.join(close)})" if close else ")")
        self.message(f"saved {change}{note}  (u undoes)", error=bool(note))
        self.query_one(MappingTable).focus()

    async def delete_selected(self) -> None:
        pattern = self.selected_pattern()
        if pattern is None:
            return
        mapping = self.mapping
        target = mapping.pop(pattern)
        if await self._save(mapping, f"deleted {pattern} → {target}"):
            self.message(f"deleted {pattern}  (u undoes)")

    async def undo(self) -> None:
        """Put back the mapping as it was before the last change made here."""
        if not self.undo_stack:
            self.agapp.notify("No mapping change to undo.", timeout=3)
            return
        previous, what = self.undo_stack.pop()
        if await self._save(previous, None):
            left = len(self.undo_stack)
            more = f" ({left} more: u again)" if left else ""
            self.message(f"undid: {what}")
            self.agapp.notify(f"Mapping change undone: {what}.{more}", timeout=4, markup=False)

    async def _save(self, mapping: dict[str, str], what: str | None) -> bool:
        """Save the whole mapping; `what` names the change for undo (None: an undo)."""
        before = self.mapping
        try:
            config = self.agapp.config.with_value("model_mapping", mapping)
            await self.agapp.save_config(config)
        except (ConfigError, OSError) as exc:
            self.message(str(exc), error=True)
            return False
        if what is not None:
            self.undo_stack = [*self.undo_stack[-(UNDO_DEPTH - 1):], (before, what)]
        self.refresh_rows()  # the app's listener repaints too, a tick later
        return True

    # -- events -----------------------------------------------------------------------

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id in ("map-pattern", "map-target"):
            await self.save_entry()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()  # not a form field: the form's dirty state does not see it
        if event.input.id == "map-try":
            self.show_resolved()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "map-save":
            await self.save_entry()

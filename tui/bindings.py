"""The one table of key bindings of agproxy-tui.

Every key the app answers to is listed here once, with the scope it lives in.
Widgets take their `BINDINGS` from `bindings_for(scope)`; the help screen and the
command palette are generated from the same table, so they can never drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

# Scopes: "app" (global), one per tab, and the screens.
SCOPE_TITLES = {
    "app": "Everywhere",
    "move": "Moving around (tables, lists, forms)",
    "traffic": "Traffic",
    "accounts": "Accounts",
    "settings": "Settings",
    "mapping": "Settings: your model mapping",
    "routes": "Settings: built-in model routes",
    "connect": "Connect",
    "log": "Log",
    "stats": "Stats",
    "keys": "Stats: client keys",
    "detail": "Request detail",
    "account": "Account detail",
    "plain": "Plain view (select with the mouse)",
    "modal": "Dialogs",
}


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma separated ("end,f")
    action: str  # action name on the widget of this scope (may carry arguments)
    description: str
    scope: str
    show: bool = True  # shown in the footer
    priority: bool = False
    palette: bool = True  # offered in the command palette
    display: str | None = None  # how the key is printed in help/footer
    footer: str | None = None  # a shorter description for the footer (help says it whole)


TABLE: tuple[Key, ...] = (
    # -- everywhere -------------------------------------------------------------
    Key("1", "switch_tab('traffic')", "Traffic tab", "app", show=False, display="1"),
    Key("2", "switch_tab('accounts')", "Accounts tab", "app", show=False, display="2"),
    Key("3", "switch_tab('settings')", "Settings tab", "app", show=False, display="3"),
    Key("4", "switch_tab('connect')", "Connect tab", "app", show=False, display="4"),
    Key("5", "switch_tab('log')", "Log tab", "app", show=False, display="5"),
    Key("6", "switch_tab('stats')", "Stats tab", "app", show=False, display="6"),
    Key("s", "toggle_proxy", "Start/stop", "app"),
    Key("r", "restart_proxy", "Restart", "app"),
    Key("t", "toggle_theme", "Light/dark theme", "app", show=False),
    Key("question_mark", "help", "Help", "app", display="?"),
    Key("q", "back_or_quit", "Quit", "app"),
    Key("ctrl+c", "quit_now", "Quit now", "app", show=False, priority=True),
    Key("ctrl+p", "command_palette", "Command palette", "app", show=False, palette=False,
        display="^p"),
    # Esc leaves a text field (inside one, digits, s, q and ? are text); shown only there
    Key("escape", "leave_input", "Leave field", "app", display="Esc", palette=False),
    # -- moving around (the tables' own keys; Tab is Textual's focus chain) -------
    Key("up,k", "cursor_up", "Up", "move", show=False, palette=False, display="↑/k"),
    Key("down,j", "cursor_down", "Down", "move", show=False, palette=False, display="↓/j"),
    Key("pageup", "page_up", "Page up", "move", show=False, palette=False, display="PgUp"),
    Key("pagedown", "page_down", "Page down", "move", show=False, palette=False, display="PgDn"),
    Key("home,g", "scroll_home", "First row", "move", show=False, palette=False, display="g/Home"),
    Key("end,G", "scroll_end", "Last row", "move", show=False, palette=False, display="G/End"),
    Key("tab", "app.focus_next", "Next field or table", "move", show=False, palette=False,
        display="Tab"),
    Key("shift+tab", "app.focus_previous", "Previous field or table", "move", show=False,
        palette=False, display="Shift+Tab"),
    # -- traffic ----------------------------------------------------------------
    Key("slash", "filter", "Filter", "traffic", display="/"),
    Key("enter", "details", "Details", "traffic", palette=False),
    Key("f,end,G", "follow", "Follow", "traffic", display="f/End/G"),
    Key("p", "pause", "Pause", "traffic"),
    Key("c", "clear", "Clear view", "traffic"),
    Key("y", "copy_curl", "Copy as curl", "traffic", show=False),
    Key("v", "view_curl", "Show as curl (plain)", "traffic", show=False),
    Key("escape", "clear_filter", "Clear filter", "traffic", show=False),
    # -- accounts ---------------------------------------------------------------
    Key("enter", "details", "Details", "accounts", palette=False),
    # footer order = usefulness, short footer labels: 80 columns show the adding keys
    # and e/u; the line above the table names the rest (tui/widgets/accounts.py)
    Key("a", "add_token", "Add token", "accounts", footer="Token"),
    Key("o", "add_oauth", "OAuth login", "accounts", footer="OAuth"),
    Key("k", "add_gemini_key", "Add Gemini key", "accounts", footer="Gemini key"),
    Key("e", "toggle_enabled", "Enable/disable", "accounts", footer="On/off"),
    Key("u", "refresh_quota", "Refresh quota", "accounts", footer="Refresh"),
    Key("delete,x", "remove", "Remove", "accounts", display="Del/x"),
    Key("n", "rename", "Name account", "accounts", footer="Name"),
    Key("i", "import_accounts", "Import", "accounts"),
    # -- settings ---------------------------------------------------------------
    Key("ctrl+s", "save", "Save", "settings", priority=True),
    Key("ctrl+r", "reveal_key", "Reveal key", "settings", priority=True),
    Key("ctrl+g", "regenerate_key", "New API key", "settings", priority=True),
    Key("ctrl+y", "copy_key", "Copy key", "settings", priority=True),
    Key("ctrl+z", "revert", "Revert edits", "settings", show=False, priority=True),
    Key("ctrl+down,pagedown", "next_section", "Next section", "settings", show=False,
        priority=True, display="^↓/PgDn"),
    Key("ctrl+up,pageup", "previous_section", "Previous section", "settings", show=False,
        priority=True, display="^↑/PgUp"),
    Key("enter", "edit", "Edit mapping", "mapping", palette=False),
    Key("delete,x", "delete", "Delete mapping", "mapping", display="Del/x", palette=False),
    Key("u", "undo", "Undo last mapping change", "mapping", palette=False),
    Key("enter,c", "copy_route", "Copy to my mapping", "routes", display="Enter/c", palette=False),
    # -- stats (tui/widgets/stats.py, keys.py) ----------------------------------
    Key("left_square_bracket", "range(-1)", "Shorter range", "stats", display="["),
    Key("right_square_bracket", "range(1)", "Longer range", "stats", display="]"),
    Key("n", "new_key", "New client key", "keys"),
    Key("v", "revoke_key", "Revoke key", "keys"),
    # not in the footer (80 columns hold the four above); the section title lists them
    Key("R", "rotate_key", "Rotate key (new secret)", "keys", show=False),
    Key("delete,x", "remove_key", "Remove key", "keys", display="Del/x", show=False),
    Key("y", "copy_prefix", "Copy key prefix", "keys", show=False),
    # -- connect ----------------------------------------------------------------
    Key("y", "copy_snippet", "Copy snippet", "connect"),
    Key("v", "view_snippet", "Show plain", "connect"),
    Key("ctrl+r", "reveal_key", "Reveal key", "connect", priority=True),
    Key("down,j", "focus_next_snippet", "Next snippet", "connect", show=False, palette=False),
    Key("up,k", "focus_previous_snippet", "Previous snippet", "connect", show=False, palette=False),
    # -- log --------------------------------------------------------------------
    Key("f,end", "follow", "Follow", "log", display="f/End"),
    Key("w", "toggle_wrap", "Wrap lines", "log"),
    Key("l", "cycle_level", "Level filter", "log"),
    Key("slash", "search", "Search", "log", display="/"),
    # -- request detail ---------------------------------------------------------
    Key("y", "copy_curl", "Copy as curl", "detail", palette=False),
    Key("v", "view_curl", "Show as curl (plain)", "detail", palette=False),
    Key("escape,q", "close", "Back", "detail", display="Esc/q", palette=False),
    Key("escape,q", "close", "Back", "account", display="Esc/q", palette=False),
    Key("escape,q,question_mark", "close", "Close help", "help", palette=False, display="Esc/q/?"),
    Key("escape,q", "close", "Back", "plain", display="Esc/q", palette=False),
    # -- dialogs ----------------------------------------------------------------
    Key("escape", "cancel", "Cancel", "modal", palette=False),
)


def bindings_for(scope: str) -> list[Binding]:
    """Textual bindings for one scope, in table order."""
    return [
        Binding(
            k.keys,
            k.action,
            k.footer or k.description,
            show=k.show,
            priority=k.priority,
            key_display=k.display,
        )
        for k in TABLE
        if k.scope == scope
    ]


VI_KEYS = ("j", "k", "g", "G")


def move_bindings() -> list[Binding]:
    """The vi keys of the "move" scope for every table and list (app level: a widget's
    own binding of the same key wins, e.g. `k` on Accounts adds a key, and in a text
    field they are text). Arrows, PgUp/PgDn, Home/End are the widgets' own."""
    return [
        Binding(key, f"move('{k.action}')", k.description, show=False)
        for k in TABLE
        if k.scope == "move"
        for key in k.keys.split(",")
        if key in VI_KEYS
    ]


def key_label(k: Key) -> str:
    """How a key is written for people ("ctrl+s" → "^s")."""
    if k.display:
        return k.display
    names = {"escape": "Esc", "enter": "Enter", "delete": "Del", "end": "End", "slash": "/"}
    return "/".join(names.get(p, p.replace("ctrl+", "^")) for p in k.keys.split(","))


def palette_entries() -> list[Key]:
    """The actions offered in the command palette (everything a key can do)."""
    return [k for k in TABLE if k.palette]

"""The Settings tab: the config form (SPEC §1) with inline validation.

Every field edits the text of one dotted key; `Config.with_value` validates it
against the saved config and its ConfigError text shows under the field. Save
folds every edited field into one Config and writes it through ConfigStore
(which keeps the TOML's comments and notifies the service to hot-apply).
Port and LAN access are disabled while the proxy runs (they apply on start).
The model mapping has its own editor (tui/widgets/mapping.py). Edits made outside
(`agproxy config set`, an editor) are picked up by a cheap poll (one stat)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Select, Static

from proxy.config.model import (
    SECRET_KEYS,
    Config,
    ConfigError,
    allowed_values,
    api_key_warning,
    config_keys,
    generate_api_key,
    preferred_account_warning,
)
from tui.bindings import bindings_for
from tui.screens.dialogs import ConfirmScreen
from tui.widgets.mapping import MappingEditor

if TYPE_CHECKING:
    from tui.app import AgproxyApp

# The keys of the form, in file order; the rest (endpoints, OAuth client) stay in the file.
_HIDDEN_PREFIXES = ("upstream.antigravity_endpoints", "upstream.oauth_", "upstream.gemini_base_url")
MAPPING_KEY = "model_mapping"  # edited as a table, not as a field
RELOAD_POLL_S = 2.0
RESTART_KEYS = ("proxy.port", "proxy.allow_lan_access")
SECTION_TITLES = {
    "proxy": "Proxy",
    "scheduling": "Scheduling",
    "model_mapping": "Model mapping",
    "upstream": "Upstream",
    "zai": "z.ai",
    "monitor": "Monitor",
}


def form_keys() -> list[str]:
    """The form's fields plus MAPPING_KEY where the mapping editor goes."""
    return [k for k in config_keys() if not k.startswith(_HIDDEN_PREFIXES)]


def _choices(key: str) -> tuple[str, ...] | None:
    default = Config().get(key)
    if isinstance(default, bool):
        return ("true", "false")
    allowed = allowed_values(key)
    if " | " in allowed:
        return tuple(part.strip() for part in allowed.split("|"))
    return None


def value_text(value: Any) -> str:
    """How a config value is edited as text (the inverse of with_value's parsing)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _widget_id(key: str) -> str:
    return "field-" + key.replace(".", "-")


class SettingField(Vertical):
    """Label + control on one line, the help or the error below."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(id=_widget_id(key))
        self.key = key
        self.initial = text
        self.choices = _choices(key)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Static(self.key.split(".", 1)[-1], classes="field-label", markup=False)
            if self.choices:
                yield Select(
                    [(c, c) for c in self.choices],
                    value=self.initial,
                    allow_blank=False,
                    compact=True,
                    classes="field-input",
                )
            else:
                yield Input(
                    value=self.initial,
                    password=self.key in SECRET_KEYS,
                    compact=True,
                    classes="field-input",
                )
        yield Static(allowed_values(self.key) or "", classes="field-help", markup=False)

    @property
    def control(self) -> Input | Select:
        return self.query_one(".field-input")  # type: ignore[return-value]

    @property
    def text(self) -> str:
        control = self.control
        if isinstance(control, Select):
            return str(control.value)
        return control.value

    def set_text(self, text: str) -> None:
        self.initial = text
        control = self.control
        if isinstance(control, Select):
            control.value = text
        else:
            control.value = text

    def show_error(self, message: str | None, warning: str | None = None) -> None:
        """The error (refused), else a warning (saved, but said), else the help."""
        help_line = self.query_one(".field-help", Static)
        self.set_class(bool(message), "-invalid")
        help_line.set_class(bool(message), "field-error")
        help_line.set_class(not message and bool(warning), "field-warning")
        help_line.update(message or warning or allowed_values(self.key))


class SettingsPane(Vertical):
    BINDINGS = bindings_for("settings")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.errors: dict[str, str] = {}
        self._loading = False
        self._reported_error: str | None = None  # the broken-file notice, once per error

    @property
    def agapp(self) -> AgproxyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="settings-bar")
        cfg = self.agapp.config
        with VerticalScroll(id="settings-form"):
            section = ""
            for key in form_keys():
                top = key.split(".", 1)[0]
                if top != section:
                    section = top
                    yield Static(SECTION_TITLES.get(top, top), classes="section")
                if key == MAPPING_KEY:
                    yield MappingEditor(id="mapping-editor")
                    continue
                yield SettingField(key, value_text(cfg.get(key)))

    def on_mount(self) -> None:
        self.set_running(self.agapp.proxy_running)
        self.show_warnings()
        self.update_bar()
        self.set_interval(RELOAD_POLL_S, self.poll_config_file)

    def poll_config_file(self) -> None:
        """Apply outside edits of the file. The store tells its listeners (the proxy
        hot-applies; the app calls reload() here), so only the notices are ours."""
        controller = self.agapp.controller
        if controller.reload_config_if_changed():
            dirty = len(self.dirty())
            if dirty:
                self.agapp.notify(
                    f"The config file changed outside the TUI and was applied; your {dirty} "
                    "unsaved edit(s) are kept (^z reverts to the file's values).",
                    severity="warning",
                    timeout=8,
                )
            else:
                self.agapp.notify("Config file changed outside the TUI: reloaded.", timeout=3)
        error = controller.config_reload_error
        if error and error != self._reported_error:
            self.agapp.notify(
                error,
                title="Config file change not applied",
                severity="error",
                timeout=10,
                markup=False,
            )
        self._reported_error = error

    # -- fields ----------------------------------------------------------------------

    def fields(self) -> list[SettingField]:
        return list(self.query(SettingField))

    def field(self, key: str) -> SettingField:
        return self.query_one("#" + _widget_id(key), SettingField)

    def dirty(self) -> list[SettingField]:
        return [f for f in self.fields() if f.text != f.initial]

    def validate_field(self, f: SettingField) -> None:
        try:
            self.agapp.config.with_value(f.key, f.text)
        except ConfigError as exc:
            self.errors[f.key] = str(exc)
            f.show_error(str(exc))
        else:
            self.errors.pop(f.key, None)
            f.show_error(None, self.warning(f.key, f.text))
        self.update_bar()

    def warning(self, key: str, text: str) -> str | None:
        """The config's soft rules (the same `agproxy config set` warns with)."""
        if key == "proxy.api_key":
            return api_key_warning(text)
        if key == "scheduling.preferred_account":
            return preferred_account_warning(text.strip(), self.agapp.controller.accounts())
        return None

    def show_warnings(self) -> None:
        """Saved values that deserve a word (e.g. a preferred account that was removed)."""
        for key in ("proxy.api_key", "scheduling.preferred_account"):
            f = self.field(key)
            if key not in self.errors:
                f.show_error(None, self.warning(key, f.text))

    def on_descendant_focus(self, event: Any) -> None:
        self._light(event.widget, True)

    def on_descendant_blur(self, event: Any) -> None:
        self._light(event.widget, False)

    def _light(self, widget: Any, on: bool) -> None:
        """The focused field's row lights up (label highlighted, bold)."""
        for node in widget.ancestors:
            if isinstance(node, SettingField):
                node.set_class(on, "-focused")
                return

    def on_input_changed(self, event: Input.Changed) -> None:
        if not self._loading:
            self._changed(event.input)

    def on_select_changed(self, event: Select.Changed) -> None:
        if not self._loading:
            self._changed(event.select)

    def _changed(self, widget: Any) -> None:
        for node in widget.ancestors:
            if isinstance(node, SettingField):
                self.validate_field(node)
                return

    def set_running(self, running: bool) -> None:
        """Port and LAN apply on start: not editable while running (SPEC §1)."""
        for key in RESTART_KEYS:
            f = self.field(key)
            f.control.disabled = running
            if not self.errors.get(key):
                f.query_one(".field-help", Static).update(
                    "stop the proxy to change this" if running else allowed_values(key)
                )
        self.update_bar()

    def reload(self) -> None:
        """The saved config changed (save, `agproxy config set`): refresh clean fields
        (edited ones keep the user's text; their saved value is updated)."""
        self.query_one(MappingEditor).refresh_rows()
        cfg = self.agapp.config
        self._loading = True
        try:
            for f in self.fields():
                if f.text == f.initial:
                    f.set_text(value_text(cfg.get(f.key)))
                else:
                    f.initial = value_text(cfg.get(f.key))
        finally:
            self.call_after_refresh(self._done_loading)
        self.show_warnings()
        self.update_bar()

    def _done_loading(self) -> None:
        self._loading = False

    def update_bar(self) -> None:
        dirty = len(self.dirty())
        parts = []
        if self.errors:
            parts.append(f"[b]{len(self.errors)} invalid[/b]")
        if dirty:
            parts.append(f"{dirty} unsaved change{'s' if dirty != 1 else ''} — ^s save, ^z revert")
        else:
            parts.append("[dim]saved[/]")
        parts.append("[dim]PgDn/PgUp section · Esc leave field · ^r reveal · ^g new key · ^y copy[/]")
        self.query_one("#settings-bar", Static).update("  ".join(parts))

    # -- moving between sections ------------------------------------------------------

    def _sections(self) -> list[tuple[Static, list[Any]]]:
        """Each section heading with the widgets under it, in form order."""
        out: list[tuple[Static, list[Any]]] = []
        for child in self.query_one("#settings-form").children:
            if child.has_class("section"):
                out.append((child, []))  # type: ignore[arg-type]
            elif out:
                out[-1][1].append(child)
        return out

    def _current_section(self, sections: list[tuple[Static, list[Any]]]) -> int:
        focused = self.app.focused
        if focused is None:
            return -1
        for i, (_head, members) in enumerate(sections):
            for member in members:
                if focused is member or member in focused.ancestors:
                    return i
        return -1

    def jump_section(self, step: int) -> None:
        sections = self._sections()
        if not sections:
            return
        current = self._current_section(sections)
        target = max(0, min(len(sections) - 1, current + step if current >= 0 else 0))
        head, members = sections[target]
        for member in members:
            widgets = [member, *member.query("*")]
            focusable = [w for w in widgets if w.focusable]
            if focusable:
                focusable[0].focus(scroll_visible=False)
                break
        self.query_one("#settings-form", VerticalScroll).scroll_to_widget(
            head, top=True, animate=False
        )

    def action_next_section(self) -> None:
        self.jump_section(1)

    def action_previous_section(self) -> None:
        self.jump_section(-1)

    # -- actions ---------------------------------------------------------------------

    def build_config(self) -> Config:
        """The saved config with every edited field applied; raises ConfigError."""
        cfg = self.agapp.config
        for f in self.dirty():
            cfg = cfg.with_value(f.key, f.text)
        return cfg

    async def action_save(self) -> None:
        for f in self.dirty():
            self.validate_field(f)
        if self.errors:
            first = next(iter(self.errors.values()))
            self.agapp.notify(first, title="Not saved", severity="error", markup=False)
            return
        if not self.dirty():
            self.agapp.notify("Nothing to save.", timeout=2)
            return
        try:
            cfg = self.build_config()
            await self.agapp.save_config(cfg)
        except (ConfigError, OSError) as exc:
            self.agapp.notify(str(exc), title="Not saved", severity="error", markup=False)
            return
        warnings = [w for f in self.dirty() if (w := self.warning(f.key, f.text))]
        for f in self.fields():
            f.initial = f.text
        self.update_bar()
        if warnings:
            self.agapp.notify("Settings saved and applied; note: " + "; ".join(warnings),
                              severity="warning", timeout=10, markup=False)  # fmt: skip
        else:
            self.agapp.notify("Settings saved and applied.", timeout=3)

    def action_revert(self) -> None:
        self._loading = True
        for f in self.dirty():
            f.set_text(f.initial)
        self.errors.clear()
        for f in self.fields():
            f.show_error(None)
        self.show_warnings()
        self.call_after_refresh(self._done_loading)
        self.set_running(self.agapp.proxy_running)

    def action_reveal_key(self) -> None:
        control = self.field("proxy.api_key").control
        if isinstance(control, Input):
            control.password = not control.password

    def action_copy_key(self) -> None:
        self.app.copy_to_clipboard(self.agapp.config.proxy.api_key)
        self.app.notify("API key copied to the clipboard (OSC 52).", timeout=3)

    def action_regenerate_key(self) -> None:
        async def answer(yes: bool | None) -> None:
            if not yes:
                return
            key = generate_api_key()
            try:
                await self.agapp.save_config(self.agapp.config.with_value("proxy.api_key", key))
            except (ConfigError, OSError) as exc:
                self.agapp.notify(str(exc), title="Key not changed", severity="error", markup=False)
                return
            f = self.field("proxy.api_key")
            self._loading = True
            f.set_text(key)
            self.call_after_refresh(self._done_loading)
            self.agapp.notify("New API key saved; clients need the new key.", timeout=4)

        self.app.push_screen(
            ConfirmScreen(
                "Generate a new API key? Clients using the old key will get 401.", yes="Regenerate"
            ),
            answer,
        )

"""The config file on disk (SPEC §1): TOML read and written with tomlkit so that a
user's comments, ordering and unknown keys survive; atomic 0600 writes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from proxy.config.model import Config, ConfigError, allowed_values
from proxy.files import private_dir, remove_stale_temp_files, write_private_file
from proxy.paths import Paths

logger = logging.getLogger(__name__)

ConfigListener = Callable[[Config], None]

_HEADER = (
    "agproxy configuration. The allowed values are noted beside each key.",
    "Edit freely: comments, ordering and keys agproxy does not know are kept on every save.",
    "Change values with `agproxy config set KEY VALUE` or the TUI Settings tab.",
)


class ConfigStore:
    """Loads, validates and saves the one config file; tells listeners about saves."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._config: Config | None = None
        self._listeners: list[ConfigListener] = []
        # (inode, mtime, size) of the file as last read or written: reload_if_changed
        # compares one stat() with it (atomic replaces change the inode too)
        self._stamp: tuple[int, int, int] | None = None
        self.reload_error: str | None = None  # why the last outside change was not applied

    @property
    def path(self) -> Path:
        return self.paths.config_file

    @property
    def config(self) -> Config:
        """The last loaded or saved config (loads on first use)."""
        if self._config is None:
            return self.load()
        return self._config

    def add_listener(self, callback: ConfigListener) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: ConfigListener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    # -- reading -----------------------------------------------------------------------

    def load(self) -> Config:
        """Read and validate the file; the first run writes defaults with a fresh API key.
        Raises ConfigError (file, line, column or key, value, allowed); nothing is
        changed on disk or in memory then."""
        if not self.path.exists():
            config = Config()
            self._write(_new_document(config))
            logger.info("created config file %s", self.path)
            self._config = config
            return config
        stamp = self._stat()  # before reading: a write racing the read is seen next time
        doc = self._read_document()
        config = _validate(doc, self.path)
        self._stamp = stamp
        if not _has_key(doc, "proxy", "api_key"):
            # The model generated a key; persist it now, else it would change every run.
            _merge(doc, config.to_dict())
            self._write(doc)
        self._config = config
        return config

    def reload_if_changed(self) -> bool:
        """Pick up edits made outside this process (`agproxy config set`, an editor):
        one stat(); when the file changed, reload it and tell the listeners. Returns
        True when a different config was applied. A file that no longer parses or
        validates is not applied: the reason is kept in `reload_error` (reported
        once per change of the file) and the last good config stays in use."""
        stamp = self._stat()
        if stamp is None or stamp == self._stamp or self._config is None:
            return False
        self._stamp = stamp
        try:
            config = _validate(self._read_document(), self.path)
        except ConfigError as exc:
            self.reload_error = str(exc)
            logger.warning("config file changed but not applied: %s", exc)
            return False
        self.reload_error = None
        if config == self._config:
            return False
        logger.info("config file changed outside agproxy: reloaded %s", self.path)
        self._config = config
        self._notify(config)
        return True

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read_document(self) -> TOMLDocument:
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"cannot read {self.path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            return tomlkit.parse(text)
        except ParseError as exc:
            reason = str(exc).split(" at line ")[0]
            raise ConfigError(f"cannot parse {self.path}: line {exc.line}, column {exc.col}: {reason}") from None
        except TOMLKitError as exc:
            raise ConfigError(f"cannot parse {self.path}: {exc}") from None

    # -- writing -----------------------------------------------------------------------

    def save(self, config: Config) -> None:
        """Write `config` into the file, updating the existing document in place.
        The file is re-read first so edits made meanwhile (comments, unknown keys) are
        kept; if it no longer parses, nothing is written (ConfigError)."""
        doc = self._read_document() if self.path.exists() else _new_document(config)
        _merge(doc, config.to_dict())
        self._write(doc)
        self._config = config
        self._notify(config)

    def _notify(self, config: Config) -> None:
        for listener in list(self._listeners):
            try:
                listener(config)
            except Exception:  # a broken listener must not undo a successful save
                logger.exception("config listener %r failed", listener)

    def set(self, dotted: str, value: Any) -> Config:
        """Validate one change (`value` typed or as typed by a user) and save it."""
        config = self.config.with_value(dotted, value)
        self.save(config)
        return config

    def _write(self, doc: TOMLDocument) -> None:
        """Atomic 0600 write (proxy.files), in a 0700 directory."""
        private_dir(self.path.parent)
        remove_stale_temp_files(self.path.parent)
        write_private_file(self.path, tomlkit.dumps(doc).encode("utf-8"))
        self._stamp = self._stat()  # our own write is not an outside change


def _validate(doc: TOMLDocument, path: Path) -> Config:
    try:
        return Config.from_dict(doc.unwrap())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _has_key(doc: TOMLDocument, section: str, key: str) -> bool:
    table = doc.get(section)
    return isinstance(table, dict) and key in table


def _merge(table: Any, data: dict[str, Any], prefix: str = "") -> None:
    """Write `data` into a tomlkit container, touching only values that changed, so
    untouched lines keep their comments and formatting."""
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            sub = table.get(key)
            if not isinstance(sub, dict):
                sub = tomlkit.table()
                table[key] = sub
                sub = table[key]
            _merge(sub, value, dotted + ".")
            if dotted == "model_mapping":
                # The mapping is data, not a schema: removing an entry removes it from the file.
                for stale in [k for k in sub if k not in value]:
                    del sub[stale]
            continue
        current = table.get(key)
        if current is not None and _plain(current) == value:
            continue
        table[key] = value


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _new_document(config: Config) -> TOMLDocument:
    """The first-run file: every default written out, the allowed values as comments."""
    doc = tomlkit.document()
    for line in _HEADER:
        doc.add(tomlkit.comment(line))
    data = config.to_dict()
    for section, values in data.items():
        doc.add(tomlkit.nl())
        doc.add(section, _table(values, section + "."))
    return doc


def _table(values: dict[str, Any], prefix: str) -> Table:
    table = tomlkit.table()
    for key, value in values.items():
        if isinstance(value, dict) and not prefix.startswith("model_mapping"):
            table.add(key, _table(value, f"{prefix}{key}."))
            continue
        item = tomlkit.item(value)
        allowed = allowed_values(prefix + key) if not prefix.startswith("model_mapping") else ""
        if allowed:
            item.comment(allowed)
        table.add(key, item)
    return table



"""ConfigStore.reload_if_changed: outside edits (another process's `config set`, an
editor) are picked up with one stat; our own saves and broken files are not applied."""

from __future__ import annotations

from proxy.cli import main
from proxy.config.model import Config
from proxy.config.store import ConfigStore


def test_unchanged_file_is_not_reloaded(config_store: ConfigStore) -> None:
    seen: list[Config] = []
    config_store.add_listener(seen.append)
    assert config_store.reload_if_changed() is False
    assert seen == []


def test_own_save_is_not_an_outside_change(config_store: ConfigStore) -> None:
    config_store.set("proxy.request_timeout", 300)
    seen: list[Config] = []
    config_store.add_listener(seen.append)
    assert config_store.reload_if_changed() is False and seen == []


def test_another_process_set_is_applied_and_listeners_told(config_store: ConfigStore) -> None:
    seen: list[Config] = []
    config_store.add_listener(seen.append)
    assert main(["config", "set", "scheduling.sticky_ttl", "77"]) == 0
    assert config_store.reload_if_changed() is True
    assert config_store.config.scheduling.sticky_ttl == 77
    assert [c.scheduling.sticky_ttl for c in seen] == [77]
    assert config_store.reload_if_changed() is False  # once per change


def test_same_size_edit_in_place_is_seen(config_store: ConfigStore) -> None:
    path = config_store.path
    text = path.read_text()
    assert "request_timeout = 120" in text
    path.write_text(text.replace("request_timeout = 120", "request_timeout = 121"))
    assert config_store.reload_if_changed() is True
    assert config_store.config.proxy.request_timeout == 121


def test_broken_file_is_reported_not_applied(config_store: ConfigStore) -> None:
    seen: list[Config] = []
    config_store.add_listener(seen.append)
    good = config_store.config
    path = config_store.path
    path.write_text(path.read_text() + "\n[proxy\n")
    assert config_store.reload_if_changed() is False
    assert config_store.reload_error and "line" in config_store.reload_error
    assert config_store.config is good and seen == []
    # an invalid value is reported the same way
    path.write_text(
        path.read_text()
        .replace("\n[proxy\n", "")
        .replace("request_timeout = 120", "request_timeout = 5")
    )
    assert config_store.reload_if_changed() is False
    assert "request_timeout" in (config_store.reload_error or "")
    # fixed: applied, the error cleared
    path.write_text(path.read_text().replace("request_timeout = 5", "request_timeout = 700"))
    assert config_store.reload_if_changed() is True
    assert config_store.reload_error is None
    assert config_store.config.proxy.request_timeout == 700


def test_deleted_file_keeps_the_config(config_store: ConfigStore) -> None:
    config_store.path.unlink()
    assert config_store.reload_if_changed() is False
    assert config_store.config.proxy.port == 8045

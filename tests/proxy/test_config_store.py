"""ConfigStore: first run, round trips that keep a user's edits, atomic 0600 writes,
and errors that name the file position or the key (SPEC §1)."""

from __future__ import annotations

import stat

import pytest

from proxy.config.model import Config, ConfigError
from proxy.config.store import ConfigStore
from proxy.paths import Paths

USER_FILE = """\
# my agproxy setup — keep this comment
[proxy]
# the port my clients use
port = 9100  # inline note
api_key = "sk-user-chosen-key-123"
my_own_setting = "kept"

[model_mapping]
"claude-*" = "gemini-3-pro"

[my_plugin]
answer = 42
"""


def test_first_load_creates_file_with_defaults_and_key(paths: Paths) -> None:
    store = ConfigStore(paths)
    assert not paths.config_file.exists()
    config = store.load()
    assert paths.config_file.exists()
    assert config.proxy.port == 8045
    assert config.proxy.api_key.startswith("sk-") and len(config.proxy.api_key) == 35
    assert stat.S_IMODE(paths.config_file.stat().st_mode) == 0o600


def test_generated_key_is_stable_across_loads(paths: Paths) -> None:
    first = ConfigStore(paths).load().proxy.api_key
    assert ConfigStore(paths).load().proxy.api_key == first


def test_file_without_api_key_gets_one_persisted(paths: Paths) -> None:
    paths.config_file.write_text("[proxy]\nport = 9000\n")
    key = ConfigStore(paths).load().proxy.api_key
    assert key in paths.config_file.read_text()
    assert ConfigStore(paths).load().proxy.api_key == key


def test_save_keeps_comments_order_and_unknown_keys(paths: Paths) -> None:
    paths.config_file.write_text(USER_FILE)
    store = ConfigStore(paths)
    config = store.load()
    assert config.proxy.port == 9100
    store.save(config.with_value("proxy.port", 9200))
    text = paths.config_file.read_text()
    assert "# my agproxy setup — keep this comment" in text
    assert "# the port my clients use" in text
    assert "port = 9200  # inline note" in text
    assert 'my_own_setting = "kept"' in text
    assert "[my_plugin]\nanswer = 42" in text
    assert text.index("[proxy]") < text.index("[model_mapping]") < text.index("[my_plugin]")
    assert ConfigStore(paths).load().proxy.port == 9200


def test_set_round_trips_every_value_type(config_store: ConfigStore, paths: Paths) -> None:
    config_store.set("proxy.port", "9001")
    config_store.set("proxy.allow_lan_access", "true")
    config_store.set("upstream.antigravity_endpoints", '["http://127.0.0.1:1/v1internal"]')
    config_store.set("zai.models.opus", "glm-5")
    config_store.set("model_mapping.gpt-*", "gemini-3-flash")
    again = ConfigStore(paths).load()
    assert again.proxy.port == 9001
    assert again.proxy.allow_lan_access is True
    assert again.upstream.antigravity_endpoints == ["http://127.0.0.1:1/v1internal"]
    assert again.zai.models.opus == "glm-5"
    assert again.model_mapping == {"gpt-*": "gemini-3-flash"}


def test_removed_mapping_entry_leaves_the_file(config_store: ConfigStore, paths: Paths) -> None:
    config_store.set("model_mapping.a", "x")
    config_store.set("model_mapping.b", "y")
    config = config_store.config
    config.model_mapping.pop("a")
    config_store.save(config)
    assert ConfigStore(paths).load().model_mapping == {"b": "y"}


def test_saves_are_atomic_and_private(config_store: ConfigStore, paths: Paths) -> None:
    paths.config_file.chmod(0o644)
    config_store.set("proxy.port", 9300)
    assert stat.S_IMODE(paths.config_file.stat().st_mode) == 0o600
    leftovers = [p.name for p in paths.config_file.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_corrupt_file_reports_line_and_column_and_is_untouched(paths: Paths) -> None:
    original = b'[proxy]\nport = 9000\nauth_mode = "strict\n'
    paths.config_file.write_bytes(original)
    with pytest.raises(ConfigError) as info:
        ConfigStore(paths).load()
    message = str(info.value)
    assert str(paths.config_file) in message
    assert "line 3" in message and "column" in message
    assert paths.config_file.read_bytes() == original


def test_save_refuses_to_overwrite_a_file_broken_meanwhile(config_store: ConfigStore, paths: Paths) -> None:
    broken = b"[proxy\nport = 1\n"
    paths.config_file.write_bytes(broken)
    with pytest.raises(ConfigError):
        config_store.set("proxy.port", 9400)
    assert paths.config_file.read_bytes() == broken


def test_corrupt_file_on_reload_keeps_the_last_good_config(config_store: ConfigStore, paths: Paths) -> None:
    config_store.set("proxy.port", 9500)
    paths.config_file.write_text("not = [valid")
    with pytest.raises(ConfigError):
        config_store.load()
    assert config_store.config.proxy.port == 9500


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("proxy.port", "80", "1024-65535"),
        ("proxy.port", "abc", "1024-65535"),
        ("proxy.auth_mode", "open", "off | strict | all_except_health | auto"),
        ("proxy.api_key", "abc", "starting with 'sk-'"),
        ("proxy.request_timeout", "5", "30-7200"),
        ("proxy.allow_lan_access", "maybe", "true or false"),
        ("upstream.proxy_url", "ftp://x", "socks5"),
    ],
)
def test_invalid_value_names_key_value_and_range(
    config_store: ConfigStore, paths: Paths, key: str, value: str, allowed: str
) -> None:
    before = paths.config_file.read_bytes()
    with pytest.raises(ConfigError) as info:
        config_store.set(key, value)
    message = str(info.value)
    assert key in message and allowed in message
    # the value is echoed, except a secret's (it may be a real key mistyped)
    assert (value not in message) if key == "proxy.api_key" else (value in message)
    assert paths.config_file.read_bytes() == before


def test_invalid_value_in_file_names_file_and_key(paths: Paths) -> None:
    paths.config_file.write_text('[proxy]\nport = 70000\napi_key = "sk-abcdefghijk"\n')
    with pytest.raises(ConfigError) as info:
        ConfigStore(paths).load()
    assert str(paths.config_file) in str(info.value) and "proxy.port" in str(info.value)


def test_unknown_key_is_refused_by_set(config_store: ConfigStore) -> None:
    with pytest.raises(ConfigError, match="unknown config key"):
        config_store.set("proxy.nope", "1")


def test_listeners_get_the_saved_config(config_store: ConfigStore) -> None:
    seen: list[Config] = []
    config_store.add_listener(seen.append)
    config_store.set("proxy.auth_mode", "strict")
    assert [c.proxy.auth_mode for c in seen] == ["strict"]


def test_failing_listener_does_not_undo_the_save(config_store: ConfigStore, paths: Paths) -> None:
    def broken(config: Config) -> None:
        raise RuntimeError("boom")

    config_store.add_listener(broken)
    config_store.set("proxy.port", 9600)
    assert ConfigStore(paths).load().proxy.port == 9600


def test_model_mapping_names_may_hold_dots_and_an_empty_target_removes_one(
    config_store: ConfigStore, paths: Paths
) -> None:
    config_store.set("model_mapping.claude-3.5-sonnet", "gemini-2.5-pro")
    config_store.set("model_mapping.gpt-*", "gemini-2.5-flash")
    reread = ConfigStore(paths).load()
    assert reread.model_mapping == {"claude-3.5-sonnet": "gemini-2.5-pro", "gpt-*": "gemini-2.5-flash"}
    assert reread.get("model_mapping.claude-3.5-sonnet") == "gemini-2.5-pro"
    config_store.set("model_mapping.claude-3.5-sonnet", "")
    assert ConfigStore(paths).load().model_mapping == {"gpt-*": "gemini-2.5-flash"}


# -- the one API key rule and the preferred_account check (issue 13) --------------------


def _account_file(paths: Paths, email: str = "alice@example.com") -> str:
    from proxy.accounts.model import Account
    from proxy.accounts.store import AccountStore

    acc = Account.antigravity(email, "rt-alice")
    AccountStore(paths.accounts_dir).add(acc)
    return acc.id


def test_api_key_rule_refuses_below_10_and_warns_below_20(config_store: ConfigStore) -> None:
    from proxy.config.model import api_key_warning

    for bad in ("sk-short", "pk-long-enough-key-here", ""):
        with pytest.raises(ConfigError, match="starting with 'sk-', at least 10 characters"):
            config_store.set("proxy.api_key", bad)
    short = "sk-1234567"  # 10: accepted, with a word
    assert config_store.set("proxy.api_key", short).proxy.api_key == short
    assert "only 10 characters" in (api_key_warning(short) or "")
    assert api_key_warning("sk-" + "a" * 17) is None  # 20
    assert api_key_warning(Config().proxy.api_key) is None  # a generated key


def test_preferred_account_warning_matches_as_the_pool_does(paths: Paths) -> None:
    from proxy.accounts.store import AccountStore
    from proxy.config.model import preferred_account_warning

    assert "there are no accounts yet" in (preferred_account_warning("alice", []) or "")
    account_id = _account_file(paths)
    accounts = AccountStore(paths.accounts_dir).load_all()
    for names_it in (account_id, account_id[:6], "ALICE@example.com", ""):
        assert preferred_account_warning(names_it, accounts) is None, names_it
    warning = preferred_account_warning("bob", accounts) or ""
    assert "no account matches 'bob'" in warning and "alice@example.com" in warning


def test_cli_set_warns_for_a_short_key_and_an_unknown_preferred_account(paths: Paths, capsys) -> None:
    from proxy.cli import main

    assert main(["config", "set", "proxy.api_key", "sk-1234567"]) == 0
    out = capsys.readouterr()
    assert "proxy.api_key = " in out.out
    assert "agproxy: warning: proxy.api_key is only 10 characters" in out.err
    assert main(["config", "set", "proxy.api_key", "sk-short"]) == 1  # refused, the same rule
    assert "at least 10 characters" in capsys.readouterr().err

    _account_file(paths)
    assert main(["config", "set", "scheduling.preferred_account", "bob"]) == 0  # saved: warned
    err = capsys.readouterr().err
    assert "warning: no account matches 'bob'" in err and "alice@example.com" in err
    assert ConfigStore(paths).load().scheduling.preferred_account == "bob"
    assert main(["config", "set", "scheduling.preferred_account", "alice@example.com"]) == 0
    assert "warning" not in capsys.readouterr().err


async def test_cli_set_through_a_running_proxy_warns_from_its_accounts(paths: Paths, capsys) -> None:
    import asyncio

    from proxy.cli import main
    from tests.conftest import serving_daemon

    _account_file(paths)
    async with serving_daemon(paths) as daemon:
        rc = await asyncio.to_thread(main, ["config", "set", "scheduling.preferred_account", "bob"])
        out = capsys.readouterr()
        assert rc == 0 and "applied by the running proxy" in out.out
        assert "warning: no account matches 'bob'" in out.err and "alice@example.com" in out.err
        assert daemon.config.scheduling.preferred_account == "bob"

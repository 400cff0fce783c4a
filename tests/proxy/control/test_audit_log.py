"""Every user change (config and mapping edits, client keys, accounts) is one INFO line in
the serving process's log, once, whichever front end made it (in-process or through the
control socket), and never with a secret in it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from proxy.config.model import Config, ConfigError
from proxy.control.audit import config_changes
from tests.conftest import find_free_port
from tests.fakes.upstream import FakeUpstream
from tests.proxy.control.conftest import Rig

KEY = "AIzaSyAUDITAUDITAUDITAUDITAUDITAUD12345"


def changes(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == "proxy.changes"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "proxy.changes")
    caplog.clear()
    return lines


@pytest.fixture
async def google(rig: Rig) -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(email="new.user@example.com") as fake:
        rig.service.store.set("upstream.gemini_base_url", fake.url)
        yield fake


async def test_config_and_mapping_changes_are_logged_once_without_secrets(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "proxy.changes")
    via = rig.local.owner if rig.controller is rig.local else "control socket"
    await rig.controller.set_config("proxy.request_timeout", "333")
    assert changes(caplog) == [f"config changed ({via}): proxy.request_timeout 120 → 333"]
    secret = "sk-auditsecretauditsecret0123"
    await rig.controller.set_config("proxy.api_key", secret)
    [line] = changes(caplog)
    assert line == f"config changed ({via}): proxy.api_key changed"
    cfg = rig.controller.config.with_value("model_mapping.gpt-4o", "gemini-2.5-pro")
    cfg = cfg.with_value("zai.api_key", "zai-secret-value-123456")
    await rig.controller.save_config(cfg)
    [line] = changes(caplog)
    assert "model_mapping.gpt-4o (none) → 'gemini-2.5-pro'" in line
    assert "zai.api_key changed" in line and "zai-secret" not in line
    await rig.controller.set_config("model_mapping.gpt-4o", "")
    assert changes(caplog) == [
        f"config changed ({via}): model_mapping.gpt-4o 'gemini-2.5-pro' → (none)"
    ]
    with pytest.raises(ConfigError):
        await rig.controller.set_config("proxy.port", "80")
    await rig.controller.set_config("proxy.request_timeout", "333")  # no change
    assert changes(caplog) == []  # a refused or empty write is no change


async def test_client_key_changes_are_logged_with_names_never_keys(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "proxy.changes")
    ctl = rig.controller
    key = await ctl.add_client_key("alice", models=["claude-*"], rpm=30, tokens_per_day=0, expires=0)
    new = await ctl.rotate_client_key("alice")
    await ctl.revoke_client_key("alice")
    await ctl.remove_client_key("alice")
    lines = changes(caplog)
    assert lines == [
        "client key 'alice' added (models claude-*, rpm 30, tokens/day no limit, expires never)",
        "client key 'alice' rotated (a new secret; the old one no longer works)",
        "client key 'alice' revoked",
        "client key 'alice' removed",
    ]
    assert not any(key[6:14] in line or new[6:14] in line for line in lines)


async def test_account_changes_are_logged_by_id_and_label(
    rig: Rig, google: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "proxy.changes")
    ctl = rig.controller
    account = (await ctl.add_gemini_key(KEY)).account
    await ctl.set_disabled(account.id, True)
    await ctl.set_disabled(account.id, False)
    await ctl.rename_account(account.id, "work key")
    await ctl.remove_account(account.id)
    label = f"(id {account.id}, gemini_key)"
    assert changes(caplog) == [
        f"account added (API key): key …2345 {label}",
        f"account disabled: key …2345 {label}",
        f"account enabled: key …2345 {label}",
        f"account renamed: work key {label}",
        f"account removed: work key {label}",
    ]
    assert KEY not in caplog.text


def test_a_proxy_url_with_credentials_is_named_not_shown() -> None:
    base = Config()
    new = base.with_value("upstream.proxy_url", "http://user:pa55@proxy.example:3128")
    assert config_changes(base, new) == ["upstream.proxy_url changed"]
    port = find_free_port()
    assert config_changes(base, base.with_value("proxy.port", port)) == [
        f"proxy.port 8045 → {port}"
    ]

"""`agproxy models` (SPEC §9): catalogues per account, the client version, resolutions."""

import time

from proxy import jsoncodec
from proxy.accounts.catalogue import Catalogue, ModelEntry
from proxy.accounts.model import Account, QuotaInfo
from proxy.accounts.store import AccountStore
from proxy.cli import main
from proxy.upstream.client_version import ANTIGRAVITY_VERSION


def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("AGPROXY_HOME", str(tmp_path))
    monkeypatch.delenv("AGPROXY_CONFIG", raising=False)
    store = AccountStore(tmp_path / "accounts")
    acc = Account.antigravity("a@example.com", "rt-a")
    store.add(acc)
    ids = ["claude-sonnet-4-6", "claude-opus-4-6-thinking", "gemini-3-flash", "gemini-3-pro-high", "gemini-2.5-flash-lite"]
    store.update_catalogue(acc, Catalogue({m: ModelEntry(m) for m in ids} | {"chat_1": ModelEntry("chat_1", internal=True)},
                                          {"claude-sonnet-4-5": "claude-sonnet-4-6"}, time.time() - 120),
                           {"gemini-3-flash": QuotaInfo(0.4, time.time() + 3600, time.time())})
    return acc


def test_models_lists_catalogue_version_and_client_names(tmp_path, monkeypatch, capsys):
    _home(tmp_path, monkeypatch)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"client version: {ANTIGRAVITY_VERSION}" in out
    assert "5 model(s), read 2m" in out and "gemini-3-flash" in out and "40%" in out
    assert "claude-sonnet-4-5                    deprecated → claude-sonnet-4-6" in out
    assert "chat_1" not in out  # internal ids are not offered
    assert "gemini-3.8-flash             → gemini-3-flash" in out
    assert "gpt-5-codex                  → gemini-3-pro-high" in out


def test_models_json_for_one_account(tmp_path, monkeypatch, capsys):
    acc = _home(tmp_path, monkeypatch)
    assert main(["models", "--account", acc.id, "--json"]) == 0
    data = jsoncodec.loads(capsys.readouterr().out)
    assert [a["id"] for a in data["accounts"]] == [acc.id]
    assert data["accounts"][0]["internal"] == ["chat_1"]
    by_name = {r["client_model"]: r for r in data["resolutions"]}
    assert by_name["claude-opus-4-8"]["model"] == "claude-opus-4-6-thinking" and by_name["claude-opus-4-8"]["offered"]
    assert by_name["gemini-3.5-flash-lite"]["model"] == "gemini-2.5-flash-lite"


def test_models_unknown_account_is_one_clear_error(tmp_path, monkeypatch, capsys):
    _home(tmp_path, monkeypatch)
    assert main(["models", "--account", "nobody"]) == 1
    assert "no account 'nobody'" in capsys.readouterr().err


def test_accounts_show_gives_the_whole_state_models_quota_cooldowns_and_deprecations(tmp_path, monkeypatch, capsys):
    acc = _home(tmp_path, monkeypatch)
    store = AccountStore(tmp_path / "accounts")
    store.load_all()
    stored = store.get(acc.id)
    stored.cooldowns["claude-sonnet-4-6"] = time.time() + 125
    stored.state_reason = "invalid_grant: this refresh token is wrong, expired or revoked " + "x" * 90
    store.save(stored)
    assert main(["accounts", "show", "a@example.com"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"a@example.com (antigravity, id {acc.id})")
    assert "5 model(s), read 2m" in out
    assert "gemini-3-flash" in out and "40% (resets in 59m" in out
    assert "claude-sonnet-4-6" in out and "cooling 2m0" in out
    assert "claude-sonnet-4-5                    deprecated → claude-sonnet-4-6" in out
    assert "chat_1" not in out and "rt-a" not in out


def test_accounts_show_json_has_the_catalogue_and_no_secrets(tmp_path, monkeypatch, capsys):
    acc = _home(tmp_path, monkeypatch)
    assert main(["accounts", "show", acc.id, "--json"]) == 0
    out = capsys.readouterr().out
    data = jsoncodec.loads(out)
    assert data["id"] == acc.id and data["catalogue_view"]["deprecated"] == {"claude-sonnet-4-5": "claude-sonnet-4-6"}
    assert "rt-a" not in out


def test_accounts_show_unknown_account_is_one_clear_error(tmp_path, monkeypatch, capsys):
    _home(tmp_path, monkeypatch)
    assert main(["accounts", "show", "nobody"]) == 1
    assert "no account matches 'nobody'" in capsys.readouterr().err

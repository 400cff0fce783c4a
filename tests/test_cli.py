"""The `agproxy` command line as a user runs it: real subprocesses (SPEC §13)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proxy import jsoncodec
from proxy.paths import resolve_paths
from tests.conftest import find_free_port, raw_request, write_account_file


def agproxy(*args: str, env_home: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "AGPROXY_HOME": str(env_home)},
    )


def test_config_path_honours_home_and_flag(agproxy_home: Path, tmp_path: Path) -> None:
    assert agproxy("config", "path", env_home=agproxy_home).stdout.strip() == str(agproxy_home / "config.toml")
    other = tmp_path / "elsewhere.toml"
    assert agproxy("--config", str(other), "config", "path", env_home=agproxy_home).stdout.strip() == str(other)
    assert agproxy("config", "--config", str(other), "path", env_home=agproxy_home).stdout.strip() == str(other)


def test_config_set_writes_and_show_masks_secrets(agproxy_home: Path) -> None:
    done = agproxy("config", "set", "proxy.port", "9123", env_home=agproxy_home)
    assert done.returncode == 0 and done.stdout.strip() == "proxy.port = 9123"
    agproxy("config", "set", "zai.api_key", "zai-secret-value-7788", env_home=agproxy_home)
    shown = agproxy("config", "show", env_home=agproxy_home)
    assert shown.returncode == 0
    key = resolve_paths_key(agproxy_home)
    assert "port = 9123" in shown.stdout
    assert key not in shown.stdout and f'api_key = "sk-…{key[-4:]}"' in shown.stdout
    assert "zai-secret-value-7788" not in shown.stdout and "…7788" in shown.stdout
    assert "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" not in shown.stdout


def test_config_get_masks_a_secret_unless_reveal(agproxy_home: Path) -> None:
    agproxy("config", "show", env_home=agproxy_home)  # creates the file with a key
    key = resolve_paths_key(agproxy_home)
    masked = agproxy("config", "get", "proxy.api_key", env_home=agproxy_home)
    assert masked.returncode == 0 and key not in masked.stdout and "…" in masked.stdout
    clear = agproxy("config", "get", "proxy.api_key", "--reveal", env_home=agproxy_home)
    assert clear.returncode == 0 and clear.stdout == key + "\n"


def resolve_paths_key(home: Path) -> str:
    text = (home / "config.toml").read_text()
    line = next(line for line in text.splitlines() if line.startswith("api_key"))
    return line.split('"')[1]


def test_config_set_invalid_value_is_one_line_and_exit_1(agproxy_home: Path) -> None:
    done = agproxy("config", "set", "proxy.port", "80", env_home=agproxy_home)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "proxy.port" in done.stderr and "80" in done.stderr and "1024-65535" in done.stderr


def test_config_set_refused_secret_is_not_echoed(agproxy_home: Path) -> None:
    done = agproxy("config", "set", "proxy.api_key", "sk-abc", env_home=agproxy_home)
    assert done.returncode == 1
    assert "invalid value for proxy.api_key: …" in done.stderr
    assert "sk-abc" not in done.stderr + done.stdout


def test_secrets_in_the_file_are_masked_in_its_errors() -> None:
    from proxy.config.model import Config, ConfigError

    for section, name in (("zai", "api_key"), ("upstream", "oauth_client_secret"), ("proxy", "api_key")):
        with pytest.raises(ConfigError) as refused:
            Config.from_dict({section: {name: 987654321987654321}})
        assert f"{section}.{name}" in str(refused.value)
        assert "987654321987654321" not in str(refused.value)
        assert "…4321" in str(refused.value)  # the one masker's display: last four only
    with pytest.raises(ConfigError, match="'fastest'"):  # other values are still shown
        Config().with_value("scheduling.mode", "fastest")


def test_config_show_on_corrupt_file_names_line_and_exit_1(agproxy_home: Path) -> None:
    (agproxy_home / "config.toml").write_text("[proxy\n")
    done = agproxy("config", "show", env_home=agproxy_home)
    assert done.returncode == 1 and "line 1" in done.stderr and "column" in done.stderr


def test_serve_without_accounts_prints_the_exact_error_and_exits_1(agproxy_home: Path) -> None:
    done = agproxy("serve", "--port", str(find_free_port()), env_home=agproxy_home)
    assert done.returncode == 1
    assert done.stderr.strip() == "agproxy: no available accounts: add an account first (or enable z.ai dispatch)"


def test_serve_bind_conflict_is_one_line_and_exit_1(agproxy_home: Path) -> None:
    write_account_file(resolve_paths())  # AGPROXY_HOME is the test's home
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        done = agproxy("serve", "--port", str(port), env_home=agproxy_home)
    assert done.returncode == 1
    assert done.stderr.strip().startswith(f"agproxy: failed to bind 127.0.0.1:{port}:")
    assert done.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_health_then_exits_0_on_signal(agproxy_home: Path, sig: signal.Signals) -> None:
    write_account_file(resolve_paths())  # AGPROXY_HOME is the test's home
    before = agproxy("config", "show", "--reveal", env_home=agproxy_home).stdout
    port = find_free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AGPROXY_HOME": str(agproxy_home)},
    )
    try:
        status, body = _wait_for_health(port, proc)
        assert status == 200 and jsoncodec.loads(body)["status"] == "ok"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}" in stderr  # the startup line goes to stderr
    assert (agproxy_home / "logs" / "agproxy.log").read_text().count("agproxy listening") == 1
    # --port is for this run only: the file is unchanged.
    assert agproxy("config", "show", "--reveal", env_home=agproxy_home).stdout == before


def _wait_for_health(port: int, proc: subprocess.Popen) -> tuple[int, bytes]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read()}")
        try:
            status, _, body = asyncio.run(raw_request(port, "GET", "/healthz"))
            return status, body
        except OSError:
            time.sleep(0.05)
    raise AssertionError("serve never answered /healthz")

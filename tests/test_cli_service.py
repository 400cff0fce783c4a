"""`agproxy service install|uninstall|status` (SPEC §17). There is no systemd user
session in the test box: the unit text is checked through `--print`, and install /
status / uninstall run in a temporary HOME with no `systemctl` on PATH (so the
command must write the unit and say clearly that it could not enable it)."""

from __future__ import annotations

import plistlib
import shlex
import sys
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.paths import resolve_paths


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no systemctl / launchctl
    monkeypatch.setattr(sys, "platform", "linux")
    return home


def test_print_shows_the_unit_and_writes_nothing(user_home: Path, capsys) -> None:
    assert main(["service", "install", "--print"]) == 0
    out = capsys.readouterr().out
    unit = user_home / ".config" / "systemd" / "user" / "agproxy.service"
    assert out.startswith(f"# {unit}\n")
    config = resolve_paths().config_file
    exec_line = next(line for line in out.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_line.removeprefix("ExecStart="))
    assert argv == [str(Path(sys.executable).absolute()), "-m", "proxy", "serve", "--config", str(config)]
    assert "Restart=on-failure" in out.splitlines()
    assert "WantedBy=default.target" in out.splitlines()
    assert f"Environment=AGPROXY_HOME={resolve_paths().data_dir}" in out.splitlines()
    assert not unit.exists() and not (user_home / ".config").exists()


def test_print_honours_config(user_home: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "other.toml"
    assert main(["--config", str(other), "service", "install", "--print"]) == 0
    assert f"--config {other}" in capsys.readouterr().out


def test_install_without_systemd_writes_the_unit_and_says_it_is_not_enabled(
    user_home: Path, capsys
) -> None:
    unit = user_home / ".config" / "systemd" / "user" / "agproxy.service"
    assert main(["service", "install"]) == 1
    captured = capsys.readouterr()
    assert unit.exists() and "Restart=on-failure" in unit.read_text()
    assert "not enabled: systemctl is not available here" in captured.err
    assert "systemctl --user enable --now agproxy.service" in captured.err
    assert "loginctl enable-linger" in captured.out
    assert main(["service", "status"]) == 1
    assert f"installed: {unit}" in capsys.readouterr().out
    assert main(["service", "uninstall"]) == 0
    assert f"removed {unit}" in capsys.readouterr().out
    assert not unit.exists()
    assert main(["service", "status"]) == 3


def test_launchd_agent_on_macos(user_home: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert main(["service", "install", "--print"]) == 0
    out = capsys.readouterr().out
    assert str(user_home / "Library" / "LaunchAgents" / "dev.agproxy.serve.plist") in out
    assert "<string>serve</string>" in out and "<key>KeepAlive</key>" in out
    assert f"<string>{resolve_paths().config_file}</string>" in out
    plist = plistlib.loads(out.split("\n", 1)[1].encode())  # after the "# <path>" line
    assert plist["Label"] == "dev.agproxy.serve"
    assert plist["ProgramArguments"] == [
        str(Path(sys.executable).absolute()), "-m", "proxy", "serve", "--config", str(resolve_paths().config_file)
    ]
    assert plist["KeepAlive"] == {"SuccessfulExit": False}  # restarted when it fails, not after `stop`
    assert plist["RunAtLoad"] is True
    assert not (user_home / "Library").exists()  # --print writes nothing

"""`agproxy service install|uninstall|status [--print]` (SPEC §17): run `agproxy serve`
as a per-user service — a systemd user unit on Linux, a launchd agent on macOS —
so the proxy outlives the SSH session and starts again after a crash or a reboot.

`--print` writes nothing and prints the unit. Without a systemd user session (a
container, no `systemctl --user`), `install` writes the unit file and says that it
could not enable it, and how to."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

from proxy.paths import Paths, resolve_paths

UNIT_NAME = "agproxy.service"
LAUNCHD_LABEL = "dev.agproxy.serve"
LINGER_HINT = (
    "to keep it running after you log out (and start it at boot): "
    "loginctl enable-linger {user}"
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "service", help="run agproxy serve as a user service (systemd / launchd)"
    )
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    sub = p.add_subparsers(dest="service_command", metavar="ACTION", required=True)
    for name, text in (
        ("install", "write and enable the unit, start it"),
        ("uninstall", "stop and disable the unit, remove its file"),
        ("status", "is the unit installed and running"),
    ):
        c = sub.add_parser(name, help=text)
        c.add_argument("--print", action="store_true", help="print the unit; change nothing")
    p.set_defaults(func=run)


# -- the unit text --------------------------------------------------------------------


def serve_argv(paths: Paths) -> list[str]:
    """This installation's `agproxy serve --config <path>` (its interpreter, absolute)."""
    exe = Path(sys.executable).absolute()
    return [str(exe), "-m", "proxy", "serve", "--config", str(paths.config_file)]


def _environment(paths: Paths) -> dict[str, str]:
    env = {}
    home = os.environ.get("AGPROXY_HOME")
    if home:  # the service must see the same files as this shell
        env["AGPROXY_HOME"] = str(Path(home).expanduser().absolute())
    return env


def systemd_unit(paths: Paths) -> str:
    lines = [
        "[Unit]",
        "Description=agproxy: local LLM API gateway (agproxy serve)",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={shlex.join(serve_argv(paths))}",
    ]
    lines += [f"Environment={k}={v}" for k, v in _environment(paths).items()]
    lines += [
        "Restart=on-failure",
        "RestartSec=5",
        # SIGTERM is a graceful stop: in-flight requests get the grace period (10 s)
        "TimeoutStopSec=30",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(paths: Paths) -> str:
    args = "".join(f"\n    <string>{escape(a)}</string>" for a in serve_argv(paths))
    env = "".join(
        f"\n    <key>{escape(k)}</key><string>{escape(v)}</string>"
        for k, v in _environment(paths).items()
    )
    log = escape(str(paths.log_dir / "launchd.log"))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>{args}
  </array>
  <key>EnvironmentVariables</key>
  <dict>{env}
  </dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>StandardErrorPath</key><string>{log}</string>
</dict>
</plist>
"""


def unit_path() -> Path:
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return config_home / "systemd" / "user" / UNIT_NAME


def unit_text(paths: Paths) -> str:
    return launchd_plist(paths) if sys.platform == "darwin" else systemd_unit(paths)


# -- running the service manager -----------------------------------------------------


def _manager(args: list[str]) -> tuple[bool, str]:
    """(worked, one line) for `systemctl --user …` / `launchctl …`."""
    tool = "launchctl" if sys.platform == "darwin" else "systemctl"
    if shutil.which(tool) is None:
        return False, f"{tool} is not available here"
    argv = [tool, *args] if tool == "launchctl" else [tool, "--user", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{' '.join(argv)}: {exc}"
    text = (done.stderr or done.stdout).strip().splitlines()
    return done.returncode == 0, text[0] if text else f"exit code {done.returncode}"


def _user() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "$USER"


def run(args: argparse.Namespace) -> int:
    paths = resolve_paths(getattr(args, "config", None))
    path = unit_path()
    text = unit_text(paths)
    command = args.service_command
    if args.print:
        if command == "install":
            print(f"# {path}")
            print(text, end="")
        elif command == "uninstall":
            print(f"would stop and disable {UNIT_NAME} and remove {path}")
        else:
            print(f"{path}: {'installed' if path.exists() else 'not installed'}")
        return 0
    if command == "install":
        return _install(paths, path, text)
    if command == "uninstall":
        return _uninstall(path)
    return _status(path)


def _install(paths: Paths, path: Path, text: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    print(f"  runs: {shlex.join(serve_argv(paths))}")
    if sys.platform == "darwin":
        ok, line = _manager(["load", "-w", str(path)])
        if not ok:
            print(f"agproxy service: could not load it ({line}); run: launchctl load -w {path}", file=sys.stderr)
            return 1
        print("loaded: it starts now and at every login (launchd agent)")
        return 0
    ok, line = _manager(["daemon-reload"])
    if ok:
        ok, line = _manager(["enable", "--now", UNIT_NAME])
    if not ok:
        print(
            f"agproxy service: the unit is written but not enabled: {line}. "
            f"In a systemd user session run: systemctl --user enable --now {UNIT_NAME}",
            file=sys.stderr,
        )
        print(LINGER_HINT.format(user=_user()))
        return 1
    print(f"enabled and started: systemctl --user status {UNIT_NAME}")
    print(LINGER_HINT.format(user=_user()))
    return 0


def _uninstall(path: Path) -> int:
    if sys.platform == "darwin":
        _manager(["unload", "-w", str(path)])
    else:
        _manager(["disable", "--now", UNIT_NAME])
    if path.exists():
        path.unlink()
        print(f"removed {path}")
        if sys.platform != "darwin":
            _manager(["daemon-reload"])
    else:
        print(f"not installed ({path} does not exist)")
    return 0


def _status(path: Path) -> int:
    if not path.exists():
        print(f"not installed ({path} does not exist); agproxy service install")
        return 3
    print(f"installed: {path}")
    if sys.platform == "darwin":
        ok, line = _manager(["list", LAUNCHD_LABEL])
    else:
        ok, line = _manager(["is-active", UNIT_NAME])
    print(f"  state: {line if ok else 'unknown (' + line + ')'}")
    return 0 if ok else 1

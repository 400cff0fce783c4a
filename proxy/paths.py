"""Where agproxy keeps its files (SPEC §15): one resolver honoured by every front end."""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "agproxy"
SOCKET_NAME = "agproxy.sock"
# AF_UNIX paths are limited to 108 bytes on Linux (104 on macOS), terminator included.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class Paths:
    config_file: Path
    data_dir: Path
    log_dir: Path
    runtime_dir: Path | None = None  # where the control socket lives (None: data_dir)
    socket_name: str = SOCKET_NAME

    @property
    def control_socket(self) -> Path:
        """The control socket of the proxy running on this config (SPEC §17). A path
        too long for AF_UNIX is replaced by a short one derived from it (same for
        every process that resolves the same paths)."""
        path = (self.runtime_dir or self.data_dir) / self.socket_name
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"agproxy-{os.getuid()}" / f"{digest}.sock"

    @property
    def accounts_dir(self) -> Path:
        return self.data_dir / "accounts"

    @property
    def monitor_db(self) -> Path:
        return self.data_dir / "monitor.sqlite3"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "agproxy.log"


def resolve_paths(config_arg: str | os.PathLike | None = None) -> Paths:
    """`--config` beats `AGPROXY_CONFIG` beats `AGPROXY_HOME` beats platformdirs."""
    home = os.environ.get("AGPROXY_HOME")
    if home:
        root = Path(home).expanduser()
        config_file, data_dir, log_dir = root / "config.toml", root, root / "logs"
        runtime_dir = root
    else:
        config_file = Path(platformdirs.user_config_dir(APP)) / "config.toml"
        data_dir = Path(platformdirs.user_data_dir(APP))
        log_dir = Path(platformdirs.user_log_dir(APP))
        runtime_dir = _runtime_dir()
    default_config = config_file.absolute()
    env_config = os.environ.get("AGPROXY_CONFIG")
    if config_arg:
        config_file = Path(config_arg).expanduser()
    elif env_config:
        config_file = Path(env_config).expanduser()
    config_file = config_file.absolute()
    socket_name = SOCKET_NAME
    if config_file != default_config:  # another config, another proxy: its own socket
        digest = hashlib.sha256(os.fsencode(config_file)).hexdigest()[:12]
        socket_name = f"agproxy-{digest}.sock"
    return Paths(
        config_file=config_file,
        data_dir=data_dir.absolute(),
        log_dir=log_dir.absolute(),
        runtime_dir=runtime_dir.absolute(),
        socket_name=socket_name,
    )


def _runtime_dir() -> Path:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / APP
    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: platformdirs' fallback is fine
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir(APP))

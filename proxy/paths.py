"""Where agproxy keeps its files (SPEC §15): one resolver honoured by every front end."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "agproxy"


@dataclass(frozen=True)
class Paths:
    config_file: Path
    data_dir: Path
    log_dir: Path

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
    else:
        config_file = Path(platformdirs.user_config_dir(APP)) / "config.toml"
        data_dir = Path(platformdirs.user_data_dir(APP))
        log_dir = Path(platformdirs.user_log_dir(APP))
    env_config = os.environ.get("AGPROXY_CONFIG")
    if config_arg:
        config_file = Path(config_arg).expanduser()
    elif env_config:
        config_file = Path(env_config).expanduser()
    return Paths(config_file=config_file.absolute(), data_dir=data_dir.absolute(), log_dir=log_dir.absolute())

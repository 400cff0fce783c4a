"""Files on disk (SPEC §15): the monitor database (it holds prompts) and its WAL files are
0600 in a 0700 directory; temp files an interrupted atomic write left behind (they may hold
credentials) are removed at start, while a write in progress elsewhere is left alone."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from proxy.accounts.store import AccountStore
from proxy.config.model import MonitorSettings
from proxy.config.store import ConfigStore
from proxy.monitor import Monitor
from proxy.paths import Paths


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_monitor_database_is_private_in_a_private_directory(paths: Paths) -> None:
    old = os.umask(0o022)
    try:
        paths.monitor_db.parent.mkdir(parents=True, exist_ok=True)
        paths.monitor_db.parent.chmod(0o755)
        monitor = Monitor(paths.monitor_db, MonitorSettings())
        await monitor.open()
        rec = monitor.begin(method="POST", path="/v1/messages", protocol="anthropic", client="127.0.0.1",
                            user_agent="t", headers={}, body=b'{"secret prompt": 1}')
        monitor.finish(rec, status=200)
        await monitor.flush()
        db = paths.monitor_db
        assert mode(db.parent) == 0o700
        assert mode(db) == 0o600
        for suffix in ("-wal", "-shm"):
            side = db.with_name(db.name + suffix)
            if side.exists():
                assert mode(side) == 0o600, suffix
        await monitor.close()
    finally:
        os.umask(old)


def _leftover(directory: Path, name: str, age_s: float) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / name
    tmp.write_text('{"refresh_token": "1//secret"}')
    then = time.time() - age_s
    os.utime(tmp, (then, then))
    return tmp


def test_stale_account_temp_files_are_removed_when_accounts_load(paths: Paths) -> None:
    stale = _leftover(paths.accounts_dir, ".alice.json.0a1b2c3d.tmp", age_s=3600)
    fresh = _leftover(paths.accounts_dir, ".bob.json.0a1b2c3e.tmp", age_s=0)
    unrelated = _leftover(paths.accounts_dir, "notes.tmp", age_s=3600)
    AccountStore(paths.accounts_dir).load_all()
    assert not stale.exists()
    assert fresh.exists()  # maybe a write in progress in another process
    assert unrelated.exists()  # not one of ours


def test_stale_config_temp_files_are_removed_when_the_config_is_written(paths: Paths) -> None:
    stale = _leftover(paths.config_file.parent, ".config.toml.deadbeef.tmp", age_s=3600)
    store = ConfigStore(paths)
    store.load()
    store.set("proxy.port", 9123)
    assert not stale.exists()
    assert mode(paths.config_file) == 0o600

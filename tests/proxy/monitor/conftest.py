"""Fixtures for the monitor tests: a real Monitor on a tmp database."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config.model import MonitorSettings
from proxy.monitor import Monitor


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "monitor.sqlite3"


@pytest.fixture
async def monitor(db_path: Path):
    m = Monitor(db_path, MonitorSettings(capture_bodies="all"))
    await m.open()
    yield m
    await m.close()

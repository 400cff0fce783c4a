"""The clipboard files (tui/clipboard.py) hold the proxy key or a request: one per kind,
deleted when the TUI quits, and the ones a killed TUI left are deleted after an hour."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.tui.conftest import notes
from tui.app import AgproxyApp
from tui.demo import DemoApp, demo_records
from tui.widgets.traffic import TrafficPane
from tui.widgets.traffic_table import TrafficTable


def clipboard_files(home: Path) -> list[str]:
    folder = home / "clipboard"
    return sorted(p.name for p in folder.glob("*.txt")) if folder.is_dir() else []


async def test_connect_copies_keep_one_file_per_snippet_and_go_when_the_tui_quits(home) -> None:
    folder = home / "clipboard"
    folder.mkdir(mode=0o700)
    stale = folder / "snippet-claude.txt"  # a killed TUI's copy, two hours old
    stale.write_text("export ANTHROPIC_AUTH_TOKEN=sk-old\n")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    other = folder / "curl-7.txt"  # another TUI's copy of a minute ago: not ours to delete
    other.write_text("curl …\n")
    os.utime(other, (time.time() - 60, time.time() - 60))
    app = AgproxyApp()
    key = app.config.proxy.api_key
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert clipboard_files(home) == ["curl-7.txt"]  # the stale one went at start
        await pilot.press("4")
        await pilot.pause()
        for _ in range(3):  # the same snippet three times, then the next one twice
            await pilot.press("y")
        await pilot.press("down", "y", "y")
        await pilot.pause()
        assert clipboard_files(home) == ["curl-7.txt", "snippet-curl.txt", "snippet-openai.txt"]
        assert key in (folder / "snippet-openai.txt").read_text()
        assert "deleted when agproxy-tui quits" in notes(app)[-1]
    assert clipboard_files(home) == ["curl-7.txt"]  # ours are gone, the key with them


async def test_copy_as_curl_keeps_only_the_newest_request(home) -> None:
    app = DemoApp()
    rows = [r for r in demo_records() if r.path == "/v1/chat/completions"][:3]
    assert len(rows) == 3
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrafficPane)
        table = app.query_one(TrafficTable)
        for rec in rows:
            table.move_cursor(row=list(pane.records).index(rec.id))
            await pilot.press("y")
            await pilot.pause()
        data_dir = app.paths.data_dir  # the demo's own throw-away home
        assert clipboard_files(data_dir) == [f"curl-{rows[-1].id}.txt"]
    assert clipboard_files(data_dir) == []

"""`agproxy logs`, run as a real subprocess against a database a Monitor wrote."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from monitor_helpers import run_request

from proxy import jsoncodec
from proxy.config.model import MonitorSettings
from proxy.monitor import Monitor

ROOT = Path(__file__).resolve().parents[3]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, AGPROXY_HOME=str(home), PYTHONPATH=str(ROOT))
    env.pop("AGPROXY_CONFIG", None)
    return env


def _logs(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "logs", *args],
        check=False,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=30,
    )


async def _write(home: Path, n: int, **fields) -> list[int]:
    m = Monitor(home / "monitor.sqlite3", MonitorSettings(capture_bodies="all"))
    await m.open()
    ids = [run_request(m, **fields).id for _ in range(n)]
    await m.close()
    return ids


async def test_json_lines_are_the_newest_records_oldest_first(tmp_path):
    await _write(tmp_path, 3, status=200, client_model="gpt-4o")
    ids = await _write(
        tmp_path,
        4,
        status=429,
        client_model="claude-x",
        upstream_model="gemini-3-pro",
        account="alice",
        input_tokens=7,
        attempts=[],
    )
    done = _logs(tmp_path, "--json", "-n", "3", "--filter", "status:4xx")
    assert done.returncode == 0, done.stderr
    rows = [jsoncodec.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in rows] == ids[-3:]
    assert rows[0]["upstream_model"] == "gemini-3-pro" and rows[0]["input_tokens"] == 7


async def test_table_lines_show_model_arrow_upstream_account_and_tokens(tmp_path):
    await _write(
        tmp_path,
        1,
        status=200,
        client_model="claude-x",
        upstream_model="gemini-3-pro",
        account="alice",
        input_tokens=12,
        output_tokens=3,
    )
    done = _logs(tmp_path)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    for part in (
        "200",
        "POST",
        "/v1/chat/completions",
        "openai",
        "claude-x → gemini-3-pro",
        "alice",
        "12/3",
    ):
        assert part in line


def test_missing_database_is_one_clear_line(tmp_path):
    done = _logs(tmp_path)
    assert done.returncode == 1
    assert "no monitor database" in done.stderr and len(done.stderr.strip().splitlines()) == 1


async def test_bad_filter_is_one_clear_line(tmp_path):
    await _write(tmp_path, 1)
    done = _logs(tmp_path, "--filter", "colour:red")
    assert done.returncode == 2 and "unknown filter key 'colour'" in done.stderr
    assert "Traceback" not in done.stderr


class LineReader:
    """Lines from a child's stdout with a deadline (raw reads: no hidden buffering)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def read(self, n: int, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while self.buf.count(b"\n") < n and time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.1)[0]:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        return [line.decode() for line in lines]


async def test_follow_prints_rows_another_monitor_writes(tmp_path):
    first = await _write(tmp_path, 2)
    proc = subprocess.Popen(  # noqa: ASYNC220 - the child runs on its own
        [sys.executable, "-m", "proxy", "logs", "--follow", "--json", "-n", "1"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out = LineReader(proc)
    try:
        start = out.read(1, 10)
        assert [jsoncodec.loads(x)["id"] for x in start] == first[-1:]
        # a long-lived writer (like `agproxy serve`), records reaching the file in batches
        m = Monitor(tmp_path / "monitor.sqlite3", MonitorSettings())
        await m.open()
        later = [run_request(m, status=201).id for _ in range(3)]
        await m.flush()
        got = out.read(3, 10)
        assert [jsoncodec.loads(x)["id"] for x in got] == later
        await m.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert b"Traceback" not in err


async def test_a_closed_pipe_ends_quietly(tmp_path):
    await _write(tmp_path, 1500, body=b'{"x":"' + b"y" * 400 + b'"}')
    proc = subprocess.Popen(  # noqa: ASYNC220 - the child runs on its own
        [sys.executable, "-m", "proxy", "logs", "--json", "-n", "1500"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()  # like `agproxy logs | head -1`
    err = proc.stderr.read().decode()
    proc.wait(timeout=20)
    assert proc.returncode == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_follow_waits_for_a_database_to_appear(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "logs", "--follow"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    assert proc.poll() is None  # still waiting, not an error
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 0

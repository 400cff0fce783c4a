"""Process plumbing for the benchmark: free ports, starting the fake / the proxy /
the TUI host / the load generator as separate processes, and reading a process's
CPU time and memory from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def mem_kib(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line[:5]] = int(line.split()[1])
    return out


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False when not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Proc:
    """A child process with its stderr in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name, self.proc, self.log = name, proc, log

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def stop(self, timeout: float = 10.0) -> None:
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


async def spawn(name: str, args: list[str], env: dict[str, str], logdir: Path, stdout: bool = False) -> Proc:
    log = logdir / f"{name}.log"
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL, stderr=log.open("wb"),
    )
    return Proc(name, proc, log)


async def start_fake(port: int, env: dict[str, str], logdir: Path, chunks: int) -> Proc:
    p = await spawn("fake", [sys.executable, "-m", "tests.bench.fastfake", str(port), str(chunks)], env, logdir, True)
    assert p.proc.stdout is not None
    line = await asyncio.wait_for(p.proc.stdout.readline(), 15)
    if b"READY" not in line:
        raise RuntimeError(f"the fake upstream did not start:\n{p.tail()}")
    return p


async def wait_http(port: int, proc: Proc, timeout: float = 20.0) -> None:
    """Until GET /healthz answers 200 (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.returncode is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.proc.returncode}):\n{proc.tail()}")
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), 2)
            writer.close()
            if b" 200 " in status:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer /healthz in {timeout:g} s:\n{proc.tail()}")


class LoadGen:
    """Runs tests.bench.loadgen in its own process, one spec at a time."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.files: dict[bytes, str] = {}

    def raw_file(self, raw: bytes) -> str:
        path = self.files.get(raw)
        if path is None:
            fd, path = tempfile.mkstemp(dir=self.workdir, suffix=".http")
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            self.files[raw] = path
        return path

    async def run(self, spec: dict[str, Any], requests: list[tuple[str, int, bytes]], timeout: float = 120) -> dict[str, Any]:
        spec = {**spec, "requests": [{"name": n, "port": p, "raw_file": self.raw_file(r)} for n, p, r in requests]}
        fd, spec_path = tempfile.mkstemp(dir=self.workdir, suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bench.loadgen", spec_path, cwd=REPO, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"load generator timed out: {spec['mode']}") from None
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.decode(errors='replace')[-2000:]}")
        result = json.loads(out)
        for t in result["targets"]:
            if t["errors"]:
                raise RuntimeError(f"{t['name']}: {t['errors']} failed requests, e.g. {t['sample']}")
        return result

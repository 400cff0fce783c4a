"""`agproxy` as a user runs it: every command a real subprocess (`python -m proxy`)
with AGPROXY_HOME set to the test's home, and the FakeUpstream running in the
test's own event loop — so CLI commands are run with asyncio subprocesses, never a
blocking `subprocess.run` that would freeze the fake while `serve` talks to it.

    done = await cli("config", "set", "proxy.port", "9000")    # -> Done(rc, out, err)
    async with serve() as proc:                                  # waits for /healthz
        ...                                                      # SIGTERM + wait on exit
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy import jsoncodec
from tests.fakes.upstream import FakeUpstream

CLI_TIMEOUT = 20.0
START_TIMEOUT = 15.0


@dataclass
class Done:
    rc: int
    out: str
    err: str


@dataclass
class Served:
    """A running `agproxy serve`; `stop()` sends SIGTERM and collects its exit."""

    proc: asyncio.subprocess.Process
    port: int
    rc: int | None = None
    err: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.rc is None:
            if self.proc.returncode is None:
                self.proc.send_signal(sig)
            _, err = await asyncio.wait_for(self.proc.communicate(), timeout)
            self.err += err.decode(errors="replace")
            self.rc = self.proc.returncode
        return self.rc  # type: ignore[return-value]


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "AGPROXY_HOME": str(home)}
    env.pop("AGPROXY_CONFIG", None)
    return env


@pytest.fixture
def cli(agproxy_home: Path) -> Callable[..., Awaitable[Done]]:
    async def run(*args: str, stdin: bytes | None = None, timeout: float = CLI_TIMEOUT) -> Done:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy",
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_env(agproxy_home),
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"agproxy {' '.join(args)} did not finish in {timeout}s") from None
        return Done(
            proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )

    return run


async def wait_health(
    port: int, proc: asyncio.subprocess.Process, timeout: float = START_TIMEOUT
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                err = await proc.stderr.read() if proc.stderr else b""
                raise AssertionError(
                    f"serve exited early ({proc.returncode}): {err.decode(errors='replace')}"
                )
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200, resp.status
                    return jsoncodec.loads(await resp.read())
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"serve never answered /healthz on port {port}")


@pytest.fixture
def serve(agproxy_home: Path) -> Callable[..., contextlib.AbstractAsyncContextManager[Served]]:
    """`async with serve(port) as s:` — the port must be the one the config (or
    `--port`) makes it listen on; the process is killed if it outlives the test."""

    @contextlib.asynccontextmanager
    async def run(port: int, *args: str) -> AsyncIterator[Served]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy",
            "serve",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=_env(agproxy_home),
        )
        served = Served(proc, port)
        try:
            await wait_health(port, proc)
            yield served
        finally:
            if proc.returncode is None and served.rc is None:
                try:
                    await served.stop(timeout=10)
                except TimeoutError:
                    pass
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    return run


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as f:
        yield f

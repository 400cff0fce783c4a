"""Keep serving after a front end leaves (SPEC §17): start a detached `agproxy serve` on
the same config (its own session: a closing terminal or SSH session does not reach
it) and wait until its /healthz answers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import aiohttp

from proxy.paths import Paths

HEALTH_TIMEOUT_S = 20.0


class HandoverError(Exception):
    """The background serve did not come up; the message says why."""


def serve_command(paths: Paths) -> list[str]:
    """This installation's `agproxy serve --config <path>`."""
    return [sys.executable, "-m", "proxy", "serve", "--config", str(paths.config_file)]


def spawn_serve(paths: Paths) -> subprocess.Popen[bytes]:
    """A detached `agproxy serve`: new session, no terminal, output to its log file."""
    paths.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return subprocess.Popen(
        serve_command(paths),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        env=os.environ.copy(),
    )


async def wait_healthy(
    proc: subprocess.Popen[bytes], port: int, api_key: str, timeout: float = HEALTH_TIMEOUT_S
) -> None:
    """Until http://127.0.0.1:<port>/healthz answers 200; HandoverError when the
    process exits first or the time is up."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/healthz"
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while True:
            code = proc.poll()
            if code is not None:
                raise HandoverError(
                    f"agproxy serve exited with code {code} before answering (see its log)"
                )
            try:
                async with http.get(url, headers=headers) as resp:
                    if resp.status == 200:
                        return
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            if time.monotonic() > deadline:
                raise HandoverError(f"agproxy serve (pid {proc.pid}) did not answer on {url} in {timeout:.0f}s")
            await asyncio.sleep(0.1)

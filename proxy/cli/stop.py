"""`agproxy stop`: stop the proxy running on this config, gracefully (SPEC §13, §17):
in-flight requests finish (the serve's grace period), records and account state are
written. A serve exits; an in-process TUI stops its API listener and stays open."""

from __future__ import annotations

import argparse
import asyncio
import time

from proxy.control.api import ControlError
from proxy.control.remote import RemoteController
from proxy.control.server import probe
from proxy.paths import Paths, resolve_paths
from proxy.service import DEFAULT_GRACE

NOT_RUNNING = 3


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stop", help="stop the running proxy on this config")
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_GRACE + 20,
        help="seconds to wait for it to exit (default 30)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_stop(resolve_paths(getattr(args, "config", None)), args.timeout))


async def _stop(paths: Paths, timeout: float) -> int:
    status = await probe(paths.control_socket)
    if status is None:
        print(f"not running (no proxy answers on {paths.control_socket})")
        return NOT_RUNNING
    remote = RemoteController(paths.control_socket, follow=False)
    try:
        if status.get("owner") != "serve":
            await remote.stop()
            print(f"stopped the API listener of agproxy-tui (pid {status.get('pid')}); the TUI stays open")
            return 0
        pid = await remote.shutdown()
    except ControlError as exc:
        print(f"agproxy stop: {exc}")
        return 1
    finally:
        await remote.close()
    deadline = time.monotonic() + timeout
    while await probe(paths.control_socket) is not None:  # until its socket is gone
        if time.monotonic() > deadline:
            print(f"agproxy stop: pid {pid} is still stopping after {timeout:.0f}s")
            return 1
        await asyncio.sleep(0.1)
    print(f"stopped (pid {pid})")
    return 0

"""`agproxy serve`: run the proxy headless until SIGINT, SIGTERM or SIGHUP (a dropped
SSH session), or `agproxy stop` (SPEC §13, §17). It serves the control socket
for `agproxy-tui` (attach), `agproxy status|stop` and the CLI's state changes; a
second serve on the same config says "already running (pid N)"."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from proxy.config.model import ConfigError
from proxy.config.store import ConfigStore
from proxy.control.local import InProcessController
from proxy.control.logs import LogHub
from proxy.control.server import AlreadyRunning, ControlServer
from proxy.logging_setup import FILE_ONLY, setup_logging
from proxy.paths import Paths, resolve_paths
from proxy.service import DEFAULT_GRACE, ProxyService, StartError, log_start_error

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the proxy without the TUI")
    # SUPPRESS: the root parser's --config must survive when this one is not given.
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    p.add_argument("--port", type=int, help="listen on this port for this run (the file is not changed)")
    p.add_argument("--lan", action="store_true", default=None, help="bind 0.0.0.0 for this run")
    p.add_argument("--grace", type=float, default=DEFAULT_GRACE, help="seconds in-flight requests get on stop")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = resolve_paths(args.config)
    store = ConfigStore(paths)
    try:
        store.load()
        service = ProxyService(store, port=args.port, lan=args.lan)
    except ConfigError as exc:
        print(f"agproxy: {exc}", file=sys.stderr)
        return 1
    hub = LogHub()  # the log stream attached front ends read
    setup_logging(paths, stderr=True, extra_handler=hub)
    return run_loop(_serve(service, args.grace, paths, hub))


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed (less CPU per request: SPEC §16, tests/bench),
    else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def _serve(service: ProxyService, grace: float, paths: Paths, hub: LogHub) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    controller = InProcessController(service, hub, owner="serve")
    control = ControlServer(controller, paths.control_socket, on_shutdown=stop.set)
    try:
        await control.start()
    except AlreadyRunning as exc:
        print(f"agproxy: already running (pid {exc.pid}); see `agproxy status`", file=sys.stderr)
        await service.close()
        return 1
    except OSError as exc:  # the proxy still serves; only attach and `agproxy stop` are missing
        logging.getLogger(__name__).warning(
            "no control socket at %s: %s", paths.control_socket, exc.strerror or exc
        )
    await service.open()
    try:
        await service.start()
    except StartError as exc:
        log_start_error(str(exc))
        print(f"agproxy: {exc}", file=sys.stderr)
        await control.close()
        await service.close()
        return 1
    await stop.wait()
    # graceful: in-flight requests get `grace`, then records and account state are flushed
    await service.stop(grace)
    await control.close()
    await service.close()
    logging.getLogger(__name__).info("agproxy serve exited (pid %d)", os.getpid(), extra=FILE_ONLY)
    return 0

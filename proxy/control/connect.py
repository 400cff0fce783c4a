"""Which Controller a front end gets (SPEC §17): the running proxy's, through its
control socket, when one answers for this config; else one in this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from proxy.config.store import ConfigStore
from proxy.control.api import Controller
from proxy.control.local import InProcessController
from proxy.control.remote import RemoteController
from proxy.control.server import probe
from proxy.paths import Paths
from proxy.service import ProxyService

T = TypeVar("T")


async def attach(paths: Paths, follow: bool = True) -> RemoteController | None:
    """A connected RemoteController when a live proxy answers on this config's
    control socket, else None (no socket, or a stale one). `follow=False`: no
    background following of the daemon (one-shot CLI commands)."""
    if await probe(paths.control_socket) is None:
        return None
    remote = RemoteController(paths.control_socket, follow=follow)
    try:
        await remote.open()
    except Exception:  # noqa: BLE001 - whatever went wrong, it is not a live proxy
        await remote.close()
        return None
    return remote


async def attach_once(paths: Paths) -> RemoteController | None:
    """`attach` without following the daemon (one-shot CLI commands)."""
    return await attach(paths, follow=False)


def local(paths: Paths) -> InProcessController:
    """A controller over a ProxyService of this process that is not started: it works
    on the files (CLI with no proxy running). Raises ConfigError for a broken config."""
    store = ConfigStore(paths)
    store.load()
    return InProcessController(ProxyService(store), owner="cli")


@contextlib.asynccontextmanager
async def controller_for(paths: Paths) -> AsyncIterator[Controller]:
    """For a one-shot CLI command: the running proxy's controller when one serves this
    config (the change applies there, one writer), else one over the files; closed
    after. `mode` tells which. Raises ConfigError for a broken config (files only)."""
    controller: Controller = await attach_once(paths) or local(paths)
    try:
        yield controller
    finally:
        await controller.close()


def run_command(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` for a CLI command, also when called from a running event loop
    (`proxy.cli.main([...])` inside an async test): then on a loop of its own in a
    worker thread, as asyncio.run cannot nest."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()

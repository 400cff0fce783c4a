"""Which Controller a front end gets (SPEC §17): the running proxy's, through its
control socket, when one answers for this config; else one in this process."""

from __future__ import annotations

from proxy.config.store import ConfigStore
from proxy.control.local import InProcessController
from proxy.control.remote import RemoteController
from proxy.control.server import probe
from proxy.paths import Paths
from proxy.service import ProxyService


async def attach(paths: Paths) -> RemoteController | None:
    """A connected RemoteController when a live proxy answers on this config's
    control socket, else None (no socket, or a stale one)."""
    if await probe(paths.control_socket) is None:
        return None
    remote = RemoteController(paths.control_socket)
    try:
        await remote.open()
    except Exception:  # noqa: BLE001 - whatever went wrong, it is not a live proxy
        await remote.close()
        return None
    return remote


async def attach_once(paths: Paths) -> RemoteController | None:
    """Like `attach` but without following the daemon (one-shot CLI commands)."""
    if await probe(paths.control_socket) is None:
        return None
    remote = RemoteController(paths.control_socket, follow=False)
    try:
        await remote.open()
    except Exception:  # noqa: BLE001 - whatever went wrong, it is not a live proxy
        await remote.close()
        return None
    return remote


def local(paths: Paths) -> InProcessController:
    """A controller over a ProxyService of this process that is not started: it works
    on the files (CLI with no proxy running). Raises ConfigError for a broken config."""
    store = ConfigStore(paths)
    store.load()
    return InProcessController(ProxyService(store), owner="cli")

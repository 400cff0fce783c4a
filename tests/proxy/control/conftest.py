"""The `controller` fixture: the same Controller tests run in-process and through a
real control socket (ControlServer on a unix socket + RemoteController)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from proxy.config.store import ConfigStore
from proxy.control.local import InProcessController
from proxy.control.remote import RemoteController
from proxy.control.server import ControlServer
from proxy.paths import Paths
from proxy.service import ProxyService
from tests.conftest import find_free_port


@dataclass
class Rig:
    """`controller` is what the test drives; `local` is the proxy's own side."""

    controller: InProcessController | RemoteController
    local: InProcessController
    server: ControlServer | None

    @property
    def service(self) -> ProxyService:
        return self.local.service


@pytest.fixture(params=["in-process", "remote"])
async def rig(request: pytest.FixtureRequest, paths: Paths) -> AsyncIterator[Rig]:
    store = ConfigStore(paths)
    store.load()
    store.set("proxy.port", find_free_port())
    local = InProcessController(ProxyService(store), owner="serve")
    await local.open()
    server = None
    controller: InProcessController | RemoteController = local
    if request.param == "remote":
        server = ControlServer(local, paths.control_socket)
        await server.start()
        controller = RemoteController(paths.control_socket, poll_s=0.05)
        await controller.open()
    yield Rig(controller, local, server)
    if controller is not local:
        await controller.close()
    if server is not None:
        await server.close()
    await local.close()

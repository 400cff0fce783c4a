"""ProxyService lifecycle (SPEC §2): start errors, bind conflicts, start/stop cycles,
graceful stop with in-flight work, status and hot-applied config."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from aiohttp import web

from proxy.service import NO_ACCOUNTS, ProxyService, StartError


async def test_start_without_accounts_gives_the_exact_error(service_factory) -> None:
    service = await service_factory(accounts=False, start=False)
    with pytest.raises(StartError) as info:
        await service.start()
    assert str(info.value) == NO_ACCOUNTS
    assert not service.status().running


async def test_zai_dispatch_lets_the_proxy_start_without_accounts(service_factory) -> None:
    service = await service_factory(
        accounts=False, **{"zai.enabled": True, "zai.dispatch_mode": "fallback", "zai.api_key": "k"}
    )
    assert service.status().running


@pytest.mark.parametrize("state", ["disabled", "auth_failed", "forbidden"])
async def test_dead_accounts_do_not_count_as_usable(service_factory, seed_account, state) -> None:
    seed_account("dead", state=state)
    service = await service_factory(accounts=False, start=False)
    with pytest.raises(StartError, match="no available accounts"):
        await service.start()


async def test_status_counts_usable_and_total_accounts(service_factory, seed_account) -> None:
    seed_account("a")
    seed_account("b", disabled=True)
    seed_account("c", state="forbidden")
    service = await service_factory(accounts=False)
    status = service.status()
    assert (status.accounts_active, status.accounts_total) == (1, 3)


async def test_bind_conflict_names_host_port_and_hint(service_factory, free_port) -> None:
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        service = await service_factory(start=False, **{"proxy.port": port})
        with pytest.raises(StartError) as info:
            await service.start()
    message = str(info.value)
    assert message.startswith(f"failed to bind 127.0.0.1:{port}: ")
    assert "proxy.port" in message
    assert not service.status().running
    await service.start()  # the port is free again: no half-started state left behind
    assert service.status().running


async def test_double_start_is_refused(service) -> None:
    with pytest.raises(StartError, match="already running"):
        await service.start()


async def test_concurrent_start_is_refused(service_factory) -> None:
    service = await service_factory(start=False)
    results = await asyncio.gather(service.start(), service.start(), return_exceptions=True)
    errors = [r for r in results if isinstance(r, StartError)]
    assert len(errors) == 1 and "already starting" in str(errors[0])
    assert service.status().running


async def test_start_stop_cycles_rebind_the_same_port(service, http) -> None:
    port = service.status().port
    for _ in range(3):
        await service.stop()
        assert not service.status().running
        with pytest.raises(OSError):
            await http(port, "GET", "/healthz")
        await service.start()
        status, _, _ = await http(port, "GET", "/healthz")
        assert status == 200


async def test_stop_when_stopped_is_harmless(service_factory) -> None:
    service = await service_factory(start=False)
    await service.stop()
    await service.stop()


async def test_restart_applies_a_new_port(service, config_store, free_port, http) -> None:
    new_port = free_port()
    config_store.set("proxy.port", new_port)
    assert service.status().port != new_port  # applies on the next start only
    await service.restart()
    assert service.status().port == new_port
    assert (await http(new_port, "GET", "/healthz"))[0] == 200


def _add_route(service: ProxyService, path: str, handler) -> None:
    router = service._app.router
    router._frozen = False
    router.add_get(path, handler)
    router._frozen = True


async def test_graceful_stop_lets_an_in_flight_request_finish(service, http) -> None:
    started = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(0.5)
        return web.Response(text="finished")

    _add_route(service, "/v1/slow", slow)
    request = asyncio.create_task(http(service.status().port, "GET", "/v1/slow"))
    await started.wait()
    await service.stop(grace=5)
    status, _, body = await request
    assert (status, body) == (200, b"finished")


async def test_stop_cancels_work_that_outlives_the_grace_period(service, http) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        started.set()
        try:
            while True:
                await response.write(b": ping\n\n")
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    _add_route(service, "/v1/endless", endless)
    request = asyncio.create_task(http(service.status().port, "GET", "/v1/endless"))
    await started.wait()
    t0 = time.monotonic()
    await service.stop(grace=0.3)
    assert time.monotonic() - t0 < 3
    assert cancelled.is_set()
    await asyncio.wait_for(request, 5)  # the client sees the connection end


async def test_status_while_running(service) -> None:
    status = service.status()
    assert status.running and status.host == "127.0.0.1"
    assert status.base_urls == [f"http://127.0.0.1:{status.port}"]
    assert status.auth_mode == "off"
    assert (status.accounts_active, status.accounts_total) == (1, 1)
    await asyncio.sleep(0.02)
    assert service.status().uptime_s > 0


async def test_status_when_stopped(service_factory) -> None:
    service = await service_factory(start=False)
    status = service.status()
    assert not status.running and status.uptime_s == 0 and status.base_urls == []


async def test_lan_binds_all_interfaces_and_warns_when_auth_is_off(service_factory, http, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="proxy.service")
    service = await service_factory(**{"proxy.allow_lan_access": True, "proxy.auth_mode": "off"})
    status = service.status()
    assert status.host == "0.0.0.0" and status.lan_open_warning
    assert any("open to your whole network" in r.getMessage() for r in caplog.records)
    assert (await http(status.port, "GET", "/healthz"))[0] == 200


async def test_lan_with_auth_has_no_warning(service_factory) -> None:
    service = await service_factory(**{"proxy.allow_lan_access": True, "proxy.auth_mode": "strict"})
    assert not service.status().lan_open_warning


async def test_port_and_lan_overrides_are_not_written(config_store, paths, free_port, seed_account) -> None:
    seed_account()
    port = free_port()
    before = paths.config_file.read_bytes()
    service = ProxyService(config_store, port=port, lan=False)
    try:
        await service.start()
        assert service.status().port == port
    finally:
        await service.close()
    assert paths.config_file.read_bytes() == before

"""Shared fixtures for the whole suite (real files, real sockets, no mocks of our code).

- `agproxy_home`: a fresh tmp dir set as AGPROXY_HOME (every test gets one).
- `paths`, `config_store`: the resolved Paths and a loaded ConfigStore in that home.
- `configure(**{"proxy.auth_mode": "strict"})`: set config keys through the store.
- `seed_account()`: put one usable account file in the accounts dir (start needs one).
- `free_port()`: a TCP port free on 127.0.0.1 right now.
- `service`: a started ProxyService on a free port (auth off unless configured first;
  stopped after the test). Use `service_factory(**config)` for custom config.
- `raw_request(port, method, target, headers)`: send an exact request line (no client
  normalises the path) and get (status, headers, body).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from proxy import jsoncodec
from proxy.config.store import ConfigStore
from proxy.paths import Paths, resolve_paths
from proxy.service import ProxyService


@pytest.fixture(autouse=True)
def agproxy_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate every test from the user's real files."""
    home = tmp_path / "agproxy-home"
    home.mkdir()
    monkeypatch.setenv("AGPROXY_HOME", str(home))
    monkeypatch.delenv("AGPROXY_CONFIG", raising=False)
    return home


@pytest.fixture
def paths(agproxy_home: Path) -> Paths:
    return resolve_paths()


@pytest.fixture
def config_store(paths: Paths) -> ConfigStore:
    store = ConfigStore(paths)
    store.load()
    return store


@pytest.fixture
def configure(config_store: ConfigStore) -> Callable[..., None]:
    def apply(**values: Any) -> None:
        for key, value in values.items():
            config_store.set(key, value)

    return apply


def write_account_file(paths: Paths, account_id: str = "test-account", **fields: Any) -> Path:
    """A minimal usable account file in the accounts part's on-disk shape."""
    data = {
        "id": account_id,
        "kind": "gemini_key",
        "label": account_id,
        "api_key": "AIzaTEST0000000000000000000000000000",
        "disabled": False,
        "state": "active",
    }
    data.update(fields)
    paths.accounts_dir.mkdir(parents=True, exist_ok=True)
    path = paths.accounts_dir / f"{account_id}.json"
    path.write_bytes(jsoncodec.dumps(data))
    path.chmod(0o600)
    return path


@pytest.fixture
def seed_account(paths: Paths) -> Callable[..., Path]:
    return lambda account_id="test-account", **fields: write_account_file(paths, account_id, **fields)


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> Callable[[], int]:
    return find_free_port


@pytest.fixture
async def service_factory(
    config_store: ConfigStore, paths: Paths
) -> AsyncIterator[Callable[..., Awaitable[ProxyService]]]:
    """`await service_factory(**{"proxy.auth_mode": "strict"}, accounts=True)` → a
    started service on a free port; every service made is stopped at teardown."""
    made: list[ProxyService] = []

    async def make(accounts: bool = True, start: bool = True, **config: Any) -> ProxyService:
        if accounts:
            write_account_file(paths)
        config.setdefault("proxy.port", find_free_port())
        for key, value in config.items():
            config_store.set(key, value)
        service = ProxyService(config_store)
        made.append(service)
        if start:
            await service.start()
        return service

    yield make
    for service in made:
        await service.close()


@pytest.fixture
async def service(service_factory: Callable[..., Awaitable[ProxyService]]) -> ProxyService:
    return await service_factory()


@contextlib.asynccontextmanager
async def serving_daemon(paths: Paths, port: int | None = None) -> AsyncIterator[Any]:
    """A proxy of this process answering on the config's control socket, as `agproxy
    serve` does (the InProcessController it serves; `port`: proxy.port to set first)."""
    from proxy.control.local import InProcessController
    from proxy.control.server import ControlServer

    store = ConfigStore(paths)
    store.load()
    if port is not None:
        store.set("proxy.port", port)
    daemon = InProcessController(ProxyService(store), owner="serve")
    await daemon.open()
    server = ControlServer(daemon, paths.control_socket)
    await server.start()
    try:
        yield daemon
    finally:
        await server.close()
        await daemon.close()


async def raw_request(
    port: int,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request with the request target sent byte for byte."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    chunked = any(k.lower() == "transfer-encoding" for k in (headers or {}))
    if (body or method in ("POST", "PUT")) and not chunked:
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    if response_headers.get("transfer-encoding") == "chunked":
        payload = _dechunk(payload)
    return int(status_line.split()[1]), response_headers, payload


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


@pytest.fixture
def http() -> Callable[..., Awaitable[tuple[int, dict[str, str], bytes]]]:
    return raw_request

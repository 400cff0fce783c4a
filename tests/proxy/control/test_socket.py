"""The control socket itself (SPEC §17): permissions, the peer uid check, a stale socket
replaced, a live one refused, and a stream that never slows requests."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat

import aiohttp
import pytest

from proxy import jsoncodec
from proxy.config.store import ConfigStore
from proxy.control import server as control_server
from proxy.control import streams as control_streams
from proxy.control.api import ControlError
from proxy.control.local import InProcessController
from proxy.control.remote import RemoteController
from proxy.control.server import AlreadyRunning, ControlServer, probe
from proxy.paths import Paths
from proxy.service import ProxyService
from proxy.upstream.sse import SSEParser
from tests.conftest import find_free_port, write_account_file


@pytest.fixture
async def local(paths: Paths):
    store = ConfigStore(paths)
    store.load()
    store.set("proxy.port", find_free_port())
    controller = InProcessController(ProxyService(store), owner="serve")
    await controller.open()
    yield controller
    await controller.close()


async def test_socket_is_0600_in_a_0700_dir(local: InProcessController, paths: Paths) -> None:
    path = paths.control_socket
    assert path == paths.data_dir / "agproxy.sock"  # $AGPROXY_HOME/agproxy.sock
    paths.data_dir.chmod(0o755)
    server = ControlServer(local, path)
    await server.start()
    try:
        info = path.stat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert local.status().control_socket == str(path)
    finally:
        await server.close()
    assert not path.exists()  # removed on close


async def test_a_peer_of_another_uid_is_refused(local: InProcessController, paths: Paths) -> None:
    # the server is told its owner is another uid: this process is then "another user"
    server = ControlServer(local, paths.control_socket, allowed_uid=os.getuid() + 1)
    await server.start()
    try:
        connector = aiohttp.UnixConnector(path=str(paths.control_socket))
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get("http://agproxy/v1/status") as resp,
        ):
            assert resp.status == 403
            body = jsoncodec.loads(await resp.read())
            assert "only serves its owner's uid" in body["error"]["message"]
        assert server.refused == 1
        with pytest.raises(ControlError, match="owner's uid"):
            await RemoteController(paths.control_socket).open()
    finally:
        await server.close()


async def test_peer_uid_reads_the_real_credentials() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert control_server.peer_uid(a) == os.getuid()


async def test_stale_socket_is_replaced(local: InProcessController, paths: Paths) -> None:
    path = paths.control_socket
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))  # bound, never listening, then gone: what a killed process leaves
    dead.close()
    assert path.exists() and await probe(path) is None
    server = ControlServer(local, path)
    await server.start()
    try:
        status = await probe(path)
        assert status is not None and status["pid"] == os.getpid()
    finally:
        await server.close()


async def test_a_live_socket_is_not_taken_over(local: InProcessController, paths: Paths) -> None:
    first = ControlServer(local, paths.control_socket)
    await first.start()
    try:
        with pytest.raises(AlreadyRunning, match=f"already running \\(pid {os.getpid()}\\)"):
            await ControlServer(local, paths.control_socket).start()
        assert await probe(paths.control_socket) is not None  # the first one still answers
    finally:
        await first.close()


async def test_a_stream_reader_that_does_not_read_never_slows_requests(
    local: InProcessController, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_streams, "STREAM_QUEUE", 20)
    write_account_file(paths)
    await local.start()
    server = ControlServer(local, paths.control_socket)
    await server.start()
    # a client that opens the record stream and then reads nothing
    reader, writer = await asyncio.open_unix_connection(str(paths.control_socket))
    writer.write(b"GET /v1/records/stream HTTP/1.1\r\nHost: agproxy\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert b"200" in head.split(b"\r\n")[0]
    try:
        port = local.status().port
        body = b"{" + b"x" * 8000  # a big error body: captured, so each update is large
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=body) as r:
                    assert r.status == 400
        assert local.service.monitor.stats.requests == 400
        assert local.service.monitor.stats.in_flight == 0
        # the lagging reader lost updates (bounded) and is told how many
        sub = next(s for s in local.service.monitor.hub.subscribers)
        assert sub.dropped > 0 and sub.qsize() <= 20
        status = await probe(paths.control_socket)  # what `agproxy status --json` shows
        assert status is not None and status["record_streams"] == 1
        assert status["stream_backlog"] == sub.qsize() and status["stream_dropped"] == sub.dropped
        data = b""
        while b"event: dropped" not in data:
            data += await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()
        await server.close()
    assert server.streams.status(local.status()).record_streams == 0


async def test_the_record_stream_coalesces_updates_and_sends_a_record_once_per_event(
    local: InProcessController, paths: Paths
) -> None:
    """One SSE event carries what arrived within STREAM_COALESCE_S, each record once (an
    update is the record itself, begin and finish alike): an attached TUI parses a few
    events a second under load instead of two per request."""
    write_account_file(paths)
    await local.start()
    server = ControlServer(local, paths.control_socket)
    await server.start()
    connector = aiohttp.UnixConnector(path=str(paths.control_socket))
    try:
        async with (
            aiohttp.ClientSession(connector=connector) as control,
            control.get("http://agproxy/v1/records/stream") as stream,
        ):
            port = local.status().port
            async with aiohttp.ClientSession() as http:
                for _ in range(20):  # one after another: each begins and finishes alone
                    async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{x") as r:
                        assert r.status == 400
            events: list[list[dict]] = []
            finished: set[int] = set()
            parser = SSEParser()
            while len(finished) < 20:
                chunk = await asyncio.wait_for(stream.content.readany(), 5)
                for event in parser.feed(chunk):
                    if event.event == "records":
                        batch = jsoncodec.loads(event.data)
                        events.append(batch)
                        finished |= {r["id"] for r in batch if r["status"]}
        assert all(len({r["id"] for r in batch}) == len(batch) for batch in events)
        # 40 updates (a begin and a finish each); uncoalesced they take ~one event each
        assert len(events) <= 10, [len(b) for b in events]
    finally:
        await server.close()


async def test_a_log_stream_reader_that_does_not_read_is_bounded(
    local: InProcessController, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_streams, "LOG_QUEUE", 50)
    server = ControlServer(local, paths.control_socket)
    await server.start()
    local.log_hub.ring.clear()
    logger = logging.getLogger("proxy.test.flood")
    logger.addHandler(local.log_hub)
    reader, writer = await asyncio.open_unix_connection(str(paths.control_socket))
    writer.write(b"GET /v1/log/stream?recent=0 HTTP/1.1\r\nHost: agproxy\r\n\r\n")
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    try:
        await asyncio.sleep(0.1)
        [sub] = local.log_hub.subscribers
        line = "x" * 4000
        for i in range(5000):  # ~20 MB of log lines that nobody reads
            logger.warning("%d %s", i, line)
            if i % 500 == 0:
                await asyncio.sleep(0)  # the stream writes until the socket buffers are full
        assert len(sub.pending) <= 50  # the newest lines wait; older ones were dropped
        assert sub.pending[-1][1].split(": ", 1)[1].startswith("4999 ")
    finally:
        logger.removeHandler(local.log_hub)
        writer.close()
        await server.close()


PEER_SCRIPT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /v1/status HTTP/1.1\\r\\nHost: agproxy\\r\\nConnection: close\\r\\n\\r\\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
print(data.split(b"\\r\\n", 1)[0].decode())
"""


# the client runs as `nobody`, which cannot reach a Python under /root (pyenv): the system one
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root (to run a client as another uid) and a system python3",
)
async def test_a_real_process_of_another_uid_is_refused_even_with_the_mode_loosened(
    local: InProcessController,
) -> None:
    """SO_PEERCRED, not only the file mode: the socket and its directory are opened to
    everyone, and a client process running as `nobody` still gets 403."""
    import tempfile
    from pathlib import Path

    directory = Path(tempfile.mkdtemp(prefix="agproxy-peer-", dir="/tmp"))
    path = directory / "agproxy.sock"
    server = ControlServer(local, path)
    await server.start()
    try:
        directory.chmod(0o755)
        path.chmod(0o666)
        nobody = 65534
        proc = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, "-I", "-c", PEER_SCRIPT, str(path),
            user=nobody, cwd="/", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
        assert out.decode().strip() == "HTTP/1.1 403 Forbidden"
        assert server.refused == 1
        status = await probe(path)  # its owner is still served
        assert status is not None and status["pid"] == os.getpid()
    finally:
        await server.close()
        directory.rmdir()

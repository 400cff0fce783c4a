"""A minimal SOCKS5 proxy on 127.0.0.1 for tests: no authentication, CONNECT only,
IPv4 and domain-name targets (RFC 1928). Domain names in `hosts` are mapped to
(host, port) so a test can use a name that only the proxy can resolve."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field
from typing import Self


@dataclass
class Socks5Proxy:
    hosts: dict[str, tuple[str, int]] = field(default_factory=dict)
    connects: list[tuple[str, int]] = field(default_factory=list)  # targets asked for
    _server: asyncio.base_events.Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            version, n = await reader.readexactly(2)
            await reader.readexactly(n)  # offered methods: we take "no authentication"
            if version != 5:
                return
            writer.write(b"\x05\x00")
            _, cmd, _, atyp = await reader.readexactly(4)
            if atyp == 1:
                host = socket.inet_ntoa(await reader.readexactly(4))
            elif atyp == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                writer.write(b"\x05\x08\x00\x01" + bytes(6))  # address type not supported
                return
            (port,) = struct.unpack("!H", await reader.readexactly(2))
            self.connects.append((host, port))
            target = self.hosts.get(host, (host, port))
            if cmd != 1:
                writer.write(b"\x05\x07\x00\x01" + bytes(6))
                return
            up_reader, up_writer = await asyncio.open_connection(*target)
            writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()

"""The upstream client over real TLS: a certificate the system trust store does not
vouch for is refused during the connect, before any byte of the request leaves."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proxy.config.model import Config
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.response import send


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (it is its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
async def tls_server(tmp_path):
    cert, key = make_cert(tmp_path)
    peers: list[object] = []

    async def echo(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"got": (await request.read()).decode()})

    app = web.Application()
    app.router.add_post("/v1/x:y", echo)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"https://localhost:{port}/v1/x:y", cert, peers
    await runner.cleanup()


async def test_tls_upstream_with_an_untrusted_certificate_is_refused_before_sending(tls_server) -> None:
    url, _cert, peers = tls_server
    sessions = UpstreamSessions(Config())
    try:
        with pytest.raises(UpstreamError) as info:
            await send(sessions.get("antigravity"), url, b"x", {}, proxy=None, timeout=sessions.timeout())
        assert info.value.kind is UpstreamErrorKind.TRANSPORT and not info.value.may_have_run
        assert "Certificate" in info.value.message
        assert peers == []
    finally:
        await sessions.close()

"""The lean upstream client over real TLS: certificate verification against the
system trust store (here a test CA via SSL_CERT_FILE), SNI, keep-alive reuse."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proxy.upstream.fastclient import FastClient

NON_STREAM = aiohttp.ClientTimeout(total=5)


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


async def test_tls_upstream_is_verified_and_connections_are_reused(tls_server, monkeypatch) -> None:
    url, cert, peers = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default context trusts our test CA
    client = FastClient()
    try:
        for i in range(3):
            resp = await client.post(url, b"hello%d" % i, {"Content-Type": "application/json"}, NON_STREAM)
            assert resp.status == 200
            assert await resp.read() == b'{"got": "hello%d"}' % i
            resp.release()
        assert len(set(peers)) == 1  # one TLS connection, kept alive
    finally:
        await client.close()


async def test_tls_upstream_with_an_untrusted_certificate_is_refused(tls_server, monkeypatch) -> None:
    url, _cert, peers = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    client = FastClient()
    try:
        with pytest.raises((ssl.SSLError, aiohttp.ClientError, OSError)):
            await client.post(url, b"x", {}, NON_STREAM)
        assert peers == []
    finally:
        await client.close()

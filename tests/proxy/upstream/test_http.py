"""Upstream sessions: outbound proxy, hot-applied proxy changes, per-kind pooling."""

from __future__ import annotations

from aiohttp_socks import ProxyConnector

from proxy.config.model import Config
from proxy.upstream.http import UpstreamSessions
from tests.fakes.harness import Harness

REQ = {"contents": [{"role": "user", "parts": [{"text": "via proxy"}]}]}


async def test_http_proxy_carries_upstream_traffic(harness: Harness):
    # The host does not resolve: only a working outbound proxy can reach the fake.
    harness.config.upstream.antigravity_endpoints = ["http://upstream.invalid/a/v1internal"]
    cfg = harness.config
    cfg.upstream.proxy_url = harness.fake.url
    harness.sessions.apply(cfg)
    acc = harness.add_antigravity("a")
    resp = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    assert resp["candidates"][0]["content"]["parts"][0]["text"] == "echo: via proxy"


async def test_socks_proxy_uses_a_socks_connector():
    cfg = Config()
    cfg.upstream.proxy_url = "socks5://127.0.0.1:1080"
    sessions = UpstreamSessions(cfg)
    try:
        assert isinstance(sessions.get("antigravity").connector, ProxyConnector)
        assert sessions.http_proxy is None
    finally:
        await sessions.close()


async def test_apply_rebuilds_sessions_only_when_the_proxy_changes():
    cfg = Config()
    sessions = UpstreamSessions(cfg)
    try:
        first = sessions.get("gemini")
        cfg.proxy.request_timeout = 99
        sessions.apply(cfg)
        assert sessions.get("gemini") is first and sessions.timeout().total == 99
        new = Config()
        new.upstream.proxy_url = "http://127.0.0.1:3128"
        sessions.apply(new)
        assert sessions.get("gemini") is not first and sessions.http_proxy == "http://127.0.0.1:3128"
    finally:
        await sessions.close()
    assert first.closed


async def test_one_session_per_kind():
    sessions = UpstreamSessions(Config())
    try:
        assert sessions.get("antigravity") is sessions.get("antigravity")
        assert sessions.get("antigravity") is not sessions.get("zai")
    finally:
        await sessions.close()


async def test_socks5_proxy_carries_upstream_traffic(harness: Harness):
    """A name only the SOCKS5 proxy can resolve: the call works only through it."""
    from tests.fakes.socks5 import Socks5Proxy

    fake_port = int(harness.fake.url.rsplit(":", 1)[1])
    async with Socks5Proxy(hosts={"upstream.internal": ("127.0.0.1", fake_port)}) as socks:
        cfg = harness.config
        cfg.upstream.antigravity_endpoints = ["http://upstream.internal/a/v1internal"]
        cfg.upstream.proxy_url = socks.url
        harness.sessions.apply(cfg)
        acc = harness.add_antigravity("a")
        resp = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
        assert resp["candidates"][0]["content"]["parts"][0]["text"] == "echo: via proxy"
        assert ("upstream.internal", 80) in socks.connects


async def test_socks5_with_local_dns_carries_upstream_traffic(harness: Harness):
    from tests.fakes.socks5 import Socks5Proxy

    fake_port = int(harness.fake.url.rsplit(":", 1)[1])
    async with Socks5Proxy() as socks:
        cfg = harness.config
        cfg.upstream.antigravity_endpoints = [f"{harness.fake.url}/a/v1internal"]
        cfg.upstream.proxy_url = socks.url.replace("socks5h://", "socks5://")
        harness.sessions.apply(cfg)
        acc = harness.add_antigravity("a")
        resp = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
        assert resp["candidates"][0]["content"]["parts"][0]["text"] == "echo: via proxy"
        assert socks.connects == [("127.0.0.1", fake_port)]

"""One pooled aiohttp client session per upstream kind: the one HTTP client path (SPEC §6.4).

Every upstream call (Antigravity, Gemini API, z.ai, OAuth) goes through `get(kind)`, with
or without an outbound proxy. aiohttp gives the conservative-client semantics the spec asks
for, each pinned by a probe test (tests/proxy/upstream/test_http_probes.py): a POST is
never resent after it may have reached the server (aiohttp retries only idempotent methods
on a reused connection), an early answer (a 413 during the upload) is read, framing comes
from llhttp (strict), connects use happy eyeballs (RFC 8305, `HAPPY_EYEBALLS_S`) bounded by
`CONNECT_TIMEOUT_S`.

The outbound proxy (http/https/socks5/socks5h) and the per-attempt timeout come from the
config; `apply(config)` swaps the sessions when the proxy URL changes (in-flight
requests on the old sessions finish; the old sessions close with `close()`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

import aiohttp
from aiohttp.abc import AbstractResolver

from proxy.config.model import Config

log = logging.getLogger(__name__)

UpstreamKind = Literal["antigravity", "gemini", "zai", "oauth"]
# A new connection: the next address (IPv4 after a silent IPv6 route) is tried after this
# long, as browsers do (RFC 8305's "Connection Attempt Delay").
HAPPY_EYEBALLS_S = 0.25
# A connect (TCP + TLS, proxy included) gets this long at most, whatever the request timeout:
# a black-holed route is an unreachable upstream, not a slow answer.
CONNECT_TIMEOUT_S = 10.0


class UpstreamSessions:
    """Sessions are created lazily (they need a running loop) and reused for the
    life of the service so TLS connections are pooled."""

    def __init__(self, config: Config, *, connect_timeout: float = CONNECT_TIMEOUT_S,
                 resolver: AbstractResolver | None = None) -> None:
        self._config = config
        self.connect_timeout = connect_timeout
        self._resolver = resolver  # tests only: names that resolve to chosen local addresses
        self._proxy_url = config.upstream.proxy_url
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._retired: list[aiohttp.ClientSession] = []
        self._closed = False
        self._timeouts: dict[tuple[float, float, bool], aiohttp.ClientTimeout] = {}

    # -- settings read per request (hot-applied without rebuilding) -------------

    @property
    def request_timeout(self) -> float:
        return float(self._config.proxy.request_timeout)

    def timeout(self, stream: bool = False) -> aiohttp.ClientTimeout:
        """Non-stream: the whole attempt is bounded. Streams: the time to the response
        headers and every gap between chunks are bounded (a long answer is fine,
        a stalled one is not); the dispatcher bounds the time to the first event."""
        t = self.request_timeout
        key = (t, self.connect_timeout, stream)
        cached = self._timeouts.get(key)  # built once per setting: a ClientTimeout costs µs per call
        if cached is not None:
            return cached
        c = min(self.connect_timeout, t)
        if stream:
            cached = aiohttp.ClientTimeout(total=None, connect=t, sock_connect=c, sock_read=t)
        else:
            cached = aiohttp.ClientTimeout(total=t, sock_connect=c)
        self._timeouts[key] = cached
        return cached

    @property
    def http_proxy(self) -> str | None:
        """The `proxy=` argument for requests (http/https proxies; socks is in the connector)."""
        url = self._proxy_url
        return url if url.startswith(("http://", "https://")) else None

    @property
    def user_agent(self) -> str:
        return self._config.upstream.user_agent

    @property
    def config(self) -> Config:
        return self._config

    # -- sessions ----------------------------------------------------------------

    def get(self, kind: UpstreamKind) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("upstream sessions are closed")
        session = self._sessions.get(kind)
        if session is None or session.closed:
            session = self._new_session()
            self._sessions[kind] = session
        return session

    def _new_session(self) -> aiohttp.ClientSession:
        url = self._proxy_url
        connector: aiohttp.BaseConnector
        if url.startswith(("socks5://", "socks5h://", "socks4://")):
            from aiohttp_socks import ProxyConnector  # only needed with a socks proxy

            # socks5h:// (the proxy resolves names) is socks5 with remote DNS to python-socks,
            # which does not know the scheme itself.
            rdns = url.startswith("socks5h://")
            plain = "socks5://" + url.removeprefix("socks5h://") if rdns else url
            connector = ProxyConnector.from_url(plain, rdns=rdns, limit=256, keepalive_timeout=30)
        else:
            # happy_eyeballs_delay is aiohttp's default too; spelled out because the spec requires it.
            connector = aiohttp.TCPConnector(limit=256, ttl_dns_cache=300, keepalive_timeout=30,
                                             happy_eyeballs_delay=HAPPY_EYEBALLS_S, resolver=self._resolver)
        # raise_for_status stays off: every non-2xx is classified by hints.classify.
        return aiohttp.ClientSession(
            connector=connector,
            # No cookies: an API proxy must not carry one account's cookies into another's
            # calls, and the jar's per-call filtering and response parsing are wasted work.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self.timeout(),
            # Still decompresses an answer that comes encoded anyway (probe-tested).
            auto_decompress=True,
            trust_env=False,
            # No aiohttp User-Agent, and no `Accept-Encoding: gzip, deflate`: asked for it,
            # Google gzips answers, streams included, which costs a decompression per read and
            # may hold SSE events back in the compressor; the bodies are small and local.
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    def apply(self, config: Config) -> None:
        """Hot-apply a new config; rebuild sessions only if the proxy URL changed."""
        self._config = config
        if config.upstream.proxy_url != self._proxy_url:
            log.info("outbound proxy changed; new upstream connections use it")
            self._proxy_url = config.upstream.proxy_url
            self._retired.extend(self._sessions.values())
            self._sessions = {}

    async def close(self) -> None:
        self._closed = True
        sessions = [*self._sessions.values(), *self._retired]
        self._sessions, self._retired = {}, []
        await asyncio.gather(*(s.close() for s in sessions if not s.closed), return_exceptions=True)

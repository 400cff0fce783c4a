"""One pooled aiohttp client session per upstream kind (SPEC §6.4).

The outbound proxy (http/https/socks5) and the per-attempt timeout come from the
config; `apply(config)` swaps the sessions when the proxy URL changes (in-flight
requests on the old sessions finish; the old sessions close with `close()`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Literal

import aiohttp

from proxy.config.model import Config
from proxy.upstream.fastclient import FastClient

log = logging.getLogger(__name__)

UpstreamKind = Literal["antigravity", "gemini", "zai", "oauth"]
# The kinds whose calls may go through the lean HTTP/1.1 client (response.send's callers).
FAST_KINDS = frozenset({"antigravity", "gemini"})


class UpstreamSessions:
    """Sessions are created lazily (they need a running loop) and reused for the
    life of the service so TLS connections are pooled."""

    def __init__(self, config: Config, fast: bool | None = None) -> None:
        self._config = config
        # The one switch for the lean client (fastclient.py), used without an outbound proxy
        # only; AGPROXY_LEAN_UPSTREAM=0 turns it off (aiohttp for everything, as before).
        self.fast = os.environ.get("AGPROXY_LEAN_UPSTREAM", "1") != "0" if fast is None else fast
        self._fast: dict[str, FastClient] = {}
        self._proxy_url = config.upstream.proxy_url
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._retired: list[aiohttp.ClientSession] = []
        self._closed = False

    # -- settings read per request (hot-applied without rebuilding) -------------

    @property
    def request_timeout(self) -> float:
        return float(self._config.proxy.request_timeout)

    def timeout(self, stream: bool = False) -> aiohttp.ClientTimeout:
        """Non-stream: the whole attempt is bounded. Streams: the time to the response
        headers and every gap between chunks are bounded (a long answer is fine,
        a stalled one is not); the dispatcher bounds the time to the first event."""
        t = self.request_timeout
        if stream:
            return aiohttp.ClientTimeout(total=None, connect=t, sock_connect=t, sock_read=t)
        return aiohttp.ClientTimeout(total=t)

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

    def client(self, kind: UpstreamKind) -> aiohttp.ClientSession | FastClient:
        """What `response.send()` posts with: the lean client when it is on and no outbound
        proxy is configured (proxies, socks included, stay with aiohttp), else the session."""
        if not self.fast or self._proxy_url or kind not in FAST_KINDS:
            return self.get(kind)
        if self._closed:
            raise RuntimeError("upstream sessions are closed")
        fc = self._fast.get(kind)
        if fc is None:
            fc = self._fast[kind] = FastClient()
        return fc

    def _new_session(self) -> aiohttp.ClientSession:
        url = self._proxy_url
        connector: aiohttp.BaseConnector
        if url.startswith(("socks5://", "socks5h://", "socks4://")):
            from aiohttp_socks import ProxyConnector  # only needed with a socks proxy

            # socks5h:// (the proxy resolves names) is socks5 with remote DNS to python-socks,
            # which does not know the scheme itself.
            rdns = url.startswith("socks5h://")
            plain = "socks5://" + url.removeprefix("socks5h://") if rdns else url
            connector = ProxyConnector.from_url(plain, limit=256, keepalive_timeout=30, rdns=rdns)
        else:
            connector = aiohttp.TCPConnector(limit=256, ttl_dns_cache=300, keepalive_timeout=30)
        # raise_for_status stays off: every non-2xx is classified by hints.classify.
        return aiohttp.ClientSession(
            connector=connector,
            # No cookies: an API proxy must not carry one account's cookies into another's
            # calls, and the jar's per-call filtering and response parsing are wasted work.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self.timeout(),
            auto_decompress=True,
            trust_env=False,
            skip_auto_headers=("User-Agent",),
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
        fast, self._fast = list(self._fast.values()), {}
        for fc in fast:
            await fc.close()
        await asyncio.gather(*(s.close() for s in sessions if not s.closed), return_exceptions=True)

"""End-to-end wiring: a FakeUpstream plus a real ProxyService on a free 127.0.0.1
port, configured through the ConfigStore, with Antigravity accounts; and the three
official SDKs pointed at it (SPEC §3, §8, §14).

    async def test_x(e2e):                  # one account "a", auth strict
        client = e2e.openai()               # AsyncOpenAI(base_url=<proxy>/v1, max_retries=0)
        e2e.fake.script("generate", ...)    # what the upstream answers next
        e2e.gemini_requests()               # the Gemini requests that reached the fake

`e2e_factory(accounts=("a", "b"), **{"zai.enabled": True})` builds a custom one.
`moved_factory(accounts=("a",), catalogue=today())` (and the `moved` fixture): the
fake serves catalogues like Google's (tests/fakes/catalogue.py), read before the test.
`moved_shared`: one such proxy per module for tests that only ask (never change the
fake or the config); such a test is marked `@pytest.mark.asyncio(loop_scope="module")`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
import pytest_asyncio
from google import genai
from google.genai import types as genai_types

from proxy.accounts.model import Account
from proxy.config.store import ConfigStore
from proxy.monitor.record import RequestRecord
from proxy.paths import resolve_paths
from proxy.service import ProxyService
from tests.fakes.catalogue import Catalogue, today
from tests.fakes.upstream import FakeUpstream, Received


@dataclass
class E2E:
    fake: FakeUpstream
    service: ProxyService
    store: ConfigStore

    def __post_init__(self) -> None:
        self.clients: list[Any] = []

    @property
    def port(self) -> int:
        return self.service.status().port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> str:
        return self.service.config.proxy.api_key

    # -- clients --------------------------------------------------------------------

    def openai(self, *, key: str | None = None, base_url: str | None = None) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(
            base_url=base_url or f"{self.url}/v1",
            api_key=key or self.key,
            max_retries=0,
            timeout=20,
        )
        self.clients.append(client)
        return client

    def anthropic(self, *, key: str | None = None) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(
            base_url=self.url, api_key=key or self.key, max_retries=0, timeout=20
        )
        self.clients.append(client)
        return client

    def genai(self, *, key: str | None = None, api_version: str | None = None) -> genai.Client:
        options = genai_types.HttpOptions(
            base_url=self.url, api_version=api_version, timeout=20_000
        )
        client = genai.Client(api_key=key or self.key, http_options=options)
        self.clients.append(client.aio)
        return client

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    # -- set-up ---------------------------------------------------------------------

    def add_account(self, name: str) -> Account:
        acc = Account.antigravity(
            f"{name}@example.com",
            f"rt-{name}",
            access_token=f"tok-{name}",
            token_expiry=time.time() + 3600,
            project_id=f"proj-{name}",
        )
        return self.service.accounts.add(acc)[0]

    def set(self, key: str, value: Any) -> None:
        self.store.set(key, value)

    # -- what happened --------------------------------------------------------------

    def upstream_calls(self, route: str = "generate") -> list[Received]:
        return self.fake.calls(route)

    def gemini_requests(self, route: str = "generate") -> list[dict[str, Any]]:
        """The GenerateContentRequests that reached the fake (Cloud Code envelope removed)."""
        out = []
        for rec in self.fake.calls(route):
            body = rec.body or {}
            out.append(
                body.get("request", body) if rec.route in ("generate", "stream", "count") else body
            )
        return out

    async def close_clients(self) -> None:
        for client in self.clients:
            close = getattr(client, "close", None) or getattr(client, "aclose", None)
            if close is not None:
                await close()

    async def records(self, n: int = 1, timeout: float = 3.0) -> list[RequestRecord]:
        """The newest `n` finished monitor records (the middleware finishes a stream's
        record just after its last byte, so wait for it)."""
        deadline = time.monotonic() + timeout
        while True:
            done = [r for r in self.service.monitor.recent(200) if not r.in_flight]
            if len(done) >= n or time.monotonic() > deadline:
                return done[-n:]
            await asyncio.sleep(0.02)


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


E2EFactory = Callable[..., Awaitable[E2E]]


def _factory(config_store: ConfigStore, made: list[E2E]) -> E2EFactory:
    async def make(accounts: tuple[str, ...] = ("a",), start: bool = True, **config: Any) -> E2E:
        fake = FakeUpstream()
        await fake.__aenter__()
        settings: dict[str, Any] = {
            "upstream.antigravity_endpoints": json.dumps(fake.endpoints),
            "upstream.oauth_token_url": fake.token_url,
            "upstream.gemini_base_url": fake.url,
            "zai.base_url": fake.zai_url,
            "proxy.auth_mode": "strict",
            "proxy.port": find_free_port(),
        }
        settings.update(config)
        for key, value in settings.items():
            config_store.set(key, value)
        service = ProxyService(config_store)
        env = E2E(fake, service, config_store)
        made.append(env)
        for name in accounts:
            env.add_account(name)
        if start:
            await service.start()
            # the catalogue reads the start begins (SPEC §9) are done and not counted as traffic
            await service.start_reads_done()
            fake.requests.clear()
        return env

    return make


async def _tear_down(made: list[E2E]) -> None:
    for env in made:
        await env.close_clients()
        await env.service.stop(grace=1.0)  # a stuck stream must not cost the 10 s default
        await env.service.close()
        await env.fake.__aexit__(None, None, None)


@pytest.fixture
async def e2e_factory(config_store: ConfigStore) -> AsyncIterator[E2EFactory]:
    made: list[E2E] = []
    yield _factory(config_store, made)
    await _tear_down(made)


@pytest.fixture
async def e2e(e2e_factory: E2EFactory) -> E2E:
    return await e2e_factory()


@pytest.fixture
async def moved_factory(e2e_factory: E2EFactory) -> E2EFactory:
    """An E2E whose upstream serves live catalogues (default: today's, for every
    account), with every account's catalogue read once before it is returned."""

    return _moved(e2e_factory)


def _moved(factory: E2EFactory) -> E2EFactory:
    async def make(accounts: tuple[str, ...] = ("a",), catalogue: Catalogue | None = None,
                   **config: Any) -> E2E:
        env = await factory(accounts=accounts, start=False, **config)
        env.fake.use_catalogues(catalogue or today())
        await env.service.start()
        await env.service.refresh_quotas()
        return env

    return make


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def moved_shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2E]:
    home = tmp_path_factory.mktemp("agproxy-shared")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGPROXY_HOME", str(home))
        patch.delenv("AGPROXY_CONFIG", raising=False)
        store = ConfigStore(resolve_paths())
        store.load()
    made: list[E2E] = []
    yield await _moved(_factory(store, made))()
    await _tear_down(made)


@pytest.fixture
async def moved(moved_factory: E2EFactory) -> E2E:
    return await moved_factory()

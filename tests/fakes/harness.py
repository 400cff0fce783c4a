"""Wiring for upstream/dispatcher tests: the real store, pool, sessions, token manager
and dispatcher over a FakeUpstream, with accounts in a tmp AGPROXY_HOME."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy.accounts.model import Account
from proxy.accounts.pool import Pool
from proxy.accounts.store import AccountStore
from proxy.config.model import Config
from proxy.dispatch import Dispatcher
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.oauth import TokenManager
from tests.fakes.upstream import FakeUpstream


def fake_config(fake: FakeUpstream, **scheduling: object) -> Config:
    cfg = Config()
    cfg.upstream.antigravity_endpoints = fake.endpoints
    cfg.upstream.oauth_token_url = fake.token_url
    cfg.upstream.oauth_userinfo_url = fake.userinfo_url
    cfg.upstream.gemini_base_url = fake.url
    cfg.zai.base_url = fake.zai_url
    cfg.proxy.request_timeout = 5  # tests set it lower directly (validation allows >= 30)
    for key, value in scheduling.items():
        setattr(cfg.scheduling, key, value)
    return cfg


@dataclass
class Harness:
    fake: FakeUpstream
    config: Config
    store: AccountStore
    pool: Pool
    sessions: UpstreamSessions
    tokens: TokenManager
    dispatcher: Dispatcher
    home: Path

    def add_antigravity(self, name: str, *, expired: bool = False, project: str | None = None,
                        refresh_token: str | None = None) -> Account:
        acc = Account.antigravity(f"{name}@example.com", refresh_token or f"rt-{name}",
                                  access_token=f"tok-{name}",
                                  token_expiry=time.time() + (-10 if expired else 3600),
                                  project_id=f"proj-{name}" if project is None else project)
        return self.store.add(acc)[0]

    def add_key(self, key: str) -> Account:
        return self.store.add(Account.gemini_key(key))[0]

    def reload(self) -> AccountStore:
        """A second store over the same folder: what is on disk."""
        other = AccountStore(self.store.dir)
        other.load_all()
        return other


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as f:
        yield f


@pytest.fixture
async def harness(fake: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setenv("AGPROXY_HOME", str(tmp_path))
    cfg = fake_config(fake)
    store = AccountStore(tmp_path / "accounts")
    store.load_all()
    pool = Pool(store, cfg.scheduling)
    sessions = UpstreamSessions(cfg)
    tokens = TokenManager(sessions, store)
    dispatcher = Dispatcher(store, pool, sessions, tokens, lambda: cfg)
    yield Harness(fake, cfg, store, pool, sessions, tokens, dispatcher, tmp_path)
    await dispatcher.close()
    await sessions.close()

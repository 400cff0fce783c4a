"""Fixtures for the TUI tests: a throw-away AGPROXY_HOME, a free port, an account file,
the fake Google upstream (`fake`: Google accounts; `gemini`: a Gemini-key account)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy import jsoncodec
from proxy.config.store import ConfigStore
from proxy.paths import resolve_paths
from tests.fakes.upstream import FakeUpstream


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def home(agproxy_home: Path) -> Path:
    """The test's AGPROXY_HOME (set by the suite's autouse fixture)."""
    return agproxy_home


@pytest.fixture
def port(home: Path) -> int:
    """A free port written into the config (proxy.port)."""
    p = free_port()
    store = ConfigStore(resolve_paths())
    store.load()
    store.save(store.config.with_value("proxy.port", p))
    return p


def write_account(home: Path, account_id: str = "testkey1") -> Path:
    """A minimal Gemini-key account file, the way proxy/accounts stores them."""
    folder = home / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{account_id}.json"
    path.write_bytes(
        jsoncodec.dumps(
            {"id": account_id, "kind": "gemini_key", "api_key": "AIzaTestTestTestTestTestTest0001"}
        )
    )
    return path


def notes(app, severity: str | None = None) -> list[str]:
    return [n.message for n in app._notifications if severity is None or n.severity == severity]


def stored_accounts(home: Path) -> list:
    """The accounts as their files hold them (secrets included)."""
    from proxy.accounts.store import AccountStore

    store = AccountStore(home / "accounts")
    store.load_all()
    return store.list()


def login_state(url: str) -> str:
    """The OAuth `state` of a consent URL (a redirect must carry it back)."""
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["state"][0]


@pytest.fixture(params=["in-process", "attached"])
async def make_app(request: pytest.FixtureRequest, home: Path):
    """`app = await make_app()`: the TUI in-process, or attached to a proxy in this test's
    loop through a real control socket (ControlServer + RemoteController). The TUI
    tests that matter take this fixture and so run against both Controllers."""
    from proxy.control.remote import RemoteController
    from tests.conftest import serving_daemon
    from tui.app import AgproxyApp

    daemons = contextlib.AsyncExitStack()

    async def make() -> AgproxyApp:
        if request.param == "in-process":
            return AgproxyApp()
        paths = resolve_paths()
        await daemons.enter_async_context(serving_daemon(paths))
        remote = RemoteController(paths.control_socket, poll_s=0.1)
        await remote.open()  # as agproxy-tui does before it builds the screen (connect.attach)
        return AgproxyApp(paths, controller=remote)

    make.mode = request.param  # type: ignore[attr-defined]
    async with daemons:
        yield make


@pytest.fixture
async def fake(home: Path) -> AsyncIterator[FakeUpstream]:
    """The fake Google upstream, with the app's config pointed at it."""
    async with FakeUpstream(email="new.user@example.com") as upstream:
        store = ConfigStore(resolve_paths())
        store.load()
        store.set("upstream.oauth_token_url", upstream.token_url)
        store.set("upstream.oauth_userinfo_url", upstream.userinfo_url)
        store.set("upstream.antigravity_endpoints", upstream.endpoints)
        store.set("upstream.gemini_base_url", upstream.url)
        store.set("upstream.oauth_redirect_port", str(free_port()))  # tests run side by side
        yield upstream


@pytest.fixture
async def gemini(home: Path, port: int) -> AsyncIterator[FakeUpstream]:
    """A Gemini-key account on the fake Google upstream (real requests get real answers)."""
    async with FakeUpstream() as upstream:
        store = ConfigStore(resolve_paths())
        store.load()
        store.set("upstream.gemini_base_url", upstream.url)
        write_account(home)
        yield upstream

"""ProxyService (SPEC §2): start/stop/restart/status of the aiohttp server inside the
running event loop. `agproxy serve` and the TUI are two front ends over it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from proxy.accounts.pool import Pool
from proxy.accounts.store import AccountStore
from proxy.config.model import Config
from proxy.config.store import ConfigStore
from proxy.context import ProxyContext
from proxy.dispatch import Dispatcher
from proxy.keys.store import KeyStore
from proxy.logging_setup import FILE_ONLY
from proxy.metrics import Metrics
from proxy.monitor import Monitor
from proxy.onboarding import Onboarding
from proxy.protocols.responses_store import ResponseStore
from proxy.protocols.signatures import SignatureStore
from proxy.server.app import apply_body_limit, build_app
from proxy.server.connection import EdgeRunner
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.oauth import TokenManager

logger = logging.getLogger(__name__)

NO_ACCOUNTS = "no available accounts: add an account first (or enable z.ai dispatch)"
DEFAULT_GRACE = 10.0
CATALOGUE_REFRESH_S = 600.0
CONFIG_POLL_S = 2.0


class StartError(Exception):
    """The proxy could not start; the message is one line for the user."""


@dataclass
class ServiceStatus:
    running: bool
    host: str
    port: int
    base_urls: list[str] = field(default_factory=list)
    auth_mode: str = "off"  # effective
    lan_open_warning: bool = False  # LAN on and effective auth off
    accounts_active: int = 0
    accounts_total: int = 0
    uptime_s: float = 0.0
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    client_version: str = ""  # the Antigravity version in the User-Agent (SPEC §9)
    version_gate: str = ""  # non-empty: the upstream refuses that version (banner text with the fix)


def lan_address() -> str | None:
    """This machine's address on its LAN (no packet is sent: UDP connect only routes)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.254.254.254", 1))
            address = sock.getsockname()[0]
            if not address.startswith("127."):
                return address
    except OSError:
        pass
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return None
    return None if address.startswith("127.") else address


class ProxyService:
    """One aiohttp AppRunner/TCPSite in the current loop. `port`/`lan` override the
    config for this process only (`agproxy serve --port/--lan`); never written."""

    def __init__(self, store: ConfigStore, *, port: int | None = None, lan: bool | None = None) -> None:
        self.store = store
        self.paths = store.paths
        self.port_override = port
        self.lan_override = lan
        config = store.config
        # What lives while stopped too: accounts, history, sessions, translator state.
        self.accounts = AccountStore(self.paths.accounts_dir)
        self.accounts.load_all()
        self.monitor = Monitor(self.paths.monitor_db, config.monitor)
        self.metrics = Metrics(self.accounts.list)
        self.monitor.observers.append(self.metrics.observe)
        self.keys = KeyStore(self.paths.data_dir)
        self.keys.load()
        self.monitor.observers.append(self._count_key_tokens)
        self.pool = Pool(self.accounts, config.scheduling)
        self.upstreams = UpstreamSessions(config)
        self.tokens = TokenManager(self.upstreams, self.accounts)
        self.dispatcher = Dispatcher(self.accounts, self.pool, self.upstreams, self.tokens, lambda: self.config)
        # the one onboarding use case, over the same TokenManager the requests use
        self.onboarding = Onboarding(
            self.accounts, self.upstreams, self.tokens, self.dispatcher.antigravity, self.dispatcher.gemini
        )
        self.context = ProxyContext(
            store,
            accounts=self.accounts,
            pool=self.pool,
            dispatcher=self.dispatcher,
            monitor=self.monitor,
            metrics=self.metrics,
            client_keys=self.keys,
            signatures=SignatureStore(),
            responses=ResponseStore(),
            upstreams=self.upstreams,
        )
        self._opened = False
        self._housekeeping: asyncio.Task[None] | None = None
        self._config_watch: asyncio.Task[None] | None = None
        self._catalogue_start: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self._starting = False
        self._stopping = False
        self._started_at: float | None = None
        self._host = ""
        self._port = 0
        self._lan_ip: str | None = None
        self.context.apply_config(self._effective(store.config))
        store.add_listener(self._on_config)

    def _count_key_tokens(self, record: Any) -> None:
        """A client key's daily budget counts the tokens of its finished requests."""
        if record.client_key:
            self.keys.record_tokens(record.client_key, record.input_tokens + record.output_tokens)

    # -- config ----------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.context.config

    def _effective(self, config: Config) -> Config:
        """The config with this run's command-line overrides applied (in memory)."""
        if self.port_override is not None:
            config = config.with_value("proxy.port", self.port_override)
        if self.lan_override is not None:
            config = config.with_value("proxy.allow_lan_access", self.lan_override)
        return config

    def _on_config(self, config: Config) -> None:
        """Hot-apply: auth mode, key and body limit take effect on the next request;
        port and LAN wait for the next start."""
        effective = self._effective(config)
        self.context.apply_config(effective)
        self.pool.apply_settings(effective.scheduling)
        self.monitor.apply(effective.monitor)
        self.upstreams.apply(effective)
        if self._app is not None:
            apply_body_limit(self._app, self.context)

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def open(self) -> None:
        """Open what the service keeps while stopped (idempotent)."""
        if not self._opened:
            self._opened = True
            await self.monitor.open()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._starting:
            raise StartError("the proxy is already starting")
        if self._stopping:
            raise StartError("the proxy is stopping; try again in a moment")
        if self._runner is not None:
            raise StartError(f"the proxy is already running on {self._host}:{self._port}")
        self._starting = True
        try:
            await self._start()
        finally:
            self._starting = False

    async def _start(self) -> None:
        config = self._effective(self.config)
        await self.open()
        self.accounts.load_all()  # pick up accounts added by `agproxy accounts` meanwhile
        if self.accounts.count_usable() == 0 and not config.zai_dispatch_on:
            raise StartError(NO_ACCOUNTS)
        host, port, lan = config.bind_host, config.proxy.port, config.proxy.allow_lan_access
        self.context.lan_active = lan
        self.context.apply_config(config)
        app = build_app(self.context)
        # access_log=None: a log line per request would cost more than our whole budget.
        runner = EdgeRunner(app, access_log=None, shutdown_timeout=DEFAULT_GRACE)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self.context.lan_active = None
            self.context.apply_config(config)
            reason = exc.strerror or str(exc)
            raise StartError(
                f"failed to bind {host}:{port}: {reason} "
                "(choose another port: agproxy config set proxy.port N, or the TUI Settings)"
            ) from None
        self._runner, self._app = runner, app
        self._host, self._port = host, port
        self._started_at = time.monotonic()
        self.context.started_at = time.time()
        self._housekeeping = asyncio.ensure_future(self._housekeep())
        # SPEC §9: catalogues missing or older than 10 minutes are read at start (not
        # awaited: an unreachable upstream must not hold the start up).
        self._catalogue_start = asyncio.ensure_future(self._read_at_start())
        self._config_watch = asyncio.ensure_future(self._watch_config())
        self._lan_ip = lan_address() if lan else None
        logger.info(
            "agproxy listening on %s (auth: %s)", " , ".join(self._base_urls()), self.context.auth_mode
        )
        if lan and self.context.auth_mode == "off":
            logger.warning(
                "the API is open to your whole network: LAN access is on and auth is off "
                "(set proxy.auth_mode to all_except_health or strict)"
            )

    async def stop(self, grace: float = DEFAULT_GRACE) -> None:
        """Stop accepting, give in-flight requests and streams `grace` seconds, then
        cancel them. Safe to call when stopped."""
        runner = self._runner
        if runner is None or self._stopping:
            return
        self._stopping = True
        for task in (self._housekeeping, self._config_watch, self._catalogue_start):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._housekeeping = self._config_watch = self._catalogue_start = None
        try:
            # aiohttp waits shutdown_timeout for running handlers, then cancels them.
            runner._shutdown_timeout = grace  # per-call grace period (private in aiohttp)
            await runner.cleanup()
        finally:
            self._runner = self._app = None
            self._started_at = None
            self._stopping = False
            self.context.lan_active = None
            self.context.apply_config(self._effective(self.config))
        self.accounts.flush()
        self.keys.flush_usage()
        logger.info("agproxy stopped")

    async def _watch_config(self, every: float = CONFIG_POLL_S) -> None:
        """`agproxy config set` and `agproxy accounts …` from another shell reach a running
        proxy: every couple of seconds one stat() of the config file and of each account
        file (only changed files are read); listeners (this service, the TUI) are told."""
        while True:
            await asyncio.sleep(every)
            self.store.reload_if_changed()
            self.keys.reload_if_changed()  # `agproxy keys add/revoke/rotate` (SPEC §19)
            try:
                self.accounts.load_all()
            except OSError as exc:
                logger.error("could not re-read the accounts folder: %s", exc)

    async def _housekeep(self, every: float = 30.0, catalogue_every: float = CATALOGUE_REFRESH_S) -> None:
        """Write batched account counters and short cooldowns now and then (never per
        request), re-read the catalogues (with their quota) every 10 minutes (SPEC §9)
        and, with `upstream.user_agent = "auto"`, the client version every 6 hours."""
        last_read = time.monotonic()
        while True:
            await asyncio.sleep(every)
            try:
                self.accounts.flush()
            except OSError as exc:
                logger.error("could not save account state: %s", exc)
            self.keys.flush_usage()
            await self.refresh_client_version()
            if time.monotonic() - last_read >= catalogue_every:
                last_read = time.monotonic()
                await self.dispatcher.catalogues.read_stale(max_age=catalogue_every / 2)

    async def start_reads_done(self) -> None:
        """Wait for the catalogue reads begun at start (tests, `agproxy models`)."""
        task = self._catalogue_start
        if task is not None:
            await asyncio.shield(task)

    async def _read_at_start(self) -> None:
        await self.refresh_client_version()
        await self.dispatcher.catalogues.read_stale()

    async def refresh_client_version(self) -> None:
        version = self.dispatcher.client_version
        upstream = self.config.upstream
        if version.due(upstream.user_agent):
            await version.refresh(self.upstreams.get("antigravity"), upstream.version_url,
                                  proxy=self.upstreams.http_proxy)

    async def refresh_quotas(self) -> int:
        """Read the catalogue (and quota) of every usable account now; returns how many worked."""
        return await self.dispatcher.catalogues.read_stale(max_age=0.0)

    async def restart(self, grace: float = DEFAULT_GRACE) -> None:
        await self.stop(grace)
        await self.start()

    async def close(self) -> None:
        await self.stop()
        self.store.remove_listener(self._on_config)
        await self.dispatcher.close()
        await self.upstreams.close()
        await self.monitor.close()
        self._opened = False

    # -- status ------------------------------------------------------------------------

    def _base_urls(self) -> list[str]:
        urls = [f"http://127.0.0.1:{self._port}"]
        if self._lan_ip:
            urls.append(f"http://{self._lan_ip}:{self._port}")
        return urls

    def status(self) -> ServiceStatus:
        """Cheap and sync: safe to call a few times a second from the TUI."""
        config = self._effective(self.config)
        running = self._runner is not None
        active, total = self.accounts.count_usable(), len(self.accounts)
        lan = config.proxy.allow_lan_access if not running else bool(self.context.lan_active)
        status = ServiceStatus(
            running=running,
            host=self._host if running else config.bind_host,
            port=self._port if running else config.proxy.port,
            base_urls=self._base_urls() if running else [],
            auth_mode=self.context.auth_mode,
            lan_open_warning=lan and self.context.auth_mode == "off",
            accounts_active=active,
            accounts_total=total,
            uptime_s=time.monotonic() - self._started_at if self._started_at else 0.0,
        )
        stats = self.monitor.stats
        status.requests, status.errors = stats.requests, stats.errors
        status.input_tokens, status.output_tokens = stats.input_tokens, stats.output_tokens
        status.client_version = self.dispatcher.client_version.version(config.upstream.user_agent)
        gate = self.dispatcher.version_gate
        if gate is not None:
            status.version_gate = f"upstream rejects client version {gate.user_agent!r}: {gate.fix}"
        return status


def log_start_error(message: str) -> None:
    """For front ends that show the error themselves: keep it in the log file only."""
    logger.error("start failed: %s", message, extra=FILE_ONLY)

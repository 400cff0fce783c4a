"""ProxyContext: the shared state request handlers reach through `request.app[CTX]`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from proxy.config.model import Config, resolve_auth_mode
from proxy.paths import Paths
from proxy.server.connection import ConnectionGuard, ConnectionLimits

if TYPE_CHECKING:
    from proxy.config.store import ConfigStore

# aiohttp >= 3.12 wants typed request keys (plain strings warn); older ones take strings.
_RequestKey = getattr(web, "RequestKey", None)


def request_key(name: str, kind: type) -> Any:
    return _RequestKey(name, kind) if _RequestKey is not None else name


# request[RECORD]: the monitor's RequestRecord for this request (see ARCHITECTURE.md).
RECORD = request_key("agproxy.record", object)
# request[REQUEST_ID]: the id sent back as X-Agproxy-Request-Id.
REQUEST_ID = request_key("agproxy.request_id", str)
# request[BODY_HEAD]: the first `monitor.max_body_kb` of a large request body, which is
# not kept whole (proxy/server/exchange.py read_json); the monitor captures that.
BODY_HEAD = request_key("agproxy.body_head", bytes)
# request[RESOLUTION]: how the client's model resolved (proxy.routing.Resolution).
RESOLUTION = request_key("agproxy.resolution", object)
# request[CANONICAL_PATH]: the normalised path that auth and routing both decided on.
CANONICAL_PATH = request_key("agproxy.path", str)


@dataclass(eq=False)
class ProxyContext:
    """One per service; survives restarts. Parts not built yet stay None."""

    store: ConfigStore
    accounts: Any = None  # AccountStore
    pool: Any = None  # Pool
    dispatcher: Any = None  # Dispatcher
    monitor: Any = None  # Monitor
    metrics: Any = None  # proxy.metrics.Metrics (GET /metrics)
    client_keys: Any = None  # proxy.keys.KeyStore (SPEC §19)
    signatures: Any = None  # thought-signature store
    responses: Any = None  # Responses-API store (previous_response_id)
    upstreams: Any = None  # UpstreamSessions (z.ai forwarding uses it directly)
    # Seconds of silence before a stream gets a keep-alive (SPEC §8: 15 s).
    keepalive_interval: float = 15.0
    # Header/body/idle timeouts and per-address caps of the next start (tests shrink them).
    connection_limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    connection_guard: ConnectionGuard | None = None  # the last started server's counts
    started_at: float | None = None  # epoch of the last start, for model listings
    # LAN state the server was bound with; None while stopped. `auto` auth follows the
    # *bound* state: turning LAN off in the file must not open a server still on 0.0.0.0.
    lan_active: bool | None = None
    # Derived from config on every save (hot-applied); read on the hot path.
    auth_mode: str = field(init=False, default="off")
    api_key: bytes = field(init=False, default=b"")
    max_body_bytes: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.apply_config(self.store.config)

    @property
    def config(self) -> Config:
        """Always the current config (the store's last load or save)."""
        return self.store.config

    @property
    def paths(self) -> Paths:
        return self.store.paths

    def apply_config(self, config: Config) -> None:
        """Recompute the values middlewares read per request."""
        lan = config.proxy.allow_lan_access if self.lan_active is None else self.lan_active
        self.auth_mode = resolve_auth_mode(config.proxy.auth_mode, lan=lan)
        self.api_key = config.proxy.api_key.encode()
        self.max_body_bytes = config.proxy.max_body_mb * 1024 * 1024


CTX = web.AppKey("ctx", ProxyContext)

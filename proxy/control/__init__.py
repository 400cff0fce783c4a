"""Front ends' seam to the proxy (SPEC §17): the `Controller` protocol (api.py), its
in-process implementation over `ProxyService` (local.py), the control socket that
serves it (server.py) and the socket client (remote.py). `connect()` picks one."""

from __future__ import annotations

from proxy.control.api import (
    ACCOUNTS,
    ATTACHED,
    CONFIG,
    CONNECTION,
    IN_PROCESS,
    ControlError,
    Controller,
    ControlStatus,
    LogFeed,
    LoginSession,
    RecordFeed,
    RefreshResult,
)

__all__ = [
    "ACCOUNTS",
    "ATTACHED",
    "CONFIG",
    "CONNECTION",
    "IN_PROCESS",
    "ControlError",
    "ControlStatus",
    "Controller",
    "LogFeed",
    "LoginSession",
    "RecordFeed",
    "RefreshResult",
]

"""The one seam between front ends and the proxy (SPEC §17): the `Controller` protocol.

Two implementations: `InProcessController` (proxy/control/local.py, over a
`ProxyService` in this process) and `RemoteController` (proxy/control/remote.py,
a client of the control socket of a running `agproxy serve` or TUI). The TUI and
the state-changing CLI commands use nothing else.

Reads a screen repaints often are sync snapshots (`status()`, `config`,
`accounts()`, `recent_records()`); a remote controller keeps them current from the
socket in the background (status polled once a second, config and accounts
fetched when their revision moves, records and log lines streamed). Everything
that changes state is a coroutine and raises the same errors in both: `StartError`,
`ConfigError`, `ControlError` (not found, bad input, unreachable), `LoginError`,
`UpstreamError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol, runtime_checkable

from proxy.accounts.importers import ImportReport
from proxy.accounts.model import Account
from proxy.config.model import Config
from proxy.monitor.filter import RecordFilter
from proxy.monitor.record import RequestRecord
from proxy.monitor.rollup import UsageRow
from proxy.onboarding import AddResult
from proxy.service import DEFAULT_GRACE, ServiceStatus

IN_PROCESS = "in-process"
ATTACHED = "attached"

# Listener kinds: what changed.
CONFIG = "config"
ACCOUNTS = "accounts"
CONNECTION = "connection"  # remote only: the socket went away or came back


class ControlError(Exception):
    """A control request that cannot be done, worded for the user. `kind`: not_found,
    bad_request, unavailable (no proxy answers on the socket), internal."""

    def __init__(self, message: str, kind: str = "bad_request") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class ControlStatus(ServiceStatus):
    """`ServiceStatus` plus what a front end needs to know about the process it drives."""

    mode: str = IN_PROCESS  # how this front end reaches it: IN_PROCESS | ATTACHED
    owner: str = "tui"  # who runs the proxy: "serve" | "tui"
    pid: int = 0
    process_uptime_s: float = 0.0  # since the owning process started (not the listener)
    config_path: str = ""
    config_rev: int = 0  # moves on every config change (saved, reloaded from the file)
    accounts_rev: int = 0  # moves on every account change
    config_error: str | None = None  # why the last outside edit of the file was not applied
    control_socket: str = ""  # "" when no control socket serves this proxy
    in_flight: int = 0  # requests and streams not finished yet
    # the control socket's live record streams (attached TUIs, `agproxy logs`-like readers):
    record_streams: int = 0  # clients following /v1/records/stream now
    stream_backlog: int = 0  # updates waiting for the slowest of them (≤ its bounded queue)
    stream_dropped: int = 0  # updates dropped for slow clients since the socket opened

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ControlStatus:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class RefreshResult:
    account: Account
    problems: list[str]


class RecordFeed(Protocol):
    """Record updates (at begin and at finish) for one consumer, bounded: when the
    consumer does not keep up, updates are dropped and counted, a request never waits."""

    dropped: int

    def get_nowait_batch(self, limit: int | None = None) -> list[RequestRecord]: ...

    def close(self) -> None: ...


class LogFeed(Protocol):
    """Formatted log lines (level, text), bounded like `RecordFeed`."""

    def drain(self) -> list[tuple[int, str]]: ...

    def close(self) -> None: ...


class LoginSession(Protocol):
    """One OAuth browser login run by the proxy: the consent URL goes out, Google's
    redirect (to the proxy's local listener) or a pasted redirect URL / code comes in."""

    url: str
    redirect_uri: str

    async def submit(self, text: str) -> None:
        """A pasted redirect URL or code; raises LoginError for unusable input."""

    async def wait_code(self, timeout: float | None = None) -> None:
        """Until a code arrived (redirect or paste); raises LoginError on timeout."""

    async def finish(self) -> AddResult:
        """Exchange the code and add the account."""

    async def close(self) -> None: ...


@runtime_checkable
class Controller(Protocol):
    mode: str  # IN_PROCESS | ATTACHED

    async def open(self) -> None: ...

    async def close(self) -> None:
        """In-process: stop the proxy and close everything. Remote: disconnect only
        (the proxy keeps serving)."""

    # -- snapshots (sync, cheap) -----------------------------------------------------

    def status(self) -> ControlStatus: ...

    @property
    def config(self) -> Config: ...

    def accounts(self) -> list[Account]:
        """Remote accounts carry no secrets (tokens and keys are blank)."""

    def account(self, account_id: str) -> Account | None: ...

    def recent_records(self, n: int) -> list[RequestRecord]:
        """The newest `n` live records, oldest first (in-flight included)."""

    def add_listener(self, callback: Callable[[str], None]) -> None:
        """`callback(kind)` after a change (CONFIG, ACCOUNTS, CONNECTION), on the loop."""

    def remove_listener(self, callback: Callable[[str], None]) -> None: ...

    # -- the API listener ------------------------------------------------------------

    async def start(self) -> None: ...

    async def stop(self, grace: float = DEFAULT_GRACE) -> None: ...

    async def restart(self, grace: float = DEFAULT_GRACE) -> None: ...

    # -- config (validated, written by the one ConfigStore) ---------------------------

    async def save_config(self, config: Config) -> Config: ...

    async def set_config(self, key: str, text: str) -> Config:
        """One value as a user types it (`9000`, `true`, `'["a"]'`)."""

    def reload_config_if_changed(self) -> bool:
        """True once after the config changed outside this front end."""

    @property
    def config_reload_error(self) -> str | None: ...

    # -- accounts --------------------------------------------------------------------

    async def find_account(self, key: str) -> Account | None:
        """By id, id prefix, label or email."""

    async def add_refresh_token(self, token: str) -> AddResult: ...

    async def add_gemini_key(self, key: str, force: bool = False) -> AddResult:
        """Validated by its model listing (SPEC §9); a rejected key raises LoginError.
        `force`: store a key of an unusual shape (the CLI warns instead)."""

    async def import_accounts(self, path: str) -> ImportReport: ...

    async def login(self, port: int | None = None) -> LoginSession:
        """`port`: of the local redirect listener; None: `upstream.oauth_redirect_port`
        (0 = a free one). A port in use raises LoginError saying so."""

    async def set_disabled(self, account_id: str, disabled: bool) -> Account: ...

    async def remove_account(self, account_id: str) -> bool: ...

    async def rename_account(self, account_id: str, name: str) -> Account:
        """Give an account a name, persisted in its file ("" removes it)."""

    async def refresh_account(self, account_id: str) -> RefreshResult: ...

    # -- monitor ---------------------------------------------------------------------

    def subscribe_records(self, maxsize: int = 1000) -> RecordFeed: ...

    async def history(
        self, flt: RecordFilter | str | None, limit: int, before: RequestRecord | None
    ) -> list[RequestRecord]:
        """Stored records, newest first, older than `before`."""

    async def record(self, record_id: int) -> RequestRecord | None: ...

    def subscribe_log(self, maxsize: int = 2000) -> LogFeed:
        """Starts with the newest lines already logged."""

    # -- usage statistics (SPEC §18) -----------------------------------------------------

    async def usage(self, by: str, since: float, until: float | None = None) -> list[UsageRow]:
        """Usage grouped `by` (model, account, key, protocol, status, day, hour, total)."""

    async def usage_series(
        self, since: float, step: int, until: float | None = None
    ) -> list[tuple[int, UsageRow]]:
        """Usage per `step` seconds since `since`."""

    async def totals(self, flt: RecordFilter | str | None) -> dict[str, dict[str, dict[str, Any]]]:
        """Stored history matching `flt`: {by_model: {…}, by_account: {…}}."""

    # -- models (SPEC §9) ------------------------------------------------------------------

    async def models(self, account: str | None = None) -> dict[str, Any]:
        """What `agproxy models --json` prints: catalogues, client version, resolutions;
        `account` (id, label or email) lists only that one (ControlError not_found)."""

    # -- client keys (SPEC §19): written by the process that serves them ------------------

    async def client_keys(self) -> list[dict[str, object]]:
        """`describe()` of each key (no secret), with the serving process's usage."""

    async def add_client_key(
        self, name: str, *, models: list[str], rpm: int, tokens_per_day: int, expires: float
    ) -> str:
        """A new key; returns it (shown once). KeyCommandError for bad input."""

    async def revoke_client_key(self, name: str) -> None: ...

    async def rotate_client_key(self, name: str) -> str: ...

    async def remove_client_key(self, name: str) -> None: ...


def report_to_json(report: ImportReport) -> dict[str, Any]:
    return {"added": report.added, "updated": report.updated, "skipped": report.skipped,
            "warnings": report.warnings}


def usage_to_json(row: UsageRow) -> dict[str, Any]:
    return asdict(row)


def usage_from_json(data: dict[str, Any]) -> UsageRow:
    names = {f.name for f in fields(UsageRow)}
    return UsageRow(**{k: v for k, v in data.items() if k in names})


def report_from_json(data: dict[str, Any]) -> ImportReport:
    return ImportReport(
        added=list(data.get("added") or []),
        updated=list(data.get("updated") or []),
        skipped=[(str(a), str(b)) for a, b in data.get("skipped") or []],
        warnings=[str(w) for w in data.get("warnings") or []],
    )

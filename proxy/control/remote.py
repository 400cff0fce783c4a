"""`RemoteController`: the Controller as a client of a control socket (SPEC §17).

Snapshots stay current in the background while `open()`: the status is polled
once a second (one small GET over the unix socket); config and accounts are
fetched again when their revision in the status moves; record updates and log
lines arrive as SSE and are kept in bounded local buffers (proxy/control/remote_live.py:
a mirror ring of the newest records, per-consumer feeds that drop when full)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from proxy import jsoncodec
from proxy.accounts.importers import ImportReport
from proxy.accounts.model import Account
from proxy.config.model import Config, ConfigError
from proxy.control.api import (
    ACCOUNTS,
    ATTACHED,
    CONFIG,
    CONNECTION,
    ControlError,
    ControlStatus,
    RefreshResult,
    report_from_json,
    usage_from_json,
)
from proxy.control.logs import LOG_LINES
from proxy.control.remote_live import RemoteFeed, RemoteLive, RemoteLogFeed
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.keys.store import KeyCommandError
from proxy.monitor.filter import RecordFilter
from proxy.monitor.record import RequestRecord
from proxy.monitor.rollup import UsageRow
from proxy.onboarding import AddResult, LoginError
from proxy.service import DEFAULT_GRACE, StartError
from proxy.upstream.sse import SSEParser

log = logging.getLogger(__name__)

BASE = "http://agproxy"
POLL_S = 1.0
RECONNECT_S = 1.0


class RemoteLogin:
    def __init__(self, owner: RemoteController, data: dict[str, Any]) -> None:
        self._owner = owner
        self.id = str(data["id"])
        self.url = str(data["url"])
        self.redirect_uri = str(data["redirect_uri"])
        self._closed = False

    async def submit(self, text: str) -> None:
        await self._owner._call("POST", f"/v1/logins/{self.id}/paste", {"text": text})

    async def wait_code(self, timeout: float | None = None) -> None:
        await self._owner._call(
            "POST", f"/v1/logins/{self.id}/wait", {"timeout": timeout}, timeout=None
        )

    async def finish(self) -> AddResult:
        data = await self._owner._call("POST", f"/v1/logins/{self.id}/finish", timeout=None)
        self._closed = True
        return _add_result(data)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ControlError):
            await self._owner._call("DELETE", f"/v1/logins/{self.id}")


def _account(data: dict[str, Any]) -> Account:
    account = Account.from_json(data)
    # the in-memory marks the account file does not hold, so an attached TUI shows them
    account.unavailable = {str(m): 0.0 for m in data.get("unavailable") or ()}
    account.fault_cooldowns = {str(m): float(t) for m, t in (data.get("fault_cooldowns") or {}).items()}
    return account


def _add_result(data: dict[str, Any]) -> AddResult:
    return AddResult(_account(data["account"]), bool(data["created"]), list(data["warnings"]))


class RemoteController:
    mode = ATTACHED

    def __init__(self, socket_path: Path | str, *, poll_s: float = POLL_S, follow: bool = True) -> None:
        """`follow=False`: fetch the snapshots once on open() and do not follow (one-shot
        CLI commands)."""
        self.socket_path = Path(socket_path)
        self.poll_s = poll_s
        self.follow = follow
        self._http: aiohttp.ClientSession | None = None
        self._status: ControlStatus | None = None
        self._config: Config | None = None
        self._config_rev = -1
        self._seen_config_rev = -1
        self._config_error: str | None = None
        self._accounts: list[Account] = []
        self._accounts_rev = -1
        self._listeners: list[Callable[[str], None]] = []
        self.live = RemoteLive()  # the mirror ring and the feeds the streams fill
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = False
        self._status_at = 0.0

    # -- connection ------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            connector = aiohttp.UnixConnector(path=str(self.socket_path))
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=60)
            )
        return self._http

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        timeout: float | None = 60.0,
    ) -> Any:
        http = self._session()
        data = None if body is None else jsoncodec.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            async with http.request(
                method,
                BASE + path,
                data=data,
                headers=headers,
                params=params,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                payload = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ControlError(
                f"the proxy's control socket {self.socket_path} does not answer ({exc or type(exc).__name__})",
                "unavailable",
            ) from None
        result = jsoncodec.loads(payload) if payload else None
        if status >= 400:
            _raise(status, result)
        return result

    async def open(self) -> None:
        """Connect (raises ControlError when nothing answers) and start following.
        Idempotent: a second call (the app's mount after `connect.attach`) does nothing."""
        if self._status is not None:
            return
        await self._poll()
        await self._refresh_config()
        await self._refresh_accounts()
        self.connected = True
        if not self.follow:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._follow_status()),
            loop.create_task(self._follow_stream("/v1/records/stream?recent=1000", self.live.on_records)),
            loop.create_task(self._follow_stream("/v1/log/stream?recent=2000", self.live.on_log)),
        ]

    @property
    def records_dropped(self) -> int:
        """Updates the daemon dropped for this client (it lagged)."""
        return self.live.records_dropped

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- following the daemon ----------------------------------------------------------

    async def _poll(self) -> None:
        data = await self._call("GET", "/v1/status", timeout=5.0)
        self._status = ControlStatus.from_json(data)
        self._status_at = time.monotonic()

    async def _follow_status(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self._poll()
                if not self.connected:
                    self.connected = True
                    self._notify(CONNECTION)
                st = self._status
                assert st is not None
                if st.config_rev != self._config_rev or st.config_error != self._config_error:
                    await self._refresh_config()
                    self._notify(CONFIG)
                if st.accounts_rev != self._accounts_rev:
                    await self._refresh_accounts()
                    self._notify(ACCOUNTS)
            except ControlError:
                if self.connected:
                    self.connected = False
                    self._notify(CONNECTION)

    async def _refresh_config(self) -> None:
        data = await self._call("GET", "/v1/config")
        self._take_config(data)

    def _take_config(self, data: dict[str, Any]) -> None:
        self._config = Config.from_dict(data["config"])
        self._config_rev = int(data["rev"])
        self._config_error = data.get("error")
        if self._seen_config_rev < 0:
            self._seen_config_rev = self._config_rev

    async def _refresh_accounts(self) -> None:
        rev = self._status.accounts_rev if self._status is not None else -1
        data = await self._call("GET", "/v1/accounts")
        self._accounts = [_account(a) for a in data]
        self._accounts_rev = rev

    async def _follow_stream(self, path: str, handle: Callable[[str, str], None]) -> None:
        """One SSE stream, reconnected while the controller is open."""
        while True:
            try:
                http = self._session()
                async with http.get(BASE + path, timeout=aiohttp.ClientTimeout(total=None)) as resp:
                    if resp.status != 200:
                        raise ControlError(f"stream {path}: HTTP {resp.status}", "unavailable")
                    parser = SSEParser()
                    async for chunk in resp.content.iter_any():
                        for event in parser.feed(chunk):
                            handle(event.event, event.data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect on anything; the status poll reports it
                log.debug("control stream %s ended: %s", path, exc)
            await asyncio.sleep(RECONNECT_S)

    def _notify(self, kind: str) -> None:
        for callback in list(self._listeners):
            try:
                callback(kind)
            except Exception:
                log.exception("controller listener failed")

    def add_listener(self, callback: Callable[[str], None]) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    # -- snapshots -------------------------------------------------------------------

    def status(self) -> ControlStatus:
        if self._status is None:
            raise ControlError("not connected to the proxy", "unavailable")
        st = ControlStatus.from_json(self._status.to_json())
        st.mode = ATTACHED
        lag = time.monotonic() - self._status_at  # the clocks move between polls
        if st.running:
            st.uptime_s += lag
        st.process_uptime_s += lag
        return st

    @property
    def config(self) -> Config:
        if self._config is None:
            raise ControlError("not connected to the proxy", "unavailable")
        return self._config

    def accounts(self) -> list[Account]:
        return list(self._accounts)

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self._accounts if a.id == account_id), None)

    def recent_records(self, n: int) -> list[RequestRecord]:
        return self.live.recent(n)

    # -- the API listener ------------------------------------------------------------

    async def _lifecycle(self, action: str, grace: float) -> None:
        data = await self._call("POST", f"/v1/proxy/{action}", {"grace": grace}, timeout=grace + 60)
        self._status = ControlStatus.from_json(data)
        self._status_at = time.monotonic()

    async def start(self) -> None:
        await self._lifecycle("start", DEFAULT_GRACE)

    async def stop(self, grace: float = DEFAULT_GRACE) -> None:
        await self._lifecycle("stop", grace)

    async def restart(self, grace: float = DEFAULT_GRACE) -> None:
        await self._lifecycle("restart", grace)

    async def shutdown(self) -> int:
        """Stop the process that owns the socket (`agproxy stop`); returns its pid."""
        data = await self._call("POST", "/v1/shutdown")
        return int(data["pid"])

    # -- config ----------------------------------------------------------------------

    async def save_config(self, config: Config) -> Config:
        data = await self._call("PUT", "/v1/config", {"config": config.to_dict()})
        self._take_config(data)
        self._seen_config_rev = self._config_rev
        self._notify(CONFIG)
        return self.config

    async def set_config(self, key: str, text: str) -> Config:
        data = await self._call("POST", "/v1/config/set", {"key": key, "value": text})
        self._take_config(data)
        self._seen_config_rev = self._config_rev
        self._notify(CONFIG)
        return self.config

    def reload_config_if_changed(self) -> bool:
        changed = self._config_rev != self._seen_config_rev
        self._seen_config_rev = self._config_rev
        return changed

    @property
    def config_reload_error(self) -> str | None:
        return self._config_error

    # -- accounts --------------------------------------------------------------------

    async def _accounts_changed(self) -> None:
        await self._poll()
        await self._refresh_accounts()
        self._notify(ACCOUNTS)

    async def find_account(self, key: str) -> Account | None:
        try:
            return _account(await self._call("GET", f"/v1/accounts/{_quote(key)}"))
        except ControlError as exc:
            if exc.kind == "not_found":
                return None
            raise

    async def add_refresh_token(self, token: str) -> AddResult:
        result = _add_result(await self._call("POST", "/v1/accounts/token", {"token": token}))
        await self._accounts_changed()
        return result

    async def add_gemini_key(self, key: str, force: bool = False) -> AddResult:
        body = {"key": key, "force": force}
        result = _add_result(await self._call("POST", "/v1/accounts/key", body, timeout=60.0))
        await self._accounts_changed()
        return result

    async def import_accounts(self, path: str) -> ImportReport:
        data = await self._call("POST", "/v1/accounts/import", {"path": path}, timeout=180.0)
        report = report_from_json(data)
        await self._accounts_changed()
        return report

    async def login(self, port: int | None = None) -> RemoteLogin:
        return RemoteLogin(self, await self._call("POST", "/v1/logins", {"port": port}))

    async def set_disabled(self, account_id: str, disabled: bool) -> Account:
        action = "disable" if disabled else "enable"
        account = _account(await self._call("POST", f"/v1/accounts/{_quote(account_id)}/{action}"))
        await self._accounts_changed()
        return account

    async def remove_account(self, account_id: str) -> bool:
        data = await self._call("DELETE", f"/v1/accounts/{_quote(account_id)}")
        await self._accounts_changed()
        return bool(data["removed"])

    async def rename_account(self, account_id: str, name: str) -> Account:
        data = await self._call("POST", f"/v1/accounts/{_quote(account_id)}/rename", {"name": name})
        await self._accounts_changed()
        return _account(data)

    async def refresh_account(self, account_id: str) -> RefreshResult:
        data = await self._call(
            "POST", f"/v1/accounts/{_quote(account_id)}/refresh", timeout=180.0
        )
        await self._accounts_changed()
        return RefreshResult(_account(data["account"]), list(data["problems"]))

    # -- monitor ---------------------------------------------------------------------

    def subscribe_records(self, maxsize: int = 1000) -> RemoteFeed:
        return self.live.subscribe_records(maxsize)

    async def history(
        self, flt: RecordFilter | str | None, limit: int, before: RequestRecord | None
    ) -> list[RequestRecord]:
        params = {"limit": str(limit)}
        text = flt.text if isinstance(flt, RecordFilter) else flt
        if text:
            params["filter"] = text
        if before is not None:
            params["before_started"] = repr(before.started)
            params["before_id"] = str(before.id)
        data = await self._call("GET", "/v1/records", params=params)
        return [RequestRecord.from_dict(d) for d in data]

    async def record(self, record_id: int) -> RequestRecord | None:
        try:
            return RequestRecord.from_dict(await self._call("GET", f"/v1/records/{record_id}"))
        except ControlError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def subscribe_log(self, maxsize: int = LOG_LINES) -> RemoteLogFeed:
        return self.live.subscribe_log(maxsize)

    # -- usage statistics ----------------------------------------------------------------

    @staticmethod
    def _range(since: float, until: float | None) -> dict[str, str]:
        params = {"since": repr(float(since))}
        if until is not None:
            params["until"] = repr(float(until))
        return params

    async def usage(self, by: str, since: float, until: float | None = None) -> list[UsageRow]:
        params = {"by": by, **self._range(since, until)}
        return [usage_from_json(d) for d in await self._call("GET", "/v1/stats/usage", params=params)]

    async def usage_series(
        self, since: float, step: int, until: float | None = None
    ) -> list[tuple[int, UsageRow]]:
        params = {"step": str(int(step)), **self._range(since, until)}
        data = await self._call("GET", "/v1/stats/series", params=params)
        return [(int(t), usage_from_json(d)) for t, d in data]

    async def totals(self, flt: RecordFilter | str | None) -> dict[str, dict[str, dict[str, Any]]]:
        text = flt.text if isinstance(flt, RecordFilter) else flt
        params = {"filter": text} if text else None
        data: dict[str, dict[str, dict[str, Any]]] = await self._call("GET", "/v1/stats/totals", params=params)
        return data

    # -- models --------------------------------------------------------------------------

    async def models(self, account: str | None = None) -> dict[str, Any]:
        params = {"account": account} if account else None
        report: dict[str, Any] = await self._call("GET", "/v1/models", params=params)
        return report

    # -- client keys ---------------------------------------------------------------------

    async def client_keys(self) -> list[dict[str, object]]:
        return list(await self._call("GET", "/v1/keys"))

    async def add_client_key(
        self, name: str, *, models: list[str], rpm: int, tokens_per_day: int, expires: float
    ) -> str:
        body = {"name": name, "models": models, "rpm": rpm, "tokens_per_day": tokens_per_day,
                "expires": expires}
        return str((await self._call("POST", "/v1/keys", body))["key"])

    async def revoke_client_key(self, name: str) -> None:
        await self._call("POST", f"/v1/keys/{_quote(name)}/revoke")

    async def rotate_client_key(self, name: str) -> str:
        return str((await self._call("POST", f"/v1/keys/{_quote(name)}/rotate"))["key"])

    async def remove_client_key(self, name: str) -> None:
        await self._call("DELETE", f"/v1/keys/{_quote(name)}")


def _quote(key: str) -> str:
    from urllib.parse import quote

    return quote(key, safe="")


def _raise(status: int, result: Any) -> None:
    error = (result or {}).get("error") or {} if isinstance(result, dict) else {}
    kind = str(error.get("kind") or "internal")
    message = str(error.get("message") or f"HTTP {status}")
    if kind == "start_error":
        raise StartError(message)
    if kind == "config_error":
        raise ConfigError(message)
    if kind == "login_error":
        raise LoginError(message)
    if kind == "key_error":
        raise KeyCommandError(message)
    if kind == "upstream_error":
        try:
            upstream_kind = UpstreamErrorKind(error.get("upstream_kind"))
        except ValueError:
            upstream_kind = UpstreamErrorKind.SERVER
        raise UpstreamError(upstream_kind, int(error.get("upstream_status") or 0), message)
    raise ControlError(message, kind)

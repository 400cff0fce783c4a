"""`InProcessController`: the Controller over a `ProxyService` in this process (the
in-process TUI, `agproxy serve`'s control socket, and the CLI when no proxy runs)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from proxy.accounts.importers import ImportReport
from proxy.accounts.model import Account
from proxy.config.model import Config
from proxy.control.api import (
    ACCOUNTS,
    CONFIG,
    IN_PROCESS,
    ControlError,
    ControlStatus,
    RefreshResult,
)
from proxy.control.audit import log_account, log_client_key, log_config
from proxy.control.logs import LOG_LINES, LogHub, LogSubscription
from proxy.control.models import models_report
from proxy.keys.store import describe
from proxy.monitor.filter import RecordFilter
from proxy.monitor.live import Subscription
from proxy.monitor.record import RequestRecord
from proxy.monitor.rollup import UsageRow
from proxy.onboarding import AddResult, LoginFlow
from proxy.service import DEFAULT_GRACE, ProxyService

PROCESS_STARTED = time.monotonic()
MAX_NAME = 60  # an account name fits a table column and a header value


class LocalLogin:
    """A LoginSession over an onboarding LoginFlow in this process."""

    def __init__(self, controller: InProcessController, flow: LoginFlow) -> None:
        self._controller = controller
        self.flow = flow
        self.url = flow.url
        self.redirect_uri = flow.redirect_uri
        self._code: str | None = None

    async def submit(self, text: str) -> None:
        self.flow.submit(text)

    async def wait_code(self, timeout: float | None = None) -> None:
        self._code = await self.flow.wait_code(timeout)

    async def finish(self) -> AddResult:
        if self._code is None:
            await self.wait_code(0)
        assert self._code is not None
        result = await self._controller.service.onboarding.finish_login(self.flow, self._code)
        return _logged_add(result, "signed in")

    async def close(self) -> None:
        await self.flow.close()


class InProcessController:
    mode = IN_PROCESS

    def __init__(self, service: ProxyService, log_hub: LogHub | None = None, owner: str = "tui") -> None:
        self.service = service
        self.log_hub = log_hub if log_hub is not None else LogHub()
        self.owner = owner
        self.control_socket = ""  # set by the ControlServer serving this controller
        self._listeners: list[Callable[[str], None]] = []
        self._config_rev = 0
        self._accounts_rev = 0
        self._seen_config_rev = 0
        self._own_save = False
        service.store.add_listener(self._on_config)
        service.accounts.add_listener(self._on_accounts)

    # -- lifecycle of the controller -------------------------------------------------

    async def open(self) -> None:
        await self.service.open()

    async def close(self) -> None:
        self.service.store.remove_listener(self._on_config)
        self.service.accounts.remove_listener(self._on_accounts)
        await self.service.close()

    # -- change notification -----------------------------------------------------------

    def _on_config(self, _config: Config) -> None:
        self._config_rev += 1
        if self._own_save:
            self._seen_config_rev = self._config_rev
        self._notify(CONFIG)

    def _on_accounts(self, _event: str, _account: Any) -> None:
        self._accounts_rev += 1
        self._notify(ACCOUNTS)

    def _notify(self, kind: str) -> None:
        for callback in list(self._listeners):
            callback(kind)

    def add_listener(self, callback: Callable[[str], None]) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    # -- snapshots -------------------------------------------------------------------

    def status(self) -> ControlStatus:
        st = self.service.status()
        out = ControlStatus(**vars(st))
        out.owner = self.owner
        out.pid = os.getpid()
        out.process_uptime_s = time.monotonic() - PROCESS_STARTED
        out.config_path = str(self.service.store.path)
        out.config_rev = self._config_rev
        out.accounts_rev = self._accounts_rev
        out.config_error = self.service.store.reload_error
        out.control_socket = self.control_socket
        out.in_flight = self.service.monitor.stats.in_flight
        return out

    @property
    def config(self) -> Config:
        return self.service.config

    def accounts(self) -> list[Account]:
        return list(self.service.accounts.list())

    def account(self, account_id: str) -> Account | None:
        return self.service.accounts.by_id(account_id)

    def recent_records(self, n: int) -> list[RequestRecord]:
        return self.service.monitor.recent(n)

    # -- the API listener ------------------------------------------------------------

    async def start(self) -> None:
        await self.service.start()

    async def stop(self, grace: float = DEFAULT_GRACE) -> None:
        await self.service.stop(grace)

    async def restart(self, grace: float = DEFAULT_GRACE) -> None:
        await self.service.restart(grace)

    # -- config ----------------------------------------------------------------------

    async def save_config(self, config: Config, *, own: bool = True) -> Config:
        """`own=False` (the control socket): another front end's edit, which this
        process's front end is told about as an outside change."""
        return self._saving(lambda: self._save(config), own)

    def _save(self, config: Config) -> Config:
        # validated again as a whole: a Config built elsewhere (the socket) is checked too
        checked = Config.from_dict(config.to_dict())
        self.service.store.save(checked)
        return self.service.store.config

    async def set_config(self, key: str, text: str, *, own: bool = True) -> Config:
        return self._saving(lambda: self.service.store.set(key, text), own)

    def _saving(self, write: Callable[[], Config], own: bool) -> Config:
        old = self.service.store.config
        self._own_save = own
        try:
            saved = write()
        finally:
            self._own_save = False
        log_config(old, saved, self.owner if own else "control socket")
        return saved

    def reload_config_if_changed(self) -> bool:
        self.service.store.reload_if_changed()
        changed = self._config_rev != self._seen_config_rev
        self._seen_config_rev = self._config_rev
        return changed

    @property
    def config_reload_error(self) -> str | None:
        return self.service.store.reload_error

    # -- accounts --------------------------------------------------------------------

    def _account(self, account_id: str) -> Account:
        account = self.service.accounts.get(account_id)
        if account is None:
            raise ControlError(f"no account matches {account_id!r}", "not_found")
        return account

    async def find_account(self, key: str) -> Account | None:
        return self.service.accounts.get(key)

    async def add_refresh_token(self, token: str) -> AddResult:
        return _logged_add(await self.service.onboarding.add_refresh_token(token), "refresh token")

    async def add_gemini_key(self, key: str, force: bool = False) -> AddResult:
        try:
            result = await self.service.onboarding.add_gemini_key(key, force)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return _logged_add(result, "API key")

    async def import_accounts(self, path: str) -> ImportReport:
        report = await self.service.onboarding.import_path(path)
        if report.added or report.updated:
            log_account(f"import from {path}", None, report.summary())
        return report

    async def login(self, port: int | None = None) -> LocalLogin:
        upstream = self.config.upstream
        port = upstream.oauth_redirect_port if port is None else port
        flow = await self.service.onboarding.start_login(upstream.oauth_client_id, port)
        return LocalLogin(self, flow)

    async def set_disabled(self, account_id: str, disabled: bool) -> Account:
        account = self.service.accounts.set_disabled(self._account(account_id).id, disabled)
        log_account("disabled" if disabled else "enabled", account)
        return account

    async def remove_account(self, account_id: str) -> bool:
        account = self._account(account_id)
        removed = self.service.accounts.remove(account.id)
        if removed:
            log_account("removed", account)
        return removed

    async def rename_account(self, account_id: str, name: str) -> Account:
        if len(name) > MAX_NAME:
            raise ControlError(f"a name is at most {MAX_NAME} characters")
        account = self.service.accounts.rename(self._account(account_id).id, name)
        log_account("renamed" if name else "name removed", account)
        return account

    async def refresh_account(self, account_id: str) -> RefreshResult:
        account = self._account(account_id)
        problems = await self.service.onboarding.refresh_account(account)
        return RefreshResult(account, problems)

    # -- monitor ---------------------------------------------------------------------

    def subscribe_records(self, maxsize: int = 1000) -> Subscription:
        return self.service.monitor.subscribe(maxsize)

    async def history(
        self, flt: RecordFilter | str | None, limit: int, before: RequestRecord | None
    ) -> list[RequestRecord]:
        return await self.service.monitor.query(flt, limit=limit, before=before)

    async def record(self, record_id: int) -> RequestRecord | None:
        return await self.service.monitor.get(record_id)

    def subscribe_log(self, maxsize: int = LOG_LINES) -> LogSubscription:
        return self.log_hub.subscribe(maxsize)

    # -- usage statistics --------------------------------------------------------------

    async def usage(self, by: str, since: float, until: float | None = None) -> list[UsageRow]:
        return await self.service.monitor.usage(by, since, until)

    async def usage_series(
        self, since: float, step: int, until: float | None = None
    ) -> list[tuple[int, UsageRow]]:
        return await self.service.monitor.usage_series(since, step, until)

    async def totals(self, flt: RecordFilter | str | None) -> dict[str, dict[str, dict[str, Any]]]:
        return await self.service.monitor.totals(flt)

    # -- models ----------------------------------------------------------------------------

    async def models(self, account: str | None = None) -> dict[str, Any]:
        every = self.accounts()
        shown = every
        if account:
            found = self.service.accounts.get(account)
            if found is None:
                raise ControlError(f"no account {account!r} (see agproxy accounts list)", "not_found")
            shown = [found]
        version = self.service.dispatcher.client_version
        return models_report(self.config, every, shown, version, time.time())

    # -- client keys -----------------------------------------------------------------------

    async def client_keys(self) -> list[dict[str, object]]:
        keys = self.service.keys
        keys.reload_if_changed()
        now = time.time()
        return [describe(k, now) for k in keys.list_keys()]

    async def add_client_key(
        self, name: str, *, models: list[str], rpm: int, tokens_per_day: int, expires: float
    ) -> str:
        key = self.service.keys.add(
            name, models=models, rpm=rpm, tokens_per_day=tokens_per_day, expires=expires
        )
        log_client_key("added", name, models=models, rpm=rpm, tokens_per_day=tokens_per_day,
                       expires=expires)
        return key

    async def revoke_client_key(self, name: str) -> None:
        self.service.keys.revoke(name)
        log_client_key("revoked", name)

    async def rotate_client_key(self, name: str) -> str:
        key = self.service.keys.rotate(name)
        log_client_key("rotated (a new secret; the old one no longer works)", name)
        return key

    async def remove_client_key(self, name: str) -> None:
        self.service.keys.remove(name)
        log_client_key("removed", name)


def _logged_add(result: AddResult, how: str) -> AddResult:
    log_account(f"{'added' if result.created else 'updated'} ({how})", result.account)
    return result

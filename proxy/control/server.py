"""The control socket (SPEC §17): HTTP + JSON on a unix socket, `/v1/…` paths, over
an `InProcessController`. Started by `agproxy serve` and by an in-process TUI.

- The socket lives in a 0700 directory, mode 0600; a peer of another uid is refused
  (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS) with 403 before any handler runs.
- A live socket already answering for this config → `AlreadyRunning(pid)`; a stale
  one (nothing accepts on it: a killed process) is replaced.
- Record and log streams are SSE fed by bounded subscriptions (proxy/control/streams.py):
  a slow reader loses updates (counted in `dropped` events), it never slows a request.

Routes (JSON bodies; errors are `{"error": {"kind", "message"}}`):
  GET  /v1/status                          POST /v1/proxy/{start,stop,restart}
  POST /v1/shutdown (stop the owning process: `agproxy stop`)
  GET  /v1/config · PUT /v1/config {config} · POST /v1/config/set {key, value}
  GET  /v1/accounts · GET /v1/accounts/{key} · POST /v1/accounts/token {token}
  POST /v1/accounts/key {key} · POST /v1/accounts/import {path}
  POST /v1/accounts/{id}/{enable,disable,refresh} · DELETE /v1/accounts/{id}
  POST /v1/accounts/{id}/rename {name}
  POST /v1/logins {port} → {id, url, redirect_uri} · POST /v1/logins/{id}/paste {text}
  POST /v1/logins/{id}/wait {timeout} · POST /v1/logins/{id}/finish · DELETE /v1/logins/{id}
  GET  /v1/records?filter=&limit=&before_started=&before_id= · GET /v1/records/{id}
  GET  /v1/records/stream?recent=N (SSE `records`: JSON arrays of records)
  GET  /v1/log/stream?recent=N (SSE `log`: JSON arrays of [level, line])
  GET  /v1/stats/usage?by=&since=&until= · GET /v1/stats/series?since=&step=&until=
  GET  /v1/stats/totals?filter= · GET /v1/models?account= (what `agproxy models --json` prints)
  GET  /v1/keys · POST /v1/keys {name, models, rpm, tokens_per_day, expires} → {key}
  POST /v1/keys/{name}/revoke · POST /v1/keys/{name}/rotate → {key} · DELETE /v1/keys/{name}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import stat
import struct
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from proxy import jsoncodec
from proxy.config.model import Config, ConfigError
from proxy.control.api import ControlError, report_to_json, usage_to_json
from proxy.control.local import InProcessController, LocalLogin
from proxy.control.streams import LiveStreams
from proxy.errors import UpstreamError
from proxy.keys.store import KeyCommandError
from proxy.logging_setup import FILE_ONLY
from proxy.monitor.filter import FilterError
from proxy.onboarding import AddResult, LoginError
from proxy.service import StartError

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0


class AlreadyRunning(Exception):
    def __init__(self, pid: int, owner: str) -> None:
        super().__init__(f"already running (pid {pid})")
        self.pid = pid
        self.owner = owner


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process on the other end of a unix socket (None: unknown)."""
    try:
        if hasattr(socket, "SO_PEERCRED"):
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            return int(uid)
        if sys.platform == "darwin":  # LOCAL_PEERCRED (SOL_LOCAL=0, option 1): struct xucred
            creds = sock.getsockopt(0, 1, struct.calcsize("iIh16I"))
            return int(struct.unpack("iIh16I", creds)[1])
    except OSError:
        return None
    return None


def prepare_socket_dir(path: Path) -> None:
    """The socket's directory exists, belongs to us and is 0700."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = directory.stat()
    if info.st_uid != os.getuid():
        raise OSError(f"{directory} belongs to another user; not putting the control socket there")
    if stat.S_IMODE(info.st_mode) != 0o700:
        directory.chmod(0o700)


async def probe(path: Path) -> dict[str, Any] | None:
    """The status of the proxy answering on `path`, or None when nothing does."""
    import aiohttp

    if not path.exists():
        return None
    try:
        connector = aiohttp.UnixConnector(path=str(path))
        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as http,
            http.get("http://agproxy/v1/status") as resp,
        ):
            if resp.status != 200:
                return None
            data: dict[str, Any] = jsoncodec.loads(await resp.read())
            return data
    except (TimeoutError, OSError, aiohttp.ClientError, ValueError):
        return None


def _error(status: int, kind: str, message: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"error": {"kind": kind, "message": message, **extra}}, status=status, dumps=_dumps
    )


def _dumps(obj: Any) -> str:
    return jsoncodec.dumps(obj).decode()


def _ok(data: Any = None) -> web.Response:
    return web.json_response({"ok": True} if data is None else data, dumps=_dumps)


def _add_result(result: AddResult) -> dict[str, Any]:
    return {
        "account": result.account.public_view(),
        "created": result.created,
        "warnings": list(result.warnings),
    }


class ControlServer:
    """Serves `controller` on the unix socket `path` in the running loop."""

    def __init__(
        self,
        controller: InProcessController,
        path: Path,
        *,
        on_shutdown: Callable[[], None] | None = None,
        allowed_uid: int | None = None,
    ) -> None:
        self.controller = controller
        self.path = Path(path)
        self.on_shutdown = on_shutdown
        self.allowed_uid = os.getuid() if allowed_uid is None else allowed_uid
        self._runner: web.AppRunner | None = None
        self._logins: dict[str, LocalLogin] = {}
        self.streams = LiveStreams(controller)
        self.refused = 0  # peers of another uid turned away

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the socket; AlreadyRunning when a live proxy owns it."""
        prepare_socket_dir(self.path)
        if self.path.exists() or self.path.is_symlink():
            status = await probe(self.path)
            if status is not None:
                raise AlreadyRunning(int(status.get("pid") or 0), str(status.get("owner") or ""))
            log.info("replacing the stale control socket %s", self.path, extra=FILE_ONLY)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        app = web.Application(middlewares=[self._guard], client_max_size=16 * 1024 * 1024)
        self._routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        # umask: the socket is created 0600 (no window where another user could connect)
        old = os.umask(0o177)
        try:
            site = web.UnixSite(runner, str(self.path))
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        finally:
            os.umask(old)
        self.path.chmod(0o600)
        self._runner = runner
        self.controller.control_socket = str(self.path)
        log.info("control socket %s", self.path, extra=FILE_ONLY)

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.streams.close()
        for login in list(self._logins.values()):
            await login.close()
        self._logins.clear()
        await runner.cleanup()
        self.controller.control_socket = ""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- the guard: peer uid and error shapes -----------------------------------------

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        uid = peer_uid(sock) if sock is not None else None
        if uid is None or uid != self.allowed_uid:
            self.refused += 1
            log.warning("control socket: refused a peer of uid %s", uid)
            return _error(403, "forbidden", "the control socket only serves its owner's uid")
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except ControlError as exc:
            status = {"not_found": 404, "unavailable": 503}.get(exc.kind, 400)
            return _error(status, exc.kind, str(exc))
        except StartError as exc:
            return _error(409, "start_error", str(exc))
        except ConfigError as exc:
            return _error(400, "config_error", str(exc))
        except FilterError as exc:
            return _error(400, "filter_error", str(exc))
        except LoginError as exc:
            return _error(400, "login_error", str(exc))
        except KeyCommandError as exc:
            return _error(400, "key_error", str(exc))
        except UpstreamError as exc:
            return _error(
                502, "upstream_error", exc.message[:300], upstream_kind=exc.kind.value, upstream_status=exc.status
            )
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, "bad_request", f"bad request: {exc}")
        except OSError as exc:
            return _error(500, "os_error", str(exc.strerror or exc))

    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/v1/status", self.status)
        r.add_post("/v1/proxy/{action:start|stop|restart}", self.proxy_action)
        r.add_post("/v1/shutdown", self.shutdown)
        r.add_get("/v1/config", self.get_config)
        r.add_put("/v1/config", self.put_config)
        r.add_post("/v1/config/set", self.set_config)
        r.add_get("/v1/accounts", self.list_accounts)
        r.add_post("/v1/accounts/token", self.add_token)
        r.add_post("/v1/accounts/key", self.add_key)
        r.add_post("/v1/accounts/import", self.import_accounts)
        r.add_get("/v1/accounts/{key}", self.show_account)
        r.add_post("/v1/accounts/{key}/rename", self.rename_account)
        r.add_post("/v1/accounts/{key}/{action:enable|disable|refresh}", self.account_action)
        r.add_delete("/v1/accounts/{key}", self.remove_account)
        r.add_post("/v1/logins", self.login_start)
        r.add_post("/v1/logins/{id}/paste", self.login_paste)
        r.add_post("/v1/logins/{id}/wait", self.login_wait)
        r.add_post("/v1/logins/{id}/finish", self.login_finish)
        r.add_delete("/v1/logins/{id}", self.login_cancel)
        r.add_get("/v1/records", self.records)
        r.add_get("/v1/records/stream", self.streams.records)
        r.add_get("/v1/records/{id:\\d+}", self.record)
        r.add_get("/v1/log/stream", self.streams.log)
        r.add_get("/v1/stats/usage", self.stats_usage)
        r.add_get("/v1/stats/series", self.stats_series)
        r.add_get("/v1/stats/totals", self.stats_totals)
        r.add_get("/v1/models", self.models)
        r.add_get("/v1/keys", self.list_keys)
        r.add_post("/v1/keys", self.add_key_)
        r.add_post("/v1/keys/{name}/{action:revoke|rotate}", self.key_action)
        r.add_delete("/v1/keys/{name}", self.remove_key)

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = jsoncodec.loads(await request.read())
        if not isinstance(data, dict):
            raise ControlError("the request body must be a JSON object")
        return data

    # -- status and lifecycle ----------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        return _ok(self.streams.status(self.controller.status()).to_json())

    async def proxy_action(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        action = request.match_info["action"]
        grace = float(body.get("grace", 10.0))
        if action == "start":
            await self.controller.start()
        elif action == "stop":
            await self.controller.stop(grace)
        else:
            await self.controller.restart(grace)
        return _ok(self.controller.status().to_json())

    async def shutdown(self, request: web.Request) -> web.Response:
        if self.on_shutdown is None:
            raise ControlError("this proxy cannot be shut down over the socket")
        asyncio.get_running_loop().call_soon(self.on_shutdown)
        return _ok({"pid": os.getpid()})

    # -- config ----------------------------------------------------------------------

    def _config_json(self) -> dict[str, Any]:
        st = self.controller.status()
        return {
            "config": self.controller.service.store.config.to_dict(),
            "rev": st.config_rev,
            "error": st.config_error,
        }

    async def get_config(self, request: web.Request) -> web.Response:
        return _ok(self._config_json())

    async def put_config(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        await self.controller.save_config(Config.from_dict(body["config"]), own=False)
        return _ok(self._config_json())

    async def set_config(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        await self.controller.set_config(str(body["key"]), str(body["value"]), own=False)
        return _ok(self._config_json())

    # -- accounts --------------------------------------------------------------------

    async def list_accounts(self, request: web.Request) -> web.Response:
        return _ok([a.public_view() for a in self.controller.accounts()])

    async def show_account(self, request: web.Request) -> web.Response:
        account = await self.controller.find_account(request.match_info["key"])
        if account is None:
            raise ControlError(f"no account matches {request.match_info['key']!r}", "not_found")
        return _ok(account.public_view())

    async def add_token(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return _ok(_add_result(await self.controller.add_refresh_token(str(body["token"]))))

    async def add_key(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        result = await self.controller.add_gemini_key(str(body["key"]), bool(body.get("force", False)))
        return _ok(_add_result(result))

    async def import_accounts(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return _ok(report_to_json(await self.controller.import_accounts(str(body["path"]))))

    async def account_action(self, request: web.Request) -> web.Response:
        key, action = request.match_info["key"], request.match_info["action"]
        if action == "refresh":
            result = await self.controller.refresh_account(key)
            return _ok({"account": result.account.public_view(), "problems": result.problems})
        account = await self.controller.set_disabled(key, action == "disable")
        return _ok(account.public_view())

    async def rename_account(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        name = body.get("name")
        if not isinstance(name, str):
            raise ControlError("rename needs a name (a string; \"\" removes it)")
        return _ok((await self.controller.rename_account(request.match_info["key"], name)).public_view())

    async def remove_account(self, request: web.Request) -> web.Response:
        return _ok({"removed": await self.controller.remove_account(request.match_info["key"])})

    # -- OAuth login -----------------------------------------------------------------

    def _login(self, request: web.Request) -> LocalLogin:
        login = self._logins.get(request.match_info["id"])
        if login is None:
            raise ControlError("no such login (finished, cancelled or timed out)", "not_found")
        return login

    async def login_start(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        port = body.get("port")
        login = await self.controller.login(None if port is None else int(port))
        login_id = secrets.token_urlsafe(8)
        self._logins[login_id] = login
        return _ok({"id": login_id, "url": login.url, "redirect_uri": login.redirect_uri})

    async def login_paste(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        await self._login(request).submit(str(body.get("text", "")))
        return _ok()

    async def login_wait(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        timeout = body.get("timeout")
        await self._login(request).wait_code(None if timeout is None else float(timeout))
        return _ok()

    async def login_finish(self, request: web.Request) -> web.Response:
        login = self._login(request)
        try:
            result = await login.finish()
        finally:
            await self._drop_login(request.match_info["id"])
        return _ok(_add_result(result))

    async def login_cancel(self, request: web.Request) -> web.Response:
        await self._drop_login(request.match_info["id"])
        return _ok()

    async def _drop_login(self, login_id: str) -> None:
        login = self._logins.pop(login_id, None)
        if login is not None:
            await login.close()

    # -- monitor ---------------------------------------------------------------------

    async def records(self, request: web.Request) -> web.Response:
        q = request.query
        before: tuple[float, int] | None = None
        if "before_id" in q:
            before = (float(q.get("before_started", "0")), int(q["before_id"]))
        limit = max(1, min(int(q.get("limit", "100")), 1000))
        monitor = self.controller.service.monitor
        found = await monitor.query(q.get("filter") or None, limit=limit, before=before)
        return _ok([r.to_dict() for r in found])

    async def record(self, request: web.Request) -> web.Response:
        found = await self.controller.record(int(request.match_info["id"]))
        if found is None:
            raise ControlError("no such record", "not_found")
        return _ok(found.to_dict())

    # -- usage statistics (SPEC §18) -----------------------------------------------------

    @staticmethod
    def _range(request: web.Request) -> tuple[float, float | None]:
        until = request.query.get("until")
        return float(request.query["since"]), None if until is None else float(until)

    async def stats_usage(self, request: web.Request) -> web.Response:
        since, until = self._range(request)
        rows = await self.controller.usage(request.query["by"], since, until)
        return _ok([usage_to_json(r) for r in rows])

    async def stats_series(self, request: web.Request) -> web.Response:
        since, until = self._range(request)
        series = await self.controller.usage_series(since, int(request.query["step"]), until)
        return _ok([[t, usage_to_json(r)] for t, r in series])

    async def stats_totals(self, request: web.Request) -> web.Response:
        return _ok(await self.controller.totals(request.query.get("filter") or None))

    async def models(self, request: web.Request) -> web.Response:
        return _ok(await self.controller.models(request.query.get("account") or None))

    # -- client keys (SPEC §19) ------------------------------------------------------------

    async def list_keys(self, request: web.Request) -> web.Response:
        return _ok(await self.controller.client_keys())

    async def add_key_(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        key = await self.controller.add_client_key(
            str(body["name"]),
            models=[str(m) for m in body.get("models") or []],
            rpm=int(body.get("rpm") or 0),
            tokens_per_day=int(body.get("tokens_per_day") or 0),
            expires=float(body.get("expires") or 0.0),
        )
        return _ok({"key": key})

    async def key_action(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if request.match_info["action"] == "rotate":
            return _ok({"key": await self.controller.rotate_client_key(name)})
        await self.controller.revoke_client_key(name)
        return _ok()

    async def remove_key(self, request: web.Request) -> web.Response:
        await self.controller.remove_client_key(request.match_info["name"])
        return _ok()

"""The proxy outlives the front ends (SPEC §17), with real `agproxy serve` processes:
status / stop over the control socket, a second serve refused, CLI edits applied at
once by the running serve, a stale socket replaced, SIGHUP keeping every record, the
TUI attached with live rows from the serve, and the in-process TUI handing over."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy import jsoncodec
from proxy.control.connect import attach
from proxy.control.server import probe
from proxy.paths import resolve_paths
from tests.conftest import find_free_port, write_account_file
from tests.scenarios.conftest import wait_health
from tui.app import AgproxyApp
from tui.screens.quit import QuitScreen
from tui.widgets.status_header import StatusHeader
from tui.widgets.traffic import TrafficPane


async def until_async(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def bad_requests(port: int, n: int, answered: asyncio.Event | None = None) -> list[int]:
    """`n` requests the proxy answers itself (400: not JSON), all at once; `answered` is
    set once a tenth of them got their answer."""
    done = 0
    async with aiohttp.ClientSession() as http:

        async def one() -> int:
            nonlocal done
            try:
                async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{x") as r:
                    await r.read()
                    done += 1
                    if answered is not None and done >= n // 10:
                        answered.set()
                    return r.status
            except aiohttp.ClientError:
                return 0

        return list(await asyncio.gather(*(one() for _ in range(n))))


def in_process_config(account_id: str = "test-account") -> tuple[Any, int]:
    """An account file and a free port in this test's config, for an in-process TUI."""
    from proxy.config.store import ConfigStore

    paths = resolve_paths()
    write_account_file(paths, account_id)
    port = find_free_port()
    store = ConfigStore(paths)
    store.load()
    store.set("proxy.port", port)
    return paths, port


async def start_in_tui(app: AgproxyApp, pilot: Any) -> None:
    """`s`, then wait until the TUI's own proxy listens."""
    await pilot.press("s")
    deadline = time.monotonic() + 10
    while not app.read_status().running:
        assert time.monotonic() < deadline
        await pilot.pause(0.05)


def stored_records(home: Path) -> int:
    with sqlite3.connect(home / "monitor.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM requests").fetchone()[0])


@pytest.mark.timeout(180)  # seven CLI processes on a loaded 2-core box
async def test_status_second_serve_cli_edits_and_stop(agproxy_home, serve, cli) -> None:
    paths = resolve_paths()
    write_account_file(paths, "acct1")
    port = find_free_port()
    assert (await cli("status")).rc == 3  # 3: nothing runs
    async with serve(port, "--port", str(port)) as served:
        pid = served.proc.pid
        status = await cli("status")
        assert status.rc == 0, status.err
        assert f"agproxy serve, pid {pid}" in status.out and f"127.0.0.1:{port}" in status.out
        assert stat_mode(paths.control_socket) == 0o600

        again = await cli("serve", "--port", str(find_free_port()))
        assert again.rc == 1 and f"already running (pid {pid})" in again.err

        # state changes go through the serve: applied at once, without its file poll
        done = await cli("accounts", "disable", "acct1")
        assert done.rc == 0, done.err
        st = jsoncodec.loads((await cli("status", "--json")).out)
        assert st["accounts_active"] == 0 and st["accounts_total"] == 1
        assert jsoncodec.loads((paths.accounts_dir / "acct1.json").read_bytes())["disabled"]
        done = await cli("config", "set", "proxy.request_timeout", "321")
        assert done.rc == 0 and f"applied by the running proxy, pid {pid}" in done.out

        stopped = await cli("stop")
        assert stopped.rc == 0 and f"stopped (pid {pid})" in stopped.out
        assert await asyncio.wait_for(served.proc.wait(), 15) == 0
    assert not paths.control_socket.exists()


async def answered_with(port: int, key: str) -> int:
    """The status of a request carrying client key `key` (400 once auth let it in: the
    body is not JSON)."""
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{x", headers=headers) as r,
    ):
        return r.status


@pytest.mark.timeout(120)
async def test_keys_cli_changes_the_running_serve_at_once(agproxy_home, serve, cli) -> None:
    """`agproxy keys` goes through the serve's socket: the serve writes keys.json and the
    change holds when the command returns (its file poll would take up to 2 s)."""
    paths = resolve_paths()
    write_account_file(paths)
    port = find_free_port()
    async with serve(port, "--port", str(port)) as served:
        strict = await cli("config", "set", "proxy.auth_mode", "strict")  # client keys checked
        assert strict.rc == 0, strict.err
        added = await cli("keys", "add", "bob", "--rpm", "100")
        assert added.rc == 0, added.err
        key = added.out.strip()
        assert key.startswith("sk-ag-")
        assert f"applied by the running proxy, pid {served.proc.pid}" in added.err
        assert await answered_with(port, key) == 400
        revoked = await cli("keys", "revoke", "bob")
        assert revoked.rc == 0 and "client key 'bob' revoked" in revoked.out, revoked.err
        assert await answered_with(port, key) == 401
        listed = jsoncodec.loads((await cli("keys", "list", "--json")).out)
        assert [(k["name"], k["state"], k["rpm"]) for k in listed] == [("bob", "revoked", 100)]
        refused = await cli("keys", "revoke", "carol")
        assert refused.rc == 2 and "no client key named 'carol'" in refused.err
    assert key not in (paths.data_dir / "keys.json").read_text()


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


async def test_stale_socket_of_a_killed_serve_is_replaced(agproxy_home, serve) -> None:
    paths = resolve_paths()
    write_account_file(paths)
    port = find_free_port()
    async with serve(port, "--port", str(port)) as first:
        first.proc.kill()
        await first.proc.wait()
        first.rc = -9
    assert paths.control_socket.exists() and await probe(paths.control_socket) is None
    async with serve(port, "--port", str(port)) as second:
        status = await probe(paths.control_socket)
        assert status is not None and status["pid"] == second.proc.pid


async def test_sighup_stops_gracefully_and_keeps_every_record(agproxy_home, serve) -> None:
    paths = resolve_paths()
    write_account_file(paths)
    port = find_free_port()
    async with serve(port, "--port", str(port)) as served:
        some = asyncio.Event()
        burst = asyncio.ensure_future(bad_requests(port, 300, some))
        await asyncio.wait_for(some.wait(), 30)  # the hang-up arrives mid-burst

        served.proc.send_signal(signal.SIGHUP)
        statuses = await burst
        _, err = await asyncio.wait_for(served.proc.communicate(), 30)  # exits by itself
        served.rc = served.proc.returncode
        assert served.rc == 0, err
        assert b"agproxy stopped" in err
    answered = sum(1 for s in statuses if s)
    assert answered > 0
    assert stored_records(agproxy_home) >= answered  # every answered request is recorded


async def test_sighup_stops_an_in_process_tui_gracefully_and_keeps_every_record(agproxy_home) -> None:
    """A dropped SSH session hangs up the TUI too (SPEC §17): the proxy inside it stops
    gracefully, every answered request is in the monitor file, the TUI exits."""
    paths, port = in_process_config()
    app = AgproxyApp(paths)
    async with app.run_test(size=(120, 30)) as pilot:
        await start_in_tui(app, pilot)
        some = asyncio.Event()
        burst = asyncio.ensure_future(bad_requests(port, 200, some))
        await asyncio.wait_for(some.wait(), 30)
        os.kill(os.getpid(), signal.SIGHUP)  # the app's loop handles it (no dialog)
        statuses = await burst
        deadline = time.monotonic() + 20
        while app.is_running:
            assert time.monotonic() < deadline, "the TUI did not exit on SIGHUP"
            await asyncio.sleep(0.1)  # not pilot.pause: the app is shutting down, its screen too
    answered = sum(1 for s in statuses if s)
    assert answered > 0
    assert stored_records(agproxy_home) >= answered


@pytest.mark.timeout(120)
async def test_status_stop_and_cli_edits_reach_an_in_process_tui(agproxy_home, cli) -> None:
    """An in-process TUI serves the control socket too: `agproxy status` names it, CLI
    edits go through it, `agproxy stop` stops its listener and leaves the TUI open."""
    paths, _port = in_process_config("acct1")
    app = AgproxyApp(paths)
    async with app.run_test(size=(120, 30)) as pilot:
        await start_in_tui(app, pilot)
        status = await cli("status")
        assert status.rc == 0 and f"agproxy-tui (in-process), pid {os.getpid()}" in status.out, status.err
        disabled = await cli("accounts", "disable", "acct1")
        assert disabled.rc == 0, disabled.err
        assert app.controller.status().accounts_active == 0  # applied by the TUI's process
        stopped = await cli("stop")
        assert stopped.rc == 0, stopped.err
        assert f"stopped the API listener of agproxy-tui (pid {os.getpid()}); the TUI stays open" in stopped.out
        assert not app.read_status().running and app.is_running
        await pilot.pause()
    assert not paths.control_socket.exists()


async def test_tui_attaches_to_serve_with_live_rows_and_leaves_it_running(
    agproxy_home, serve, cli
) -> None:
    paths = resolve_paths()
    write_account_file(paths)
    port = find_free_port()
    async with serve(port, "--port", str(port)) as served:
        remote = await attach(paths)
        assert remote is not None
        remote.poll_s = 0.1
        app = AgproxyApp(paths, controller=remote)
        async with app.run_test(size=(120, 30)) as pilot:
            header = app.query_one(StatusHeader)

            def header_text() -> str:
                return " ".join(str(s.render()) for s in header.query(".status-line"))

            await pilot.pause(0.3)
            assert f"attached to serve (pid {served.proc.pid}, up" in header_text()
            assert await bad_requests(port, 3) == [400, 400, 400]
            pane = app.query_one(TrafficPane)
            deadline = time.monotonic() + 10
            while not (len(pane.records) == 3 and all(r.status for r in pane.records.values())):
                assert time.monotonic() < deadline, "no live rows from the serve"
                await pilot.pause(0.1)
            assert {r.status for r in pane.records.values()} == {400}
            status = await cli("status")
            assert "live record streams: 1 (longest queue 0, 0 updates dropped" in status.out, status.out

            await pilot.press("s")  # stops the daemon's listener, not the daemon
            await until_async(lambda: _running(paths, False))
            await pilot.press("s")
            await until_async(lambda: _running(paths, True))
            await pilot.press("q")  # no dialog: the daemon keeps serving
            await pilot.pause()
        assert not isinstance(app.screen_stack[-1] if app.screen_stack else None, QuitScreen)
        await wait_health(port, served.proc)
        assert served.proc.returncode is None


async def _running(paths, want: bool) -> bool:
    status = await probe(paths.control_socket)
    return status is not None and bool(status["running"]) is want


async def test_in_process_tui_hands_over_to_a_background_serve(agproxy_home) -> None:
    paths, port = in_process_config()
    app = AgproxyApp(paths)
    pid = None
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await start_in_tui(app, pilot)
            assert "in-process" in " ".join(
                str(s.render()) for s in app.query_one(StatusHeader).query(".status-line")
            )
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, QuitScreen)
            await pilot.click("#handover")
            deadline = time.monotonic() + 30
            while app.is_running and app.handed_over_to is None:
                assert time.monotonic() < deadline, "no hand-over"
                await asyncio.sleep(0.1)  # not pilot.pause: the app exits after the hand-over
        pid = app.handed_over_to
        assert pid is not None and pid != os.getpid()
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as r:
            assert r.status == 200
        status = await probe(paths.control_socket)
        assert status is not None and status["pid"] == pid and status["owner"] == "serve"
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                await asyncio.sleep(0.05)
                with _reap(pid):
                    pass


class _reap:
    """Collect the exit of our detached child (it is still our child process)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> None:
        try:
            os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def __exit__(self, *exc: object) -> None:
        return None


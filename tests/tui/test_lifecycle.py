"""Start/stop from the keyboard, start errors as notifications, quit confirmation."""

from __future__ import annotations

import asyncio
import os
import socket
import time

from textual.widgets import Input

from proxy.config.store import ConfigStore
from proxy.paths import resolve_paths
from tests.tui.conftest import notes, write_account
from tui.app import AgproxyApp
from tui.screens.quit import DrainScreen, QuitScreen
from tui.widgets.settings import SettingsPane
from tui.widgets.status_header import StatusHeader


def header_text(app: AgproxyApp) -> str:
    header = app.query_one(StatusHeader)
    return " ".join(str(s.render()) for s in header.query(".status-line"))


async def press_and_settle(app: AgproxyApp, pilot, key: str) -> None:
    await pilot.press(key)
    await pilot.pause()
    await app.workers.wait_for_complete()
    app.refresh_status()
    await pilot.pause()


async def test_s_without_accounts_shows_error_and_keeps_running(home, port, make_app) -> None:
    app = await make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await press_and_settle(app, pilot, "s")
        errors = notes(app, "error")
        assert any("no available accounts" in m for m in errors), errors
        assert not app.controller.status().running
        assert "STOPPED" in header_text(app)
        assert app.is_running


async def test_s_starts_and_stops_the_proxy(home, port, make_app) -> None:
    write_account(home)
    app = await make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await press_and_settle(app, pilot, "s")
        assert app.controller.status().running, notes(app)
        assert "RUNNING" in header_text(app)
        assert f"127.0.0.1:{port}" in header_text(app)
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        await press_and_settle(app, pilot, "s")
        assert not app.controller.status().running
        assert "STOPPED" in header_text(app)


async def test_port_field_disabled_while_running(home, port, make_app) -> None:
    write_account(home)
    app = await make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        settings = app.query_one(SettingsPane)
        assert not settings.field("proxy.port").control.disabled
        await press_and_settle(app, pilot, "s")
        assert app.controller.status().running
        assert settings.field("proxy.port").control.disabled
        assert settings.field("proxy.allow_lan_access").control.disabled
        assert not settings.field("proxy.request_timeout").control.disabled
        await press_and_settle(app, pilot, "s")
        assert not settings.field("proxy.port").control.disabled


async def test_port_in_use_shows_bind_error(home, port, make_app) -> None:
    write_account(home)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    try:
        app = await make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await press_and_settle(app, pilot, "s")
            errors = notes(app, "error")
            assert any("failed to bind" in m and str(port) in m for m in errors), errors
            assert not app.controller.status().running
    finally:
        blocker.close()


async def test_auto_start_starts_on_launch(home, port) -> None:
    write_account(home)
    store = ConfigStore(resolve_paths())
    store.load()
    store.set("proxy.auto_start", True)
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert app.controller.status().running


async def test_q_while_running_asks_before_quitting(home, port) -> None:
    write_account(home)
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await press_and_settle(app, pilot, "s")
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and app.controller.status().running
    assert not app.controller.status().running  # leaving the app stops the proxy


async def test_typing_in_a_field_does_not_trigger_keys(home, port) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.focused, Input)
        await pilot.press("s", "q")
        await pilot.pause()
        assert app.is_running
        assert not any("no available accounts" in m for m in notes(app))


async def test_quit_dialog_stop_waits_for_streams_with_a_countdown_then_exits(home, port) -> None:
    write_account(home)
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await press_and_settle(app, pilot, "s")
        # a request in flight: a half-sent body keeps its handler waiting
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        )
        await writer.drain()
        deadline = time.monotonic() + 5
        while app.read_status().in_flight < 1:
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        await pilot.press("q")
        await pilot.pause()
        await pilot.click("#stop")
        await pilot.pause(0.3)
        assert isinstance(app.screen, DrainScreen)
        text = str(app.screen.query_one("#drain-text").render())
        assert "waiting for 1 request(s)/stream(s)" in text and "s left" in text
        assert "ctrl+c stops now" in text
        await pilot.press("ctrl+c")  # forces: no waiting out the grace period
        deadline = time.monotonic() + 5
        while app.is_running:
            assert time.monotonic() < deadline, "ctrl+c did not force the exit"
            await asyncio.sleep(0.05)  # not pilot.pause: the app is shutting down
        writer.close()
    assert not app.controller.status().running


async def test_attached_header_and_q_leaves_the_daemon_running(home, port, make_app) -> None:
    write_account(home)
    app = await make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await press_and_settle(app, pilot, "s")
        if make_app.mode == "attached":
            assert f"attached to serve (pid {os.getpid()}, up" in header_text(app)
        else:
            assert "in-process" in header_text(app)
        await pilot.press("q")
        await pilot.pause()
        if make_app.mode == "attached":
            assert not app.is_running  # no dialog: quitting leaves the daemon serving
        else:
            assert isinstance(app.screen, QuitScreen)
            await pilot.press("escape")
    if make_app.mode == "attached":
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


async def test_palette_has_no_unguarded_quit(home) -> None:
    app = AgproxyApp()
    async with app.run_test(size=(100, 30)):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles and not any(t.lower() == "quit" for t in titles)

"""The Connect tab says the auth mode the running proxy enforces, in-process and attached."""

from __future__ import annotations

import aiohttp
from rich.console import Console
from textual.widgets import Static

from tests.tui.conftest import write_account
from tests.tui.test_accounts import until


def auth_line(app) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(app.main_query("#connect-urls", Static).content)
    return next(line for line in console.export_text().splitlines() if line.startswith("auth:"))


async def test_connect_shows_the_bound_auth_mode_while_running(home, port, make_app) -> None:
    """LAN access turned on in the file while serving changes nothing until a restart (the
    listener keeps its loopback bind, `auto` stays `off`): the pane says what a client
    gets now, and what a start would enforce once stopped."""
    write_account(home)
    app = await make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await until(pilot, lambda: app.controller.status().running)
        await pilot.press("4")
        await until(pilot, lambda: auth_line(app).startswith("auth: off"))
        await app.controller.save_config(app.config.with_value("proxy.allow_lan_access", "true"))
        await until(pilot, lambda: app.config.proxy.allow_lan_access)
        assert app.config.effective_auth_mode == "all_except_health"  # what the file says
        await pilot.pause(0.3)
        app.main_query("#connect-pane").refresh_snippets()
        assert auth_line(app).startswith("auth: off — clients may send any key")
        async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/v1/models"
        ) as r:
            assert r.status != 401  # no key needed: the pane is right
        await pilot.press("s")
        await until(pilot, lambda: not app.controller.status().running)
        await until(pilot, lambda: auth_line(app).startswith("auth: all_except_health"))

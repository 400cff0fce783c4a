"""The Connect tab says the auth mode the running proxy enforces, in-process and attached."""

from __future__ import annotations

import aiohttp
from rich.console import Console
from textual.widgets import Static

from proxy.config.store import ConfigStore
from proxy.paths import resolve_paths
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


async def test_the_curl_snippet_runs_as_pasted_under_each_auth_mode(home, gemini, port) -> None:
    """The Connect curl snippet, pasted into a shell as copied (`y`, the real key): the
    health check and the chat both answer, the chat with the key where auth needs it."""
    import asyncio
    import json

    from tui.app import AgproxyApp
    from tui.widgets.connect import Snippet

    for mode in ("off", "all_except_health", "strict"):
        store = ConfigStore(resolve_paths())
        store.load()
        store.set("proxy.auth_mode", mode)
        app = AgproxyApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("s")
            await until(pilot, lambda: app.controller.status().running)
            await pilot.press("4")
            await until(pilot, lambda: auth_line(app).startswith(f"auth: {mode}"))
            text = next(v for v in app.query(Snippet) if v.snippet.id == "curl").snippet.text
            assert ("Authorization" in text) == (mode != "off")
            proc = await asyncio.create_subprocess_exec(
                "bash", "-c", text.replace("curl ", "curl -sS --fail-with-body "),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
            assert proc.returncode == 0, (mode, out, err)
            # two JSON answers back to back: /healthz's, then the chat completion
            decoder = json.JSONDecoder()
            health, end = decoder.raw_decode(out.decode())
            reply, _ = decoder.raw_decode(out.decode(), end)
            assert health["status"] == "ok"
            assert reply["choices"][0]["message"]["content"] == "echo: hi", (mode, reply)
            await pilot.press("s")
            await until(pilot, lambda: not app.controller.status().running)

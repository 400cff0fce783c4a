"""`upstream.user_agent = "auto"` (SPEC §9): the newest version from `version_url`,
never below the built-in constant, read again only after 6 hours; a real HTTP server
on 127.0.0.1 stands in for the release manifest."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from proxy.upstream.client_version import (
    ANTIGRAVITY_VERSION,
    VERSION_CHECK_S,
    ClientVersion,
    parse_version,
    user_agent_for,
)


async def manifest_server(body: dict[str, str]) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body["text"], status=int(body.get("status", "200")))

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/"


def bumped(version: str, by: int) -> str:
    major, minor, patch = parse_version(version) or (0, 0, 0)
    return f"{major}.{minor + by}.{patch}" if by >= 0 else f"{major}.{max(0, minor + by)}.0"


async def test_auto_takes_a_newer_version_from_the_manifest_and_never_an_older_one() -> None:
    body = {"text": f'{{"version": "{bumped(ANTIGRAVITY_VERSION, 3)}", "url": "…"}}'}
    runner, url = await manifest_server(body)
    try:
        cv = ClientVersion()
        assert cv.user_agent("auto") == user_agent_for(ANTIGRAVITY_VERSION)  # before any read
        async with aiohttp.ClientSession() as session:
            assert await cv.refresh(session, url) == bumped(ANTIGRAVITY_VERSION, 3)
            assert cv.user_agent("auto") == user_agent_for(bumped(ANTIGRAVITY_VERSION, 3))
            assert cv.version("auto") == bumped(ANTIGRAVITY_VERSION, 3)
            assert cv.user_agent("") == user_agent_for(ANTIGRAVITY_VERSION)  # default: the constant
            assert cv.user_agent("my-agent/1.0") == "my-agent/1.0"  # anything else: verbatim

            older = ClientVersion()
            body["text"] = f"latest {bumped(ANTIGRAVITY_VERSION, -1)}"
            assert await older.refresh(session, url) == ANTIGRAVITY_VERSION  # never below

            body.update(text="down for maintenance", status="503")
            kept = await cv.refresh(session, url)
            assert kept == bumped(ANTIGRAVITY_VERSION, 3) and "HTTP 503" in cv.check_error
    finally:
        await runner.cleanup()


def test_auto_reads_again_only_after_six_hours() -> None:
    cv = ClientVersion()
    now = 1_800_000_000.0
    assert cv.due("auto", now=now) and not cv.due("", now=now)  # never read: due at once
    cv.checked_at = now
    assert not cv.due("auto", now=now + VERSION_CHECK_S - 1)
    assert cv.due("auto", now=now + VERSION_CHECK_S)

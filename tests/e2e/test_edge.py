"""The edge middleware as seen from a client (SPEC §3, §4, §11, §14): the monitor
record of a proxied call carries the client's headers, redacted, once it finished;
preflights and health checks leave no record; the request id is on every answer."""

from __future__ import annotations

import aiohttp

from tests.e2e.conftest import E2E

GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


async def test_record_has_the_request_headers_redacted(e2e: E2E) -> None:
    headers = {"x-goog-api-key": e2e.key, "User-Agent": "edge-test/1.0", "X-Custom": "kept"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(e2e.url + GEMINI_PATH, json=BODY, headers=headers) as resp,
    ):
        assert resp.status == 200
        rid = resp.headers["X-Agproxy-Request-Id"]
        await resp.read()
    [record] = await e2e.records(1)
    assert rid == str(record.id)  # one id: the header, the TUI, `agproxy logs`
    assert record.status == 200 and record.duration_ms >= 0
    assert record.user_agent == "edge-test/1.0"
    got = {k.lower(): v for k, v in record.request_headers.items()}
    assert got["x-custom"] == "kept" and got["user-agent"] == "edge-test/1.0"
    assert e2e.key not in got["x-goog-api-key"]


async def test_rejected_calls_are_recorded_but_not_preflights_or_health(e2e: E2E) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.options(
            e2e.url + GEMINI_PATH,
            headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"},
        ) as resp:
            assert resp.status == 204 and resp.headers["X-Agproxy-Request-Id"]
        async with session.get(e2e.url + "/healthz", headers=e2e.auth_headers()) as resp:
            assert resp.status == 200
        async with session.post(e2e.url + GEMINI_PATH, json=BODY) as resp:  # no key
            assert resp.status == 401 and resp.headers["X-Agproxy-Request-Id"]
    await e2e.records(1)
    records = e2e.service.monitor.recent(200)
    assert [(r.status, r.path) for r in records] == [(401, GEMINI_PATH)]
    assert "missing API key" in records[0].error  # the text `agproxy logs` and the TUI show
    assert e2e.service.monitor.stats.in_flight == 0


async def test_the_request_id_finds_the_record_in_the_store(e2e: E2E) -> None:
    from proxy.cli.logs import format_line
    from proxy.monitor.filter import parse_filter

    async with (
        aiohttp.ClientSession() as session,
        session.post(e2e.url + GEMINI_PATH, json=BODY, headers=e2e.auth_headers()) as resp,
    ):
        rid = resp.headers["X-Agproxy-Request-Id"]
        await resp.read()
    await e2e.records(1)
    await e2e.service.monitor.flush()
    for text in (rid, f"id:{rid}"):
        [found] = await e2e.service.monitor.query(parse_filter(text))
        assert str(found.id) == rid and parse_filter(text).matches(found)
    assert f"id {rid}" in format_line(found)


async def test_a_refused_unknown_model_keeps_the_clients_model_in_the_record(e2e: E2E) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            e2e.url + "/v1/chat/completions",
            json={
                "model": "llama-3-70b",
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers=e2e.auth_headers(),
        ) as resp,
    ):
        assert resp.status == 404
        await resp.read()
    [record] = await e2e.records(1)
    assert record.status == 404 and record.client_model == "llama-3-70b"

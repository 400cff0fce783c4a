"""The monitor sees every request through each face (SPEC §11): models, account,
status, stream flag, first-byte time and token counts — for JSON replies and streams."""

from __future__ import annotations

import aiohttp
import pytest

from tests.e2e.conftest import E2E

ROUTES = [
    (
        "/v1/chat/completions",
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "count me in"}]},
        "gpt-4o",
        "gemini-3-pro-high",
    ),
    ("/v1/responses", {"model": "gpt-5", "input": "count me in"}, "gpt-5", "gemini-3-pro-high"),
    (
        "/v1/messages",
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "count me in"}],
        },
        "claude-sonnet-4-6",
        "claude-sonnet-4-6",  # offered as is by the account's catalogue
    ),
    (
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "count me in"}]}]},
        "gemini-2.5-flash",
        "gemini-2.5-flash",
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    ("path", "body", "client_model", "upstream_model"),
    ROUTES,
    ids=["chat", "responses", "messages", "gemini"],
)
async def test_request_is_recorded_with_tokens(
    e2e: E2E, stream: bool, path: str, body: dict, client_model: str, upstream_model: str
) -> None:
    e2e.set("monitor.capture_bodies", "all")  # keep the consolidated stream result
    if stream:
        if path.startswith("/v1beta"):
            path = path.replace(":generateContent", ":streamGenerateContent?alt=sse")
        else:
            body = {**body, "stream": True}
            if "chat" in path:
                body["stream_options"] = {"include_usage": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(e2e.url + path, json=body, headers=e2e.auth_headers()) as resp,
    ):
        assert resp.status == 200
        await resp.read()
    [record] = await e2e.records(1)
    assert record.status == 200 and not record.error
    assert record.path == path
    assert (record.client_model, record.upstream_model) == (client_model, upstream_model)
    assert record.account == "a@example.com" and record.upstream_kind == "antigravity"
    assert record.stream is stream
    assert record.ttfb_ms is not None
    assert record.input_tokens > 0 and record.output_tokens > 0
    assert [a.status for a in record.attempts] == [200]
    if stream:  # the consolidated result stands in for the SSE bytes
        assert record.response_summary and "count me in" in record.response_summary["text"]
    else:
        assert "count me in" in record.response_body


async def test_errors_are_recorded_too(e2e: E2E) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{e2e.url}/v1/messages", data=b"{", headers=e2e.auth_headers()
        ) as resp:
            assert resp.status == 400
        async with session.post(
            f"{e2e.url}/v1/messages", json={}, headers={"x-api-key": "sk-wrong-000000"}
        ) as resp:
            assert resp.status == 401
    records = await e2e.records(2)
    assert [r.status for r in records] == [400, 401]
    assert all(r.protocol == "anthropic" for r in records)

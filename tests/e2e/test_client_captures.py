"""Every request captured from a real client (tests/fixtures/clients/, README there)
replayed byte-for-byte-ish through the running proxy: it must get a 2xx and, where an
upstream is involved, produce a GenerateContentRequest Gemini would accept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy import jsoncodec
from tests.e2e.conftest import E2E
from tests.proxy.protocols.anthropic_grammar import assert_anthropic_stream
from tests.proxy.protocols.gemini_validity import assert_valid_gemini_request

CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
SCENARIOS = sorted(p.name for p in CLIENTS.iterdir() if p.is_dir())
AUTH_HEADERS = {"authorization", "x-api-key", "x-goog-api-key"}
# Hop-by-hop or recomputed by the client library on the way out.
DROP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}
GENERATING_ROUTES = {"generate", "stream", "gemini", "gemini_stream"}


def replay_headers(captured: dict[str, str], key: str) -> dict[str, str]:
    """The client's headers with its credential swapped for ours, in the same carrier."""
    headers: dict[str, str] = {}
    carrier = None
    for name, value in captured.items():
        low = name.lower()
        if low in AUTH_HEADERS:
            carrier = low
        elif low not in DROP_HEADERS:
            headers[name] = value
    if carrier == "x-api-key" or carrier == "x-goog-api-key":
        headers[carrier] = key
    else:  # Bearer, or a client that sent none (strict mode needs one)
        headers["Authorization"] = f"Bearer {key}"
    return headers


def expected_status(capture: dict[str, Any]) -> int | None:
    if capture["method"] == "GET" and capture["path"] == "/v1/responses":
        return 426  # Codex's WebSocket probe: refused so that it falls back to HTTP at once
    return None


def sse_data(data: bytes) -> list[bytes]:
    return [line[6:] for line in data.split(b"\n") if line.startswith(b"data: ")]


def check_stream(capture: dict[str, Any], content_type: str, data: bytes) -> None:
    """A stream finished the way its protocol finishes, not with an error event."""
    if "text/event-stream" not in content_type:
        return
    path = capture["path"]
    last = sse_data(data)[-1]
    if "/messages" in path:
        assert assert_anthropic_stream(data), "an Anthropic stream with no content block"
    elif "chat/completions" in path:
        assert last == b"[DONE]" and b'"error":{' not in data
    elif "responses" in path:
        assert jsoncodec.loads(last)["type"] == "response.completed"
    else:  # Gemini: every event a GenerateContentResponse, the last one finished
        assert "error" not in jsoncodec.loads(last)
        assert jsoncodec.loads(last)["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_captured_client_requests_pass_through(e2e: E2E, scenario: str) -> None:
    async with aiohttp.ClientSession(auto_decompress=True) as session:
        for file in sorted((CLIENTS / scenario).glob("*.json")):
            capture = json.loads(file.read_text())
            before = len(e2e.fake.requests)
            body = capture.get("body")
            data = jsoncodec.dumps(body) if body is not None else None
            async with session.request(
                capture["method"],
                e2e.url + capture["raw_path"],
                headers=replay_headers(capture["headers"], e2e.key),
                data=data,
            ) as resp:
                payload = await resp.read()
                expected = expected_status(capture)
                if expected is not None:
                    assert resp.status == expected, (file.name, payload[:300])
                    continue
                assert 200 <= resp.status < 300, (file.name, resp.status, payload[:500])
                check_stream(capture, resp.headers.get("Content-Type", ""), payload)
            generating = [r for r in e2e.fake.requests[before:] if r.route in GENERATING_ROUTES]
            for rec in generating:
                request = (
                    rec.body.get("request", rec.body)
                    if rec.route in ("generate", "stream")
                    else rec.body
                )
                assert_valid_gemini_request(request)
            if capture["method"] == "POST" and "count" not in capture["path"].lower():
                assert generating, f"{file.name}: no upstream request was made"

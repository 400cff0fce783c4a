"""Large request bodies (SPEC §16: a 20 MiB agent request, memory ≈ one copy): read
into one buffer and not kept, sent upstream in slices, and still captured (truncated,
with the right total) by the monitor."""

from __future__ import annotations

import base64

import aiohttp

from proxy import jsoncodec
from proxy.server.exchange import LARGE_BODY
from proxy.upstream.response import SLICED_BODY
from tests.e2e.conftest import E2E

GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"


def big_gemini_body(size: int) -> dict:
    image = base64.b64encode(bytes(range(256)) * (size // 340)).decode()
    return {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "describe the picture"},
                    {"inlineData": {"mimeType": "image/png", "data": image}},
                ],
            }
        ]
    }


async def post(e2e: E2E, path: str, data: bytes, chunked: bool = False) -> tuple[int, bytes]:
    headers = {**e2e.auth_headers(), "Content-Type": "application/json"}

    async def gen():
        for pos in range(0, len(data), 65536):
            yield data[pos : pos + 65536]

    async with (
        aiohttp.ClientSession() as session,
        session.post(e2e.url + path, data=gen() if chunked else data, headers=headers) as resp,
    ):
        return resp.status, await resp.read()


async def test_large_body_reaches_upstream_intact_and_is_captured_truncated(e2e: E2E) -> None:
    e2e.set("monitor.capture_bodies", "all")
    e2e.set("monitor.max_body_kb", 64)
    body = big_gemini_body(3 * 1024 * 1024)
    raw = jsoncodec.dumps(body)
    assert len(raw) > max(LARGE_BODY, SLICED_BODY)  # both large-body paths are taken
    status, answer = await post(e2e, GEMINI_PATH, raw)
    assert status == 200, answer
    [sent] = e2e.gemini_requests()
    assert sent["contents"] == body["contents"]  # every slice arrived, in order
    [record] = await e2e.records(1)
    assert record.status == 200
    assert record.request_body.startswith('{"contents":')
    assert record.request_body.endswith(f"[truncated: {len(raw)} bytes in all]")
    assert len(record.request_body) < 70 * 1024


async def test_large_invalid_json_is_a_400_and_its_head_is_captured(e2e: E2E) -> None:
    raw = jsoncodec.dumps(big_gemini_body(2 * 1024 * 1024))[:-1]  # the closing brace is missing
    status, answer = await post(e2e, GEMINI_PATH, raw)
    assert status == 400
    assert b"not valid JSON" in answer
    [record] = await e2e.records(1)  # default capture: errors
    assert record.request_body.startswith('{"contents":')
    assert f"[truncated: {len(raw)} bytes in all]" in record.request_body
    assert not e2e.gemini_requests()


async def test_large_chunked_body_without_length_still_works(e2e: E2E) -> None:
    body = big_gemini_body(2 * 1024 * 1024)
    status, answer = await post(e2e, GEMINI_PATH, jsoncodec.dumps(body), chunked=True)
    assert status == 200, answer
    [sent] = e2e.gemini_requests()
    assert sent["contents"] == body["contents"]


async def test_large_openai_data_uri_becomes_inline_data(e2e: E2E) -> None:
    image = base64.b64encode(b"\x89PNG" + bytes(range(256)) * 6000).decode()
    body = {
        "model": "gemini-2.5-flash",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is it?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
                ],
            }
        ]
        * 1,
    }
    raw = jsoncodec.dumps(body)
    assert len(raw) > LARGE_BODY
    status, answer = await post(e2e, "/v1/chat/completions", raw)
    assert status == 200, answer
    [sent] = e2e.gemini_requests()
    parts = sent["contents"][0]["parts"]
    assert {"inlineData": {"mimeType": "image/png", "data": image}} in parts


async def test_large_gzip_body_is_decompressed(e2e: E2E) -> None:
    import gzip
    import random

    body = big_gemini_body(1024)
    noise = random.Random(7).randbytes(2 * 1024 * 1024)  # base64 of noise stays large gzipped
    body["contents"][0]["parts"][1]["inlineData"]["data"] = base64.b64encode(noise).decode()
    raw = jsoncodec.dumps(body)
    packed = gzip.compress(raw, compresslevel=1)
    assert len(packed) > LARGE_BODY  # the declared (compressed) length takes the large path
    headers = {**e2e.auth_headers(), "Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(e2e.url + GEMINI_PATH, data=packed, headers=headers) as resp,
    ):
        assert resp.status == 200, await resp.text()
    [sent] = e2e.gemini_requests()
    assert sent["contents"] == body["contents"]

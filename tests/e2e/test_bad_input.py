"""Bad input through the server (SPEC §14): each mistake gets a precise 4xx in the
client's own protocol, nothing reaches the upstream, local files are never read, and
the server keeps serving afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy import jsoncodec
from tests.e2e.conftest import E2E

OPENAI, ANTHROPIC, GEMINI = "openai", "anthropic", "gemini"
PATHS = {
    OPENAI: "/v1/chat/completions",
    ANTHROPIC: "/v1/messages",
    GEMINI: "/v1beta/models/gemini-2.5-flash:generateContent",
}
GOOD = {
    OPENAI: {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    ANTHROPIC: {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    },
    GEMINI: {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}


def openai_image(url: str) -> dict:
    return {
        "model": "gpt-4o",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    }


def anthropic_image(source: dict) -> dict:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": source}, {"type": "text", "text": "look"}],
            }
        ],
    }


def gemini_part(part: dict) -> dict:
    return {"contents": [{"role": "user", "parts": [part, {"text": "look"}]}]}


# (protocol, case, body, words the message must contain)
CASES: list[tuple[str, str, Any, str]] = [
    (OPENAI, "wrong type", {"model": "gpt-4o", "messages": "hi"}, "messages"),
    (OPENAI, "missing messages", {"model": "gpt-4o"}, "messages"),
    (
        OPENAI,
        "unknown role",
        {"model": "gpt-4o", "messages": [{"role": "wizard", "content": "hi"}]},
        "wizard",
    ),
    (OPENAI, "no model", {"messages": [{"role": "user", "content": "hi"}]}, "model"),
    (OPENAI, "invalid base64", openai_image("data:image/png;base64,@@not-base64@@"), "base64"),
    (ANTHROPIC, "wrong type", {**GOOD[ANTHROPIC], "max_tokens": "ten"}, "max_tokens"),
    (ANTHROPIC, "missing messages", {"model": "claude-sonnet-4-6", "max_tokens": 10}, "messages"),
    (
        ANTHROPIC,
        "unknown role",
        {**GOOD[ANTHROPIC], "messages": [{"role": "wizard", "content": "hi"}]},
        "wizard",
    ),
    (
        ANTHROPIC,
        "empty content",
        {**GOOD[ANTHROPIC], "messages": [{"role": "user", "content": ""}]},
        "empty",
    ),
    (
        ANTHROPIC,
        "invalid base64",
        anthropic_image({"type": "base64", "media_type": "image/png", "data": "@@not-base64@@"}),
        "base64",
    ),
    (GEMINI, "wrong type", {"contents": "hi"}, "contents"),
    (GEMINI, "missing contents", {}, "contents"),
    (
        GEMINI,
        "unknown role",
        {"contents": [{"role": "wizard", "parts": [{"text": "hi"}]}]},
        "wizard",
    ),
    (GEMINI, "empty content", {"contents": [{"role": "user", "parts": []}]}, "parts"),
    (
        GEMINI,
        "invalid base64",
        gemini_part({"inlineData": {"mimeType": "image/png", "data": "@@not-base64@@"}}),
        "base64",
    ),
]


def assert_error_shape(protocol: str, status: int, body: bytes) -> str:
    """The protocol's error JSON (SPEC §14); returns the message."""
    data = jsoncodec.loads(body)
    if protocol == OPENAI:
        err = data["error"]
        assert set(err) >= {"message", "type", "code", "param"}
        assert err["type"] == "invalid_request_error" or status >= 413
    elif protocol == ANTHROPIC:
        assert data["type"] == "error"
        err = data["error"]
        assert err["type"] in ("invalid_request_error", "not_found_error", "request_too_large")
    else:
        err = data["error"]
        assert err["code"] == status and err["status"] in ("INVALID_ARGUMENT", "NOT_FOUND")
    assert err["message"]
    return err["message"]


async def send(e2e: E2E, protocol: str, data: Any, path: str | None = None) -> tuple[int, bytes]:
    raw = data if isinstance(data, bytes) else jsoncodec.dumps(data)
    headers = {**e2e.auth_headers(), "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(e2e.url + (path or PATHS[protocol]), data=raw, headers=headers) as resp,
    ):
        return resp.status, await resp.read()


async def still_serving(e2e: E2E, protocol: str) -> None:
    status, body = await send(e2e, protocol, GOOD[protocol])
    assert status == 200, body


@pytest.mark.parametrize(
    ("protocol", "case", "body", "words"), CASES, ids=[f"{p}-{c}" for p, c, _, _ in CASES]
)
async def test_bad_body_gets_precise_400(
    e2e: E2E, protocol: str, case: str, body: Any, words: str
) -> None:
    status, reply = await send(e2e, protocol, body)
    assert status == 400, reply
    assert words in assert_error_shape(protocol, status, reply)
    assert not e2e.fake.requests
    await still_serving(e2e, protocol)
    [bad, good] = await e2e.records(2)
    assert (bad.status, good.status) == (400, 200)


@pytest.mark.parametrize("protocol", [OPENAI, ANTHROPIC, GEMINI])
async def test_malformed_json_and_invalid_utf8(e2e: E2E, protocol: str) -> None:
    status, reply = await send(e2e, protocol, b'{"model": "gpt-4o", "messages": [')
    assert status == 400 and "not valid JSON" in assert_error_shape(protocol, status, reply)
    status, reply = await send(e2e, protocol, b'{"model": "gpt-4o", "messages": "\xff\xfe"}')
    assert status == 400 and "not valid UTF-8" in assert_error_shape(protocol, status, reply)
    status, reply = await send(e2e, protocol, b"[1, 2]")
    assert status == 400 and "JSON object" in assert_error_shape(protocol, status, reply)
    await still_serving(e2e, protocol)


@pytest.mark.parametrize("protocol", [OPENAI, ANTHROPIC, GEMINI])
async def test_local_file_images_are_refused_and_never_read(
    e2e: E2E, protocol: str, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"TOP-SECRET-BYTES")
    bodies = {
        OPENAI: [openai_image(f"file://{secret}"), openai_image(str(secret))],
        ANTHROPIC: [anthropic_image({"type": "url", "url": f"file://{secret}"})],
        GEMINI: [
            gemini_part({"fileData": {"mimeType": "image/png", "fileUri": f"file://{secret}"}})
        ],
    }[protocol]
    for body in bodies:
        status, reply = await send(e2e, protocol, body)
        assert status == 400
        assert "never read" in assert_error_shape(protocol, status, reply)
    assert not e2e.fake.requests
    await still_serving(e2e, protocol)
    assert all(b"TOP-SECRET" not in jsoncodec.dumps(r.body) for r in e2e.fake.requests)


@pytest.mark.parametrize("protocol", [OPENAI, ANTHROPIC, GEMINI])
async def test_model_served_by_no_account_is_a_clear_404(e2e: E2E, protocol: str) -> None:
    body = {**GOOD[protocol], "model": "llama-3-70b"}
    path = "/v1beta/models/llama-3-70b:generateContent" if protocol == GEMINI else None
    status, reply = await send(e2e, protocol, body, path)
    assert status == 404
    message = assert_error_shape(protocol, status, reply)
    assert "'llama-3-70b' is not served by any account" in message
    assert not e2e.fake.requests
    await still_serving(e2e, protocol)


async def test_mapped_model_served_by_no_account_names_both(e2e: E2E) -> None:
    e2e.set("model_mapping", {"my-model": "mistral-large"})
    status, reply = await send(e2e, OPENAI, {**GOOD[OPENAI], "model": "my-model"})
    assert status == 404
    assert "'my-model' (mapped to 'mistral-large')" in assert_error_shape(OPENAI, status, reply)


@pytest.mark.parametrize("protocol", [OPENAI, ANTHROPIC, GEMINI])
@pytest.mark.parametrize("chunked", [False, True])
async def test_body_over_max_body_mb_is_413(e2e: E2E, protocol: str, chunked: bool) -> None:
    e2e.set("proxy.max_body_mb", 1)
    big = jsoncodec.dumps({**GOOD[protocol], "padding": "x" * (1024 * 1024 + 10)})

    async def pieces():  # no Content-Length: aiohttp sends it chunked
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    headers = {**e2e.auth_headers(), "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(
                e2e.url + PATHS[protocol], data=pieces() if chunked else big, headers=headers
            ) as resp:
                status, reply = resp.status, await resp.read()
        except aiohttp.ClientOSError:  # the server may close before reading all of it
            pytest.skip("server closed the upload early (platform dependent)")
    assert status == 413
    assert_error_shape(protocol, status, reply)
    assert not e2e.fake.requests
    await still_serving(e2e, protocol)

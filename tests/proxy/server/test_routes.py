"""Base routes and the app's edges (SPEC §3, §14): health, probes, telemetry sink,
the Codex WebSocket refusal, base-URL tolerance, protocol-shaped 404/405/413/500,
request ids and CORS on every response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from proxy import __version__, jsoncodec
from proxy.server.middlewares import canonical_path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "clients"


async def test_health_answers_status_and_version(service, http) -> None:
    for path in ("/healthz", "/health"):
        status, headers, body = await http(service.status().port, "GET", path)
        assert status == 200
        assert headers["content-type"].startswith("application/json")
        assert jsoncodec.loads(body) == {"status": "ok", "version": __version__}


async def test_head_root_and_head_v1_answer_200_empty(service, http) -> None:
    for path in ("/", "/v1"):
        status, _, body = await http(service.status().port, "HEAD", path)
        assert status == 200 and body == b""


@pytest.mark.parametrize("path", ["/v1/api/event_logging", "/v1/api/event_logging/batch", "/api/event_logging/batch"])
async def test_telemetry_is_accepted_and_dropped(service, http, path) -> None:
    status, _, body = await http(service.status().port, "POST", path, {"Content-Type": "application/json"}, b'{"events":[]}')
    assert status == 200 and body == b""


async def test_responses_websocket_upgrade_gets_426(service, http) -> None:
    status, _, body = await http(
        service.status().port,
        "GET",
        "/v1/responses",
        {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )
    assert status == 426
    assert "POST /v1/responses" in jsoncodec.loads(body)["error"]["message"]


async def test_unknown_path_404_names_the_base_url_of_each_sdk(service, http) -> None:
    port = service.status().port
    status, _, body = await http(port, "GET", "/x")
    assert status == 404
    message = jsoncodec.loads(body)["error"]["message"]
    base = f"http://127.0.0.1:{port}"
    assert message == (
        f"unknown path /x. Base URLs: OpenAI SDK {base}/v1 ; Anthropic SDK / Claude Code {base} ; "
        f"Gemini SDK / gemini-cli {base}"
    )


async def test_404_is_shaped_for_the_protocol_of_the_path(service, http) -> None:
    port = service.status().port
    _, _, anthropic = await http(port, "POST", "/v1/messages/nope", {}, b"{}")
    assert jsoncodec.loads(anthropic)["type"] == "error"
    _, _, gemini = await http(port, "POST", "/v1beta/nope/x:generateContent", {}, b"{}")
    assert jsoncodec.loads(gemini)["error"]["status"] == "NOT_FOUND"


async def test_wrong_method_is_a_protocol_shaped_405(service, http) -> None:
    status, _, body = await http(service.status().port, "POST", "/healthz", {}, b"")
    assert status == 405
    assert "not allowed" in jsoncodec.loads(body)["error"]["message"]


@pytest.mark.parametrize(
    "path", ["/healthz", "/nope", "/v1/messages/nope"]
)
async def test_every_response_carries_a_request_id_and_cors_origin(service, http, path) -> None:
    port = service.status().port
    ids = set()
    for _ in range(2):
        _, headers, _ = await http(port, "GET", path, {"Origin": "http://app.example"})
        ids.add(headers["x-agproxy-request-id"])
        assert headers["access-control-allow-origin"] == "*"
        assert "X-Agproxy-Request-Id" in headers["access-control-expose-headers"]
    assert len(ids) == 2


async def test_request_id_also_on_401(service_factory, http) -> None:
    service = await service_factory(**{"proxy.auth_mode": "strict"})
    status, headers, _ = await http(service.status().port, "GET", "/v1/models")
    assert status == 401 and headers["x-agproxy-request-id"]


async def test_declared_oversize_body_gets_413_in_the_client_protocol(service_factory, http) -> None:
    service = await service_factory(**{"proxy.max_body_mb": 1})
    body = b"x" * (1024 * 1024 + 1)
    status, _, payload = await http(service.status().port, "POST", "/v1/messages", {"Content-Type": "application/json"}, body)
    assert status == 413
    data = jsoncodec.loads(payload)
    assert data["type"] == "error" and "proxy.max_body_mb" in data["error"]["message"]


async def test_chunked_oversize_body_gets_413_in_the_client_protocol(service_factory, http) -> None:
    """No Content-Length: aiohttp's own limit trips while reading; still our JSON."""
    service = await service_factory(**{"proxy.max_body_mb": 1})

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    add_test_route(service, "POST", "/v1/test-echo", echo)
    chunk = b"y" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    status, _, payload = await http(service.status().port, "POST", "/v1/test-echo", {"Transfer-Encoding": "chunked"}, chunks)
    assert status == 413
    assert "max_body_mb" in jsoncodec.loads(payload)["error"]["message"]


async def test_max_body_change_applies_without_restart(service_factory, http, config_store) -> None:
    service = await service_factory(**{"proxy.max_body_mb": 2})
    body = b"x" * (1024 * 1024 + 10)
    port = service.status().port
    assert (await http(port, "POST", "/v1/nope", {}, body))[0] == 404
    config_store.set("proxy.max_body_mb", 1)
    assert (await http(port, "POST", "/v1/nope", {}, body))[0] == 413


async def test_handler_crash_is_a_protocol_shaped_500_without_secrets(service, http, caplog) -> None:
    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("boom with sk-secretsecretsecret")

    add_test_route(service, "POST", "/v1/messages/crash", crash)
    status, headers, body = await http(service.status().port, "POST", "/v1/messages/crash", {}, b"{}")
    assert status == 500
    data = jsoncodec.loads(body)
    assert data["type"] == "error" and headers["x-agproxy-request-id"] in data["error"]["message"]
    assert "sk-secret" not in body.decode()


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/chat/completions", "/v1/chat/completions"),
        ("/responses", "/v1/responses"),
        ("/messages", "/v1/messages"),
        ("/models", "/v1/models"),
        ("/v1/v1/messages", "/v1/messages"),
        ("/v1/v1/v1/messages", "/v1/messages"),
        ("/v1beta/v1/models/gemini-2.5-flash:generateContent", "/v1beta/models/gemini-2.5-flash:generateContent"),
        ("/v1/v1beta/models/m:countTokens", "/v1beta/models/m:countTokens"),
        ("/v1beta/models/gemini-3-pro%3AstreamGenerateContent", "/v1beta/models/gemini-3-pro:streamGenerateContent"),
        ("//healthz", "/healthz"),
        ("/healthz/", "/healthz"),
        ("/a/./b/../c", "/a/c"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/healthz;jsessionid=1", "/healthz"),
        ("/", "/"),
    ],
)
def test_canonical_path(raw: str, canonical: str) -> None:
    assert canonical_path(raw) == canonical


def add_test_route(service, method: str, path: str, handler) -> None:
    """A test-only route on the live app (the router is frozen once started)."""
    router = service._app.router
    router._frozen = False
    router.add_route(method, path, handler)
    router._frozen = True


@pytest.mark.parametrize("folder", ["misconfig-claude-base-v1", "misconfig-genai-base-v1beta", "misconfig-openai-no-v1"])
async def test_misconfigured_base_urls_answer_like_the_canonical_path(service, http, folder) -> None:
    """Captured requests with stacked or missing version prefixes get exactly the answer
    the canonical path gets (same handler), never a 404."""
    captures = [json.loads(p.read_text()) for p in sorted((FIXTURES / folder).glob("*.json"))]
    assert captures
    port = service.status().port
    for data in captures:
        canonical = canonical_path(data["path"])
        assert canonical != data["path"] or data["method"] == "HEAD"
        assert not canonical.startswith(("/v1/v1", "/v1beta/v1/"))
        query = f"?{data['query_string']}" if data["query_string"] else ""
        body = b'{"model": 1}' if data["method"] == "POST" else b""
        headers = {"Content-Type": "application/json"} if body else {}
        raw_status, _, raw_body = await http(port, data["method"], data["raw_path"], headers, body)
        status, _, canonical_body = await http(port, data["method"], canonical + query, headers, body)
        assert raw_status != 404
        assert (raw_status, raw_body) == (status, canonical_body)


async def test_redispatch_keeps_the_query_string(service, http) -> None:
    seen: list[tuple[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, request.query_string))
        return web.Response(text="reached")

    add_test_route(service, "POST", "/v1/test-query", record)
    status, _, body = await http(service.status().port, "POST", "/v1/v1/test-query?beta=true&x=%20y", {}, b"{}")
    assert (status, body) == (200, b"reached")
    assert seen == [("/v1/test-query", "beta=true&x=%20y")]


@pytest.mark.parametrize(
    "path", ["/v1/test-fast", "/v1beta/test/gemini-3-pro:streamGenerateContent", "/v1/test/m-1.5_x:countTokens"]
)
async def test_canonical_requests_are_not_redispatched(service, http, path) -> None:
    """The hot path: a well-formed path goes straight to its handler (no clone)."""
    from proxy.server.middlewares import _NORMALISED

    seen: list[bool] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(_NORMALISED in request)
        return web.Response(text="ok")

    add_test_route(service, "POST", path, record)
    status, _, _ = await http(service.status().port, "POST", path + "?alt=sse", {}, b"{}")
    assert status == 200 and seen == [False]

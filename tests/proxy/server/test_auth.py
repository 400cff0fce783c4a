"""Auth (SPEC §4): four modes, five key carriers, protocol-shaped 401s, and path
tricks that must not reach a protected route without the key. Real server, raw
request lines (no client library normalises the paths for us)."""

from __future__ import annotations

import asyncio

import pytest

from proxy import jsoncodec

KEY = "sk-test-auth-key-0123456789"
HEALTH = "/healthz"
API = "/v1/models"  # an API path; before the API faces exist it 404s, never 401s without auth

CARRIERS = {
    "bearer": lambda k: ({"Authorization": f"Bearer {k}"}, ""),
    "raw_authorization": lambda k: ({"Authorization": k}, ""),
    "x-api-key": lambda k: ({"x-api-key": k}, ""),
    "x-goog-api-key": lambda k: ({"x-goog-api-key": k}, ""),
    "query": lambda k: ({}, f"?key={k}"),
}

# mode -> (health needs key, api needs key)
MODES = {
    "off": (False, False),
    "strict": (True, True),
    "all_except_health": (False, True),
}


async def start(service_factory, mode: str, **extra):
    return await service_factory(**{"proxy.auth_mode": mode, "proxy.api_key": KEY, **extra})


@pytest.mark.parametrize("path", [HEALTH, API])
@pytest.mark.parametrize("carrier", list(CARRIERS))
@pytest.mark.parametrize("mode", list(MODES))
async def test_right_key_on_every_carrier_is_accepted(service_factory, http, mode, carrier, path) -> None:
    service = await start(service_factory, mode)
    headers, query = CARRIERS[carrier](KEY)
    status, _, _ = await http(service.status().port, "GET", path + query, headers)
    assert status != 401
    if path == HEALTH:
        assert status == 200


@pytest.mark.parametrize("path", [HEALTH, API])
@pytest.mark.parametrize("carrier", list(CARRIERS))
@pytest.mark.parametrize("mode", list(MODES))
async def test_wrong_key_is_refused_where_the_mode_requires_one(service_factory, http, mode, carrier, path) -> None:
    service = await start(service_factory, mode)
    headers, query = CARRIERS[carrier]("sk-wrong-key-0000000000")
    status, _, _ = await http(service.status().port, "GET", path + query, headers)
    needs_key = MODES[mode][0 if path == HEALTH else 1]
    assert (status == 401) is needs_key


@pytest.mark.parametrize("path", [HEALTH, API])
@pytest.mark.parametrize("mode", list(MODES))
async def test_no_key_is_refused_where_the_mode_requires_one(service_factory, http, mode, path) -> None:
    service = await start(service_factory, mode)
    status, _, _ = await http(service.status().port, "GET", path)
    needs_key = MODES[mode][0 if path == HEALTH else 1]
    assert (status == 401) is needs_key


async def test_auto_without_lan_is_off(service_factory, http) -> None:
    service = await start(service_factory, "auto")
    assert service.status().auth_mode == "off"
    status, _, _ = await http(service.status().port, "GET", API)
    assert status != 401


async def test_auto_with_lan_is_all_except_health(service_factory, http) -> None:
    service = await start(service_factory, "auto", **{"proxy.allow_lan_access": True})
    assert service.status().auth_mode == "all_except_health"
    port = service.status().port
    assert (await http(port, "GET", HEALTH))[0] == 200
    assert (await http(port, "GET", API))[0] == 401


async def test_one_right_carrier_among_wrong_ones_is_refused(service_factory, http) -> None:
    service = await start(service_factory, "strict")
    headers = {"Authorization": "Bearer sk-wrong-0000000000", "x-api-key": KEY}
    status, _, body = await http(service.status().port, "GET", HEALTH, headers)
    assert status == 401 and b"different API keys" in body


async def test_bearer_scheme_is_case_insensitive(service_factory, http) -> None:
    service = await start(service_factory, "strict")
    status, _, _ = await http(service.status().port, "GET", HEALTH, {"Authorization": f"bearer {KEY}"})
    assert status == 200


@pytest.mark.parametrize(
    ("path", "headers", "shape"),
    [
        ("/v1/chat/completions", {}, "openai"),
        ("/v1/messages", {}, "anthropic"),
        ("/v1beta/models/gemini-3-pro:generateContent", {}, "gemini"),
        ("/v1/models", {"x-goog-api-key": "sk-wrong-0000000000"}, "gemini"),
    ],
)
async def test_401_is_in_the_protocol_of_the_path_and_names_the_headers(
    service_factory, http, path, headers, shape
) -> None:
    service = await start(service_factory, "strict")
    status, response_headers, body = await http(service.status().port, "POST", path, headers, b"{}")
    assert status == 401
    assert response_headers["content-type"].startswith("application/json")
    data = jsoncodec.loads(body)
    if shape == "anthropic":
        assert data["type"] == "error" and data["error"]["type"] == "authentication_error"
        message = data["error"]["message"]
    elif shape == "gemini":
        assert data["error"]["status"] == "UNAUTHENTICATED" and data["error"]["code"] == 401
        message = data["error"]["message"]
    else:
        assert data["error"]["code"] == "invalid_api_key"
        message = data["error"]["message"]
    for carrier in ("Authorization: Bearer", "x-api-key", "x-goog-api-key", "?key="):
        assert carrier in message


@pytest.mark.parametrize(
    "target",
    [
        "/healthz/../v1/models",
        "/healthz/%2e%2e/v1/models",
        "/healthz/..%2Fv1/models",
        "/healthz%2F..%2Fv1/models",
        "//v1//models",
        "/v1/models/",
        "/v1/models;x=1",
        "/%2Fv1/models",
        "/HEALTHZ",
        "/Healthz",
        "/health/x",
        "/./v1/./models",
        "/v1/v1/models",
        "/v1/./healthz",
        "/healthz/..",
    ],
)
@pytest.mark.parametrize("mode", ["strict", "all_except_health"])
async def test_path_tricks_do_not_bypass_auth(service_factory, http, mode, target) -> None:
    service = await start(service_factory, mode)
    status, _, body = await http(service.status().port, "GET", target)
    assert status == 401, body


@pytest.mark.parametrize("target", ["//healthz", "/healthz/", "/%2Fhealthz", "/healthz;x=1", "/v1/../healthz"])
async def test_health_spellings_are_health_in_all_except_health(service_factory, http, target) -> None:
    """They resolve to the health route itself, so they answer health — nothing else."""
    service = await start(service_factory, "all_except_health")
    status, _, body = await http(service.status().port, "GET", target)
    assert status == 200 and jsoncodec.loads(body)["status"] == "ok"


@pytest.mark.parametrize("target", ["//healthz", "/healthz/", "/%2Fhealthz", "/healthz;x=1"])
async def test_health_spellings_need_the_key_in_strict(service_factory, http, target) -> None:
    service = await start(service_factory, "strict")
    assert (await http(service.status().port, "GET", target))[0] == 401
    status, _, _ = await http(service.status().port, "GET", target, {"x-api-key": KEY})
    assert status == 200


async def test_options_preflight_is_answered_before_auth(service_factory, http) -> None:
    service = await start(service_factory, "strict")
    status, headers, _ = await http(
        service.status().port,
        "OPTIONS",
        "/v1/messages",
        {"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
         "Access-Control-Request-Headers": "x-api-key, content-type"},
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "*"
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "x-api-key, content-type"


async def test_head_root_probe_is_open_in_all_except_health_but_not_strict(service_factory, http) -> None:
    service = await start(service_factory, "all_except_health")
    assert (await http(service.status().port, "HEAD", "/"))[0] == 200
    assert (await http(service.status().port, "GET", "/"))[0] == 401
    strict = await start(service_factory, "strict")
    assert (await http(strict.status().port, "HEAD", "/"))[0] == 401


async def test_auth_mode_and_key_change_apply_without_restart(service_factory, http, config_store) -> None:
    service = await start(service_factory, "off")
    port = service.status().port
    assert (await http(port, "GET", API))[0] != 401
    config_store.set("proxy.auth_mode", "strict")
    assert (await http(port, "GET", API))[0] == 401
    assert (await http(port, "GET", HEALTH, {"x-api-key": KEY}))[0] == 200
    config_store.set("proxy.api_key", "sk-rotated-key-99999999")
    assert (await http(port, "GET", HEALTH, {"x-api-key": KEY}))[0] == 401
    assert (await http(port, "GET", HEALTH, {"x-api-key": "sk-rotated-key-99999999"}))[0] == 200


async def test_turning_lan_off_while_bound_to_lan_keeps_auto_auth_on(service_factory, http, config_store) -> None:
    """LAN applies on the next start; until then `auto` must follow the bound socket."""
    service = await start(service_factory, "auto", **{"proxy.allow_lan_access": True})
    config_store.set("proxy.allow_lan_access", False)
    assert (await http(service.status().port, "GET", API))[0] == 401


# -- open doors ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [API, "/v1/chat/completions", "/v1/messages", HEALTH])
async def test_options_without_preflight_headers_needs_the_key_under_strict(service_factory, http, path) -> None:
    service = await start(service_factory, "strict")
    port = service.status().port
    status, _, body = await http(port, "OPTIONS", path)
    assert status == 401 and b"missing API key" in body
    status, _, _ = await http(port, "OPTIONS", path, {"Origin": "http://x"})  # Origin alone: no preflight
    assert status == 401


async def test_a_real_preflight_is_answered_without_a_key(service_factory, http) -> None:
    service = await start(service_factory, "strict")
    status, headers, _ = await http(
        service.status().port,
        "OPTIONS",
        "/v1/chat/completions",
        {"Origin": "http://x", "Access-Control-Request-Method": "POST"},
    )
    assert status == 204 and "POST" in headers["access-control-allow-methods"]


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, f"?key=sk-wrong-1&key={KEY}"),
        ({}, f"?key={KEY}&key={KEY}"),
        ({"x-api-key": "sk-wrong-0000000000"}, f"?key={KEY}"),
        ({"Authorization": f"Bearer {KEY}", "x-goog-api-key": "sk-wrong-0000000000"}, ""),
    ],
    ids=["two query keys", "one query key twice", "header and query differ", "two headers differ"],
)
async def test_several_keys_are_refused_even_when_one_is_right(service_factory, http, headers, query) -> None:
    service = await start(service_factory, "strict")
    status, _, body = await http(service.status().port, "GET", API + query, headers)
    assert status == 401
    message = jsoncodec.loads(body)["error"]["message"]
    assert "one" in message and KEY not in message


async def test_the_same_key_on_several_carriers_is_accepted(service_factory, http) -> None:
    service = await start(service_factory, "strict")
    headers = {"Authorization": f"Bearer {KEY}", "x-api-key": KEY}
    status, _, _ = await http(service.status().port, "GET", API + f"?key={KEY}", headers)
    assert status == 200


async def test_two_authorization_headers_are_refused(service_factory) -> None:
    service = await start(service_factory, "strict")
    reader, writer = await asyncio.open_connection("127.0.0.1", service.status().port)
    writer.write(
        (
            f"GET {API} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Bearer sk-wrong-0000000000\r\nAuthorization: Bearer {KEY}\r\n\r\n"
        ).encode()
    )
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401")


def test_auto_is_decided_in_one_place_with_the_lan_state_that_applies(config_store) -> None:
    from proxy.config.model import resolve_auth_mode
    from proxy.context import ProxyContext

    table = {
        ("auto", False): "off",
        ("auto", True): "all_except_health",
        ("strict", False): "strict",
        ("off", True): "off",
        ("all_except_health", False): "all_except_health",
    }
    assert {k: resolve_auth_mode(k[0], lan=k[1]) for k in table} == table
    config_store.set("proxy.auth_mode", "auto")
    config_store.set("proxy.allow_lan_access", False)
    ctx = ProxyContext(config_store)
    assert ctx.auth_mode == config_store.config.effective_auth_mode == "off"
    ctx.lan_active = True  # bound to the LAN, whatever the file says now
    ctx.apply_config(config_store.config)
    assert ctx.auth_mode == "all_except_health"

"""Client keys (SPEC §19) through the real server: every limit and its error in each
client protocol, every carrier, revocation reaching a running serve, names (never keys)
in records, the filter, stats and metrics; no plaintext key on disk."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

import aiohttp
import pytest

from proxy.cli import main
from proxy.monitor.filter import parse_filter
from tests.e2e.conftest import E2E

PROTOCOLS = {
    "openai": (
        "/v1/chat/completions",
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    ),
    "anthropic": (
        "/v1/messages",
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
    "gemini": (
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ),
}


def add_key(capsys, name: str, *options: str) -> str:
    assert main(["keys", "add", name, *options]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk-ag-")
    return key


async def call(
    e2e: E2E,
    protocol: str,
    key: str,
    *,
    model: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> tuple[int, dict, dict]:
    path, body = PROTOCOLS[protocol]
    if model is not None:
        if protocol == "gemini":
            path = path.replace("gemini-2.5-flash", model)
        else:
            body = {**body, "model": model}
    hdrs = headers if headers is not None else {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(e2e.url + path + query, json=body, headers=hdrs) as r,
    ):
        return r.status, dict(r.headers), await r.json()


def message(protocol: str, body: dict) -> str:
    """The error message where each protocol puts it (and the shape each SDK expects)."""
    if protocol == "anthropic":
        assert body["type"] == "error"
    if protocol == "gemini":
        assert "status" in body["error"] and "code" in body["error"]
    return body["error"]["message"]


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_a_model_outside_the_key_globs_is_403(e2e: E2E, capsys, protocol):
    key = add_key(capsys, "alice", "--models", "gpt-4o,claude-*")
    e2e.service.keys.reload_if_changed()
    allowed = {"openai": None, "anthropic": None, "gemini": "gemini-2.5-flash"}[protocol]
    if protocol == "gemini":  # alice may not use any gemini model
        status, _, body = await call(e2e, protocol, key, model=allowed)
        assert status == 403
        assert "client key 'alice' may not use model 'gemini-2.5-flash'" in message(protocol, body)
        return
    status, _, body = await call(e2e, protocol, key)
    assert status == 200
    denied = "gemini-2.5-pro"
    status, _, body = await call(e2e, protocol, key, model=denied)
    assert status == 403
    assert f"may not use model '{denied}' (it may use: gpt-4o, claude-*)" in message(protocol, body)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_over_rpm_is_429_with_retry_after(e2e: E2E, capsys, protocol):
    key = add_key(capsys, "bot", "--rpm", "2")
    e2e.service.keys.reload_if_changed()
    assert (await call(e2e, protocol, key))[0] == 200
    assert (await call(e2e, protocol, key))[0] == 200
    status, headers, body = await call(e2e, protocol, key)
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 30
    text = message(protocol, body)
    assert "client key 'bot' is over its limit of 2 requests per minute" in text
    assert "not the upstream's" in text
    assert len(e2e.upstream_calls()) == 2  # the third never reached an account


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_over_the_daily_token_budget_is_429_saying_when_it_resets(e2e: E2E, capsys, protocol):
    key = add_key(capsys, "ci", "--tokens-per-day", "2")
    e2e.service.keys.reload_if_changed()
    assert (await call(e2e, protocol, key))[0] == 200  # under budget: the tokens are counted after
    await e2e.records(1)
    assert e2e.service.keys.by_name["ci"].used_today(time.time()) >= 2
    status, headers, body = await call(e2e, protocol, key)
    assert status == 429
    text = message(protocol, body)
    assert "client key 'ci' used its daily budget of 2 tokens" in text and "it resets at " in text
    assert int(headers["Retry-After"]) > 0


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_expired_and_revoked_keys_are_401(e2e: E2E, capsys, protocol):
    old = add_key(capsys, "old", "--expires", "2020-01-01")
    gone = add_key(capsys, "gone")
    assert main(["keys", "revoke", "gone"]) == 0
    e2e.service.keys.reload_if_changed()
    status, _, body = await call(e2e, protocol, old)
    assert status == 401 and "client key 'old' expired on 2020-01-01" in message(protocol, body)
    status, _, body = await call(e2e, protocol, gone)
    assert status == 401 and "client key 'gone' was revoked" in message(protocol, body)
    status, _, body = await call(e2e, protocol, "sk-ag-not-a-key")
    assert status == 401 and "invalid API key" in message(protocol, body)


@pytest.mark.parametrize("carrier", ["bearer", "raw", "x-api-key", "x-goog-api-key", "query"])
async def test_a_client_key_works_on_every_carrier(e2e: E2E, capsys, carrier):
    key = add_key(capsys, "dev")
    e2e.service.keys.reload_if_changed()
    headers = {
        "bearer": {"Authorization": f"Bearer {key}"},
        "raw": {"Authorization": key},
        "x-api-key": {"x-api-key": key},
        "x-goog-api-key": {"x-goog-api-key": key},
        "query": {},
    }[carrier]
    status, _, _ = await call(
        e2e, "gemini", key, headers=headers, query=f"?key={key}" if carrier == "query" else ""
    )
    assert status == 200
    assert (await e2e.records(1))[0].client_key == "dev"


async def test_the_owner_key_has_no_limits(e2e: E2E, capsys):
    add_key(capsys, "tiny", "--rpm", "1")
    e2e.service.keys.reload_if_changed()
    for _ in range(3):
        assert (await call(e2e, "openai", e2e.key))[0] == 200
    assert all(r.client_key == "" for r in await e2e.records(3))


async def test_revocation_reaches_a_running_serve(e2e: E2E, capsys):
    key = add_key(capsys, "temp")
    deadline = time.monotonic() + 10
    while (await call(e2e, "openai", key))[0] != 200:  # picked up by the file poll
        assert time.monotonic() < deadline, "the new key never worked"
        await asyncio.sleep(0.1)
    assert main(["keys", "revoke", "temp"]) == 0
    while (await call(e2e, "openai", key))[0] != 401:
        assert time.monotonic() < deadline, "the revoked key kept working"
        await asyncio.sleep(0.1)
    assert main(["keys", "rotate", "temp"]) == 0
    new = capsys.readouterr().out.split()[-1]
    while (await call(e2e, "openai", new))[0] != 200:
        assert time.monotonic() < deadline, "the rotated key never worked"
        await asyncio.sleep(0.1)
    assert (await call(e2e, "openai", key))[0] == 401


async def test_the_key_name_is_in_records_filter_stats_and_metrics_never_the_key(e2e: E2E, capsys):
    key = add_key(capsys, "alice")
    e2e.service.keys.reload_if_changed()
    assert (await call(e2e, "anthropic", key))[0] == 200
    assert (await call(e2e, "openai", e2e.key))[0] == 200
    records = await e2e.records(2)
    assert [r.client_key for r in records] == ["alice", ""]
    assert [r.client_key for r in await e2e.service.monitor.query("key:alice")] == ["alice"]
    assert parse_filter("-key:alice").matches(records[1])
    usage = {u.key: u.requests for u in await e2e.service.monitor.usage("key", time.time() - 3600)}
    assert usage == {"alice": 1, "": 1}
    text = e2e.service.metrics.render().decode()
    assert 'key="alice"' in text
    await e2e.service.monitor.flush()
    e2e.service.keys.flush_usage()
    home = e2e.service.paths.data_dir
    for path in [p for p in home.rglob("*") if p.is_file()]:
        assert key.encode() not in path.read_bytes(), path
    with sqlite3.connect(e2e.service.paths.monitor_db) as conn:
        dump = "\n".join(conn.iterdump())
    assert key not in dump and key[6:] not in dump
    assert os.stat(home / "keys.json").st_mode & 0o777 == 0o600
    assert os.stat(home / "keys-usage.json").st_mode & 0o777 == 0o600


def test_keys_list_shows_limits_usage_and_never_the_key(capsys, agproxy_home):
    key = add_key(
        capsys,
        "alice",
        "--models",
        "claude-*",
        "--rpm",
        "10",
        "--tokens-per-day",
        "100000",
        "--expires",
        "30d",
    )
    add_key(capsys, "bob")
    assert main(["keys", "revoke", "bob"]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "KEY",
        "STATE",
        "MODELS",
        "RPM",
        "TOKENS/DAY",
        "TODAY",
        "EXPIRES",
        "LAST",
        "USED",
    ]
    alice = lines[1].split()
    assert alice[:7] == ["alice", key[:10] + "…", "active", "claude-*", "10", "100,000", "0"]
    assert lines[2].split()[:3] == ["bob", lines[2].split()[1], "revoked"]
    assert key not in out
    assert main(["keys", "add", "alice"]) == 2
    assert "a key named 'alice' exists" in capsys.readouterr().err
    assert main(["keys", "revoke", "carol"]) == 2
    assert "no client key named 'carol'" in capsys.readouterr().err

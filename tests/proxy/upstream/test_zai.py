"""z.ai dispatch (SPEC §10): when it applies, and what reaches z.ai."""

from __future__ import annotations

import pytest

from proxy import jsoncodec
from proxy.config.model import Config
from proxy.upstream import zai
from tests.fakes.harness import Harness


def zai_config(mode: str) -> Config:
    cfg = Config()
    cfg.zai.enabled, cfg.zai.api_key, cfg.zai.dispatch_mode = True, "zk-123", mode
    return cfg


@pytest.mark.parametrize("mode,google,expected", [
    ("off", False, False), ("exclusive", True, True), ("fallback", True, False), ("fallback", False, True),
    ("pooled", False, True),
])
def test_dispatch_modes(mode, google, expected):
    assert zai.zai_should_handle(zai_config(mode), google) is expected


def test_disabled_or_keyless_never_handles():
    cfg = zai_config("exclusive")
    cfg.zai.enabled = False
    assert not zai.zai_should_handle(cfg, False)
    cfg = zai_config("exclusive")
    cfg.zai.api_key = ""
    assert not zai.zai_should_handle(cfg, False)


def test_pooled_gives_zai_one_slot_among_accounts_plus_one():
    cfg = zai_config("pooled")
    picks = [zai.zai_should_handle(cfg, True, accounts=3) for _ in range(40)]
    assert sum(picks) == 10


@pytest.mark.parametrize("model,expected", [("claude-opus-4-5", "glm-4.7"), ("claude-3-5-haiku", "glm-4.5-air"),
                                            ("claude-sonnet-4-5", "glm-4.7"), ("glm-4.6", "glm-4.6")])
def test_model_mapping(model, expected):
    assert zai.map_model(model, Config().zai.models) == expected


def body(stream: bool = False) -> dict:
    return {"model": "claude-3-5-haiku-20241022", "max_tokens": 10, "stream": stream,
            "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hey", "cache_control": {"type": "ephemeral"}}]}]}


async def test_forward_json_strips_cache_control_and_maps_the_model(harness: Harness):
    harness.config.zai.api_key = "zk-123"
    resp = await zai.forward(harness.sessions, body())
    data = jsoncodec.loads(await resp.read())
    assert resp.status == 200 and data["content"][0]["text"] == "echo: hey"
    got = harness.fake.calls("zai")[0]
    assert got.body["model"] == "glm-4.5-air" and b"cache_control" not in jsoncodec.dumps(got.body)
    assert got.headers["x-api-key"] == "zk-123" and "Authorization" not in got.headers


async def test_forward_stream_is_relayed_verbatim_with_bearer(harness: Harness):
    harness.config.zai.api_key = "zk-123"
    resp = await zai.forward(harness.sessions, body(stream=True), use_bearer=True)
    raw = b"".join([c async for c in resp.chunks()])
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert raw.startswith(b"event: message_start\n") and raw.endswith(b'data: {"type":"message_stop"}\n\n')
    assert harness.fake.calls("zai")[0].headers["Authorization"] == "Bearer zk-123"


async def test_upstream_error_status_is_relayed(harness: Harness):
    from tests.fakes.replies import Reply

    harness.config.zai.api_key = "zk-123"
    harness.fake.script("zai", Reply(status=429, json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}))
    resp = await zai.forward(harness.sessions, body())
    assert resp.status == 429 and b"rate_limit_error" in await resp.read()

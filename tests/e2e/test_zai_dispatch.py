"""z.ai dispatch through the server with the anthropic SDK (SPEC §10): exclusive relays
z.ai's answer verbatim (model mapped, cache_control stripped), fallback only when no
Google account can serve, pooled takes turns."""

from __future__ import annotations

import json

import anthropic
import pytest

from tests.e2e.conftest import E2EFactory
from tests.fakes.replies import quota_exhausted

ZAI = {"zai.enabled": True, "zai.api_key": "zk-test-secret", "zai.dispatch_mode": "exclusive"}
CACHED_SYSTEM = [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]


async def test_exclusive_relays_zai_answer_verbatim(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(**ZAI)
    client = e2e.anthropic()
    raw = await client.messages.with_raw_response.create(
        model="claude-opus-4-6",
        max_tokens=20,
        system=CACHED_SYSTEM,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello zai", "cache_control": {"type": "ephemeral"}}
                ],
            }
        ],
    )
    msg = await raw.parse()
    assert msg.id == "msg_fake1"  # z.ai's own id: relayed, not re-encoded
    assert msg.content[0].text == "echo: hello zai"
    assert msg.model == "glm-4.7"
    assert raw.headers["x-agproxy-account"] == "z.ai"
    [sent] = e2e.fake.calls("zai")
    assert sent.body["model"] == "glm-4.7"
    assert "cache_control" not in json.dumps(sent.body)
    assert sent.token == "zk-test-secret"
    assert not e2e.upstream_calls()  # the Google account was not used


async def test_exclusive_stream_through_the_sdk_helper(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(**{**ZAI, "zai.models.haiku": "glm-4.5-air"})
    client = e2e.anthropic()
    async with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=20,
        messages=[{"role": "user", "content": "stream zai"}],
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "echo: stream zai"
    assert final.usage.output_tokens == 5
    assert e2e.fake.calls("zai")[0].body["model"] == "glm-4.5-air"
    [record] = await e2e.records(1)
    assert (record.account, record.upstream_kind, record.upstream_model) == (
        "z.ai",
        "zai",
        "glm-4.5-air",
    )
    # tokens read from the relayed stream's message_start / message_delta
    assert (record.input_tokens, record.output_tokens) == (10, 5)


async def test_exclusive_starts_without_any_account(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(accounts=(), **ZAI)
    msg = await e2e.anthropic().messages.create(
        model="glm-4.7", max_tokens=20, messages=[{"role": "user", "content": "no google"}]
    )
    assert msg.content[0].text == "echo: no google"


async def test_fallback_uses_google_while_an_account_is_available(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(**{**ZAI, "zai.dispatch_mode": "fallback"})
    client = e2e.anthropic()
    msg = await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=20,
        messages=[{"role": "user", "content": "google first"}],
    )
    assert msg.content[0].text == "echo: google first"
    assert len(e2e.upstream_calls()) == 1 and not e2e.fake.calls("zai")

    # The only account runs out of quota: the next request falls back to z.ai.
    e2e.fake.script("generate", quota_exhausted("1h"))
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=20,
            messages=[{"role": "user", "content": "quota"}],
        )
    msg = await client.messages.create(
        model="claude-sonnet-4-6", max_tokens=20, messages=[{"role": "user", "content": "then zai"}]
    )
    assert msg.id == "msg_fake1" and msg.content[0].text == "echo: then zai"
    assert len(e2e.fake.calls("zai")) == 1


async def test_fallback_with_no_google_account_goes_to_zai(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(accounts=(), **{**ZAI, "zai.dispatch_mode": "fallback"})
    msg = await e2e.anthropic().messages.create(
        model="claude-sonnet-4-6", max_tokens=20, messages=[{"role": "user", "content": "only zai"}]
    )
    assert msg.content[0].text == "echo: only zai"


async def test_pooled_takes_turns_with_the_google_account(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(**{**ZAI, "zai.dispatch_mode": "pooled"})
    client = e2e.anthropic()
    for i in range(4):
        await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=20,
            messages=[{"role": "user", "content": f"turn {i}"}],
        )
    assert len(e2e.fake.calls("zai")) == 2
    assert len(e2e.upstream_calls()) == 2


async def test_openai_requests_never_go_to_zai(e2e_factory: E2EFactory) -> None:
    e2e = await e2e_factory(**ZAI)
    out = await e2e.openai().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "google only"}]
    )
    assert out.choices[0].message.content == "echo: google only"
    assert not e2e.fake.calls("zai")

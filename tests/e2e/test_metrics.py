"""GET /metrics (SPEC §18): the Prometheus client's own parser reads what the real server
exposes, and its numbers are the traffic that went through it."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import E2E
from tests.fakes import replies


async def scrape(e2e: E2E) -> dict[str, list]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{e2e.url}/metrics", headers=e2e.auth_headers()) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_metrics_count_the_requests_tokens_and_attempts_sent(e2e: E2E) -> None:
    client = e2e.openai()
    prompt = completion = 0
    for _ in range(3):
        resp = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hello"}]
        )
        prompt += resp.usage.prompt_tokens
        completion += resp.usage.completion_tokens
    async with e2e.anthropic().messages.stream(
        model="claude-sonnet-4-6", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = await stream.get_final_message()
    e2e.fake.script("generate", replies.bad_request())
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    records = await e2e.records(5)
    assert len(records) == 5
    m = await scrape(e2e)
    upstream = records[0].upstream_model
    assert (
        value(m, "agproxy_requests_total", protocol="openai", model=upstream, status_class="2xx")
        == 3
    )
    assert value(m, "agproxy_requests_total", protocol="openai", status_class="4xx") == 1
    assert value(m, "agproxy_request_errors_total", protocol="openai") == 1
    assert value(m, "agproxy_requests_total", protocol="anthropic", status_class="2xx") == 1
    assert (
        value(m, "agproxy_tokens_total", protocol="openai", status_class="2xx", kind="input") == 0
    )  # not a token label
    assert value(m, "agproxy_tokens_total", protocol="openai", kind="input") == prompt
    assert value(m, "agproxy_tokens_total", protocol="openai", kind="output") == completion
    assert (
        value(m, "agproxy_tokens_total", protocol="anthropic", kind="output")
        == final.usage.output_tokens
    )
    assert value(m, "agproxy_request_duration_seconds_count") == 5
    assert value(m, "agproxy_request_duration_seconds_bucket", le="+Inf") == 5
    assert (
        value(m, "agproxy_request_duration_seconds_sum")
        == pytest.approx(sum(r.duration_ms for r in records) / 1000)
    )
    assert value(m, "agproxy_time_to_first_byte_seconds_count", protocol="anthropic") == 1
    assert value(m, "agproxy_upstream_attempts_total", account="a@example.com", outcome="ok") == 4
    assert value(m, "agproxy_upstream_attempts_total", outcome="client_error") == 1
    assert value(m, "agproxy_overhead_seconds_count") == 5
    assert value(m, "agproxy_accounts", state="active") == 1
    assert value(m, "agproxy_accounts", state="cooling") == 0


async def test_metrics_need_the_api_key_and_are_not_recorded_as_traffic(e2e: E2E) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{e2e.url}/metrics") as resp:
        assert resp.status == 401
        assert "API key" in (await resp.json())["error"]["message"]
    await scrape(e2e)
    assert not [r for r in e2e.service.monitor.recent(50) if r.path.startswith("/metrics")]


async def test_two_services_keep_their_own_metrics(e2e_factory) -> None:
    one = await e2e_factory()
    two = await e2e_factory()
    await one.openai().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a"}]
    )
    await one.records(1)
    assert value(await scrape(one), "agproxy_requests_total") == 1
    assert value(await scrape(two), "agproxy_requests_total") == 0

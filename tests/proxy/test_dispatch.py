"""The dispatcher's failover (SPEC §7 table), one behaviour per test, over the real
store/pool and the fake upstream."""

from __future__ import annotations

import asyncio
import time

import pytest

from proxy.accounts.model import AccountState
from proxy.dispatch import UpstreamCall
from proxy.errors import ApiError, ErrorKind
from proxy.monitor.record import RequestRecord
from tests.fakes import replies
from tests.fakes.harness import Harness

MODEL = "gemini-2.5-pro"


def call(text: str = "hi", session: str | None = None, stream: bool = False) -> UpstreamCall:
    return UpstreamCall(MODEL, {"contents": [{"role": "user", "parts": [{"text": text}]}]}, session, stream)


def text_of(resp: dict) -> str:
    return "".join(p.get("text", "") for p in resp["candidates"][0]["content"]["parts"])


def tokens_used(h: Harness) -> list[str]:
    return [c.token for c in h.fake.calls("generate")]


async def test_success_fills_the_monitor_record(harness: Harness):
    acc = harness.add_antigravity("a")
    rec = RequestRecord(id=1, started=time.time())
    resp = await harness.dispatcher.generate(call("hello"), rec)
    assert text_of(resp) == "echo: hello"
    assert rec.account == acc.label and rec.upstream_kind == "antigravity" and rec.upstream_model == MODEL
    assert [(a.status, a.error) for a in rec.attempts] == [(200, "")]
    assert acc.requests == 1


async def test_quota_exhausted_cools_the_model_until_the_hint_and_moves_on(harness: Harness):
    a, b = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.fake.always("generate", replies.quota_exhausted("1h"), token="tok-a")
    harness.pool.settings.preferred_account = a.id  # make sure a is tried first
    rec = RequestRecord(id=1, started=time.time())
    resp = await harness.dispatcher.generate(call(), rec)
    assert text_of(resp) and tokens_used(harness) == ["tok-a", "tok-b"]
    assert a.cooldowns[MODEL] == pytest.approx(time.time() + 3600, abs=5)
    assert harness.reload().by_id(a.id).cooldowns[MODEL] == pytest.approx(time.time() + 3600, abs=5)
    assert [x.status for x in rec.attempts] == [429, 200] and rec.account == b.label


async def test_rate_limited_with_a_short_hint_retries_the_same_account_once(harness: Harness):
    harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.fake.script("generate", replies.rate_limited("0.2s"))
    resp = await harness.dispatcher.generate(call())
    assert text_of(resp)
    first, second = tokens_used(harness)
    assert first == second


async def test_rate_limited_with_a_long_hint_cools_and_fails_over(harness: Harness):
    a, _ = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.pool.settings.preferred_account = a.id
    harness.fake.always("generate", replies.rate_limited(None, retry_after="30"), token="tok-a")
    await harness.dispatcher.generate(call())
    assert tokens_used(harness) == ["tok-a", "tok-b"]
    assert a.cooldowns[MODEL] == pytest.approx(time.time() + 30, abs=3)


async def test_capacity_backs_off_and_retries(harness: Harness):
    harness.add_antigravity("a")
    harness.fake.script("generate", replies.capacity(429))
    t0 = time.monotonic()
    resp = await harness.dispatcher.generate(call())
    assert text_of(resp) and len(tokens_used(harness)) == 2
    assert time.monotonic() - t0 >= 0.4  # backed off before retrying


@pytest.mark.parametrize("status", [503, 529])
async def test_503_and_529_are_capacity(harness: Harness, status: int):
    a = harness.add_antigravity("a")
    harness.fake.script("generate", *[replies.capacity(status)] * 2)  # both endpoints
    resp = await harness.dispatcher.generate(call())
    assert text_of(resp) and MODEL not in a.cooldowns


async def test_401_refreshes_the_token_and_retries_once(harness: Harness):
    a = harness.add_antigravity("a")
    harness.fake.invalid_tokens.add("tok-a")
    resp = await harness.dispatcher.generate(call())
    assert text_of(resp)
    assert tokens_used(harness)[0] == "tok-a" and tokens_used(harness)[1].startswith("at-")
    assert len(harness.fake.calls("token")) == 1
    assert harness.reload().by_id(a.id).access_token == tokens_used(harness)[1]


async def test_invalid_grant_marks_auth_failed_persisted_and_moves_on(harness: Harness):
    a = harness.add_antigravity("a", expired=True, refresh_token="rt-revoked")
    harness.add_antigravity("b")
    harness.pool.settings.preferred_account = a.id
    harness.fake.revoked.add("rt-revoked")
    resp = await harness.dispatcher.generate(call())
    assert text_of(resp) and tokens_used(harness) == ["tok-b"]
    assert harness.reload().by_id(a.id).state is AccountState.AUTH_FAILED


async def test_verification_required_keeps_the_url_persisted(harness: Harness):
    a, _ = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.pool.settings.preferred_account = a.id
    harness.fake.always("generate", replies.validation_required("https://accounts.google.com/v/abc"), token="tok-a")
    await harness.dispatcher.generate(call())
    stored = harness.reload().by_id(a.id)
    assert stored.state is AccountState.VERIFICATION_REQUIRED
    assert stored.validation_url == "https://accounts.google.com/v/abc"
    assert stored.state_until == pytest.approx(time.time() + 600, abs=5)


async def test_plain_403_marks_forbidden(harness: Harness):
    a, _ = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.pool.settings.preferred_account = a.id
    harness.fake.always("generate", replies.forbidden(), token="tok-a")
    await harness.dispatcher.generate(call())
    assert harness.reload().by_id(a.id).state is AccountState.FORBIDDEN
    assert tokens_used(harness) == ["tok-a", "tok-a", "tok-b"]  # once without x-goog-user-project


async def test_server_error_on_every_endpoint_fails_over_with_short_cooling(harness: Harness):
    a, _ = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.pool.settings.preferred_account = a.id
    harness.fake.always("generate", replies.server_error(500), token="tok-a")
    await harness.dispatcher.generate(call())
    assert [(c.token, c.prefix) for c in harness.fake.calls("generate")] == [("tok-a", "a"), ("tok-a", "b"), ("tok-b", "a")]
    # a fault, not a 429: a short cooling kept apart from the 429 coolings
    assert MODEL not in a.cooldowns and 0 < a.fault_cooldowns[MODEL] - time.time() <= 10


async def test_400_goes_to_the_client_without_retry(harness: Harness):
    harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.fake.always("generate", replies.bad_request("Invalid value at contents[0]"))
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(call())
    assert exc.value.kind is ErrorKind.INVALID_REQUEST and "contents[0]" in exc.value.message
    assert len(tokens_used(harness)) == 1


async def test_all_cooling_gives_429_with_the_shortest_wait(harness: Harness):
    harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.fake.always("generate", replies.rate_limited("40s"), token="tok-a")
    harness.fake.always("generate", replies.rate_limited("20s"), token="tok-b")
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(call())
    assert exc.value.kind is ErrorKind.RATE_LIMIT and exc.value.retry_after == pytest.approx(20, abs=2)
    with pytest.raises(ApiError) as again:  # no upstream call while everything cools
        await harness.dispatcher.generate(call())
    assert again.value.status == 429 and len(tokens_used(harness)) == 2


async def test_attempts_are_bounded_by_accounts_plus_one(harness: Harness):
    for name in "abcde":
        harness.add_antigravity(name)
    harness.fake.always("generate", replies.quota_exhausted("1h"))
    with pytest.raises(ApiError):
        await harness.dispatcher.generate(call())
    assert len(tokens_used(harness)) == 3


async def test_no_accounts_is_a_clear_503(harness: Harness):
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(call())
    assert exc.value.status == 503 and "no upstream accounts" in exc.value.message


async def test_model_no_account_serves_is_a_404_naming_it(harness: Harness):
    harness.add_key("AIzaKEY000000001")
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(UpstreamCall("claude-sonnet-4-5", {"contents": []}))
    assert exc.value.status == 404 and "claude-sonnet-4-5" in exc.value.message


async def test_burst_of_429s_rotates_across_three_accounts_without_losing_requests(harness: Harness):
    for name in "abc":
        harness.add_antigravity(name)
    harness.fake.always("generate", replies.rate_limited("30s"), token="tok-a")
    results = await asyncio.gather(*(harness.dispatcher.generate(call(f"q{i}")) for i in range(15)))
    assert sorted(text_of(r) for r in results) == sorted(f"echo: q{i}" for i in range(15))
    assert {c.token for c in harness.fake.calls("generate") if c.token != "tok-a"} == {"tok-b", "tok-c"}


async def test_twenty_concurrent_requests_with_an_expired_token_refresh_once(harness: Harness):
    harness.fake.token_delay = 0.05
    harness.add_antigravity("a", expired=True)
    results = await asyncio.gather(*(harness.dispatcher.generate(call()) for _ in range(20)))
    assert len(results) == 20 and len(harness.fake.calls("token")) == 1


async def test_sticky_binding_survives_a_temporary_failover(harness: Harness):
    a, _ = harness.add_antigravity("a"), harness.add_antigravity("b")
    await harness.dispatcher.generate(call(session="s1"))
    bound = harness.pool.bound_account("s1")
    other = "tok-b" if bound == a.id else "tok-a"
    harness.fake.script("generate", replies.rate_limited("5s"), token=f"tok-{'a' if bound == a.id else 'b'}")
    await harness.dispatcher.generate(call(session="s1"))
    assert tokens_used(harness)[-1] == other
    assert harness.pool.bound_account("s1") == bound


async def test_gemini_key_account_is_dispatched_to_the_gemini_api(harness: Harness):
    harness.add_key("AIzaKEY000000001")
    rec = RequestRecord(id=1, started=time.time())
    resp = await harness.dispatcher.generate(UpstreamCall("gemini-2.5-flash", call("yo").request), rec)
    assert text_of(resp) == "echo: yo" and rec.upstream_kind == "gemini_api"
    assert harness.fake.calls("gemini")[0].headers["x-goog-api-key"] == "AIzaKEY000000001"


async def test_count_tokens_fails_over_too(harness: Harness):
    a, _ = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.pool.settings.preferred_account = a.id
    harness.fake.always("count", replies.quota_exhausted("1h"), token="tok-a")
    out = await harness.dispatcher.count_tokens(call())
    assert out["totalTokens"] > 0 and [c.token for c in harness.fake.calls("count")] == ["tok-a", "tok-b"]


async def test_request_timeout_bounds_a_slow_first_byte(harness: Harness):
    harness.config.proxy.request_timeout = 0.3
    harness.add_antigravity("a")
    harness.fake.always("generate", replies.slow(3))
    t0 = time.monotonic()
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(call())
    assert exc.value.kind is ErrorKind.TIMEOUT and time.monotonic() - t0 < 1.5


async def test_rejected_gemini_key_is_marked_and_the_next_key_serves(harness: Harness):
    from tests.fakes.replies import google_error

    bad, _ = harness.add_key("AIzaBAD000000001"), harness.add_key("AIzaGOOD00000002")
    harness.pool.settings.preferred_account = bad.id
    harness.fake.always("gemini", google_error(400, "API key not valid.", "API_KEY_INVALID"), token="AIzaBAD000000001")
    resp = await harness.dispatcher.generate(UpstreamCall("gemini-2.5-flash", call("k").request))
    assert text_of(resp) == "echo: k"
    assert harness.reload().by_id(bad.id).state is AccountState.AUTH_FAILED


@pytest.mark.parametrize("mode,accounts,expected", [("exclusive", 1, True), ("fallback", 1, False),
                                                    ("fallback", 0, True), ("off", 0, False)])
async def test_zai_dispatch_decision_follows_the_pool(harness: Harness, mode: str, accounts: int, expected: bool):
    harness.config.zai.enabled, harness.config.zai.api_key, harness.config.zai.dispatch_mode = True, "zk", mode
    for i in range(accounts):
        harness.add_antigravity(f"u{i}")
    assert harness.dispatcher.use_zai("claude-sonnet-4-5") is expected


async def test_zai_fallback_when_every_account_cools(harness: Harness):
    harness.config.zai.enabled, harness.config.zai.api_key, harness.config.zai.dispatch_mode = True, "zk", "fallback"
    a = harness.add_antigravity("a")
    harness.pool.cool(a, "claude-sonnet-4-5", 30)
    assert harness.dispatcher.use_zai("claude-sonnet-4-5") is True

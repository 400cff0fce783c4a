"""The Antigravity, Gemini API and OAuth clients against the fake upstream's wire protocols."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest

from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream import oauth
from proxy.upstream.antigravity import default_user_agent
from tests.fakes import replies
from tests.fakes.harness import Harness

REQ = {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]}


async def test_antigravity_envelope_and_headers(harness: Harness):
    acc = harness.add_antigravity("a")
    resp = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    assert resp["candidates"][0]["content"]["parts"][0]["text"] == "echo: hello there"
    call = harness.fake.calls("generate")[0]
    assert call.route == "stream" and call.path.endswith(":streamGenerateContent")
    body = call.body
    assert body["project"] == "proj-a" and body["model"] == "gemini-2.5-pro" and body["request"] == REQ
    assert body["requestType"] == "agent" and body["userAgent"] == "antigravity" and body["requestId"]
    assert call.headers["Authorization"] == "Bearer tok-a"
    assert call.headers["x-goog-user-project"] == "proj-a"
    assert call.headers["User-Agent"] == default_user_agent() and call.headers["User-Agent"].startswith("antigravity/")


async def test_configured_user_agent_wins(harness: Harness):
    harness.config.upstream.user_agent = "antigravity/9.9.9 windows/amd64"
    acc = harness.add_antigravity("a")
    await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    assert harness.fake.calls("generate")[0].headers["User-Agent"] == "antigravity/9.9.9 windows/amd64"


async def test_stream_chunks_are_unwrapped_and_collected_with_thoughts(harness: Harness):
    acc = harness.add_antigravity("a")
    req = {**REQ, "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    chunks = [c async for c in await harness.dispatcher.antigravity.stream(acc, "gemini-2.5-pro", req)]
    assert len(chunks) >= 3 and all("response" not in c for c in chunks)
    assert chunks[0]["candidates"][0]["content"]["parts"][0]["thoughtSignature"] == "c2lnLWZha2U="
    merged = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", req)
    parts = merged["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and parts[1]["text"] == "echo: hello there"
    assert merged["usageMetadata"]["thoughtsTokenCount"] == 4 and merged["candidates"][0]["finishReason"] == "STOP"


async def test_function_call_survives_collection(harness: Harness):
    acc = harness.add_antigravity("a")
    req = {"contents": [{"role": "user", "parts": [{"text": "please use tool"}]}],
           "tools": [{"functionDeclarations": [{"name": "lookup", "parameters": {"type": "object"}}]}]}
    merged = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", req)
    call = merged["candidates"][0]["content"]["parts"][-1]
    assert call["functionCall"] == {"name": "lookup", "args": {"echo": "please use tool"}}
    assert call["thoughtSignature"] == "c2lnLXRvb2w="


async def test_endpoint_fallback_on_404_of_the_first(harness: Harness):
    harness.fake.always("generate", replies.not_found(), prefix="a")
    acc = harness.add_antigravity("a")
    resp = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    assert resp["candidates"]
    assert [c.prefix for c in harness.fake.calls("generate")] == ["a", "b"]


async def test_403_retries_once_without_user_project_header(harness: Harness):
    harness.fake.script("generate", replies.forbidden())
    acc = harness.add_antigravity("a")
    await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    calls = harness.fake.calls("generate")
    assert "x-goog-user-project" in calls[0].headers and "x-goog-user-project" not in calls[1].headers


async def test_project_discovered_via_load_code_assist_and_persisted(harness: Harness):
    acc = harness.add_antigravity("a", project="")
    await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    load = harness.fake.calls("load")[0]
    assert load.body == {"metadata": {"ideType": "ANTIGRAVITY"}}
    assert harness.fake.calls("generate")[0].body["project"] == "proj-fake-123"
    assert harness.reload().by_id(acc.id).project_id == "proj-fake-123"


async def test_catalogue_and_quota_from_fetch_available_models(harness: Harness):
    acc = harness.add_antigravity("a")
    harness.fake.deprecated = {"claude-sonnet-4-5": "claude-sonnet-4-6"}
    read = await harness.dispatcher.antigravity.read_catalogue(acc)
    quota = read.quota
    assert quota is not None
    assert read.catalogue.deprecated == {"claude-sonnet-4-5": "claude-sonnet-4-6"}
    assert "claude-sonnet-4-5" not in read.catalogue.offered and "claude-sonnet-4-6" in read.catalogue.offered
    assert quota["gemini-2.5-pro"].remaining_fraction == 0.8
    assert quota["claude-sonnet-4-5"].exhausted(time.time())
    assert quota["gemini-2.5-pro"].reset_time == pytest.approx(1893456000.0)


async def test_count_tokens_sends_request_only(harness: Harness):
    acc = harness.add_antigravity("a")
    out = await harness.dispatcher.antigravity.count_tokens(acc, "gemini-2.5-pro", REQ)
    assert out["totalTokens"] > 0
    body = harness.fake.calls("count")[0].body
    assert set(body) == {"request"} and body["request"]["contents"] == REQ["contents"]


async def test_gemini_api_key_client(harness: Harness):
    acc = harness.add_key("AIzaKEY1234567")
    resp = await harness.dispatcher.gemini.generate(acc, "gemini-2.5-flash", REQ)
    assert resp["candidates"][0]["content"]["parts"][0]["text"] == "echo: hello there"
    call = harness.fake.calls("gemini")[0]
    assert call.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert call.headers["x-goog-api-key"] == "AIzaKEY1234567" and call.body == REQ
    chunks = [c async for c in await harness.dispatcher.gemini.stream(acc, "gemini-2.5-flash", REQ)]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "echo: hello there"


async def test_gemini_api_key_gets_the_public_name_of_an_antigravity_only_model(harness: Harness):
    """`gpt-*` routes to gemini-3-pro-high by default: a Gemini API key must send the
    public API's name for it, or Google answers 404."""
    acc = harness.add_key("AIzaKEY1234567")
    await harness.dispatcher.gemini.generate(acc, "gemini-3-pro-high", REQ)
    chunks = [c async for c in await harness.dispatcher.gemini.stream(acc, "gemini-3-flash", REQ)]
    assert chunks
    paths = [c.path for c in harness.fake.calls("gemini")]
    assert paths == [
        "/v1beta/models/gemini-3-pro-preview:generateContent",
        "/v1beta/models/gemini-3-flash-preview:streamGenerateContent",
    ]


async def test_refresh_invalid_grant(harness: Harness):
    harness.fake.revoked.add("rt-dead")
    with pytest.raises(UpstreamError) as exc:
        await oauth.refresh_access_token(harness.sessions, "rt-dead")
    assert exc.value.kind is UpstreamErrorKind.INVALID_GRANT


async def test_refresh_sends_client_credentials(harness: Harness):
    grant = await oauth.refresh_access_token(harness.sessions, "rt-x")
    form = harness.fake.calls("token")[0].body
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "rt-x"
    assert form["client_id"] == harness.config.upstream.oauth_client_id and form["client_secret"]
    assert grant.access_token.startswith("at-") and grant.expires_at > time.time() + 3000


async def test_login_code_exchange_and_email(harness: Harness):
    grant = await oauth.exchange_code(harness.sessions, "c0de", "http://localhost:9/cb")
    assert grant.refresh_token == "rt-from-c0de"
    assert harness.fake.calls("token")[0].body["redirect_uri"] == "http://localhost:9/cb"
    assert await oauth.fetch_email(harness.sessions, grant.access_token) == "someone@example.com"


def test_consent_url():
    url = oauth.consent_url("cid", "http://localhost:51121/cb", "st8")
    q = parse_qs(urlparse(url).query)
    assert q["access_type"] == ["offline"] and q["prompt"] == ["consent"] and q["state"] == ["st8"]
    scopes = q["scope"][0].split()
    assert "openid" in scopes and "https://www.googleapis.com/auth/cclog" in scopes
    assert "https://www.googleapis.com/auth/experimentsandconfigs" in scopes and len(scopes) == 6


async def test_twenty_concurrent_callers_refresh_once(harness: Harness):
    import asyncio

    harness.fake.token_delay = 0.05
    acc = harness.add_antigravity("a", expired=True)
    tokens = await asyncio.gather(*(harness.tokens.ensure_token(acc) for _ in range(20)))
    assert len(harness.fake.calls("token")) == 1 and len(set(tokens)) == 1
    assert harness.reload().by_id(acc.id).access_token == tokens[0]


# -- non-stream answers read in one go (ChunkStream.read_all) -----------------------------


def _sse(*objs: dict) -> list[bytes]:
    import json

    return [b"data: " + json.dumps({"response": o}).encode() + b"\n\n" for o in objs]


def _text(text: str, finish: str | None = None) -> dict:
    cand: dict = {"content": {"role": "model", "parts": [{"text": text}]}}
    if finish:
        cand["finishReason"] = finish
    return {"candidates": [cand]}


async def test_non_stream_answer_collects_every_event_of_one_body(harness: Harness):
    acc = harness.add_antigravity("a")
    harness.fake.script("generate", replies.Reply(events=_sse(_text("one "), _text("two "), _text("three", "STOP"))))
    merged = await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    assert merged["candidates"][0]["content"]["parts"] == [{"text": "one two three"}]
    assert merged["candidates"][0]["finishReason"] == "STOP"


async def test_non_stream_answer_without_finish_is_an_error(harness: Harness):
    acc = harness.add_antigravity("a")
    harness.fake.script("generate", replies.Reply(events=_sse(_text("one "), _text("two "))))
    with pytest.raises(UpstreamError) as info:
        await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    assert info.value.kind is UpstreamErrorKind.TRANSPORT and "before the answer was complete" in info.value.message


async def test_non_stream_answer_with_an_error_event_is_classified(harness: Harness):
    import json

    acc = harness.add_antigravity("a")
    error = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}
    events = [*_sse(_text("one ")), b"data: " + json.dumps(error).encode() + b"\n\n"]
    harness.fake.script("generate", replies.Reply(events=events))
    with pytest.raises(UpstreamError) as info:
        await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    assert info.value.status == 429


async def test_envelope_request_ids_are_distinct_uuid4(harness: Harness):
    import uuid

    acc = harness.add_antigravity("a")
    for _ in range(3):
        await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    ids = [c.body["requestId"] for c in harness.fake.calls("generate")]
    assert len(set(ids)) == 3
    for rid in ids:
        assert rid.startswith("agent-")
        parsed = uuid.UUID(rid.removeprefix("agent-"))
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == rid[6:]


async def test_non_stream_answer_in_any_sse_form_is_the_same(harness: Harness):
    """The plain form (`data: …` + blank line) is split quickly; CRLF, comments, event
    fields and multi-line data go through the full parser: same answer either way."""
    acc = harness.add_antigravity("a")
    plain = _sse(_text("one "), _text("two", "STOP"))
    crlf = [e.replace(b"\n", b"\r\n") for e in plain]  # as Google sends it
    odd = [b": keep-alive\r\n\r\n", crlf[0], b"event: message\n" + plain[1]]
    answers = []
    for events in (plain, crlf, odd):
        harness.fake.script("generate", replies.Reply(events=events))
        answers.append(await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["candidates"][0]["content"]["parts"] == [{"text": "one two"}]


async def test_non_stream_answer_with_a_malformed_event_is_a_server_error(harness: Harness):
    acc = harness.add_antigravity("a")
    harness.fake.script("generate", replies.Reply(events=[b"data: {not json\n\n"]))
    with pytest.raises(UpstreamError) as info:
        await harness.dispatcher.antigravity.generate(acc, "gemini-2.5-pro", REQ)
    assert info.value.kind is UpstreamErrorKind.SERVER and info.value.body == b"{not json"

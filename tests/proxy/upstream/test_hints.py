"""Retry hints and the SPEC §7 failure classification, on real upstream error shapes."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from proxy import jsoncodec
from proxy.errors import UpstreamErrorKind as K
from proxy.upstream.hints import classify, parse_duration, parse_retry_after_header
from tests.fakes import replies


def classify_reply(r: replies.Reply):
    return classify(r.status, jsoncodec.dumps(r.json) if r.json is not None else r.body, r.headers)


@pytest.mark.parametrize("text,seconds", [("3.5s", 3.5), ("850ms", 0.85), ("1h2m3.5s", 3723.5), ("2m", 120), ("0s", 0), ("12", 12)])
def test_google_duration_forms(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_duration_rejects_garbage():
    assert parse_duration("soon") is None


def test_retry_after_header_seconds_and_http_date():
    assert parse_retry_after_header("7") == 7
    assert parse_retry_after_header(formatdate(time.time() + 30, usegmt=True)) == pytest.approx(30, abs=2)


def test_quota_exhausted_with_reset_delay():
    err = classify_reply(replies.quota_exhausted("1h2m3.5s"))
    assert err.kind is K.QUOTA_EXHAUSTED and err.retry_after == pytest.approx(3723.5)


def test_quota_reset_timestamp_hint():
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
    err = classify_reply(replies.google_error(429, "quota", "QUOTA_EXHAUSTED", quota_reset_ts=ts))
    assert err.kind is K.QUOTA_EXHAUSTED and err.retry_after == pytest.approx(120, abs=2)


def test_rate_limited_with_retry_delay():
    err = classify_reply(replies.rate_limited("3.5s"))
    assert err.kind is K.RATE_LIMITED and err.retry_after == 3.5


def test_rate_limited_with_retry_after_header():
    err = classify_reply(replies.rate_limited(None, retry_after="9"))
    assert err.kind is K.RATE_LIMITED and err.retry_after == 9


@pytest.mark.parametrize("phrase,seconds", [("try again in 7s", 7), ("Please retry in 31.5s.", 31.5),
                                            ("retry after 20 seconds", 20), ("try again in 1m30s", 90),
                                            ("try again in 500ms", 0.5)])
def test_text_hints(phrase, seconds):
    err = classify(429, jsoncodec.dumps({"error": {"code": 429, "message": f"Too many requests. {phrase}"}}))
    assert err.kind is K.RATE_LIMITED and err.retry_after == pytest.approx(seconds)


def test_plain_quota_text_is_quota_exhausted():
    assert classify(429, b'{"error":{"message":"Quota exceeded for this project"}}').kind is K.QUOTA_EXHAUSTED


def test_per_minute_text_is_rate_limited_even_when_it_says_quota():
    body = b'{"error":{"message":"Quota exceeded for quota metric requests per minute"}}'
    assert classify(429, body).kind is K.RATE_LIMITED


@pytest.mark.parametrize("reply,kind", [
    (replies.capacity(429), K.CAPACITY), (replies.capacity(503), K.CAPACITY), (replies.server_error(529), K.CAPACITY),
    (replies.unauthorized(), K.UNAUTHORIZED), (replies.forbidden(), K.FORBIDDEN), (replies.not_found(), K.NOT_FOUND),
    (replies.google_error(408, "timeout"), K.TIMEOUT), (replies.server_error(500), K.SERVER),
    (replies.server_error(502), K.SERVER), (replies.bad_request(), K.BAD_REQUEST),
])
def test_status_table(reply, kind):
    assert classify_reply(reply).kind is kind


def test_validation_required_keeps_the_url():
    err = classify_reply(replies.validation_required("https://accounts.google.com/signin/continue?x=1"))
    assert err.kind is K.VERIFICATION_REQUIRED
    assert err.validation_url == "https://accounts.google.com/signin/continue?x=1"


def test_validation_url_found_in_message_alone():
    body = b'{"error":{"code":403,"message":"VALIDATION_REQUIRED: visit https://accounts.google.com/v?a=b."}}'
    err = classify(403, body)
    assert err.kind is K.VERIFICATION_REQUIRED and err.validation_url == "https://accounts.google.com/v?a=b"


def test_non_json_body_becomes_the_message():
    err = classify(502, b"<html>Bad Gateway</html>")
    assert err.kind is K.SERVER and "Bad Gateway" in err.message


def test_error_wrapped_in_a_list():
    err = classify(429, b'[{"error":{"code":429,"message":"x","details":[{"reason":"QUOTA_EXHAUSTED"}]}}]')
    assert err.kind is K.QUOTA_EXHAUSTED


def test_gemini_api_bad_key_is_unauthorized_not_a_client_error():
    body = b'{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}'
    assert classify(400, body).kind is K.UNAUTHORIZED

"""The filter language: parse errors, meaning, and Python == SQL on the same data."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from monitor_helpers import run_request

from proxy.monitor import RequestRecord
from proxy.monitor.filter import FilterError, parse_filter

NOW = time.time()

# (path, protocol, status, client model, upstream model, account, kind, error, stream, age s)
DATA = [
    (
        "/v1/chat/completions",
        "openai",
        200,
        "gpt-4o",
        "gemini-2.5-flash",
        "alice@example.com",
        "antigravity",
        "",
        False,
        30,
    ),
    (
        "/v1/chat/completions",
        "openai",
        429,
        "gpt-4o-mini",
        "gemini-2.5-flash",
        "bob@example.com",
        "antigravity",
        "quota exhausted",
        True,
        120,
    ),
    (
        "/v1/messages",
        "anthropic",
        200,
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-thinking",
        "alice@example.com",
        "antigravity",
        "",
        True,
        300,
    ),
    (
        "/v1/messages",
        "anthropic",
        529,
        "claude-opus-4-1",
        "glm-4.7",
        "z.ai",
        "zai",
        "overloaded",
        False,
        900,
    ),
    (
        "/v1/messages/count_tokens",
        "anthropic",
        200,
        "claude-haiku-4-5",
        "",
        "",
        "",
        "",
        False,
        4000,
    ),
    (
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        "gemini",
        200,
        "gemini-2.5-pro",
        "gemini-2.5-pro",
        "Carol",
        "gemini_api",
        "",
        True,
        7200,
    ),
    (
        "/v1beta/models/gemini-3-pro:generateContent",
        "gemini",
        400,
        "gemini-3-pro",
        "",
        "",
        "",
        "bad request: 100% wrong_field",
        False,
        90000,
    ),
    (
        "/v1/responses",
        "openai",
        502,
        "gpt-5",
        "gemini-3-pro-high",
        "bob@example.com",
        "antigravity",
        "upstream 500",
        False,
        200000,
    ),
    ("/v1/models", "openai", 200, "", "", "", "", "", False, 10),
    ("/v1/chat/completions", "openai", 404, "GPT-4O", "", "", "", "model not found", False, 60),
]

EXPRESSIONS = {
    "": 10,
    "status:4xx": 3,
    "status:429": 1,
    "status:2xx": 5,
    "status:5xx": 2,
    "model:gemini*": 5,
    "model:gpt-4o": 3,  # substring, case-insensitive: gpt-4o, gpt-4o-mini, GPT-4O
    "model:gpt-4o*": 3,
    "model:gpt-?o": 2,  # whole-value glob: gpt-4o, GPT-4O
    "account:alice": 2,
    "account:carol": 1,
    "protocol:anthropic": 3,
    "path:/v1/messages": 3,
    "path:*count_tokens": 1,
    "errors": 5,
    "is:error": 5,
    "is:stream": 3,
    "-is:stream": 7,
    "-status:2xx": 5,
    "kind:zai": 1,
    "method:post": 10,
    "since:10m": 5,
    "since:1h until:5m": 1,  # 300 s old is not before 5m
    "until:1d": 2,
    "quota": 1,
    "100%": 1,  # LIKE wildcards in the text are literal
    "wrong_field": 1,
    "wrong?field": 0,
    "alice status:2xx": 2,
    "openai": 0,  # words search path/model/account/error, not the protocol
    "protocol:openai errors -status:429": 2,
    "model:gemini* status:2xx protocol:gemini": 1,
    '"model not found"': 1,
}


@pytest.fixture
async def dataset(monitor):
    for path, proto, status, cmodel, umodel, account, kind, error, stream, age in DATA:
        run_request(
            monitor,
            path=path,
            protocol=proto,
            status=status,
            client_model=cmodel,
            upstream_model=umodel,
            account=account,
            upstream_kind=kind,
            error=error,
            stream=stream,
            started=NOW - age,
        )
    await monitor.flush()
    return monitor


@pytest.mark.parametrize("expr", list(EXPRESSIONS))
async def test_python_and_sql_agree_and_match_the_expected_records(dataset, expr):
    flt = parse_filter(expr, now=NOW)
    live = {r.id for r in dataset.recent(100) if flt.matches(r)}
    stored = {r.id for r in await dataset.query(flt, limit=100)}
    assert live == stored
    assert len(live) == EXPRESSIONS[expr]


def test_unknown_keys_are_named_in_the_error():
    with pytest.raises(FilterError, match=r"unknown filter key 'colour'.*status"):
        parse_filter("colour:red")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("status:abc", "status"),
        ("status:6xx", "status"),
        ("since:yesterday", "bad time"),
        ("protocol:grpc", "protocol"),
        ("is:happy", "is:"),
        ("model:", "needs a value"),
        ('"unbalanced', "bad filter"),
    ],
)
def test_bad_filters_say_what_is_wrong(expr, message):
    with pytest.raises(FilterError, match=message):
        parse_filter(expr)


def test_absolute_since_is_local_time():
    flt = parse_filter("since:2026-11-25T10:00")
    at = datetime(2026, 11, 25, 10, 0).timestamp()
    assert flt.matches(RequestRecord(1, at)) and not flt.matches(RequestRecord(2, at - 1))


def test_words_with_a_colon_inside_a_model_name_are_text():
    flt = parse_filter("gemini-2.5-pro:streamGenerateContent")
    assert flt.matches(
        RequestRecord(1, 0.0, path="/v1beta/models/gemini-2.5-pro:streamGenerateContent")
    )


def test_empty_filter_matches_everything():
    flt = parse_filter("   ")
    assert flt.empty and flt.matches(RequestRecord(1, 0.0)) and flt.to_sql() == ("1", [])

"""`agproxy stats` over a scripted day of traffic: the exact numbers that day produced."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import pytest

from proxy import jsoncodec
from proxy.cli import main
from proxy.config.model import MonitorSettings
from proxy.monitor.record import RequestRecord
from proxy.monitor.store import MonitorStore

# (time of day, protocol, client model, upstream model, account, key, status, ms, in, out,
#  cached, thinking)
DAY = [
    (
        "09:05",
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5",
        "a@x",
        "alice",
        200,
        120,
        1000,
        200,
        100,
        50,
    ),
    (
        "09:30",
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5",
        "a@x",
        "alice",
        200,
        180,
        2000,
        300,
        0,
        0,
    ),
    (
        "11:10",
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5",
        "b@x",
        "bob",
        429,
        200,
        0,
        0,
        0,
        0,
    ),
    (
        "14:00",
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5",
        "a@x",
        "alice",
        200,
        900,
        3000,
        500,
        200,
        100,
    ),
    ("14:20", "openai", "gpt-4o", "gemini-2.5-pro", "b@x", "bob", 200, 2000, 500, 100, 0, 0),
    ("15:45", "openai", "gpt-4o", "gemini-2.5-pro", "a@x", "", 500, 30, 0, 0, 0, 0),
    (
        "23:59",
        "gemini",
        "gemini-2.5-flash",
        "gemini-2.5-flash",
        "b@x",
        "ci",
        200,
        70000,
        10000,
        4000,
        0,
        1000,
    ),
]


@pytest.fixture
def day(tmp_path, monkeypatch) -> datetime:
    """The scripted day (ten days ago, local time) written by the monitor's writer."""
    monkeypatch.setenv("AGPROXY_HOME", str(tmp_path))
    monkeypatch.delenv("AGPROXY_CONFIG", raising=False)
    midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=10
    )
    store = MonitorStore(tmp_path / "monitor.sqlite3", MonitorSettings())
    store.open()
    for i, (hm, proto, cm, um, acc, key, status, ms, tin, tout, cached, think) in enumerate(DAY):
        h, m = map(int, hm.split(":"))
        store.put(
            RequestRecord(
                id=i + 1,
                started=(midnight + timedelta(hours=h, minutes=m)).timestamp(),
                protocol=proto,
                client_model=cm,
                upstream_model=um,
                account=acc,
                client_key=key,
                status=status,
                duration_ms=ms,
                ttfb_ms=ms / 2,
                input_tokens=tin,
                output_tokens=tout,
                cached_tokens=cached,
                thinking_tokens=think,
                error="quota" if status == 429 else "",
            )
        )
    store.close()
    return midnight


def stats(capsys, day: datetime, *args: str) -> str:
    assert main(["stats", "--since", day.strftime("%Y-%m-%dT%H:%M"), *args]) == 0
    return capsys.readouterr().out


def cells(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[1:]]


def test_stats_by_model_table(capsys, day):
    out = stats(capsys, day, "--by", "model")
    assert out.splitlines()[0] == f"usage by model since {day:%Y-%m-%d} 00:00"
    assert cells(out) == [
        [
            "MODEL",
            "REQUESTS",
            "ERRORS",
            "ERR%",
            "INPUT",
            "OUTPUT",
            "CACHED",
            "THINKING",
            "P50 MS",
            "P95 MS",
            "SHARE",
        ],
        [
            "claude-sonnet-4-5",
            "4",
            "1",
            "25.0%",
            "6,000",
            "1,000",
            "300",
            "150",
            "200",
            "900",
            "57.1%",
        ],
        ["gemini-2.5-pro", "2", "1", "50.0%", "500", "100", "0", "0", "100", "2,386", "28.6%"],
        [
            "gemini-2.5-flash",
            "1",
            "0",
            "0.0%",
            "10,000",
            "4,000",
            "0",
            "1,000",
            "70,000",  # one request: exact (the histogram alone said "over 60 s")
            "70,000",
            "14.3%",
        ],
        ["TOTAL", "7", "2", "28.6%", "16,500", "5,100", "300", "1,150", "225", "69,080", "100.0%"],
    ]
    widths = {len(line) for line in out.splitlines()[1:3]}
    assert len(widths) == 1  # columns line up


def test_stats_by_key_names_the_proxy_key(capsys, day):
    rows = cells(stats(capsys, day, "--by", "key"))
    assert [(r[0], r[1], r[-1]) for r in rows[1:]] == [
        ("alice", "3", "42.9%"),
        ("bob", "2", "28.6%"),
        ("(proxy key)", "1", "14.3%"),
        ("ci", "1", "14.3%"),
        ("TOTAL", "7", "100.0%"),
    ]


def test_stats_by_hour_as_csv(capsys, day):
    rows = list(csv.reader(io.StringIO(stats(capsys, day, "--by", "hour", "--csv"))))
    assert rows[0][:3] == ["hour", "requests", "errors"]
    date = f"{day:%Y-%m-%d}"
    assert [r[:3] for r in rows[1:]] == [
        [f"{date} 09:00", "2", "0"],
        [f"{date} 11:00", "1", "1"],
        [f"{date} 14:00", "2", "0"],
        [f"{date} 15:00", "1", "1"],
        [f"{date} 23:00", "1", "0"],
    ]


def test_stats_by_account_as_json(capsys, day):
    doc = jsoncodec.loads(stats(capsys, day, "--by", "account", "--json"))
    assert doc["by"] == "account" and doc["since"] == f"{day:%Y-%m-%d}T00:00:00"
    assert [
        (r["key"], r["requests"], r["errors"], r["input_tokens"], r["share"]) for r in doc["rows"]
    ] == [
        ("a@x", 4, 1, 6000, 57.1),
        ("b@x", 3, 1, 10500, 42.9),
    ]
    assert doc["total"]["requests"] == 7 and doc["total"]["thinking_tokens"] == 1150
    assert doc["rows"][0]["avg_ms"] == round((120 + 180 + 900 + 30) / 4, 1)


def test_stats_by_day_is_one_row_for_the_day(capsys, day):
    rows = cells(stats(capsys, day, "--by", "day"))
    assert rows[1][:3] == [f"{day:%Y-%m-%d}", "7", "2"]


def test_stats_on_an_empty_range_says_so(capsys, day):
    assert main(["stats", "--since", "1h"]) == 0
    assert capsys.readouterr().out.startswith("no requests since ")


def test_stats_rejects_a_bad_range(capsys, day):
    assert main(["stats", "--since", "yesterday"]) == 2
    assert "bad time 'yesterday'" in capsys.readouterr().err


def test_stats_percentiles_of_fast_requests_are_honest(capsys, tmp_path, monkeypatch):
    """53 requests at 1-3 ms: p50/p95 near 2 ms, not the 0-100 ms bucket's 50 and 95; a
    mix of 50 ms and 5 s requests: p95 in the 2.5-5 s bucket."""
    monkeypatch.setenv("AGPROXY_HOME", str(tmp_path))
    monkeypatch.delenv("AGPROXY_CONFIG", raising=False)
    start = datetime.now().replace(second=0, microsecond=0) - timedelta(hours=1)
    store = MonitorStore(tmp_path / "monitor.sqlite3", MonitorSettings())
    store.open()
    durations = [("fast", 1.0 + i % 3) for i in range(53)]
    durations += [("mixed", 50.0)] * 90 + [("mixed", 5000.0)] * 10
    for i, (model, ms) in enumerate(durations):
        store.put(
            RequestRecord(
                id=i + 1,
                started=start.timestamp() + i,
                protocol="openai",
                client_model=model,
                upstream_model=model,
                status=200,
                duration_ms=ms,
            )
        )
    store.close()
    rows = {r[0]: r for r in cells(stats(capsys, start, "--by", "model"))}
    head = rows["MODEL"]
    p50, p95 = head.index("P50 MS"), head.index("P95 MS")
    assert float(rows["fast"][p50]) <= 10 and float(rows["fast"][p95]) <= 10
    assert float(rows["mixed"][p50]) <= 100
    assert 2500 < float(rows["mixed"][p95].replace(",", "")) <= 5000

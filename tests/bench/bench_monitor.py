"""What the monitor costs a request: begin() + finish() in µs, capture `off` and `all`;
and how fast usage stats (SPEC §18) answer over a database of many raw records.

Run: .venv/bin/python tests/bench/bench_monitor.py [N]   (not collected by pytest)
     .venv/bin/python tests/bench/bench_monitor.py --stats [RECORDS]   (default 1,000,000)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from proxy import jsoncodec
from proxy.config.model import MonitorSettings
from proxy.metrics import Metrics
from proxy.monitor import Monitor
from proxy.monitor.record import Attempt, RequestRecord
from proxy.monitor.store import MonitorStore

HEADERS = {
    "Host": "127.0.0.1:8045",
    "Content-Type": "application/json",
    "x-api-key": "sk-test-1234567890",
    "anthropic-version": "2023-06-01",
    "User-Agent": "claude-cli/2.1.197 (external, cli)",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "X-Stainless-Lang": "js",
    "X-Stainless-Package-Version": "0.60.0",
}
SMALL = jsoncodec.dumps(
    {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }
)
# a Claude-Code-like 36 KB request: system prompt, tools, history
BIG = jsoncodec.dumps(
    {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "You are a coding agent. " * 400}],
        "tools": [
            {
                "name": f"tool{i}",
                "description": "does things " * 30,
                "input_schema": {"type": "object"},
            }
            for i in range(20)
        ],
        "messages": [{"role": "user", "content": "please fix the bug " * 200}],
    }
)
REPLY = jsoncodec.dumps(
    {
        "id": "msg_1",
        "content": [{"type": "text", "text": "Hello! " * 20}],
        "usage": {"input_tokens": 10},
    }
)


async def run(mode: str, body: bytes, n: int, subscriber: bool, metrics: bool = False) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        m = Monitor(Path(tmp) / "monitor.sqlite3", MonitorSettings(capture_bodies=mode))
        await m.open()
        if metrics:  # what `agproxy serve` adds: GET /metrics counters per finished record
            m.observers.append(Metrics().observe)
        sub = m.subscribe() if subscriber else None
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n):
                rec = m.begin(
                    method="POST",
                    path="/v1/messages",
                    protocol="anthropic",
                    client="127.0.0.1",
                    user_agent="claude-cli/2.1.197",
                    headers=HEADERS,
                    body=body,
                )
                rec.client_model = "claude-sonnet-4-5"
                rec.input_tokens, rec.output_tokens = 10, 20
                rec.attempts.append(Attempt("a@example.com", 200, 5))
                m.finish(rec, status=200, response_body=REPLY)
            best = min(best, (time.perf_counter() - t) / n)
            if sub is not None:
                sub.get_nowait_batch()
            await asyncio.sleep(0.3)  # let the writer catch up between rounds
        t = time.perf_counter()
        await m.close()
        flush = time.perf_counter() - t
        print(
            f"  capture={mode:<6} body={len(body):>6} B  subscriber={'yes' if subscriber else 'no ':<3} "
            f"metrics={'yes' if metrics else 'no ':<3} "
            f"{best * 1e6:7.1f} µs/request on the loop   (close/flush {flush * 1e3:.0f} ms)"
        )
        return best


def stats_at_scale(n: int) -> None:
    """`n` raw records spread over 30 days from a small team (4 client keys, each a tool
    with its protocol and 2-3 models, over 5 accounts), written by the monitor's own writer
    (raw + rollups), then the stats queries timed."""
    import random

    from proxy.monitor import rollup

    rng = random.Random(1)
    tools = {
        "": (
            "anthropic",
            [
                ("claude-sonnet-4-5", "claude-sonnet-4-5"),
                ("claude-opus-4-5", "claude-opus-4-5-thinking"),
            ],
        ),
        "alice": (
            "anthropic",
            [
                ("claude-sonnet-4-5", "claude-sonnet-4-5"),
                ("claude-haiku-4-5", "gemini-2.5-flash"),
                ("glm-4.7", ""),
            ],
        ),
        "bob": ("openai", [("gpt-4o", "gemini-2.5-pro"), ("gpt-4o-mini", "gemini-2.5-flash")]),
        "ci": (
            "gemini",
            [("gemini-2.5-flash", "gemini-2.5-flash"), ("gemini-3-pro", "gemini-3-pro-high")],
        ),
    }
    keys = list(tools)
    accounts = [f"user{i}@example.com" for i in range(5)]
    now = time.time()

    def record(i: int) -> RequestRecord:
        key = keys[rng.randrange(4)]
        protocol, models = tools[key]
        cm, um = models[rng.randrange(len(models))]
        return RequestRecord(
            id=i + 1,
            started=now - 30 * 86400 * (n - i) / n,
            protocol=protocol,
            client_model=cm,
            upstream_model=um,
            account=accounts[rng.randrange(5)],
            client_key=key,
            status=200 if rng.random() < 0.95 else rng.choice((429, 500, 400)),
            duration_ms=rng.uniform(100, 8000),
            ttfb_ms=rng.uniform(50, 500),
            input_tokens=rng.randrange(20_000),
            output_tokens=rng.randrange(2000),
        )

    # made a batch at a time: a million live objects would make the GC, not SQLite, the cost
    records = [record(i) for i in range(50_000)]
    t = time.perf_counter()
    for i in range(0, 50_000, 500):  # batches the size the writer meets under load
        fine = rollup.aggregate(records[i : i + 500], rollup.FINE_STEP)
        rollup.regroup(fine, 3600)
        rollup.regroup(fine, 86400)
    agg_us = (time.perf_counter() - t) / 50_000 * 1e6
    print(f"rollup aggregation (3 tables) on the writer thread: {agg_us:.1f} µs/record")
    del records
    with tempfile.TemporaryDirectory() as tmp:
        store = MonitorStore(Path(tmp) / "monitor.sqlite3", MonitorSettings(max_records=n + 1))
        store.open()
        t = time.perf_counter()
        for i in range(0, n, 5000):
            for j in range(i, min(n, i + 5000)):
                store.put(record(j))
            store.flush()
        write_s = time.perf_counter() - t
        counts = {
            tb: store.reader._rows(f"SELECT count(*) FROM {tb}", ())[0][0] for tb in rollup.STEP
        }
        print(
            f"stats over {n:,} raw records (30 days): written in {write_s:.0f} s "
            f"({write_s / n * 1e6:.1f} µs/record on the writer thread, raw + rollups); rollup rows {counts}"
        )
        for span, label, step in (
            (3600, "1h", 300),
            (86400, "24h", 3600),
            (7 * 86400, "7d", 6 * 3600),
            (30 * 86400, "30d", 86400),
        ):
            since = now - span
            one, views = [], []
            for _ in range(5):
                t = time.perf_counter()
                store.reader.usage("model", since)
                one.append(time.perf_counter() - t)
                t = time.perf_counter()
                for by in ("model", "account", "key"):
                    store.reader.usage(by, since)
                store.reader.series(since, step)
                views.append(time.perf_counter() - t)
            print(
                f"  --since {label:<4} `agproxy stats --by model`: {min(one) * 1e3:6.1f} ms;  Stats tab "
                f"(by model + account + key + chart series): {min(views) * 1e3:6.1f} ms  (best of 5)"
            )
        store.close()


async def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--stats":
        stats_at_scale(int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000)
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(f"monitor cost per request (begin + finish), best of 5 rounds of {n}:")
    for mode in ("off", "all"):
        for body in (SMALL, BIG):
            await run(mode, body, n, subscriber=False)
    await run("all", SMALL, n, subscriber=True)
    for metrics in (False, True):  # the default capture policy, without and with /metrics
        await run("errors", SMALL, n, subscriber=False, metrics=metrics)


if __name__ == "__main__":
    asyncio.run(main())

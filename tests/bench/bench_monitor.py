"""What the monitor costs a request: begin() + finish() in µs, capture `off` and `all`.

Run: .venv/bin/python tests/bench/bench_monitor.py [N]   (not collected by pytest)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from proxy import jsoncodec
from proxy.config.model import MonitorSettings
from proxy.monitor import Monitor

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


async def run(mode: str, body: bytes, n: int, subscriber: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        m = Monitor(Path(tmp) / "monitor.sqlite3", MonitorSettings(capture_bodies=mode))
        await m.open()
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
                m.finish(rec, status=200, response_body=REPLY)
            best = min(best, (time.perf_counter() - t) / n)
            if sub is not None:
                sub.get_nowait_batch()
            await asyncio.sleep(0.3)  # let the writer catch up between rounds
        t = time.perf_counter()
        await m.close()
        flush = time.perf_counter() - t
        print(
            f"  capture={mode:<4} body={len(body):>6} B  subscriber={'yes' if subscriber else 'no ':<3} "
            f"{best * 1e6:7.1f} µs/request on the loop   (close/flush {flush * 1e3:.0f} ms)"
        )
        return best


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(f"monitor cost per request (begin + finish), best of 5 rounds of {n}:")
    for mode in ("off", "all"):
        for body in (SMALL, BIG):
            await run(mode, body, n, subscriber=False)
    await run("all", SMALL, n, subscriber=True)


if __name__ == "__main__":
    asyncio.run(main())

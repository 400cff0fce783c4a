"""The benchmark's load generator: raw asyncio HTTP/1.1 keep-alive connections with
just enough response parsing (status line, Content-Length or chunked) to know when
an answer is complete, so it costs far less per request than the proxy it drives.

Run as `python -m tests.bench.loadgen SPEC.json`; prints one JSON result line.
A spec names requests (`port`, `raw_file`: the full request bytes on disk) and a mode:

- `rounds`: `rounds` passes over `requests` in order, one connection per request,
  concurrency 1 (interleaved direct/proxy pairs);
- `load`: `concurrency` connections sending `requests[0]` for `warmup` + `duration`
  seconds; only answers started after the warm-up count;
- `burst`: `count` requests of `requests[0]` over `concurrency` connections, as fast
  as they are answered (every answer counts).

Every loop is bounded by a count or a deadline; a request that gets no complete
answer within `timeout` seconds fails the run."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Answer:
    status: int
    sent: float  # perf_counter when the request was written
    first: float  # first response byte
    done: float  # complete answer
    size: int  # body bytes (after de-chunking)
    body: bytes = b""  # kept only when asked (sanity checks)


class Conn(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.lost: BaseException | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("server closed the connection")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.first == 0.0:
            self.first = now
        self.buf += data
        if self.status == 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).split(b"\r\n")
            self.status = int(head[0].split(b" ", 2)[1])
            self.length = -1
            self.chunked = False
            for line in head[1:]:
                low = line[:18].lower()
                if low.startswith(b"content-length:"):
                    self.length = int(line[15:])
                elif low.startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                    self.chunked = True
            self.pos = end + 4
        if self.chunked:
            self._dechunk()
        elif len(self.buf) - self.pos >= self.length:
            self.size = self.length
            self._finish(
                now, bytes(self.buf[self.pos : self.pos + self.length]) if self.keep else b""
            )

    def _dechunk(self) -> None:
        buf = self.buf
        while True:
            nl = buf.find(b"\r\n", self.pos)
            if nl < 0:
                return
            n = int(bytes(buf[self.pos : nl]).split(b";", 1)[0], 16)
            if n == 0:
                if len(buf) < nl + 4:  # the final CRLF (no trailers are sent to us)
                    return
                self._finish(time.perf_counter(), bytes(self.parts) if self.keep else b"")
                return
            if len(buf) < nl + 2 + n + 2:
                return
            if self.keep:
                self.parts += buf[nl + 2 : nl + 2 + n]
            self.size += n
            self.pos = nl + 2 + n + 2

    def _finish(self, now: float, body: bytes) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Answer(self.status, self.sent, self.first, now, self.size, body))

    # -- use ---------------------------------------------------------------------------

    def send(self, raw: bytes, keep: bool = False) -> asyncio.Future[Answer]:
        if self.lost is not None:
            raise self.lost
        self.buf = bytearray()
        self.parts = bytearray()
        self.status = 0
        self.pos = 0
        self.size = 0
        self.first = 0.0
        self.keep = keep
        self.waiter = asyncio.get_running_loop().create_future()
        self.sent = time.perf_counter()
        assert self.transport is not None
        self.transport.write(raw)
        return self.waiter


async def connect(port: int) -> Conn:
    _, conn = await asyncio.get_running_loop().create_connection(Conn, "127.0.0.1", port)
    return conn


@dataclass
class Target:
    name: str
    port: int
    raw: bytes
    latencies: list[float] = field(default_factory=list)  # ms
    ttfb: list[float] = field(default_factory=list)  # ms
    errors: int = 0
    sample: str = ""


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def one(conn: Conn, target: Target, timeout: float, keep: bool = False) -> Answer:
    ans = await asyncio.wait_for(conn.send(target.raw, keep), timeout)
    if ans.status != 200:
        target.errors += 1
        if not target.sample:
            target.sample = f"HTTP {ans.status}: {ans.body[:300]!r}"
    return ans


async def run_rounds(targets: list[Target], rounds: int, warmup: int, timeout: float) -> None:
    conns = [await connect(t.port) for t in targets]
    for i in range(warmup + rounds):
        for t, c in zip(targets, conns):
            ans = await one(c, t, timeout, keep=(i == 0))
            if i == 0 and not t.sample:
                t.sample = ans.body[:4000].decode("utf-8", "replace")
            if i >= warmup:
                t.latencies.append((ans.done - ans.sent) * 1000)
                t.ttfb.append((ans.first - ans.sent) * 1000)
    for c in conns:
        assert c.transport is not None
        c.transport.close()


async def run_load(
    target: Target, concurrency: int, warmup: float, duration: float, timeout: float
) -> float:
    conns = [await connect(target.port) for _ in range(concurrency)]
    start = time.perf_counter()
    counted_from = start + warmup
    stop_at = counted_from + duration

    async def worker(c: Conn) -> None:
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            ans = await one(c, target, timeout)
            if ans.sent >= counted_from and ans.done <= stop_at:
                target.latencies.append((ans.done - ans.sent) * 1000)

    await asyncio.gather(*(worker(c) for c in conns))
    for c in conns:
        assert c.transport is not None
        c.transport.close()
    return duration


async def run_burst(target: Target, concurrency: int, count: int, timeout: float) -> float:
    conns = [await connect(target.port) for _ in range(concurrency)]
    left = [count]
    start = time.perf_counter()

    async def worker(c: Conn) -> None:
        while left[0] > 0:
            left[0] -= 1
            ans = await one(c, target, timeout)
            target.latencies.append((ans.done - ans.sent) * 1000)

    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        assert c.transport is not None
        c.transport.close()
    return elapsed


def summary(t: Target) -> dict[str, Any]:
    lat = t.latencies
    return {
        "name": t.name,
        "n": len(lat),
        "errors": t.errors,
        "sample": t.sample,
        "median": pct(lat, 50),
        "p99": pct(lat, 99),
        "mean": sum(lat) / len(lat) if lat else float("nan"),
        "ttfb_median": pct(t.ttfb, 50),
        "ttfb_p99": pct(t.ttfb, 99),
    }


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    targets = [
        Target(r["name"], int(r["port"]), Path(r["raw_file"]).read_bytes())
        for r in spec["requests"]
    ]
    timeout = float(spec.get("timeout", 30.0))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, Any] = {}
    if spec["mode"] == "rounds":
        await run_rounds(targets, int(spec["rounds"]), int(spec.get("warmup", 3)), timeout)
    elif spec["mode"] == "burst":
        elapsed = await run_burst(
            targets[0], int(spec["concurrency"]), int(spec["count"]), timeout
        )
        out["rps"] = len(targets[0].latencies) / elapsed
        out["seconds"] = elapsed
    else:
        duration = await run_load(
            targets[0],
            int(spec["concurrency"]),
            float(spec.get("warmup", 0.3)),
            float(spec["duration"]),
            timeout,
        )
        out["rps"] = len(targets[0].latencies) / duration
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    total = sum(len(t.latencies) for t in targets)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    out["loadgen_cpu_ms_per_req"] = cpu * 1000 / total if total else float("nan")
    out["targets"] = [summary(t) for t in targets]
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    result = asyncio.run(main(spec))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: the orchestrator waits on this process

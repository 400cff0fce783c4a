"""agproxy's benchmark (SPEC §16): `python -m tests.bench.run [--quick] [--write]`.

Starts the fast fake upstream, `agproxy serve` and (later) the headless TUI as
separate processes, drives them with tests.bench.loadgen (its own process) and
measures every number side by side with a direct call to the same fake. Prints
markdown tables with PASS/FAIL against the budget; `--write` also stores them in
tests/bench/RESULTS.md. All of it shares the machine's cores: the figures include
the fake's and the load generator's CPU, as SPEC §16 asks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import procs, workload
from tests.bench.procs import LoadGen, cpu_seconds, mem_kib, reset_peak
from tests.bench.report import Report

LONG_CHUNKS = 500
BURST = 4000  # requests in the attached-TUI burst (issue 12: the live stream stays bounded)


class Bench:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.tmp = Path(tempfile.mkdtemp(prefix="agproxy-bench-"))
        self.home = self.tmp / "home"
        self.env = {**os.environ, "AGPROXY_HOME": str(self.home), "PYTHONDONTWRITEBYTECODE": "1"}
        self.fake_port = procs.free_port()
        self.proxy_port = procs.free_port()
        self.gen = LoadGen(self.env, self.tmp)
        self.report = Report()
        self.serve_rps_c32: float | None = None
        self.serve_cpu_c32: float | None = None  # proxy CPU ms per request in that run
        self.serve_idle_kib = 0

    # -- set-up ----------------------------------------------------------------------------

    def configure(self, auto_start: bool = False) -> None:
        os.environ["AGPROXY_HOME"] = str(self.home)
        from proxy.accounts.model import Account
        from proxy.accounts.store import AccountStore
        from proxy.config.store import ConfigStore
        from proxy.paths import resolve_paths

        paths = resolve_paths()
        store = ConfigStore(paths)
        store.load()
        fake = f"http://127.0.0.1:{self.fake_port}"
        for key, value in [
            ("upstream.antigravity_endpoints", f'["{fake}/v1internal"]'),
            ("upstream.gemini_base_url", fake),
            ("upstream.oauth_token_url", f"{fake}/token"),
            ("proxy.port", str(self.proxy_port)),
            ("proxy.api_key", workload.API_KEY),
            ("proxy.auto_start", "true" if auto_start else "false"),
        ]:
            store.set(key, value)
        accounts = AccountStore(paths.accounts_dir)
        accounts.load_all()
        if not accounts.list():
            accounts.add(Account.antigravity("bench@example.com", "rt-bench", access_token=workload.UPSTREAM_TOKEN,
                                             token_expiry=time.time() + 30 * 86400, project_id=workload.PROJECT))

    def serve_command(self) -> list[str]:
        script = Path(sys.executable).parent / "agproxy"
        return [str(script), "serve"] if script.exists() else [sys.executable, "-m", "proxy", "serve"]

    def ex(self, kind: str, protocol: str) -> workload.Exchange:
        if kind == "small":
            return workload.small(self.proxy_port, self.fake_port, protocol)
        if kind == "stream":
            return workload.small(self.proxy_port, self.fake_port, protocol, stream=True)
        if kind == "long":
            return workload.long_stream(self.proxy_port, self.fake_port, protocol)
        return workload.big(self.proxy_port, self.fake_port, protocol)

    async def rounds(self, pairs: list[tuple[str, int, bytes]], rounds: int, warmup: int = 3) -> dict[str, dict[str, Any]]:
        res = await self.gen.run({"mode": "rounds", "rounds": rounds, "warmup": warmup}, pairs)
        return {t["name"]: t for t in res["targets"]}

    async def load(self, name: str, port: int, raw: bytes, concurrency: int, duration: float) -> dict[str, Any]:
        res = await self.gen.run({"mode": "load", "concurrency": concurrency, "duration": duration, "warmup": 0.3},
                                 [(name, port, raw)])
        return {**res["targets"][0], "rps": res["rps"], "gen_cpu": res["loadgen_cpu_ms_per_req"]}

    # -- sections ----------------------------------------------------------------------------

    async def sanity(self) -> None:
        reqs = []
        for p in workload.PROTOCOLS:
            for kind in ("small", "stream"):
                e = self.ex(kind, p)
                reqs.append((f"{p}-{kind}", self.proxy_port, e.proxy))
        reqs.append(("direct", self.fake_port, self.ex("small", "openai").direct))
        got = await self.rounds(reqs, 1, 0)
        for name, t in got.items():
            if "lorem" not in t["sample"]:
                raise RuntimeError(f"{name}: unexpected answer {t['sample']!r}")

    async def latency(self) -> None:
        n = 150 if self.quick else 400
        reqs = []
        for p in workload.PROTOCOLS:
            e = self.ex("small", p)
            reqs += [(f"direct-{p}", self.fake_port, e.direct), (p, self.proxy_port, e.proxy)]
        got = await self.rounds(reqs, n, 20)
        for p in workload.PROTOCOLS:
            self.report.latency(p, got[f"direct-{p}"], got[p], n)

    async def cpu(self, pid: int) -> None:
        n = 300 if self.quick else 1000
        for p in workload.PROTOCOLS:
            raw = self.ex("small", p).proxy
            before = cpu_seconds(pid)
            await self.rounds([(p, self.proxy_port, raw)], n, 0)
            self.report.cpu(f"small, {p}", (cpu_seconds(pid) - before) * 1000 / n, n, 0.3)
        raw = workload.claude_code(self.proxy_port)
        m = 100 if self.quick else 300
        await self.rounds([("cc", self.proxy_port, raw)], 5, 0)
        before = cpu_seconds(pid)
        await self.rounds([("cc", self.proxy_port, raw)], m, 0)
        size = len(raw) - raw.index(b"\r\n\r\n") - 4
        self.report.cpu(f"Claude Code request ({size / 1024:.0f} KB), anthropic", (cpu_seconds(pid) - before) * 1000 / m, m, 0.7)

    async def throughput(self, pid: int) -> None:
        duration = 1.0 if self.quick else 2.0
        direct = self.ex("small", "openai").direct
        peak = 0
        for c in (32, 128):
            d = await self.load("direct", self.fake_port, direct, c, duration)
            self.report.throughput("direct (fake upstream)", "-", c, d, None)
            for stream in (False, True):
                for p in workload.PROTOCOLS:
                    raw = self.ex("stream" if stream else "small", p).proxy
                    before = cpu_seconds(pid)
                    sampler = asyncio.create_task(_peak_rss(pid))
                    r = await self.load(p, self.proxy_port, raw, c, duration)
                    sampler.cancel()
                    peak = max(peak, await _result(sampler))
                    cpu_ms = (cpu_seconds(pid) - before) * 1000 / max(1, r["n"])
                    self.report.throughput(p, "stream" if stream else "non-stream", c, r, cpu_ms)
                    if c == 32 and not stream and p == "openai":
                        self.serve_rps_c32 = r["rps"]
                        self.serve_cpu_c32 = cpu_ms
        self.report.memory("under load (peak during throughput runs)", peak)

    async def streaming(self) -> None:
        n = 100 if self.quick else 300
        reqs = []
        for p in workload.PROTOCOLS:
            e = self.ex("stream", p)
            reqs += [(f"direct-{p}", self.fake_port, e.direct), (p, self.proxy_port, e.proxy)]
        got = await self.rounds(reqs, n, 10)
        for p in workload.PROTOCOLS:
            self.report.first_byte(p, got[f"direct-{p}"], got[p], n)
        n = 10 if self.quick else 30
        for p in workload.PROTOCOLS:
            e = self.ex("long", p)
            got = await self.rounds([("direct", self.fake_port, e.direct), (p, self.proxy_port, e.proxy)], n, 2)
            self.report.streaming(p, got["direct"], got[p], LONG_CHUNKS, n)

    async def big_bodies(self) -> None:
        """Each protocol in a fresh `agproxy serve`: freed heap that an earlier 20 MiB
        request left behind (glibc keeps it) would otherwise hide the next one's peak."""
        n = 2 if self.quick else 3
        after = []
        for p in workload.PROTOCOLS:
            e = self.ex("big", p)
            proxy = await procs.spawn(f"serve-big-{p}", self.serve_command(), self.env, self.tmp)
            try:
                await procs.wait_http(self.proxy_port, proxy)
                await self.rounds([(p, self.proxy_port, self.ex("small", p).proxy)], 5, 0)
                rss0 = mem_kib(proxy.pid)["VmRSS"]
                exact = reset_peak(proxy.pid)
                got = await self.rounds([("direct", self.fake_port, e.direct), (p, self.proxy_port, e.proxy)], n, 0)
                hwm = mem_kib(proxy.pid)["VmHWM"]
                self.report.big(p, e.body_bytes, got["direct"], got[p], (hwm - rss0) * 1024, exact, n)
                await asyncio.sleep(1.0)
                after.append(mem_kib(proxy.pid)["VmRSS"])
            finally:
                await proxy.stop()
        self.report.memory("after 20 MiB requests + 1 s (largest of the three fresh proxies)", max(after))

    async def run_serve(self) -> None:
        self.configure()
        proxy = await procs.spawn("serve", self.serve_command(), self.env, self.tmp)
        try:
            await procs.wait_http(self.proxy_port, proxy)
            await asyncio.sleep(0.5)
            self.serve_idle_kib = mem_kib(proxy.pid)["VmRSS"]
            self.report.memory("idle, just started", self.serve_idle_kib)
            await self.section("sanity check", self.sanity())
            self.report.memory("idle, after the first requests", mem_kib(proxy.pid)["VmRSS"])
            await self.section("latency", self.latency())
            await self.section("cpu", self.cpu(proxy.pid))
            await self.section("throughput", self.throughput(proxy.pid))
            await self.section("streaming", self.streaming())
            self.report.memory("after load", mem_kib(proxy.pid)["VmRSS"])
            await asyncio.sleep(3)
            self.report.memory("after load + 3 s", mem_kib(proxy.pid)["VmRSS"])
            self.report.memory_budget(self.serve_idle_kib)
        finally:
            await proxy.stop()

    async def run_tui(self) -> None:
        self.configure(auto_start=True)
        samples = self.tmp / "tui-samples.jsonl"
        host = await procs.spawn("tui", [sys.executable, "-m", "tests.bench.tui_host", str(samples), "60"],
                                 self.env, self.tmp)
        try:
            await procs.wait_http(self.proxy_port, host, 30)
            await asyncio.sleep(2.0)
            idle = mem_kib(host.pid)["VmRSS"]
            duration = 1.0 if self.quick else 2.0
            raw = self.ex("small", "openai").proxy
            t0 = time.time()
            before = cpu_seconds(host.pid)
            r = await self.load("openai", self.proxy_port, raw, 32, duration + 0.3)
            cpu_ms = (cpu_seconds(host.pid) - before) * 1000 / max(1, r["n"])
            t1 = time.time()
            await asyncio.sleep(0.6)  # one more drain tick shows the tail of the load
            Path(str(samples) + ".stop").touch()
            await asyncio.wait_for(host.proc.wait(), 15)
            self.report.tui(idle, r["rps"], self.serve_rps_c32, _samples(samples), t0, t1,
                            (cpu_ms, self.serve_cpu_c32))
        finally:
            await host.stop()

    async def loaded(self, pid: int, raw: bytes, duration: float) -> tuple[float, float]:
        """(req/s, CPU ms per request of process `pid`) for openai small at c=32."""
        before = cpu_seconds(pid)
        r = await self.load("openai", self.proxy_port, raw, 32, duration)
        return r["rps"], (cpu_seconds(pid) - before) * 1000 / max(1, r["n"])

    async def run_attached(self) -> None:
        """SPEC §16/§17: `agproxy-tui` attached over the control socket to a separate
        `agproxy serve`, showing live traffic. Throughput is compared with the same serve
        headless just before the TUI attaches and just after it leaves (the mean of the
        two), so the other processes on a shared machine weigh on both sides alike. Then
        BURST requests at c=128 while the TUI reads the record stream, and again with a
        second stream client that reads nothing: the serve's per-client queue (sampled
        from `/v1/status`), the updates dropped and the serve's RSS."""
        self.configure()
        proxy = await procs.spawn("serve-attached", self.serve_command(), self.env, self.tmp)
        samples = self.tmp / "attached-samples.jsonl"
        host: procs.Proc | None = None
        table = "6b. `agproxy-tui` attached to a separate `agproxy serve` (control socket, live rows)"
        try:
            await procs.wait_http(self.proxy_port, proxy)
            await self.sanity()
            raw = self.ex("small", "openai").proxy
            duration = 1.0 if self.quick else 2.0
            before = await self.loaded(proxy.pid, raw, duration)
            host = await procs.spawn("tui-attached", [sys.executable, "-m", "tests.bench.tui_host", str(samples),
                                                      "120", "attach"], self.env, self.tmp)
            await _until_sample(samples, host, lambda s: s["mode"] == "attached" and s["refreshes"] >= 0)
            await asyncio.sleep(1.0)
            tui_idle = mem_kib(host.pid)["VmRSS"]
            serve_idle = mem_kib(proxy.pid)["VmRSS"]
            t0 = time.time()
            tui_cpu0 = cpu_seconds(host.pid)
            rps, serve_cpu = await self.loaded(proxy.pid, raw, duration)
            t1 = time.time()
            tui_cpu = (cpu_seconds(host.pid) - tui_cpu0) * 1000 / max(1, rps * duration)
            await asyncio.sleep(0.6)
            shown = _samples(samples)[-1]
            normal = await self.burst(proxy.pid, samples)
            stalled = await self.burst(proxy.pid, samples, stalled_reader=True)
            Path(str(samples) + ".stop").touch()
            await asyncio.wait_for(host.proc.wait(), 15)
            after = await self.loaded(proxy.pid, raw, duration)
        finally:
            if host is not None:
                await host.stop()
            await proxy.stop()
        headless = (before[0] + after[0]) / 2
        headless_cpu = (before[1] + after[1]) / 2
        all_samples = _samples(samples)
        self.report.attached(table, tui_idle, serve_idle, rps, headless, (before[0], after[0]),
                             (serve_cpu, headless_cpu, tui_cpu), [x for x in all_samples if t0 <= x["t"] <= t1 + 0.5],
                             shown)
        self.report.burst(table, "the attached TUI reading", normal)
        self.report.burst(table, "the attached TUI + a stream client that reads nothing", stalled,
                          compare_rps=normal["rps"])

    async def burst(self, pid: int, samples: Path, stalled_reader: bool = False) -> dict[str, Any]:
        from proxy.control import streams as control_streams
        from proxy.control.server import probe
        from proxy.paths import resolve_paths

        sock = resolve_paths().control_socket
        writer = None
        if stalled_reader:  # opens the record stream, then never reads a byte
            reader, writer = await asyncio.open_unix_connection(str(sock))
            writer.write(b"GET /v1/records/stream HTTP/1.1\r\nHost: agproxy\r\n\r\n")
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
        start = await probe(sock) or {}
        ingested0 = _samples(samples)[-1]["ingested"]
        rss0 = mem_kib(pid)["VmRSS"]
        peak = {"backlog": 0, "rss": rss0}

        async def sample() -> None:
            while True:
                st = await probe(sock) or {}
                peak["backlog"] = max(peak["backlog"], int(st.get("stream_backlog", 0)))
                peak["rss"] = max(peak["rss"], mem_kib(pid)["VmRSS"])
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        try:
            res = await self.gen.run({"mode": "burst", "concurrency": 128, "count": BURST},
                                     [("openai", self.proxy_port, self.ex("small", "openai").proxy)])
            await asyncio.sleep(1.0)  # the stream drains, the TUI's next ticks take the rows in
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        end = await probe(sock) or {}
        out = {
            "rps": res["rps"], "n": res["targets"][0]["n"], "p99": res["targets"][0]["p99"],
            "rss0": rss0, "rss_peak": peak["rss"], "rss1": mem_kib(pid)["VmRSS"],
            "backlog_peak": peak["backlog"], "cap": control_streams.STREAM_QUEUE,
            "dropped": int(end.get("stream_dropped", 0)) - int(start.get("stream_dropped", 0)),
            "backlog_end": int(end.get("stream_backlog", 0)),
            "tui_rows": _samples(samples)[-1]["ingested"] - ingested0,
            "tui_dropped": _samples(samples)[-1]["stream_dropped"],
        }
        if writer is not None:
            writer.close()
        return out

    async def monitor_bench(self) -> None:
        """The monitor engineer's micro-benchmark (tests/bench/bench_monitor.py), in-process."""
        from tests.bench import bench_monitor as bm

        n = 300 if self.quick else 1000
        rows = []
        with contextlib.redirect_stdout(sys.stderr):
            for mode in ("off", "errors", "all"):
                us = await bm.run(mode, bm.SMALL, n, subscriber=False) * 1e6
                rows.append((f"capture={mode}, small body", us))
            rows.append(("capture=all, 36 KB body", await bm.run("all", bm.BIG, n, subscriber=False) * 1e6))
            rows.append(("capture=all, small body, live subscriber (TUI)", await bm.run("all", bm.SMALL, n, subscriber=True) * 1e6))
        self.report.monitor(rows)

    async def section(self, name: str, coro: Any) -> None:
        t = time.monotonic()
        print(f"… {name}", file=sys.stderr, flush=True)
        await coro
        self.report.timings.append((name, time.monotonic() - t))

    async def serve_baseline(self) -> None:
        """Only what the TUI section compares against: `agproxy serve` at c=32, openai."""
        self.configure()
        proxy = await procs.spawn("serve", self.serve_command(), self.env, self.tmp)
        try:
            await procs.wait_http(self.proxy_port, proxy)
            await self.sanity()
            before = cpu_seconds(proxy.pid)
            r = await self.load("openai", self.proxy_port, self.ex("small", "openai").proxy, 32,
                                1.0 if self.quick else 2.0)
            self.serve_cpu_c32 = (cpu_seconds(proxy.pid) - before) * 1000 / max(1, r["n"])
            self.report.throughput("openai", "non-stream", 32, r, None)
            self.serve_rps_c32 = r["rps"]
        finally:
            await proxy.stop()

    async def main_tui_only(self) -> None:
        fake = await procs.start_fake(self.fake_port, self.env, self.tmp, LONG_CHUNKS)
        try:
            await self.section("serve baseline", self.serve_baseline())
            await self.section("tui", self.run_tui())
            await self.section("tui attached", self.run_attached())
        finally:
            await fake.stop()

    async def main(self) -> None:
        fake = await procs.start_fake(self.fake_port, self.env, self.tmp, LONG_CHUNKS)
        try:
            await self.run_serve()
            await self.section("large bodies", self.big_bodies())
            await self.section("tui", self.run_tui())
            await self.section("tui attached", self.run_attached())
            await self.section("monitor", self.monitor_bench())
        finally:
            await fake.stop()


async def _peak_rss(pid: int) -> int:
    peak = 0
    try:
        while True:
            peak = max(peak, mem_kib(pid)["VmRSS"])
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        return peak


async def _result(task: asyncio.Task[int]) -> int:
    try:
        return await task
    except asyncio.CancelledError:
        return 0


async def _until_sample(path: Path, proc: procs.Proc, ok: Any, timeout: float = 30.0) -> None:
    """Until the TUI host wrote a sample for which `ok(sample)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.proc.returncode is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.proc.returncode}):\n{proc.tail()}")
        if path.exists() and any(ok(x) for x in _samples(path)):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not get ready in {timeout:g} s:\n{proc.tail()}")
        await asyncio.sleep(0.1)


def _samples(path: Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return (f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, {datetime.date.today().isoformat()}")


NOTES_MARKER = "<!-- notes: kept by --write -->"


def write_results(path: Path, text: str) -> None:
    """The generated tables, then the hand-written notes already in the file (after
    NOTES_MARKER: profile findings, before/after numbers of each fix)."""
    notes = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER):]
    header = "# agproxy benchmark results\n\nGenerated by `python -m tests.bench.run --write`.\n\n"
    path.write_text(header + text + ("\n" + notes if notes else ""))


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    ap.add_argument("--write", action="store_true", help="also write tests/bench/RESULTS.md")
    ap.add_argument("--only", choices=["tui"], help="run the TUI sections only (in-process and attached, "
                    "with the baselines they compare against)")
    args = ap.parse_args()
    if args.only and args.write:
        ap.error("--write needs the full run")
    load_before = Path("/proc/loadavg").read_text().split()[0]
    bench = Bench(args.quick)
    started = time.monotonic()
    try:
        asyncio.run(bench.main_tui_only() if args.only == "tui" else bench.main())
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    bench.report.notes.append(
        f"Load average when the run started: {load_before} (anything above ~0.1 means other processes "
        "shared the 2 cores and every figure is pessimistic and noisy)."
    )
    text = bench.report.markdown(machine(), time.monotonic() - started)
    print(text)
    if args.write:
        write_results(Path(__file__).parent / "RESULTS.md", text)
    return 1 if bench.report.failed else 0


if __name__ == "__main__":
    sys.exit(main())

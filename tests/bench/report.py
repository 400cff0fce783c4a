"""The benchmark's tables: each section adds its rows, budget rows carry PASS/FAIL
(SPEC §16), and `markdown()` renders everything with the machine it ran on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024


def fmt_ms(v: float) -> str:
    return f"{v:.3f} ms" if abs(v) < 10 else f"{v:.1f} ms"


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


@dataclass
class Budget:
    what: str
    measured: str
    budget: str
    ok: bool | None  # None: informative only


@dataclass
class Report:
    budgets: list[Budget] = field(default_factory=list)
    tables: dict[str, tuple[list[str], list[list[str]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(b.ok is False for b in self.budgets)

    def row(self, table: str, header: list[str], cells: list[Any]) -> None:
        self.tables.setdefault(table, (header, []))[1].append([str(c) for c in cells])

    def budget(self, what: str, value: float | None, limit: float, text: str, budget: str, lower_is_better: bool = True) -> None:
        ok = None if value is None else (value <= limit if lower_is_better else value >= limit)
        self.budgets.append(Budget(what, text, budget, ok))

    # -- sections --------------------------------------------------------------------------

    def latency(self, protocol: str, direct: dict[str, Any], proxy: dict[str, Any], n: int) -> None:
        added = proxy["median"] - direct["median"]
        self.row("1. Added latency, small non-stream request, concurrency 1",
                 ["protocol", "rounds", "direct median", "proxy median", "added median", "direct p99", "proxy p99", "added p99"],
                 [protocol, n, fmt_ms(direct["median"]), fmt_ms(proxy["median"]), fmt_ms(added),
                  fmt_ms(direct["p99"]), fmt_ms(proxy["p99"]), fmt_ms(proxy["p99"] - direct["p99"])])
        self.budget(f"added median latency, {protocol}, c=1", added, 0.35, fmt_ms(added), "≤ 0.35 ms")

    def cpu(self, what: str, ms: float, n: int, limit: float) -> None:
        self.row("7. Proxy CPU per request (utime+stime of the proxy process, concurrency 1)",
                 ["request", "requests", "CPU per request", "budget"], [what, n, fmt_ms(ms), f"≤ {limit:g} ms"])
        self.budget(f"proxy CPU per request, {what}", ms, limit, fmt_ms(ms), f"≤ {limit:g} ms")

    def throughput(self, protocol: str, mode: str, c: int, r: dict[str, Any], cpu_ms: float | None) -> None:
        self.row("2. Throughput (each run: 0.3 s warm-up, then a fixed duration)",
                 ["target", "mode", "concurrency", "req/s", "p50", "p99", "proxy CPU/req", "load-gen CPU/req"],
                 [protocol, mode, c, f"{r['rps']:,.0f}", fmt_ms(r["median"]), fmt_ms(r["p99"]),
                  "-" if cpu_ms is None else fmt_ms(cpu_ms), fmt_ms(r["gen_cpu"])])
        if c == 32 and cpu_ms is not None:
            self.budget(f"throughput, {protocol} {mode}, c=32", r["rps"], 4500, f"{r['rps']:,.0f} req/s",
                        "≥ 4,500 req/s", lower_is_better=False)

    def first_byte(self, protocol: str, direct: dict[str, Any], proxy: dict[str, Any], n: int) -> None:
        ttfb = proxy["ttfb_median"] - direct["ttfb_median"]
        self.row("3a. Streaming: time to first byte of a short (3-chunk) stream, concurrency 1",
                 ["protocol", "rounds", "direct TTFB", "proxy TTFB", "added TTFB", "added TTFB p99"],
                 [protocol, n, fmt_ms(direct["ttfb_median"]), fmt_ms(proxy["ttfb_median"]), fmt_ms(ttfb),
                  fmt_ms(proxy["ttfb_p99"] - direct["ttfb_p99"])])
        self.budget(f"added time to first byte, {protocol} stream", ttfb, 0.5, fmt_ms(ttfb), "≤ 0.5 ms")

    def streaming(self, protocol: str, direct: dict[str, Any], proxy: dict[str, Any], chunks: int, n: int) -> None:
        ttfb = proxy["ttfb_median"] - direct["ttfb_median"]
        per_chunk = (proxy["median"] - direct["median"]) / chunks
        self.row(f"3b. Streaming: a {chunks}-chunk stream (the fake sends it in one burst), concurrency 1",
                 ["protocol", "rounds", "direct TTFB", "proxy TTFB", "added TTFB", "direct total", "proxy total",
                  "added per chunk"],
                 [protocol, n, fmt_ms(direct["ttfb_median"]), fmt_ms(proxy["ttfb_median"]), fmt_ms(ttfb),
                  fmt_ms(direct["median"]), fmt_ms(proxy["median"]), f"{per_chunk * 1000:.1f} µs"])
        self.budget(f"added time to first byte, {protocol}, {chunks}-chunk burst", ttfb, 0.5, fmt_ms(ttfb), "≤ 0.5 ms")

    def big(self, protocol: str, size: int, direct: dict[str, Any], proxy: dict[str, Any], peak: int, exact: bool, n: int) -> None:
        added = proxy["median"] - direct["median"]
        copies = peak / size
        self.row("4. Large bodies: a 20 MiB agent session (history, tool results, base64 images)",
                 ["protocol", "body", "rounds", "direct", "proxy", "added time", "added peak memory", "× body"],
                 [protocol, f"{size / MIB:.1f} MiB", n, fmt_ms(direct["median"]), fmt_ms(proxy["median"]), fmt_ms(added),
                  f"{peak / MIB:.0f} MiB" + ("" if exact else " (VmHWM not resettable: upper bound)"), f"{copies:.1f}"])
        self.budget(f"20 MiB request, {protocol}: added time", added, 150, fmt_ms(added), "≤ 150 ms")
        self.budget(f"20 MiB request, {protocol}: added peak memory", copies, 2.0, f"{copies:.1f} × body",
                    "≤ 2 × body")

    def memory(self, when: str, kib: int) -> None:
        self.row("5. Memory: RSS of `agproxy serve`", ["when", "RSS"], [when, _mib(kib)])

    def memory_budget(self, idle_kib: int) -> None:
        self.budget("RSS idle, `agproxy serve`", idle_kib / 1024, 60, _mib(idle_kib), "informative (TUI: ≤ 60 MiB)")
        self.budgets[-1].ok = None

    def tui(self, idle_kib: int, rps: float, serve_rps: float | None, samples: list[dict[str, Any]], t0: float, t1: float,
            cpu: tuple[float, float | None] = (0.0, None)) -> None:
        table = "6. With `agproxy-tui` open (headless, Traffic tab, proxy inside the TUI process)"
        header = ["measure", "value"]
        self.row(table, header, ["RSS idle with the TUI", _mib(idle_kib)])
        self.budget("RSS idle with the TUI open (in-process)", idle_kib / 1024, 60, _mib(idle_kib), "≤ 60 MiB")
        self.row(table, header, ["throughput, openai non-stream, c=32", f"{rps:,.0f} req/s"])
        if serve_rps:
            ratio = rps / serve_rps
            self.row(table, header, ["… versus `agproxy serve`", f"{serve_rps:,.0f} req/s → {ratio:.0%}"])
            self.budget("throughput with the TUI open (in-process) / `agproxy serve`", ratio, 0.85, f"{ratio:.0%}", "≥ 85 %",
                        lower_is_better=False)
        tui_cpu, serve_cpu = cpu
        if tui_cpu:
            # CPU per request is steadier than req/s on a shared machine
            vs = f" (`agproxy serve`: {fmt_ms(serve_cpu)})" if serve_cpu else ""
            self.row(table, header, ["process CPU per request under load (proxy + TUI)", fmt_ms(tui_cpu) + vs])
        during = [s for s in samples if t0 <= s["t"] <= t1 + 0.5]
        if not during or during[0]["refreshes"] < 0:
            self.row(table, header, ["TUI repaint rate", "n/a: app.traffic_refreshes missing"])
            return
        span = max(0.001, during[-1]["t"] - during[0]["t"])
        rate = (during[-1]["refreshes"] - during[0]["refreshes"]) / span
        lag = max(s["lag_ms"] for s in during)
        self.row(table, header, ["traffic table refreshes under load (app.traffic_refreshes)", f"{rate:.1f} /s"])
        if during[0].get("screen_updates", -1) >= 0:
            screens = (during[-1]["screen_updates"] - during[0]["screen_updates"]) / span
            self.row(table, header, ["screen repaints under load (Textual compositor updates)", f"{screens:.1f} /s"])
        self.row(table, header, ["worst event-loop lag under load (input latency)", fmt_ms(lag)])
        self.row(table, header, ["RSS under load", _mib(max(s["rss_kib"] for s in during))])
        self.budget("TUI repaints under load (live traffic)", rate, 1.0, f"{rate:.1f} /s", "≥ 1 /s (responsive)",
                    lower_is_better=False)
        self.budget("TUI worst event-loop lag under load", lag, 250, fmt_ms(lag), "≤ 250 ms (responsive)")

    def attached(self, table: str, tui_idle: int, serve_idle: int, rps: float, headless: float,
                 headless_runs: tuple[float, float], cpu: tuple[float, float, float],
                 during: list[dict[str, Any]], shown: dict[str, Any]) -> None:
        """The attached TUI's cost to the serve (SPEC §16: ≥ 85 % of headless)."""
        header = ["measure", "value"]
        serve_cpu, headless_cpu, tui_cpu = cpu
        ratio = rps / headless if headless else 0.0
        rows = [
            ("RSS idle: the attached TUI process / the serve", f"{_mib(tui_idle)} / {_mib(serve_idle)}"),
            ("throughput, openai non-stream, c=32, TUI attached", f"{rps:,.0f} req/s"),
            ("… the same serve headless (before the TUI attached, after it left)",
             f"{headless_runs[0]:,.0f} / {headless_runs[1]:,.0f} req/s → {ratio:.0%}"),
            ("serve CPU per request, TUI attached / headless", f"{fmt_ms(serve_cpu)} / {fmt_ms(headless_cpu)}"),
            ("TUI process CPU per request under load (its own core time)", fmt_ms(tui_cpu)),
            ("record updates the TUI's table took in so far", f"{shown.get('ingested', 0):,}"),
        ]
        if during:
            span = max(0.001, during[-1]["t"] - during[0]["t"])
            rate = (during[-1]["refreshes"] - during[0]["refreshes"]) / span
            lag = max(x["lag_ms"] for x in during)
            rows += [("traffic table refreshes under load", f"{rate:.1f} /s"),
                     ("worst event-loop lag of the TUI under load", fmt_ms(lag))]
            self.budget("attached TUI repaints under load (live traffic)", rate, 1.0, f"{rate:.1f} /s",
                        "≥ 1 /s (responsive)", lower_is_better=False)
        for what, value in rows:
            self.row(table, header, [what, value])
        self.budget("throughput with the TUI attached / the same serve headless", ratio, 0.85, f"{ratio:.0%}",
                    "≥ 85 %", lower_is_better=False)

    def burst(self, table: str, readers: str, b: dict[str, Any], compare_rps: float | None = None) -> None:
        """A burst of requests while the record stream has `readers`: the serve's queue per
        stream client stays under its cap, updates beyond it are dropped, requests never wait."""
        header = ["measure", "value"]
        n = b["n"]
        rows = [
            (f"burst of {n:,} requests at c=128, {readers}",
             f"{b['rps']:,.0f} req/s, p99 {fmt_ms(b['p99'])}"),
            ("… peak queue for one stream client (sampled every 20 ms) / its cap",
             f"{b['backlog_peak']:,} / {b['cap']:,} updates"),
            ("… updates dropped for slow stream clients / left queued 1 s after",
             f"{b['dropped']:,} / {b['backlog_end']:,}"),
            ("… record updates the attached TUI took in (a begin and a finish each, fewer when coalesced) / dropped for it",
             f"{b['tui_rows']:,} / {b['tui_dropped']:,}"),
            ("… serve RSS before / peak / 1 s after", f"{_mib(b['rss0'])} / {_mib(b['rss_peak'])} / {_mib(b['rss1'])}"),
        ]
        for what, value in rows:
            self.row(table, header, [what, value])
        self.budget(f"live stream queue under a {n:,}-request burst, {readers}", b["backlog_peak"], b["cap"],
                    f"peak {b['backlog_peak']:,}, {b['dropped']:,} dropped, RSS +{_mib(b['rss_peak'] - b['rss0'])}",
                    f"≤ {b['cap']:,} per client (bounded)")
        if compare_rps:
            ratio = b["rps"] / compare_rps
            self.budget("burst throughput with a stream client that reads nothing / without it", ratio, 0.85,
                        f"{ratio:.0%}", "≥ 85 % (a slow client never slows a request)", lower_is_better=False)

    def monitor(self, rows: list[tuple[str, float]]) -> None:
        for what, us in rows:
            self.row("8. Monitor cost per request (tests/bench/bench_monitor.py, in-process)",
                     ["case", "µs per request on the loop"], [what, f"{us:.1f}"])

    # -- output ----------------------------------------------------------------------------

    def markdown(self, machine: str, seconds: float) -> str:
        out = [f"Machine: {machine}. Whole run: {seconds:.0f} s.",
               "The fake upstream, the proxy and the load generator share these cores, so every",
               "proxy figure includes their competition (as SPEC §16 measures).", ""]
        out += ["| budget (SPEC §16) | measured | budget | verdict |", "|---|---|---|---|"]
        for b in self.budgets:
            verdict = "—" if b.ok is None else ("PASS" if b.ok else "**FAIL**")
            out.append(f"| {b.what} | {b.measured} | {b.budget} | {verdict} |")
        for title in sorted(self.tables):
            header, rows = self.tables[title]
            out += ["", f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            out += ["| " + " | ".join(r) + " |" for r in rows]
        if self.notes:
            out += [""] + [f"- {n}" for n in self.notes]
        if self.timings:
            out += ["", "Section times: " + ", ".join(f"{n} {s:.0f} s" for n, s in self.timings)]
        return "\n".join(out) + "\n"

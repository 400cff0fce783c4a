"""`GET /metrics` (SPEC §18): Prometheus text format via the official client library.

The request path only bumps plain counters (`Metrics.observe`, called by the monitor for
every finished record: one dict lookup and a few integer adds); the library's metric
families are built from them at scrape time by a collector on a private registry (one
per service, never the global one), so many apps in one process never mix.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from proxy.context import CTX

# Histogram bounds in seconds (Prometheus convention); +Inf is added at scrape time.
LATENCY_BOUNDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TTFB_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OVERHEAD_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)

REQUEST_LABELS = ("protocol", "model", "account", "key", "status_class")
TOKEN_KINDS = ("input", "output", "cached", "thinking")


class _Hist:
    """Bucket counts (non-cumulative) + sum, for one label set."""

    __slots__ = ("counts", "total")

    def __init__(self, n: int) -> None:
        self.counts = [0] * (n + 1)
        self.total = 0.0

    def observe(self, bounds: tuple[float, ...], value: float) -> None:
        self.counts[bisect_left(bounds, value)] += 1
        self.total += value


class _Group:
    """Everything counted for one (protocol, model, account, key, status class)."""

    __slots__ = ("errors", "latency", "overhead", "requests", "tokens", "ttfb")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.tokens = [0, 0, 0, 0]
        self.latency = _Hist(len(LATENCY_BOUNDS))
        self.ttfb = _Hist(len(TTFB_BOUNDS))
        self.overhead = _Hist(len(OVERHEAD_BOUNDS))


def attempt_outcome(status: int) -> str:
    if 200 <= status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if 400 <= status < 500:
        return "client_error"
    if status >= 500:
        return "server_error"
    return "transport"


class Metrics:
    """Counters fed by finished monitor records; `render()` is the /metrics body."""

    def __init__(self, accounts: Callable[[], Iterable[Any]] | None = None) -> None:
        self._groups: dict[tuple[str, str, str, str, str], _Group] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        self._accounts = accounts
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def observe(self, r: Any) -> None:
        """One finished RequestRecord (the event loop; no locks, no allocation but a
        group's first time)."""
        key = (
            r.protocol,
            r.upstream_model or r.client_model,
            r.account,
            r.client_key,
            f"{r.status // 100}xx",
        )
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = _Group()
        g.requests += 1
        if r.status >= 400 or r.error:
            g.errors += 1
        t = g.tokens
        t[0] += r.input_tokens
        t[1] += r.output_tokens
        t[2] += r.cached_tokens
        t[3] += r.thinking_tokens
        seconds = r.duration_ms / 1000.0
        g.latency.observe(LATENCY_BOUNDS, seconds)
        if r.ttfb_ms is not None:
            g.ttfb.observe(TTFB_BOUNDS, r.ttfb_ms / 1000.0)
        attempts = r.attempts
        if attempts:
            upstream_ms = 0
            for a in attempts:
                upstream_ms += a.ms
                k = (a.account, attempt_outcome(a.status))
                self._attempts[k] = self._attempts.get(k, 0) + 1
            # a stream's attempt ends when its first chunk arrives: compare with the TTFB
            mine = (
                r.ttfb_ms if r.stream and r.ttfb_ms is not None else r.duration_ms
            ) - upstream_ms
            g.overhead.observe(OVERHEAD_BOUNDS, max(mine, 0.0) / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -- scrape-time families --------------------------------------------------------------

    def families(self) -> Iterator[Any]:
        groups = list(self._groups.items())
        req = CounterMetricFamily(
            "agproxy_requests", "Proxied requests finished", labels=REQUEST_LABELS
        )
        err = CounterMetricFamily(
            "agproxy_request_errors", "Requests that ended in an error", labels=REQUEST_LABELS
        )
        tok = CounterMetricFamily(
            "agproxy_tokens",
            "Tokens by kind (thinking is part of output)",
            labels=(*REQUEST_LABELS[:4], "kind"),
        )
        for labels, g in groups:
            req.add_metric(labels, g.requests)
            err.add_metric(labels, g.errors)
            for kind, n in zip(TOKEN_KINDS, g.tokens):
                tok.add_metric((*labels[:4], kind), n)
        yield req
        yield err
        yield tok
        for name, doc, attr, bounds in (
            (
                "agproxy_request_duration_seconds",
                "Request time, arrival to last byte",
                "latency",
                LATENCY_BOUNDS,
            ),
            (
                "agproxy_time_to_first_byte_seconds",
                "Arrival to the first byte sent to the client",
                "ttfb",
                TTFB_BOUNDS,
            ),
            (
                "agproxy_overhead_seconds",
                "agproxy's own time: request time minus upstream time",
                "overhead",
                OVERHEAD_BOUNDS,
            ),
        ):
            fam = HistogramMetricFamily(name, doc, labels=("protocol", "model"))
            merged: dict[tuple[str, str], _Hist] = {}
            for labels, g in groups:
                h: _Hist = getattr(g, attr)
                into = merged.setdefault(labels[:2], _Hist(len(bounds)))
                into.counts = [a + b for a, b in zip(into.counts, h.counts)]
                into.total += h.total
            for labels2, h in merged.items():
                if not sum(h.counts):
                    continue
                cumulative, running = [], 0
                for bound, n in zip((*map(str, bounds), "+Inf"), h.counts):
                    running += n
                    cumulative.append((bound, running))
                fam.add_metric(labels2, cumulative, h.total)
            yield fam
        att = CounterMetricFamily(
            "agproxy_upstream_attempts",
            "Tries against upstream accounts, by outcome",
            labels=("account", "outcome"),
        )
        for (account, outcome), n in list(self._attempts.items()):
            att.add_metric((account, outcome), n)
        yield att
        if self._accounts is not None:
            yield self._account_states()

    def _account_states(self) -> GaugeMetricFamily:
        import time

        now = time.time()
        counts: dict[str, int] = {}
        assert self._accounts is not None
        for acc in self._accounts():
            state = acc.effective_state(now)
            counts[state.value] = counts.get(state.value, 0) + 1
        fam = GaugeMetricFamily("agproxy_accounts", "Upstream accounts by state", labels=("state",))
        for state in (
            "active",
            "cooling",
            "disabled",
            "auth_failed",
            "forbidden",
            "verification_required",
        ):
            fam.add_metric((state,), counts.pop(state, 0))
        for state, n in counts.items():
            fam.add_metric((state,), n)
        return fam


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self._metrics.families()


async def metrics_handler(request: web.Request) -> web.Response:
    """The format the scraper asks for (Accept): Prometheus text 0.0.4 or OpenMetrics."""
    metrics = request.app[CTX].metrics
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(metrics.registry) if metrics is not None else b""
    return web.Response(body=body, headers={"Content-Type": content_type})


def register(app: web.Application) -> None:
    """GET /metrics, behind the edge's auth like every API path."""
    app.router.add_get("/metrics", metrics_handler)

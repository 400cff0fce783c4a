"""Run `agproxy-tui` headless for the benchmark: the real AgproxyApp (which owns the
proxy when `proxy.auto_start` is true) on its Traffic tab, with a sampler in the same
event loop writing one JSON line every SAMPLE_S to a file: the table's repaint count
(`app.traffic_refreshes`), this process's RSS and the worst event-loop lag seen since
the last sample (how long a keypress would have waited).

With `attach` as third argument the TUI attaches, as `agproxy-tui` does, to the
`agproxy serve` already running on this config (its control socket): the rows then
arrive over the socket's record stream, and each sample also says how many record
updates reached the table and how many the serve dropped for this client.

It runs on the same loop `agproxy-tui` picks (uvloop when installed).
Run as `python -m tests.bench.tui_host SAMPLES_FILE MAX_SECONDS [attach]` with
AGPROXY_HOME set. It exits by itself after MAX_SECONDS, or earlier when
SAMPLES_FILE + ".stop" appears."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

SAMPLE_S = 0.25
TICK_S = 0.02


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


SCREEN_UPDATES = [0]


def count_screen_updates() -> None:
    """Count the compositor's screen updates (Textual's real repaints; private API,
    so skipped when it is not there)."""
    from textual.screen import Screen

    inner = getattr(Screen, "_compositor_refresh", None)
    if inner is None:
        SCREEN_UPDATES[0] = -1
        return

    def counted(self: Screen) -> None:
        SCREEN_UPDATES[0] += 1
        inner(self)

    Screen._compositor_refresh = counted  # type: ignore[method-assign]


INGESTED = [0]


def count_ingested() -> None:
    """Count the record updates the Traffic table takes in (live rows shown)."""
    from tui.widgets.traffic import TrafficPane

    inner = TrafficPane.ingest

    def counted(self: TrafficPane, batch: list) -> None:  # type: ignore[type-arg]
        INGESTED[0] += len(batch)
        inner(self, batch)

    TrafficPane.ingest = counted  # type: ignore[method-assign]


async def main(samples: Path, max_seconds: float, attached: bool = False) -> None:
    from tui.app import AgproxyApp

    count_screen_updates()
    count_ingested()

    controller = None
    if attached:
        from proxy.control.connect import attach
        from proxy.paths import resolve_paths

        controller = await attach(resolve_paths())
        if controller is None:
            raise SystemExit("tui_host: no agproxy serve answers on this config's control socket")
    app = AgproxyApp(controller=controller)
    app.freeze_gc = True  # as tui.app.run_app does
    runner = asyncio.create_task(app.run_async(headless=True, size=(160, 48)))
    stop_file = Path(str(samples) + ".stop")
    deadline = time.monotonic() + max_seconds
    with samples.open("w") as out:
        lag_max = 0.0
        last_sample = 0.0
        while time.monotonic() < deadline and not stop_file.exists() and not runner.done():
            t = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lag_max = max(lag_max, time.perf_counter() - t - TICK_S)
            now = time.monotonic()
            if now - last_sample >= SAMPLE_S:
                last_sample = now
                try:
                    refreshes = app.traffic_refreshes
                except Exception:  # noqa: BLE001 - not mounted yet, or no such counter
                    refreshes = -1
                line = {
                    "t": time.time(),
                    "running": bool(getattr(app, "proxy_running", False)),
                    "refreshes": refreshes,
                    "screen_updates": SCREEN_UPDATES[0],
                    "rss_kib": rss_kib(),
                    "lag_ms": lag_max * 1000,
                    "mode": app.controller.mode,
                    "ingested": INGESTED[0],
                    # updates the serve dropped for this attached client (it lagged)
                    "stream_dropped": int(getattr(app.controller, "records_dropped", 0)),
                }
                out.write(json.dumps(line) + "\n")
                out.flush()
                lag_max = 0.0
    if not runner.done():
        await app.action_quit_now()
        try:
            await asyncio.wait_for(runner, 10)
        except (TimeoutError, asyncio.CancelledError):
            pass


async def run(samples: Path, max_seconds: float, attached: bool) -> int:
    await main(samples, max_seconds, attached)
    return 0


if __name__ == "__main__":
    from proxy.cli.serve import run_loop  # uvloop when installed, as `agproxy-tui` runs

    run_loop(run(Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:4] == ["attach"]))
    os._exit(0)

"""`agproxy status`: what the proxy running on this config is doing (SPEC §13, §17),
asked over its control socket. Exit 0 when one answers, 3 when none runs."""

from __future__ import annotations

import argparse
import asyncio
import sys

from proxy import jsoncodec
from proxy.control.api import ControlStatus
from proxy.control.server import probe
from proxy.humanize import duration
from proxy.paths import resolve_paths

NOT_RUNNING = 3


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("status", help="show the running proxy (serve or TUI) on this config")
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    p.add_argument("--json", action="store_true", help="the status as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = resolve_paths(getattr(args, "config", None))
    data = asyncio.run(probe(paths.control_socket))
    if data is None:
        if args.json:
            print(jsoncodec.dumps({"running": False, "process": None}).decode())
        else:
            print(f"not running (no proxy answers on {paths.control_socket})")
        return NOT_RUNNING
    st = ControlStatus.from_json(data)
    if args.json:
        print(jsoncodec.dumps(st.to_json()).decode())
        return 0
    who = "agproxy serve" if st.owner == "serve" else "agproxy-tui (in-process)"
    print(f"{who}, pid {st.pid}, up {duration(st.process_uptime_s)}, config {st.config_path}")
    if st.running:
        print(f"  listening: {', '.join(st.base_urls)} (auth: {st.auth_mode}), up {duration(st.uptime_s)}")
    else:
        print("  API listener: stopped (start it from the TUI with s)")
    print(f"  accounts: {st.accounts_active}/{st.accounts_total} active")
    print(
        f"  requests: {st.requests} ({st.errors} errors), tokens {st.input_tokens} in / "
        f"{st.output_tokens} out"
    )
    if st.record_streams:  # attached TUIs and other followers of the live record stream
        print(
            f"  live record streams: {st.record_streams} (longest queue {st.stream_backlog}, "
            f"{st.stream_dropped} updates dropped for slow readers)"
        )
    if st.lan_open_warning:
        print("  warning: the API is open to your network without a key", file=sys.stderr)
    return 0

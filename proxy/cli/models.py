"""`agproxy models [--account A] [--json]` (SPEC §9, §13): each account's live catalogue
as last read (ids, quota, deprecations, age), the client version in use, and where the
common client model names resolve today. Asked of the running proxy when one runs on
this config (its live cooldowns and the version it read), else read from the files."""

from __future__ import annotations

import argparse
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from proxy import jsoncodec
from proxy.config.model import ConfigError
from proxy.control.api import ControlError
from proxy.paths import Paths, resolve_paths
from proxy.upstream.client_version import ANTIGRAVITY_VERSION

PROG = "agproxy models"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("models", help="the accounts' live model catalogues and how client model names resolve")
    p.add_argument("--account", metavar="A", help="only this account (id, label or email)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    try:
        report = _run(_report(resolve_paths(getattr(args, "config", None)), args.account))
    except (ConfigError, ControlError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    setting = str(report["user_agent_setting"]).removeprefix("(default)")
    views = report["accounts"]
    if args.json:
        print(jsoncodec.dumps_pretty(report))
        return 0
    ua_note = " (auto: the newest from upstream.version_url, at least this)" if setting.strip().lower() == "auto" else ""
    print(f"client version: {report['client_version']}{ua_note}  User-Agent: {report['user_agent']}")
    if setting.strip() and setting.strip().lower() != "auto":
        print(f"  (upstream.user_agent is set verbatim; the built-in version is {ANTIGRAVITY_VERSION})")
    if not views:
        print("no accounts yet: agproxy accounts login | add-token TOKEN | add-key KEY | import PATH")
    for view in views:
        print()
        print(f"{view['label']} ({view['kind']}, id {view['id']}): {view['catalogue_state']}")
        for m in view["models"]:
            quota = m.get("quota") or ""
            extra = f"  cooling {m['cooling']}" if m.get("cooling") else ""
            extra += "  unavailable (404)" if m.get("unavailable") else ""
            print(f"  {m['id']:<36} {quota}{extra}")
        for old, new in view["deprecated"].items():
            print(f"  {old:<36} deprecated → {new}")
    print()
    print("client model names resolve to (over every account's catalogue):")
    for r in report["resolutions"]:
        mark = "" if r["offered"] or "no account offers it" in r["rule"] else "   (tried as is: some catalogue is not read yet)"
        print(f"  {r['client_model']:<28} → {r['model']:<30} {r['rule']}{mark}")
    return 0


async def _report(paths: Paths, account: str | None) -> dict[str, Any]:
    """From the running proxy (its live cooldowns, the version it read) when one runs
    on this config, else from the files."""
    from proxy.control.connect import attach_once, local

    controller: Any = await attach_once(paths)
    try:
        if controller is None:
            controller = local(paths)
        report: dict[str, Any] = await controller.models(account)
        return report
    finally:
        if controller is not None:
            await controller.close()


def _run(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:  # called from a running loop (an async test)
        return pool.submit(asyncio.run, coro).result()

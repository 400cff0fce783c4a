"""`agproxy models [--account A] [--json]` (SPEC §9, §13): each account's live catalogue
as last read (ids, quota, deprecations, age), the client version in use, and where the
common client model names resolve today. Asked of the running proxy when one runs on
this config (its live cooldowns and the version it read), else read from the files."""

from __future__ import annotations

import argparse
import sys
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
    from proxy.control.connect import run_command

    try:
        report = run_command(_report(resolve_paths(getattr(args, "config", None)), args.account))
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
        for line in catalogue_lines(view):
            print(line)
    print()
    print("client model names resolve to (over every account's catalogue):")
    for r in report["resolutions"]:
        mark = "" if r["offered"] or "no account offers it" in r["rule"] else "   (tried as is: some catalogue is not read yet)"
        print(f"  {r['client_model']:<28} → {r['model']:<30} {r['rule']}{mark}")
    return 0


async def _report(paths: Paths, account: str | None) -> dict[str, Any]:
    """From the running proxy (its live cooldowns, the version it read) when one runs
    on this config, else from the files."""
    from proxy.control.connect import controller_for

    async with controller_for(paths) as controller:
        report: dict[str, Any] = await controller.models(account)
        return report


def catalogue_lines(view: dict[str, Any], indent: str = "  ") -> list[str]:
    """One account's catalogue as `account_view` gives it: each model with quota,
    cooldown and 404 mark, then the deprecations (`agproxy models`, `accounts show`)."""
    lines = []
    for m in view["models"]:
        extra = f"  cooling {m['cooling']}" if m.get("cooling") else ""
        extra += "  unavailable (404)" if m.get("unavailable") else ""
        lines.append(f"{indent}{m['id']:<36} {m.get('quota') or ''}{extra}")
    for old, new in view["deprecated"].items():
        lines.append(f"{indent}{old:<36} deprecated → {new}")
    return lines

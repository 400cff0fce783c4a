"""`agproxy keys add|list|revoke|rotate|remove`: client keys (SPEC §19). While a serve
(or an in-process TUI) runs on this config the command goes through its control socket
(SPEC §13, §17): the change applies at once (a revoked key stops working before this
command returns) and only that process writes keys.json. Otherwise it works on the files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from proxy import jsoncodec
from proxy.config.model import ConfigError
from proxy.control.api import ControlError
from proxy.keys.store import KeyCommandError, parse_expiry
from proxy.paths import resolve_paths

Job = Callable[[Any], Awaitable[int]]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "keys",
        help="client keys: one key per person or tool, with limits",
        description="Client keys: each works like the proxy's API key (every header and "
        "?key=), with its own limits. Only a hash is stored; the key is shown once.",
    )
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION")
    add = ks.add_parser("add", help="create a key and print it (once)")
    add.add_argument("name")
    add.add_argument(
        "--models",
        default="",
        metavar="GLOB,…",
        help="models it may use, e.g. 'claude-*,gemini-2.5-*'",
    )
    add.add_argument(
        "--rpm", type=int, default=0, metavar="N", help="requests per minute (0 = no limit)"
    )
    add.add_argument(
        "--tokens-per-day",
        type=int,
        default=0,
        metavar="N",
        help="daily token budget, input + output (0 = no limit)",
    )
    add.add_argument(
        "--expires", default="", metavar="WHEN", help="30d, 12h, 2w or a date (default: never)"
    )
    add.set_defaults(func=run_add)
    ls = ks.add_parser("list", help="keys with limits, usage today and last use")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    for name, helptext, func in (
        ("revoke", "stop a key working (it stays listed)", _change("revoke", "revoked")),
        ("rotate", "give a key a new secret with the same limits (prints it once)", run_rotate),
        ("remove", "delete a key", _change("remove", "removed")),
    ):
        sp = ks.add_parser(name, help=helptext)
        sp.add_argument("name")
        sp.set_defaults(func=func)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _run(args: argparse.Namespace, job: Job) -> int:
    """`job(controller)` with the running proxy's controller, or one over the files."""
    from proxy.control.connect import run_command

    return run_command(_with_controller(args, job))


async def _with_controller(args: argparse.Namespace, job: Job) -> int:
    from proxy.control.api import ATTACHED
    from proxy.control.connect import controller_for

    try:
        async with controller_for(resolve_paths(getattr(args, "config", None))) as controller:
            code = await job(controller)
            if controller.mode == ATTACHED:
                # on stderr: `keys add` / `rotate` print only the key on stdout (scripts read it)
                print(f"  (applied by the running proxy, pid {controller.status().pid})", file=sys.stderr)
            return code
    except (KeyCommandError, ControlError, ConfigError) as exc:
        return _fail(exc)


def auth_off_note(controller: Any) -> str | None:
    """Why client keys would not be checked, or None. The status's auth mode is the one
    enforced: a running proxy's (it follows the LAN state it is bound with), else the
    file's, both from `resolve_auth_mode`."""
    if controller.status().auth_mode != "off":
        return None
    asked = controller.config.proxy.auth_mode
    why = "auto on localhost" if asked == "auto" else asked
    return (
        f"auth is off (proxy.auth_mode = {why}): client keys and their limits are not "
        "checked until you set proxy.auth_mode = all_except_health or strict"
    )


def _warn_if_auth_off(controller: Any) -> None:
    note = auth_off_note(controller)
    if note:
        print(f"agproxy keys: warning: {note}", file=sys.stderr)


def _fail(exc: Exception) -> int:
    print(f"agproxy keys: {exc}", file=sys.stderr)
    return 2


def run_add(args: argparse.Namespace) -> int:
    async def job(controller: Any) -> int:
        expires = parse_expiry(args.expires) if args.expires else 0.0
        models = [g.strip() for g in args.models.split(",") if g.strip()]
        key = await controller.add_client_key(
            args.name, models=models, rpm=args.rpm, tokens_per_day=args.tokens_per_day, expires=expires
        )
        print(key)
        print(f"client key '{args.name}' added; it is shown only this once", file=sys.stderr)
        _warn_if_auth_off(controller)
        return 0

    return _run(args, job)


def run_rotate(args: argparse.Namespace) -> int:
    async def job(controller: Any) -> int:
        key = await controller.rotate_client_key(args.name)
        print(key)
        print(f"client key '{args.name}' rotated; the old key no longer works", file=sys.stderr)
        _warn_if_auth_off(controller)
        return 0

    return _run(args, job)


def _change(method: str, done: str) -> Callable[[argparse.Namespace], int]:
    """`keys revoke|remove NAME`: call the controller's `<method>_client_key`, say what was `done`."""

    def run(args: argparse.Namespace) -> int:
        async def job(controller: Any) -> int:
            await getattr(controller, f"{method}_client_key")(args.name)
            print(f"client key '{args.name}' {done}")
            return 0

        return _run(args, job)

    return run


def run_list(args: argparse.Namespace) -> int:
    async def job(controller: Any) -> int:
        _print_list(await controller.client_keys(), args.json)
        note = auth_off_note(controller)
        if note:  # on stderr with --json: stdout stays one JSON document
            print(f"note: {note}", file=sys.stderr if args.json else sys.stdout)
        return 0

    return _run(args, job)


def _print_list(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(jsoncodec.dumps_pretty(rows))
        return
    if not rows:
        print("no client keys (add one: agproxy keys add NAME)")
        return
    head = ("NAME", "KEY", "STATE", "MODELS", "RPM", "TOKENS/DAY", "TODAY", "EXPIRES", "LAST USED")
    cells = [
        (
            str(r["name"]),
            str(r["prefix"]),
            str(r["state"]),
            str(r["models"]),
            str(r["rpm"] or "-"),
            f"{r['tokens_per_day']:,}" if r["tokens_per_day"] else "-",
            f"{r['tokens_today']:,}",
            str(r["expires"] or "never"),
            str(r["last_used"] or "never"),
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in (head, *cells)) for i in range(len(head))]
    for c in (head, *cells):
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())

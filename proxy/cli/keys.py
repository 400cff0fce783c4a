"""`agproxy keys add|list|revoke|rotate|remove`: client keys (SPEC §19). A running serve
picks the change up within a couple of seconds (it re-reads keys.json when it changes)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from proxy import jsoncodec
from proxy.keys.store import KeyCommandError, KeyStore, describe, parse_expiry
from proxy.paths import resolve_paths


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


def _store(args: argparse.Namespace) -> KeyStore:
    store = KeyStore(resolve_paths(getattr(args, "config", None)).data_dir)
    store.load()
    return store


def _fail(exc: Exception) -> int:
    print(f"agproxy keys: {exc}", file=sys.stderr)
    return 2


def run_add(args: argparse.Namespace) -> int:
    try:
        expires = parse_expiry(args.expires) if args.expires else 0.0
        models = [g.strip() for g in args.models.split(",") if g.strip()]
        key = _store(args).add(
            args.name,
            models=models,
            rpm=args.rpm,
            tokens_per_day=args.tokens_per_day,
            expires=expires,
        )
    except KeyCommandError as exc:
        return _fail(exc)
    print(key)
    print(f"client key '{args.name}' added; it is shown only this once", file=sys.stderr)
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    try:
        key = _store(args).rotate(args.name)
    except KeyCommandError as exc:
        return _fail(exc)
    print(key)
    print(f"client key '{args.name}' rotated; the old key no longer works", file=sys.stderr)
    return 0


def _change(method: str, done: str) -> Callable[[argparse.Namespace], int]:
    """`keys revoke|remove NAME`: call the store's `method`, say what was `done`."""

    def run(args: argparse.Namespace) -> int:
        try:
            getattr(_store(args), method)(args.name)
        except KeyCommandError as exc:
            return _fail(exc)
        print(f"client key '{args.name}' {done}")
        return 0

    return run


def run_list(args: argparse.Namespace) -> int:
    import time

    now = time.time()
    rows = [describe(k, now) for k in _store(args).list_keys()]
    if args.json:
        print(jsoncodec.dumps_pretty(rows))
        return 0
    if not rows:
        print("no client keys (add one: agproxy keys add NAME)")
        return 0
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
    return 0

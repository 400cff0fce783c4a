"""The `agproxy` command line (SPEC §13). Each subcommand lives in its own module
with `add_parser(subparsers)`; the parser sets `func(args) -> int` as the handler."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("serve", "status", "stop", "config", "accounts", "models", "logs", "stats", "keys", "service")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agproxy", description="Local LLM API gateway.")
    parser.add_argument("--config", metavar="PATH", help="config file (default: user config dir)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"proxy.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"proxy.cli.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""`agproxy config show|path|get|set`: read and change the config file (SPEC §1, §13).

`set` goes through the running proxy's control socket when one runs on this config
(validated and written by its ConfigStore, applied at once; one writer), else it
writes the file itself."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import tomlkit

from proxy.config.model import (
    SECRET_KEYS,
    Config,
    ConfigError,
    api_key_warning,
    preferred_account_warning,
)
from proxy.config.store import ConfigStore
from proxy.control.api import ControlError
from proxy.paths import resolve_paths
from proxy.redact import mask_secret


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("config", help="show or change the configuration")
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the effective config (secrets masked)")
    show.add_argument("--reveal", action="store_true", help="print secrets in clear")
    sub.add_parser("path", help="print the config file path")
    get = sub.add_parser("get", help="print one value (secrets masked)")
    get.add_argument("key")
    get.add_argument(
        "--reveal",
        action="store_true",
        help="print a secret in clear, e.g. export AGPROXY_API_KEY=$(agproxy config get "
        "proxy.api_key --reveal)",
    )
    setp = sub.add_parser("set", help="change one value (validated, comments kept)")
    setp.add_argument("key", help="dotted key, e.g. proxy.port")
    setp.add_argument("value", help='text as you would type it: 9000, true, \'["http://a"]\'')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = ConfigStore(resolve_paths(args.config))
    if args.config_command == "path":
        print(store.path)
        return 0
    try:
        config = store.load()
        if args.config_command == "show":
            data = config.to_dict()
            if not args.reveal:
                _mask(data, "")
            print(tomlkit.dumps(data), end="")
        elif args.config_command == "get":
            value = config.get(args.key)
            print(_show(args.key, value, reveal=args.reveal))
        elif args.config_command == "set":
            config, via, warning = asyncio.run(_set(store, args.key, args.value))
            print(f"{args.key} = {_show(args.key, config.get(args.key))}{via}")
            if warning:  # saved, but worth a word (the TUI's Settings says the same)
                print(f"agproxy: warning: {warning}", file=sys.stderr)
    except (ConfigError, ControlError) as exc:
        print(f"agproxy: {exc}", file=sys.stderr)
        return 1
    return 0


async def _set(store: ConfigStore, key: str, value: str) -> tuple[Any, str, str | None]:
    """(the saved config, a note saying which process applied it, a warning or None)."""
    from proxy.control.connect import attach_once

    remote = await attach_once(store.paths)
    if remote is None:
        config = store.set(key, value)
        return config, "", _warning(key, config, lambda: _stored_accounts(store))
    try:
        pid = remote.status().pid
        config = await remote.set_config(key, value)
        note = f"  (applied by the running proxy, pid {pid})"
        return config, note, _warning(key, config, remote.accounts)
    finally:
        await remote.close()


def _warning(key: str, config: Config, accounts: Any) -> str | None:
    """The config's soft rules (proxy/config/model.py), as the TUI form shows them."""
    if key == "proxy.api_key":
        return api_key_warning(config.proxy.api_key)
    if key == "scheduling.preferred_account":
        return preferred_account_warning(config.scheduling.preferred_account, accounts())
    return None


def _stored_accounts(store: ConfigStore) -> list[Any]:
    from proxy.accounts.store import AccountStore

    return AccountStore(store.paths.accounts_dir).load_all()


def _mask(data: dict[str, Any], prefix: str) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _mask(value, f"{prefix}{key}.")
        elif f"{prefix}{key}" in SECRET_KEYS and isinstance(value, str):
            data[key] = mask_secret(value)


def _show(key: str, value: Any, reveal: bool = False) -> str:
    if key in SECRET_KEYS and isinstance(value, str) and not reveal:
        value = mask_secret(value)
    if isinstance(value, str):
        return value
    return tomlkit.item(value).as_string()

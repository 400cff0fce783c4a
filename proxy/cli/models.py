"""`agproxy models [--account A] [--json]` (SPEC §9, §13): each account's live catalogue
as last read (ids, quota, deprecations, age), the client version in use, and where the
common client model names resolve today."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from proxy import jsoncodec
from proxy.accounts.model import Account
from proxy.accounts.store import AccountStore
from proxy.config.model import Config, ConfigError
from proxy.humanize import duration
from proxy.models_table import CLIENT_DEFAULT_MODELS
from proxy.paths import resolve_paths
from proxy.routing import build_offer, resolve
from proxy.upstream.client_version import ANTIGRAVITY_VERSION, ClientVersion

PROG = "agproxy models"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("models", help="the accounts' live model catalogues and how client model names resolve")
    p.add_argument("--account", metavar="A", help="only this account (id, label or email)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)


def _config(args: argparse.Namespace) -> Config:
    from proxy.config.store import ConfigStore

    return ConfigStore(resolve_paths(getattr(args, "config", None))).load()


def cmd_models(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    store = AccountStore(resolve_paths(getattr(args, "config", None)).accounts_dir)
    store.load_all()
    accounts = store.list()
    if args.account:
        acc = store.get(args.account)
        if acc is None:
            print(f"{PROG}: no account {args.account!r} (see agproxy accounts list)", file=sys.stderr)
            return 1
        accounts = [acc]
    now = time.time()
    offer = build_offer(store.list())
    mapping = dict(config.model_mapping)
    setting = config.upstream.user_agent
    version = ClientVersion()
    names = list(dict.fromkeys([n for _c, n in CLIENT_DEFAULT_MODELS] + [k for k in mapping if "*" not in k]))
    resolved = [resolve(n, mapping, offer) for n in names]
    views = [account_view(a, now) for a in accounts]
    report: dict[str, Any] = {
        "client_version": version.version(setting),
        "user_agent_setting": setting or "(default)",
        "user_agent": version.user_agent(setting),
        "accounts": views,
        "resolutions": [{"client_model": r.client_model, "model": r.model, "rule": r.rule, "offered": r.offered}
                        for r in resolved],
    }
    if args.json:
        print(jsoncodec.dumps_pretty(report))
        return 0
    ua_note = " (auto: the newest from upstream.version_url, at least this)" if setting.strip().lower() == "auto" else ""
    print(f"client version: {report['client_version']}{ua_note}  User-Agent: {report['user_agent']}")
    if setting.strip() and setting.strip().lower() != "auto":
        print(f"  (upstream.user_agent is set verbatim; the built-in version is {ANTIGRAVITY_VERSION})")
    if not accounts:
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
    for r in resolved:
        mark = "" if r.offered or "no account offers it" in r.rule else "   (tried as is: some catalogue is not read yet)"
        print(f"  {r.client_model:<28} → {r.model:<30} {r.rule}{mark}")
    return 0


def account_view(acc: Account, now: float) -> dict[str, Any]:
    cat = acc.catalogue
    models: list[dict[str, Any]] = []
    if cat is not None:
        for model in sorted(acc.offered() | acc.unavailable.keys()):
            q = acc.quota.get(model)
            quota = ""
            if q is not None and q.remaining_fraction is not None:
                quota = f"{q.remaining_fraction:.0%}"
                if q.reset_time and q.reset_time > now:
                    quota += f" (resets in {duration(q.reset_time - now)})"
            until = max(acc.cooldowns.get(model, 0.0), acc.fault_cooldowns.get(model, 0.0))
            models.append({"id": model, "quota": quota,
                           "cooling": duration(until - now) if until > now else "",
                           "unavailable": model in acc.unavailable})
    return {
        "id": acc.id,
        "label": acc.label,
        "kind": acc.kind.value,
        "catalogue_state": "catalogue never read (served optimistically; read at the next start)"
        if cat is None else f"{len(acc.offered())} model(s), read {duration(cat.age(now))} ago",
        "catalogue_read_at": cat.read_at if cat is not None else None,
        "models": models,
        "deprecated": dict(cat.deprecated) if cat is not None else {},
        "internal": sorted(m for m, e in cat.models.items() if e.internal) if cat is not None else [],
    }

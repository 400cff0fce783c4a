"""What `agproxy models` shows and the control socket's `GET /v1/models` answers (SPEC
§9, §17): each account's catalogue as last read (ids, quota, cooldowns, deprecations,
age), the client version in use, and where common client model names resolve now.
Built from the serving process's own state when one runs (live cooldowns, the version
it read), else from the files."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proxy.accounts.model import Account
from proxy.config.model import Config
from proxy.humanize import duration
from proxy.models_table import CLIENT_DEFAULT_MODELS
from proxy.routing import build_offer, resolve
from proxy.upstream.client_version import ClientVersion


def models_report(
    config: Config, every: Iterable[Account], shown: Iterable[Account], version: ClientVersion, now: float
) -> dict[str, Any]:
    """`shown`: the accounts listed; resolution is over `every` account's catalogue."""
    mapping = dict(config.model_mapping)
    setting = config.upstream.user_agent
    offer = build_offer(list(every))
    names = list(dict.fromkeys([n for _c, n in CLIENT_DEFAULT_MODELS] + [k for k in mapping if "*" not in k]))
    resolved = [resolve(n, mapping, offer) for n in names]
    return {
        "client_version": version.version(setting),
        "user_agent_setting": setting or "(default)",
        "user_agent": version.user_agent(setting),
        "accounts": [account_view(a, now) for a in shown],
        "resolutions": [{"client_model": r.client_model, "model": r.model, "rule": r.rule, "offered": r.offered}
                        for r in resolved],
    }


def account_view(acc: Account, now: float) -> dict[str, Any]:
    cat = acc.catalogue
    models: list[dict[str, Any]] = []
    if cat is not None:
        cooling = acc.model_cooldowns(now)
        for model in sorted(acc.offered() | acc.unavailable.keys()):
            q = acc.quota.get(model)
            quota = ""
            if q is not None and q.remaining_fraction is not None:
                quota = f"{q.remaining_fraction:.0%}"
                if q.reset_time and q.reset_time > now:
                    quota += f" (resets in {duration(q.reset_time - now)})"
            until = cooling.get(model)
            models.append({"id": model, "quota": quota,
                           "cooling": duration(until - now) if until else "",
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

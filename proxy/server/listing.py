"""Which models /v1/models and /v1beta/models list: the mapping's own names plus what
the accounts can really serve (SPEC §3)."""

from __future__ import annotations

from typing import Any

from proxy.accounts.model import AccountKind
from proxy.models_table import GEMINI_API_MODELS, KNOWN_UPSTREAM_MODELS


def served_models(ctx: Any) -> list[str]:
    names: dict[str, None] = {}
    for key in ctx.config.model_mapping:
        if "*" not in key:
            names[key] = None
    accounts = ctx.accounts.list() if ctx.accounts is not None else []
    for account in accounts:
        offered = list(account.quota) or KNOWN_UPSTREAM_MODELS
        for model in offered:
            if account.serves(model):
                names[model] = None
        if account.kind is AccountKind.GEMINI_KEY:  # what a key really reaches
            for model in GEMINI_API_MODELS.values():
                names[model] = None
    if ctx.config.zai_dispatch_on:
        models = ctx.config.zai.models
        for model in (models.opus, models.sonnet, models.haiku):
            names[model] = None
    return list(names)

"""Which models /v1/models and /v1beta/models list (SPEC §3, §9): the ids the
accounts' live catalogues offer (no internal, no deprecated ids) plus the mapping's
own names — every id listed answers when requested."""

from __future__ import annotations

from typing import Any


def served_models(ctx: Any) -> list[str]:
    names: dict[str, None] = {}
    dispatcher = ctx.dispatcher
    if dispatcher is not None:
        for model in sorted(dispatcher.resolver.offer.ids):
            names[model] = None
        for key in ctx.config.model_mapping:
            # a mapping key is listed only when it answers: its target is offered
            if "*" not in key and dispatcher.resolve(key).offered:
                names[key] = None
    if ctx.config.zai_dispatch_on:
        models = ctx.config.zai.models
        for model in (models.opus, models.sonnet, models.haiku):
            names[model] = None
    return list(names)

"""Model routing (SPEC §9): which upstream model serves the model a client named.

Order: exact `model_mapping` key → wildcard keys (most non-`*` characters wins, then
the earlier key) → a known upstream id passes unchanged → built-in defaults
(proxy.models_table) → unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from proxy.models_table import DEFAULT_ROUTES, KNOWN_UPSTREAM_MODELS

_KNOWN = frozenset(KNOWN_UPSTREAM_MODELS)


def resolve_model(client_model: str, mapping: Mapping[str, str] | None = None) -> str:
    """The upstream model for `client_model` (memoised: it runs on every request and
    the wildcard walk costs far more than the cache key)."""
    return _resolve(client_model, tuple(mapping.items()) if mapping else ())


@lru_cache(maxsize=1024)
def _resolve(client_model: str, mapping_items: tuple[tuple[str, str], ...]) -> str:
    mapping = dict(mapping_items)
    name = client_model.strip().removeprefix("models/")
    if mapping:
        exact = mapping.get(name)
        if exact:
            return exact
        hit = best_wildcard(name, mapping.items())
        if hit is not None:
            return hit
    if name in _KNOWN:
        return name
    hit = best_wildcard(name, DEFAULT_ROUTES)
    return hit if hit is not None else name


def best_wildcard(name: str, routes: Iterable[tuple[str, str]]) -> str | None:
    """The target of the most specific matching `*` pattern, or None."""
    best: tuple[int, str] | None = None
    for pattern, target in routes:
        if "*" not in pattern or not target:
            continue
        if wildcard_match(pattern, name):
            score = len(pattern) - pattern.count("*")
            if best is None or score > best[0]:
                best = (score, target)
    return best[1] if best else None


def wildcard_match(pattern: str, name: str) -> bool:
    """Shell-like match where only `*` is special; case-insensitive (model ids are)."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, name, re.IGNORECASE) is not None

"""Model resolution (SPEC §9): which upstream id serves the model a client named,
and which rule decided it.

`resolve()` is one pure function over (name, mapping, what the accounts offer):
1. `model_mapping`: exact key → wildcard keys (most non-`*` characters wins, then
   the earlier key);
2. deprecation forwarding: an id some account lists as deprecated → its new id
   (chains followed up to 3 steps);
3. offered as is by some account → done;
4. family rules (proxy.models_table) over the offered ids: newest by version
   number, the `-thinking` variant when the request asks for thinking;
5. otherwise unchanged (a 404 later when nobody serves it).

`Resolver` caches results per catalogue version and mapping, so a request never
scans every account's model list."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from proxy.accounts.catalogue import MAX_FORWARD_STEPS
from proxy.models_table import FAMILIES, FAMILY_RULES, Family, FamilyRule

_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Offer:
    """What the accounts serve, as resolution sees it (built once per catalogue version)."""

    ids: frozenset[str] = _EMPTY  # offered by at least one account's catalogue
    deprecated: Mapping[str, str] | None = None  # old id -> new id, over all catalogues
    unknown: bool = False  # some usable account's catalogue was never read (optimistic)


@dataclass(frozen=True, slots=True)
class Resolution:
    client_model: str
    model: str  # the upstream id to send
    rule: str  # how it was chosen, for people: "mapping claude-* → …", "family claude-sonnet-*" …
    offered: bool  # some account's catalogue lists `model`
    thinking: bool = False  # the request asked for thinking (a family's -thinking variant)

    def explain(self) -> str:
        if self.model == self.client_model:
            return f"{self.model} ({self.rule})"
        return f"{self.client_model} → {self.model} ({self.rule})"


def resolve(client_model: str, mapping: Mapping[str, str] | None, offer: Offer, thinking: bool = False) -> Resolution:
    """The decision and the rule that made it (pure: no I/O, no clock)."""
    name = client_model.strip().removeprefix("models/")
    rules: list[str] = []
    current = name
    if mapping:
        target = mapping.get(name)
        if target:
            rules.append(f"mapping {name} -> {target}")
            current = target
        else:
            hit = _best_wildcard_item(name, mapping.items())
            if hit is not None:
                rules.append(f"mapping {hit[0]} -> {hit[1]}")
                current = hit[1]
    deprecated = offer.deprecated or {}
    if current in deprecated and current not in offer.ids:
        start = current
        for _ in range(MAX_FORWARD_STEPS):
            nxt = deprecated.get(current)
            if not nxt or nxt == current:
                break
            current = nxt
            if current in offer.ids:
                break
        rules.append(f"deprecated {start} -> {current}")
    if current in offer.ids:
        rules.append("offered as is")
        return Resolution(name, current, "; ".join(rules), True, thinking)
    rule = best_rule(current)
    if rule is not None:
        chosen = pick_newest(offer.ids, rule.families, thinking)
        if chosen is not None:
            rules.append(f"family {rule.pattern}: {rule.note}")
            return Resolution(name, chosen, "; ".join(rules), True, thinking)
    rules.append("unchanged" + ("" if offer.unknown else ": no account offers it"))
    return Resolution(name, current, "; ".join(rules), False, thinking)


# -- family choice ---------------------------------------------------------------------

_VERSION_RUN = re.compile(r"(?<![0-9a-z])(\d{1,3}(?:[.\-]\d{1,3}(?![0-9]))*)(?![0-9])", re.IGNORECASE)


def version_key(model_id: str) -> tuple[int, ...]:
    """The version numbers in an id, compared as numbers (never as strings):
    claude-sonnet-4-10 > claude-sonnet-4-9; gemini-3.1-pro > gemini-3-pro.
    A date suffix (20250929: more than 3 digits) is not part of the version."""
    match = _VERSION_RUN.search(model_id)
    if match is None:
        return ()
    return tuple(int(p) for p in re.split(r"[.\-]", match.group(1)))


def _variant_score(model_id: str, thinking: bool) -> int:
    low = model_id.lower()
    score = 0
    if "thinking" in low:
        score += 4 if thinking else -4
    if "preview" in low or "-exp" in low:
        score -= 1
    if low.endswith("-high"):
        score += 1
    elif low.endswith("-low"):
        score -= 1
    return score


def family_members(ids: Iterable[str], family: Family) -> list[str]:
    return [m for m in ids if wildcard_match(family.pattern, m) and not any(x in m.lower() for x in family.exclude)]


def pick_newest(ids: frozenset[str], families: tuple[str, ...], thinking: bool) -> str | None:
    """The newest offered id of the first family that has one."""
    for name in families:
        members = family_members(ids, FAMILIES[name])
        if members:
            return max(members, key=lambda m: (version_key(m), _variant_score(m, thinking), -len(m), m))
    return None


def best_rule(name: str) -> FamilyRule | None:
    best: tuple[int, FamilyRule] | None = None
    for rule in FAMILY_RULES:
        if wildcard_match(rule.pattern, name):
            score = len(rule.pattern) - rule.pattern.count("*")
            if best is None or score > best[0]:
                best = (score, rule)
    return best[1] if best else None


# -- wildcards -------------------------------------------------------------------------


def _best_wildcard_item(name: str, routes: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    best: tuple[int, str, str] | None = None
    for pattern, target in routes:
        if "*" not in pattern or not target:
            continue
        if wildcard_match(pattern, name):
            score = len(pattern) - pattern.count("*")
            if best is None or score > best[0]:
                best = (score, pattern, target)
    return (best[1], best[2]) if best else None


def best_wildcard(name: str, routes: Iterable[tuple[str, str]]) -> str | None:
    """The target of the most specific matching `*` pattern, or None."""
    hit = _best_wildcard_item(name, routes)
    return hit[1] if hit else None


@lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE)


def wildcard_match(pattern: str, name: str) -> bool:
    """Shell-like match where only `*` is special; case-insensitive (model ids are)."""
    return _pattern(pattern).fullmatch(name) is not None


def closest_ids(name: str, ids: Iterable[str], n: int = 3) -> tuple[list[str], bool]:
    """A few offered ids for a name nobody serves (a 404, the mapping editor), and
    whether they look like it: spelled alike or of its family; else the newest offered
    ids, so the person still sees what is there."""
    import difflib

    pool = sorted(ids)
    # 0.6: "claude-sonet-4-6" finds claude-sonnet-4-6; "llama-3-70b" finds no Claude
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.6)
    if len(close) < n:
        rule = best_rule(name)
        if rule is not None:
            for fam in rule.families:
                for m in sorted(family_members(pool, FAMILIES[fam]), key=version_key, reverse=True):
                    if m not in close and len(close) < n:
                        close.append(m)
    if close:
        return close, True
    return sorted(pool, key=version_key, reverse=True)[:n], False


# -- the cache the request path uses ---------------------------------------------------


class Resolver:
    """`resolve()` cached per (catalogue version, mapping): building the `Offer` walks the
    accounts once per version; a request costs one dict lookup."""

    MAX_ENTRIES = 4096

    def __init__(self, store: Any) -> None:
        self._store = store
        self._version = -1
        self._mapping: Mapping[str, str] | None = None
        self._offer = Offer()
        self._cache: dict[tuple[str, bool], Resolution] = {}

    @property
    def offer(self) -> Offer:
        self._check(self._mapping)
        return self._offer

    def resolve(self, client_model: str, mapping: Mapping[str, str] | None, thinking: bool = False) -> Resolution:
        self._check(mapping)
        key = (client_model, thinking)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= self.MAX_ENTRIES:
                self._cache.clear()
            hit = self._cache[key] = resolve(client_model, mapping, self._offer, thinking)
        return hit

    def _check(self, mapping: Mapping[str, str] | None) -> None:
        store = self._store
        version = store.catalogue_version if store is not None else 0
        if version != self._version or mapping is not self._mapping:
            self._version, self._mapping = version, mapping
            self._offer = build_offer(store.list() if store is not None else [])
            self._cache = {}


def build_offer(accounts: Iterable[Any]) -> Offer:
    ids: set[str] = set()
    deprecated: dict[str, str] = {}
    unknown = False
    for acc in accounts:
        if acc.disabled:
            continue
        cat = acc.catalogue
        if cat is None:
            unknown = True
            continue
        ids.update(acc.offered())
        for old, new in cat.deprecated.items():
            deprecated.setdefault(old, new)
    return Offer(frozenset(ids), deprecated, unknown)


def resolve_model(client_model: str, mapping: Mapping[str, str] | None = None, offer: Offer | None = None) -> str:
    """Just the upstream id (for callers that do not show the rule)."""
    return resolve(client_model, mapping, offer or Offer(unknown=True)).model

"""Model resolution (SPEC §9): one pure function over (name, mapping, what is offered)."""

import itertools
import random

from proxy.models_table import CLIENT_DEFAULT_MODELS, FAMILY_RULES
from proxy.routing import Offer, Resolver, build_offer, resolve, version_key, wildcard_match

# What accounts offered on a day the catalogue had moved on (ids are made up but shaped
# like Google's: families, versions, -thinking variants, dated and preview ids).
TODAY = frozenset({
    "claude-sonnet-4-6", "claude-sonnet-4-6-thinking", "claude-sonnet-4-5", "claude-opus-4-6-thinking",
    "gemini-3-pro-high", "gemini-3-pro-low", "gemini-3.1-pro-preview", "gemini-3-flash", "gemini-2.5-flash",
    "gemini-2.5-flash-lite", "gemini-3-pro-image", "gpt-oss-120b-medium",
})
OFFER = Offer(TODAY, {"claude-sonnet-4-5-old": "claude-sonnet-4-5", "gemini-old": "gemini-older",
                      "gemini-older": "gemini-3-flash"})


def test_exact_mapping_beats_wildcards_and_says_so():
    r = resolve("claude-opus-4-8", {"claude-opus-4-8": "gemini-2.5-flash", "claude-*": "x"}, OFFER)
    assert r.model == "gemini-2.5-flash"
    assert r.rule.startswith("mapping claude-opus-4-8 -> gemini-2.5-flash")
    assert r.offered


def test_most_specific_wildcard_wins():
    mapping = {"*": "gemini-2.5-flash", "claude-*": "claude-sonnet-4-5", "claude-opus-*": "gemini-3-flash"}
    assert resolve("claude-opus-4-8", mapping, OFFER).model == "gemini-3-flash"
    assert resolve("claude-sonnet-4-8", mapping, OFFER).model == "claude-sonnet-4-5"
    assert resolve("gpt-4o", mapping, OFFER).model == "gemini-2.5-flash"


def test_deprecated_id_is_forwarded_along_its_chain():
    r = resolve("gemini-old", None, OFFER)
    assert r.model == "gemini-3-flash" and "deprecated gemini-old -> gemini-3-flash" in r.rule


def test_offered_id_passes_unchanged():
    for model in TODAY:
        r = resolve(model, None, OFFER)
        assert r.model == model and r.rule == "offered as is"


def test_family_picks_newest_by_version_number_not_string_order():
    ids = frozenset({"claude-sonnet-4-9", "claude-sonnet-4-10", "claude-sonnet-4-2"})
    assert resolve("claude-sonnet-5", None, Offer(ids)).model == "claude-sonnet-4-10"
    assert version_key("gemini-3.10-flash") > version_key("gemini-3.9-flash")
    assert version_key("claude-sonnet-4-5-20250929") == (4, 5)


def test_family_picks_thinking_variant_only_when_asked():
    assert resolve("claude-sonnet-4-7", None, OFFER).model == "claude-sonnet-4-6"
    thinking = resolve("claude-sonnet-4-7", None, OFFER, thinking=True)
    assert thinking.model == "claude-sonnet-4-6-thinking" and thinking.rule.startswith("family claude-sonnet-*")


def test_client_defaults_resolve_to_offered_ids():
    for _client, name in CLIENT_DEFAULT_MODELS:
        r = resolve(name, None, OFFER)
        assert r.offered and r.model in TODAY, (name, r)
    assert resolve("gemini-3.8-flash", None, OFFER).model == "gemini-3-flash"
    assert resolve("gemini-3.5-flash-lite", None, OFFER).model == "gemini-2.5-flash-lite"
    assert resolve("gpt-5-codex", None, OFFER).model == "gemini-3.1-pro-preview"  # newest pro, not an image model
    assert resolve("claude-opus-4-8", None, OFFER).model == "claude-opus-4-6-thinking"


def test_unknown_name_is_unchanged_and_not_offered():
    r = resolve("no-such-model", None, OFFER)
    assert r.model == "no-such-model" and not r.offered
    assert "no account offers it" in r.rule


def test_family_rule_never_names_an_id_nobody_offers():
    """Property: over random subsets of offered ids, a family decision is always one of them."""
    rng = random.Random(7)
    pool = sorted(TODAY)
    names = [n for _c, n in CLIENT_DEFAULT_MODELS] + ["claude-3-5-sonnet-20241022", "o3", "o4-mini", "gpt-4.1-nano"]
    for _ in range(300):
        ids = frozenset(rng.sample(pool, rng.randint(0, len(pool))))
        for name in names:
            r = resolve(name, None, Offer(ids), thinking=rng.random() < 0.5)
            assert (r.model in ids) == r.offered
            if r.offered:
                assert r.model in ids


def test_built_in_table_holds_family_rules_not_ids():
    for rule in FAMILY_RULES:
        assert "*" in rule.pattern and rule.families


def test_wildcards_are_case_insensitive_and_literal():
    assert wildcard_match("gpt-4.*", "GPT-4.1")
    assert not wildcard_match("gpt-4.*", "gpt-401")
    assert not wildcard_match("claude-*", "xclaude-1")


class _Store:
    def __init__(self, accounts):
        self.accounts = accounts
        self.catalogue_version = 0

    def list(self):
        return self.accounts


def test_resolver_caches_per_catalogue_version(monkeypatch):
    from proxy.accounts.catalogue import Catalogue, ModelEntry
    from proxy.accounts.model import Account

    acc = Account.antigravity("a@example.com", "rt")
    acc.catalogue = Catalogue({"gemini-2.5-flash": ModelEntry("gemini-2.5-flash")}, {}, 1.0)
    store = _Store([acc])
    resolver = Resolver(store)
    calls = itertools.count()
    from proxy import routing

    real = routing.build_offer
    monkeypatch.setattr(routing, "build_offer", lambda accs: (next(calls), real(accs))[1])
    assert resolver.resolve("gemini-3.8-flash", None).model == "gemini-2.5-flash"
    for _ in range(100):
        resolver.resolve("gemini-3.8-flash", None)
    assert next(calls) == 1  # built once for this version
    acc.catalogue = Catalogue({"gemini-3-flash": ModelEntry("gemini-3-flash")}, {}, 2.0)
    store.catalogue_version += 1
    assert resolver.resolve("gemini-3.8-flash", None).model == "gemini-3-flash"


def test_offer_skips_internal_and_deprecated_ids():
    from proxy.accounts.catalogue import Catalogue, ModelEntry
    from proxy.accounts.model import Account

    acc = Account.antigravity("a@example.com", "rt")
    acc.catalogue = Catalogue({"chat_20706": ModelEntry("chat_20706", internal=True),
                               "gemini-2.5-flash": ModelEntry("gemini-2.5-flash"),
                               "claude-sonnet-4-5": ModelEntry("claude-sonnet-4-5")},
                              {"claude-sonnet-4-5": "claude-sonnet-4-6"}, 1.0)
    offer = build_offer([acc])
    assert offer.ids == {"gemini-2.5-flash"} and not offer.unknown
    assert build_offer([Account.antigravity("b@example.com", "rt")]).unknown


def test_closest_ids_are_alike_only_when_spelled_alike_or_of_the_family() -> None:
    from proxy.routing import closest_ids

    ids = ["claude-sonnet-4-6", "claude-opus-4-6-thinking", "gemini-3-flash", "gemini-3-pro-high"]
    close, alike = closest_ids("claude-sonet-4-6", ids)
    assert alike and close[0] == "claude-sonnet-4-6"
    assert closest_ids("gemini-9-flash", ids)[0][0] == "gemini-3-flash"
    newest, alike = closest_ids("llama-3-70b", ids)
    assert not alike and len(newest) == 3 and set(newest) <= set(ids)

"""Model routing (SPEC §9): exact → wildcard (most specific) → known → defaults → unchanged."""

from __future__ import annotations

from proxy.models_table import DEFAULT_ROUTES, KNOWN_UPSTREAM_MODELS
from proxy.routing import resolve_model, wildcard_match


def test_exact_mapping_wins_over_everything():
    assert (
        resolve_model("claude-opus-4-8", {"claude-opus-4-8": "gemini-2.5-pro", "claude-*": "x"})
        == "gemini-2.5-pro"
    )


def test_most_specific_wildcard_wins_regardless_of_order():
    mapping = {"*": "a", "claude-*": "b", "claude-opus-*": "c", "claude-*-4-8": "d"}
    assert resolve_model("claude-opus-4-8", mapping) == "c"  # 12 literal chars beat 11
    assert resolve_model("claude-sonnet-4-8", mapping) == "d"
    assert resolve_model("gpt-4o", mapping) == "a"


def test_equal_specificity_keeps_the_earlier_key():
    assert resolve_model("ab", {"a*": "first", "*b": "second"}) == "first"


def test_builtin_defaults_route_claude_and_openai_names():
    assert resolve_model("claude-opus-4-8") == "claude-opus-4-6-thinking"
    assert resolve_model("claude-sonnet-4-6") == "claude-sonnet-4-5"
    assert resolve_model("claude-haiku-4-5") == "gemini-3-flash"
    assert resolve_model("claude-3-5-sonnet-20241022") == "claude-sonnet-4-5"
    assert resolve_model("gpt-4o").startswith("gemini-")
    assert resolve_model("gpt-4o-mini") == "gemini-3-flash"
    assert resolve_model("o3").startswith("gemini-")


def test_gemini_names_and_unknown_names_pass_through():
    assert resolve_model("gemini-2.5-flash") == "gemini-2.5-flash"
    assert resolve_model("gemini-3.8-flash") == "gemini-3.8-flash"
    assert resolve_model("models/gemini-2.5-pro") == "gemini-2.5-pro"
    assert resolve_model("llama-3") == "llama-3"


def test_known_upstream_ids_are_never_rerouted_by_defaults():
    for model in KNOWN_UPSTREAM_MODELS:
        assert resolve_model(model) == model
    assert (
        resolve_model("claude-sonnet-4-5-thinking", {"claude-sonnet-*": "x"}) == "x"
    )  # user mapping still wins


def test_default_targets_are_known_upstream_models():
    assert {t for _, t in DEFAULT_ROUTES} <= set(KNOWN_UPSTREAM_MODELS)


def test_wildcard_is_literal_except_star_and_case_insensitive():
    assert wildcard_match("gpt-4.*", "GPT-4.1")
    assert not wildcard_match("gpt-4.*", "gpt-401")
    assert not wildcard_match("claude-*", "xclaude-1")

"""Thought-signature store and model rules (SPEC §8 "Thought signatures")."""

from __future__ import annotations

from proxy.protocols.signatures import SENTINEL, SignatureStore, needs_signature


def test_sentinel_is_the_reference_value():
    assert SENTINEL == "skip_thought_signature_validator"


def test_only_gemini_3_models_need_signatures():
    assert needs_signature("gemini-3-pro-high") and needs_signature("models/gemini-3.1-pro-preview")
    assert not needs_signature("gemini-2.5-flash")
    assert not needs_signature("claude-opus-4-6-thinking")


def test_remember_and_lookup_per_session_and_call():
    store = SignatureStore(10)
    store.remember("s1", "toolu_1", "A")
    assert store.lookup("s1", "toolu_1") == "A"
    assert store.lookup("s2", "toolu_1") is None
    assert store.lookup("s1", "toolu_2") is None
    store.remember(None, "toolu_3", "B")
    assert store.lookup(None, "toolu_3") == "B"


def test_store_is_bounded_and_evicts_least_recently_used():
    store = SignatureStore(2)
    store.remember("s", "a", "1")
    store.remember("s", "b", "2")
    store.lookup("s", "a")  # a is now fresher than b
    store.remember("s", "c", "3")
    assert store.lookup("s", "b") is None
    assert store.lookup("s", "a") == "1" and store.lookup("s", "c") == "3"


def test_known_thinking_signatures_are_per_model_family_and_bounded():
    store = SignatureStore(2)
    store.remember_thought("X" * 5000, "claude-opus-4-6-thinking")
    assert store.is_known("X" * 5000, "claude-sonnet-4-5")
    assert not store.is_known("X" * 5000, "gemini-3-pro-high")
    assert not store.is_known("", "claude-sonnet-4-5")
    store.remember_thought("Y", "gemini-3-flash")
    store.remember_thought("Z", "gemini-3-flash")
    assert not store.is_known("X" * 5000, "claude-sonnet-4-5")


def test_empty_signatures_are_not_stored():
    store = SignatureStore(5)
    store.remember("s", "t", "")
    store.remember_thought("", "gemini-3-flash")
    assert len(store) == 0

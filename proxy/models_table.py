"""Built-in model family rules (SPEC §9): one data table, shown and copyable in the TUI.

A rule names client models by pattern and chooses among the ids the accounts
actually offer today — never a fixed id, since Google renames and retires ids every
few weeks. A user's `model_mapping` always wins over it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Family:
    """Offered ids matching `pattern` (`*` wildcards) and containing none of `exclude`."""

    name: str
    pattern: str
    exclude: tuple[str, ...] = ()


_NOT_CHAT = ("image", "tts", "embedding", "live", "audio", "computer-use")
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("claude-opus", "claude-opus-*"),
    Family("claude-sonnet", "claude-sonnet-*"),
    Family("claude-haiku", "claude-haiku-*"),
    Family("gemini-pro", "gemini-*pro*", _NOT_CHAT),
    Family("gemini-flash", "gemini-*flash*", ("lite", *_NOT_CHAT)),
    Family("gemini-flash-lite", "gemini-*flash-lite*", _NOT_CHAT),
)}

# What "the strongest" and "a fast" model mean, in order of preference.
STRONG = ("gemini-pro", "claude-opus", "claude-sonnet", "gemini-flash")
FAST = ("gemini-flash", "gemini-flash-lite", "claude-haiku")


@dataclass(frozen=True, slots=True)
class FamilyRule:
    """Client models matching `pattern` get the newest offered id of the first of
    `families` that has one (the `-thinking` variant when the request asks for it)."""

    pattern: str
    families: tuple[str, ...]
    note: str

    def describe(self) -> str:
        return f"{self.note} (newest offered of: {', '.join(self.families)})"


# When several patterns match, the one with most non-`*` characters wins (as for model_mapping).
FAMILY_RULES: list[FamilyRule] = [
    FamilyRule("claude-opus-*", ("claude-opus", "claude-sonnet", "gemini-pro"), "newest Claude Opus"),
    FamilyRule("claude-sonnet-*", ("claude-sonnet", "claude-opus", "gemini-pro"), "newest Claude Sonnet"),
    FamilyRule("claude-haiku-*", ("claude-haiku", *FAST), "a fast model"),
    # Claude 3.x names put the family after the version: claude-3-5-sonnet-20241022
    FamilyRule("claude-3*opus*", ("claude-opus", "claude-sonnet", "gemini-pro"), "newest Claude Opus"),
    FamilyRule("claude-3*sonnet*", ("claude-sonnet", "claude-opus", "gemini-pro"), "newest Claude Sonnet"),
    FamilyRule("claude-3*haiku*", ("claude-haiku", *FAST), "a fast model"),
    FamilyRule("claude-*", ("claude-sonnet", "claude-opus", "gemini-pro"), "newest Claude Sonnet"),
    FamilyRule("gemini-*flash-lite*", ("gemini-flash-lite", "gemini-flash"), "newest Gemini Flash-Lite"),
    FamilyRule("gemini-*flash*", ("gemini-flash", "gemini-flash-lite"), "newest Gemini Flash"),
    FamilyRule("gemini-*pro*", ("gemini-pro",), "newest Gemini Pro"),
    FamilyRule("gpt-*mini*", FAST, "a fast model"),
    FamilyRule("gpt-*nano*", ("gemini-flash-lite", *FAST), "a fast model"),
    FamilyRule("o*-mini*", FAST, "a fast model"),
    FamilyRule("gpt-*", STRONG, "the strongest model"),
    FamilyRule("o1*", STRONG, "the strongest model"),
    FamilyRule("o3*", STRONG, "the strongest model"),
    FamilyRule("o4*", STRONG, "the strongest model"),
    FamilyRule("*codex*", STRONG, "the strongest model"),
]

# Names clients send by default today (SPEC §9: they must work out of the box), and
# every model name the README shows; `agproxy models` resolves each of them.
CLIENT_DEFAULT_MODELS: list[tuple[str, str]] = [
    ("Claude Code", "claude-opus-4-8"),
    ("Claude Code", "claude-sonnet-4-6"),
    ("Claude Code", "claude-haiku-4-5"),
    ("Codex", "gpt-5"),
    ("Codex", "gpt-5-codex"),
    ("OpenAI SDK", "gpt-4o"),
    ("OpenAI SDK", "gpt-4o-mini"),
    ("gemini-cli", "gemini-3.8-flash"),
    ("gemini-cli", "gemini-3.5-flash-lite"),
    ("README", "gemini-2.5-flash"),
    ("README", "gemini-2.5-pro"),
]

# Antigravity-only ids and the public Gemini API model a Gemini API key sends instead
# (the public API has no "-high"/"-low"/"-thinking" variants; thinking is a request
# setting there). Any other name goes to the public API unchanged.
GEMINI_API_MODELS: dict[str, str] = {
    "gemini-3-pro-high": "gemini-3-pro-preview",
    "gemini-3-pro-low": "gemini-3-pro-preview",
    "gemini-3-flash": "gemini-3-flash-preview",
    "gemini-2.5-flash-thinking": "gemini-2.5-flash",
}


def gemini_api_model(model: str) -> str:
    """The name to send to the public Gemini API for an upstream model id."""
    return GEMINI_API_MODELS.get(model, model)


# Context and output limits for model listings when the catalogue gives none; by prefix.
MODEL_LIMITS: list[tuple[str, int, int]] = [
    ("claude-", 200_000, 64_000),
    ("gemini-", 1_048_576, 65_536),
    ("gpt-oss-", 131_072, 32_768),
]
DEFAULT_LIMITS = (1_048_576, 65_536)


def model_limits(model: str) -> tuple[int, int]:
    """(input token limit, output token limit) for a listing."""
    for prefix, inp, out in MODEL_LIMITS:
        if model.startswith(prefix):
            return inp, out
    return DEFAULT_LIMITS

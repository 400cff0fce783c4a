"""Built-in model routes and the upstream models agproxy knows (SPEC §9).

One data table, shown and editable in the TUI: a user's `model_mapping` always wins
over it. Targets are ids the Antigravity upstream serves; keep them current here."""

from __future__ import annotations

# Ids the Antigravity (Cloud Code) upstream offers, for /v1/models listings and
# so that a client naming one directly is never re-routed.
KNOWN_UPSTREAM_MODELS: list[str] = [
    "claude-opus-4-6-thinking",
    "claude-opus-4-5-thinking",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-thinking",
    "gemini-3-pro-high",
    "gemini-3-pro-low",
    "gemini-3-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-thinking",
    "gemini-2.5-flash-lite",
    "gpt-oss-120b-medium",
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


# (client model pattern, upstream model). `*` matches any run of characters; when
# several match, the pattern with most non-`*` characters wins (as for model_mapping).
DEFAULT_ROUTES: list[tuple[str, str]] = [
    ("claude-opus-*", "claude-opus-4-6-thinking"),
    ("claude-sonnet-*", "claude-sonnet-4-5"),
    ("claude-haiku-*", "gemini-3-flash"),
    # Claude 3.x names put the family after the version: claude-3-5-sonnet-20241022
    ("claude-3*opus*", "claude-opus-4-6-thinking"),
    ("claude-3*sonnet*", "claude-sonnet-4-5"),
    ("claude-3*haiku*", "gemini-3-flash"),
    ("claude-*", "claude-sonnet-4-5"),
    ("gpt-*mini*", "gemini-3-flash"),
    ("gpt-*nano*", "gemini-2.5-flash-lite"),
    ("gpt-*", "gemini-3-pro-high"),
    ("o*", "gemini-3-pro-high"),
    ("codex-*", "gemini-3-pro-high"),
]
# gemini-* names are deliberately absent: they pass through unchanged.

# Context and output limits for model listings (Gemini shape); by prefix, first match.
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

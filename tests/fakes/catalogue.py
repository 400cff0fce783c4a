"""Model catalogues for the fake upstream, as Google serves them (SPEC §9).

Google renames and retires model ids every few weeks; these catalogues let a test
stand where a user stands when that happens:

- `today()`: the Antigravity catalogue "of today" (2026-12): Claude Sonnet 4.7 and
  Opus 4.7, Gemini 3.1 Pro, Gemini 3.5 Flash, Gemini 3.1 Flash Lite; Sonnet 4.5/4.6,
  Opus 4.5, Gemini 3 Flash and 2.5 Flash Thinking are *deprecated* (listed in
  `deprecatedModelIds` with their successor); Gemini 2.5 Pro and 2.5 Flash Lite are
  *retired* (gone, no successor named). It offers neither `gemini-3.8-flash` nor
  `gemini-3.5-flash-lite` (what gemini-cli 0.61 sends) nor `claude-opus-4-8`
  (Claude Code's default) — those only resolve through family rules.
- `last_month()`: the same account a month ago (Sonnet 4.6, Gemini 3 Flash, 2.5 Pro …).
- `gemini_key_today()`: what `GET /v1beta/models` lists for a Gemini API key today
  (public API names, embedding/imagen models that do not `generateContent`).
- Every Antigravity catalogue also carries internal entries (`chat_20706`,
  `chat_23310`, `tab_flash_lite_preview`, `tab_jump_flash_lite_preview`): no
  `displayName`, not in `agentModelSorts`; they must never be offered to clients.

Each function returns a fresh, mutable `Catalogue`; `FakeUpstream.set_catalogue()`
copies it per account, so changing one account never changes another.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

# What Google answers an Antigravity client it no longer supports (SPEC §7).
VERSION_GATE_MESSAGE = "This version of Antigravity is no longer supported. Please update to receive the latest features!"

INTERNAL_IDS = ("chat_20706", "chat_23310", "tab_flash_lite_preview", "tab_jump_flash_lite_preview")


@dataclass
class ModelInfo:
    """One entry of `fetchAvailableModels.models` (or of a Gemini key's model list)."""

    display_name: str = ""  # "" for internal entries (Google sends none)
    max_tokens: int = 1_048_576
    max_output_tokens: int = 65_536
    thinking: bool = False
    images: bool = False
    remaining: float | None = 1.0  # quotaInfo.remainingFraction (None: no quotaInfo)
    reset_in: float | None = 5 * 3600.0  # quotaInfo.resetTime = read time + this many seconds
    provider: str = "API_PROVIDER_GOOGLE_GEMINI"
    internal: bool = False
    min_version: str | None = None  # older Antigravity clients get 404 for this model

    def wire(self, model_id: str, now: float) -> dict[str, Any]:
        """The entry as `fetchAvailableModels` writes it."""
        out: dict[str, Any] = {}
        if self.display_name:
            out["displayName"] = self.display_name
        if not self.internal:
            out.update(maxTokens=self.max_tokens, maxOutputTokens=self.max_output_tokens,
                       supportsThinking=self.thinking, supportsImages=self.images,
                       recommended=True, model=f"MODEL_{model_id.upper().replace('-', '_').replace('.', '_')}")
        out["apiProvider"] = "API_PROVIDER_INTERNAL" if self.internal and model_id.startswith("chat_") else self.provider
        if self.remaining is not None:
            quota: dict[str, Any] = {"remainingFraction": self.remaining}
            if self.reset_in is not None:
                quota["resetTime"] = rfc3339(now + self.reset_in)
            out["quotaInfo"] = quota
        return out

    def gemini_api_wire(self, model_id: str) -> dict[str, Any]:
        """The entry as the public Gemini API's `models.list` writes it."""
        methods = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
        if model_id.startswith(("text-embedding", "gemini-embedding")):
            methods = ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"]
        elif model_id.startswith("imagen"):
            methods = ["predict"]
        out: dict[str, Any] = {"name": f"models/{model_id}", "version": "001", "displayName": self.display_name,
                               "description": f"{self.display_name} model", "inputTokenLimit": self.max_tokens,
                               "outputTokenLimit": self.max_output_tokens, "supportedGenerationMethods": methods}
        if "generateContent" in methods:
            out.update(temperature=1, topP=0.95, topK=64, maxTemperature=2, thinking=self.thinking)
        return out


@dataclass
class Catalogue:
    """What one account is served: `models` (id → info, internal entries included)
    and `deprecated` (old id → new id, Google's `deprecatedModelIds`)."""

    models: dict[str, ModelInfo] = field(default_factory=dict)
    deprecated: dict[str, str] = field(default_factory=dict)

    def copy(self) -> Catalogue:
        return copy.deepcopy(self)

    @property
    def offered(self) -> list[str]:
        """The ids a client may be offered (not internal, not deprecated)."""
        return [m for m, info in self.models.items() if not info.internal and m not in self.deprecated]

    def serves(self, model: str, version: str | None = None) -> bool:
        """Whether a generation call for `model` (by a client of `version`) succeeds."""
        info = self.models.get(model)
        if info is None or info.internal or model in self.deprecated:
            return False
        return info.min_version is None or (version is not None and version_tuple(version) >= version_tuple(info.min_version))

    # -- changes while the proxy runs ------------------------------------------------

    def add(self, model: str, info: ModelInfo | None = None, **fields: Any) -> None:
        self.models[model] = info or ModelInfo(**{"display_name": model, **fields})
        self.deprecated.pop(model, None)

    def retire(self, model: str, replacement: str | None = None) -> None:
        """Remove `model`; with a `replacement`, Google lists it as deprecated → replacement."""
        self.models.pop(model, None)
        if replacement:
            self.deprecated[model] = replacement

    def rename(self, old: str, new: str) -> None:
        """`old` is served as `new` from now on (same limits and quota), `old` deprecated."""
        info = self.models.pop(old, None) or ModelInfo(display_name=new)
        self.models[new] = info
        self.deprecated.pop(new, None)
        self.deprecated[old] = new

    def set_quota(self, model: str, remaining: float | None, reset_in: float | None = 5 * 3600.0) -> None:
        info = self.models[model]
        info.remaining, info.reset_in = remaining, reset_in

    # -- wire -----------------------------------------------------------------------

    def fetch_available_models(self, now: float | None = None) -> dict[str, Any]:
        """The body of a `v1internal:fetchAvailableModels` answer."""
        now = time.time() if now is None else now
        out: dict[str, Any] = {"models": {m: info.wire(m, now) for m, info in self.models.items()}}
        if self.deprecated:
            out["deprecatedModelIds"] = {old: {"newModelId": new} for old, new in self.deprecated.items()}
        out["agentModelSorts"] = [{"displayName": "Recommended", "groups": [{"modelIds": self.offered}]}]
        return out

    def gemini_api_models(self) -> list[dict[str, Any]]:
        """The `models` of the public Gemini API's `models.list`, all pages together."""
        return [info.gemini_api_wire(m) for m, info in self.models.items() if not info.internal]


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


# -- the catalogues ----------------------------------------------------------------------


def _claude(name: str, thinking: bool = True) -> ModelInfo:
    return ModelInfo(display_name=name, max_tokens=200_000, max_output_tokens=64_000, thinking=thinking,
                     images=True, provider="API_PROVIDER_ANTHROPIC_VERTEX")


def _gemini(name: str, thinking: bool = True, images: bool = True) -> ModelInfo:
    return ModelInfo(display_name=name, thinking=thinking, images=images)


def _internal(model_id: str) -> ModelInfo:
    return ModelInfo(internal=True, max_tokens=32_768, max_output_tokens=8_192, reset_in=None)


def _with_internal(models: dict[str, ModelInfo]) -> dict[str, ModelInfo]:
    return {**models, **{m: _internal(m) for m in INTERNAL_IDS}}


GPT_OSS = ModelInfo(display_name="GPT-OSS 120B (Medium)", max_tokens=131_072, max_output_tokens=32_768,
                    thinking=True, provider="API_PROVIDER_OPENAI_VERTEX")


def today() -> Catalogue:
    return Catalogue(
        models=_with_internal({
            "claude-sonnet-4-7": _claude("Claude Sonnet 4.7"),
            "claude-sonnet-4-7-thinking": _claude("Claude Sonnet 4.7 (Thinking)"),
            "claude-opus-4-6-thinking": _claude("Claude Opus 4.6 (Thinking)"),
            "claude-opus-4-7-thinking": _claude("Claude Opus 4.7 (Thinking)"),
            "gemini-3-pro-high": _gemini("Gemini 3 Pro (High)"),
            "gemini-3-pro-low": _gemini("Gemini 3 Pro (Low)"),
            "gemini-3.1-pro-high": _gemini("Gemini 3.1 Pro (High)"),
            "gemini-3.1-pro-low": _gemini("Gemini 3.1 Pro (Low)"),
            "gemini-3.5-flash": _gemini("Gemini 3.5 Flash"),
            "gemini-3.1-flash-lite": _gemini("Gemini 3.1 Flash Lite", thinking=False),
            "gemini-2.5-flash": _gemini("Gemini 2.5 Flash"),
            "gemini-3-pro-image": _gemini("Gemini 3 Pro Image", thinking=False),
            "gpt-oss-120b-medium": copy.deepcopy(GPT_OSS),
        }),
        deprecated={
            "claude-sonnet-4-5": "claude-sonnet-4-6",  # a chain: 4.5 → 4.6 → 4.7
            "claude-sonnet-4-6": "claude-sonnet-4-7",
            "claude-sonnet-4-5-thinking": "claude-sonnet-4-7-thinking",
            "claude-opus-4-5-thinking": "claude-opus-4-6-thinking",
            "gemini-3-flash": "gemini-3.5-flash",
            "gemini-2.5-flash-thinking": "gemini-3.5-flash",
        },
    )


def last_month() -> Catalogue:
    return Catalogue(
        models=_with_internal({
            "claude-sonnet-4-6": _claude("Claude Sonnet 4.6 (Thinking)"),
            "claude-opus-4-6-thinking": _claude("Claude Opus 4.6 (Thinking)"),
            "gemini-3-pro-high": _gemini("Gemini 3 Pro (High)"),
            "gemini-3-pro-low": _gemini("Gemini 3 Pro (Low)"),
            "gemini-3-flash": _gemini("Gemini 3 Flash"),
            "gemini-2.5-pro": _gemini("Gemini 2.5 Pro"),
            "gemini-2.5-flash": _gemini("Gemini 2.5 Flash"),
            "gemini-2.5-flash-thinking": _gemini("Gemini 2.5 Flash (Thinking)"),
            "gemini-2.5-flash-lite": _gemini("Gemini 2.5 Flash Lite", thinking=False),
            "gemini-3-pro-image": _gemini("Gemini 3 Pro Image", thinking=False),
            "gpt-oss-120b-medium": copy.deepcopy(GPT_OSS),
        }),
        deprecated={
            "claude-sonnet-4-5": "claude-sonnet-4-6",
            "claude-sonnet-4-5-thinking": "claude-sonnet-4-6",
            "claude-opus-4-5-thinking": "claude-opus-4-6-thinking",
        },
    )


def gemini_key_today() -> Catalogue:
    """A Gemini API key's models today (public names; Gemini keys see no Claude)."""
    return Catalogue(models={
        "gemini-2.5-flash": _gemini("Gemini 2.5 Flash"),
        "gemini-2.5-pro": _gemini("Gemini 2.5 Pro"),
        "gemini-2.5-flash-lite": _gemini("Gemini 2.5 Flash-Lite", thinking=False),
        "gemini-3-pro-preview": _gemini("Gemini 3 Pro Preview"),
        "gemini-3.1-pro-preview": _gemini("Gemini 3.1 Pro Preview"),
        "gemini-3-flash-preview": _gemini("Gemini 3 Flash Preview"),
        "gemini-3.5-flash": _gemini("Gemini 3.5 Flash"),
        "gemini-3.1-flash-lite": _gemini("Gemini 3.1 Flash-Lite", thinking=False),
        "gemini-embedding-001": ModelInfo(display_name="Gemini Embedding 001", max_tokens=2048, max_output_tokens=1),
        "text-embedding-004": ModelInfo(display_name="Text Embedding 004", max_tokens=2048, max_output_tokens=1),
        "imagen-4.0-generate-001": ModelInfo(display_name="Imagen 4", max_tokens=480, max_output_tokens=8192),
    })


def gemini_api_generates(catalogue: Catalogue, model: str) -> bool:
    """Whether the public API answers `generateContent` for `model` on this key."""
    info = catalogue.models.get(model)
    return info is not None and "generateContent" in info.gemini_api_wire(model)["supportedGenerationMethods"]

"""An account's live model catalogue (SPEC §9): what the upstream says this account
serves today — the model ids with their limits, thinking/image support and quota,
and the ids it reports as deprecated with their replacements. Pure data; the
upstream adapters read it, the store persists it inside the account file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Ids clients may be offered: the public families. Anything else an upstream lists
# (`chat_20706`, `tab_flash_lite_preview`, `rev19-uic3-1p`) is internal tooling.
_PUBLIC_ID = re.compile(r"^(gemini|claude|gpt-oss|glm)-[a-z0-9.\-]+$", re.IGNORECASE)
MAX_FORWARD_STEPS = 3  # deprecation chains followed at most this far


def is_public_id(model_id: str) -> bool:
    return _PUBLIC_ID.match(model_id) is not None


@dataclass(slots=True)
class ModelEntry:
    """One model as the upstream described it."""

    id: str
    display_name: str = ""
    max_tokens: int | None = None
    max_output_tokens: int | None = None
    thinking: bool = False
    images: bool = False
    internal: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "display_name": self.display_name,
            "max_tokens": self.max_tokens,
            "max_output_tokens": self.max_output_tokens,
            "thinking": self.thinking,
            "images": self.images,
            "internal": self.internal,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelEntry:
        return cls(
            id=str(data["id"]),
            display_name=str(data.get("display_name") or ""),
            max_tokens=_opt_int(data.get("max_tokens")),
            max_output_tokens=_opt_int(data.get("max_output_tokens")),
            thinking=bool(data.get("thinking", False)),
            images=bool(data.get("images", False)),
            internal=bool(data.get("internal", False)),
        )


@dataclass
class Catalogue:
    """`models`: id -> entry (internal ones included, flagged); `deprecated`: old id ->
    new id as the upstream reported it; `read_at`: epoch seconds of the read."""

    models: dict[str, ModelEntry] = field(default_factory=dict)
    deprecated: dict[str, str] = field(default_factory=dict)
    read_at: float = 0.0
    offered: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        self.offered = frozenset(
            m for m, e in self.models.items() if not e.internal and m not in self.deprecated
        )

    def age(self, now: float) -> float:
        return max(0.0, now - self.read_at)

    def forward(self, model: str) -> str:
        """Follow this catalogue's deprecation chain from `model` (≤ 3 steps)."""
        seen = model
        for _ in range(MAX_FORWARD_STEPS):
            nxt = self.deprecated.get(seen)
            if not nxt or nxt == seen:
                break
            seen = nxt
        return seen

    def to_json(self) -> dict[str, Any]:
        return {
            "read_at": self.read_at,
            "models": [e.to_json() for e in self.models.values()],
            "deprecated": dict(self.deprecated),
        }

    @classmethod
    def from_json(cls, data: Any) -> Catalogue | None:
        if not isinstance(data, dict):
            return None
        models: dict[str, ModelEntry] = {}
        for item in data.get("models") or ():
            if isinstance(item, dict) and item.get("id"):
                entry = ModelEntry.from_json(item)
                models[entry.id] = entry
        deprecated = {
            str(k): str(v) for k, v in (data.get("deprecated") or {}).items() if isinstance(v, str) and v
        }
        return cls(models=models, deprecated=deprecated, read_at=float(data.get("read_at") or 0.0))


def _opt_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None

"""Shapes shared by every translator: the canonical call, usage, the consolidated
stream result, and SSE framing. Pure: no I/O, no globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy import jsoncodec


@dataclass
class GeminiCall:
    """A client request translated to the canonical (Gemini) form."""

    client_model: str  # the model name the client asked for
    request: dict[str, Any]  # Gemini GenerateContentRequest (camelCase keys)
    stream: bool = False
    session_key: str | None = None  # for sticky sessions and thought signatures
    # protocol-specific extras the response side needs (e.g. include_usage, tool names)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Usage:
    input_tokens: int = 0  # prompt tokens, cached ones included
    output_tokens: int = 0  # candidates (+ thoughts) tokens
    cached_tokens: int = 0
    thinking_tokens: int = 0

    @classmethod
    def from_gemini(cls, meta: dict[str, Any] | None) -> Usage:
        meta = meta or {}
        return cls(
            input_tokens=int(meta.get("promptTokenCount") or 0),
            output_tokens=int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0),
            cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
            thinking_tokens=int(meta.get("thoughtsTokenCount") or 0),
        )


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class StreamResult:
    """What a stream amounted to, for the monitor (SPEC §11)."""

    text: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "thinking": self.thinking,
            "tool_calls": [{"id": t.id, "name": t.name, "arguments": t.arguments} for t in self.tool_calls],
            "usage": {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "cached_tokens": self.usage.cached_tokens,
            },
            "finish_reason": self.finish_reason,
        }


def sse_data(obj: Any) -> bytes:
    """One `data:` event (OpenAI, Gemini)."""
    return b"data: " + jsoncodec.dumps(obj) + b"\n\n"


def sse_event(event: str, obj: Any) -> bytes:
    """One named event (Anthropic, OpenAI Responses)."""
    return b"event: " + event.encode() + b"\ndata: " + jsoncodec.dumps(obj) + b"\n\n"


SSE_KEEPALIVE_COMMENT = b": ping\n\n"

"""Shapes shared by every translator: the canonical call, usage, the consolidated
stream result, and SSE framing. Pure: no I/O, no globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy import jsoncodec
from proxy.errors import ApiError, ErrorKind

# The deepest JSON nesting a request may carry (objects and arrays). Real requests stay
# far below (a tool schema is ~10 deep); the JSON encoder gives up at 255, Python's
# recursion at ~1,000: a clear 400 here instead of a 500 there.
MAX_NESTING = 128


def check_nesting(value: Any, where: str = "request body", limit: int = MAX_NESTING) -> None:
    """Refuse JSON nested deeper than `limit` levels. Iterative: the check itself never
    recurses, and it only visits containers (a large body is mostly long strings)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise ApiError(
                ErrorKind.INVALID_REQUEST,
                f"{where} is nested deeper than {limit} levels of objects and arrays",
            )
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list) and child:
                stack.append((child, depth + 1))


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


# ---- shared media and session helpers (added by the Anthropic/Gemini translators) ----

_REMOTE_SCHEMES = ("http://", "https://", "gs://")


def check_base64(data: object, param: str) -> str:
    """`data` if it is valid standard base64, else ApiError naming `param`.
    Never decodes into a kept copy: the check allocates and drops the bytes."""
    import binascii

    from proxy.errors import ApiError, ErrorKind

    if not isinstance(data, str) or not data:
        raise ApiError(ErrorKind.INVALID_REQUEST, f"{param}: expected a non-empty base64 string", param=param)
    try:
        binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ApiError(ErrorKind.INVALID_REQUEST, f"{param}: invalid base64 data", param=param) from None
    return data


def inline_data_part(mime_type: object, data: object, param: str) -> dict[str, Any]:
    """A Gemini `inlineData` part from base64 `data`, validated."""
    from proxy.errors import ApiError, ErrorKind

    if not isinstance(mime_type, str) or "/" not in mime_type:
        raise ApiError(ErrorKind.INVALID_REQUEST, f"{param}: a media type such as image/png is required", param=param)
    return {"inlineData": {"mimeType": mime_type, "data": check_base64(data, param)}}


def remote_file_part(url: object, mime_type: str | None, param: str) -> dict[str, Any]:
    """A Gemini `fileData` part for an http(s)/gs URL, or an `inlineData` part for a
    `data:` URI. Local files (`file://`, bare paths) are refused, never read."""
    from proxy.errors import ApiError, ErrorKind

    if not isinstance(url, str) or not url:
        raise ApiError(ErrorKind.INVALID_REQUEST, f"{param}: a URL string is required", param=param)
    if url.startswith("data:"):
        # index + one slice: `url[5:].partition(",")` made two copies of a large image
        comma = url.find(",", 5)
        head = url[5:comma] if comma >= 0 else ""
        if comma < 0 or not head.endswith(";base64"):
            raise ApiError(ErrorKind.INVALID_REQUEST, f"{param}: only base64 data: URIs are supported", param=param)
        return inline_data_part(head[: -len(";base64")] or mime_type, url[comma + 1 :], param)
    if not url.lower().startswith(_REMOTE_SCHEMES):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{param}: only http(s) URLs and data: URIs are accepted (local files are never read)",
            param=param,
        )
    if not mime_type:
        import mimetypes

        mime_type = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime_type, "fileUri": url}}


def session_key_from_text(text: str) -> str:
    """A stable session key from a conversation's first user text (when the client
    sends no session id): the same conversation keeps hitting the same account."""
    import hashlib

    return "h:" + hashlib.blake2b(text[:4096].encode(), digest_size=12).hexdigest()

"""Pieces both OpenAI faces (Chat Completions and Responses) share when they map to
Gemini: media parts, effort budgets, tool declarations, tool_choice, session keys,
thought-signature restore, finish reasons. Pure: no I/O, no globals that change."""

from __future__ import annotations

import secrets
from typing import Any

from proxy import jsoncodec
from proxy.errors import ApiError, ErrorKind
from proxy.protocols.common import (  # noqa: F401
    check_nesting,
    remote_file_part,
    session_key_from_text,
)
from proxy.protocols.schema import clean_parameters, clean_schema
from proxy.protocols.signatures import SENTINEL, SignatureStore, needs_signature

# reasoning_effort / reasoning.effort -> Gemini thinkingBudget (tokens). "none" turns
# thinking off where the model allows it; the budgets follow the usual 1k/8k/24k ladder.
EFFORT_BUDGET: dict[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}

# Gemini finishReason values that mean the output was filtered.
_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)


def bad(message: str, param: str | None = None) -> ApiError:
    """The one shape of a client mistake (400)."""
    return ApiError(ErrorKind.INVALID_REQUEST, message, param=param)


def expect_type(value: Any, typ: type | tuple[type, ...], param: str, what: str) -> Any:
    # bool is an int subclass in Python; JSON true is never a number.
    if not isinstance(value, typ) or (isinstance(value, bool) and bool not in _as_tuple(typ)):
        raise bad(f"'{param}' must be {what}, got {_json_type(value)}", param)
    return value


def _as_tuple(typ: type | tuple[type, ...]) -> tuple[type, ...]:
    return typ if isinstance(typ, tuple) else (typ,)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def media_part(url: Any, param: str, default_mime: str | None = None) -> dict[str, Any]:
    """A data: URI -> inlineData (base64 checked); http(s) -> fileData. Local paths and
    file:// are refused: a gateway must never read the files of the box it runs on."""
    return remote_file_part(url, default_mime, param)


def thinking_config(effort: Any, param: str, include_thoughts: bool = True) -> dict[str, Any]:
    if not isinstance(effort, str) or effort not in EFFORT_BUDGET:
        raise bad(f"'{param}' must be one of {', '.join(EFFORT_BUDGET)}", param)
    budget = EFFORT_BUDGET[effort]
    return {"thinkingBudget": budget, "includeThoughts": include_thoughts and budget > 0}


def function_declaration(
    name: Any, description: Any, parameters: Any, param: str
) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise bad(f"'{param}.name' must be a non-empty string", f"{param}.name")
    decl: dict[str, Any] = {"name": name}
    if isinstance(description, str) and description:
        decl["description"] = description
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise bad(f"'{param}.parameters' must be a JSON Schema object", f"{param}.parameters")
        schema = clean_parameters(parameters)
        if schema is not None:
            decl["parameters"] = schema
    return decl


def tool_config(mode: str, names: list[str] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {"mode": mode}
    if names and mode == "ANY":
        cfg["allowedFunctionNames"] = names
    return {"functionCallingConfig": cfg}


def response_format_config(fmt: Any, param: str) -> dict[str, Any]:
    """OpenAI json_object / json_schema output formats -> generationConfig fields."""
    if not isinstance(fmt, dict):
        raise bad(f"'{param}' must be an object", param)
    kind = fmt.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        # Chat nests the schema under json_schema.schema; Responses puts it on the format.
        holder = fmt.get("json_schema", fmt)
        schema = holder.get("schema") if isinstance(holder, dict) else None
        if not isinstance(schema, dict):
            raise bad(f"'{param}' json_schema needs a 'schema' object", param)
        return {"responseMimeType": "application/json", "responseSchema": clean_schema(schema)}
    raise bad(f"'{param}.type' must be text, json_object or json_schema", f"{param}.type")


def stream_flag(body: dict[str, Any]) -> bool:
    """`stream`: absent, null or a boolean; anything else is refused, not read as false."""
    stream = body.get("stream")
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise bad(f"'stream' must be a boolean; got {stream!r:.40}", "stream")
    return stream


def parse_arguments(raw: Any, param: str) -> dict[str, Any]:
    """Tool-call arguments arrive as a JSON string; Gemini wants the object."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise bad(f"'{param}' must be a JSON string", param)
    try:
        args = jsoncodec.loads(raw)
    except jsoncodec.JSONDecodeError:
        raise bad(f"'{param}' is not valid JSON", param) from None
    if not isinstance(args, dict):
        raise bad(f"'{param}' must encode a JSON object", param)
    check_nesting(args, f"'{param}'")
    return args


def function_call_part(
    call_id: str,
    name: str,
    args: dict[str, Any],
    *,
    model: str,
    signatures: SignatureStore | None,
    session_key: str | None,
) -> dict[str, Any]:
    """A replayed functionCall with the thoughtSignature Gemini 3 demands restored."""
    part: dict[str, Any] = {"functionCall": {"id": call_id, "name": name, "args": args}}
    sig = (
        signatures.lookup(session_key, call_id) if signatures is not None and session_key else None
    )
    if sig:
        part["thoughtSignature"] = sig
    elif needs_signature(model):
        part["thoughtSignature"] = SENTINEL
    return part


def remember_signature(
    signatures: SignatureStore | None, session_key: str | None, call_id: str, part: dict[str, Any]
) -> None:
    sig = part.get("thoughtSignature")
    if sig and signatures is not None and session_key and sig != SENTINEL:
        signatures.remember(session_key, call_id, sig)


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def finish_kind(gemini_reason: str | None) -> str:
    """Gemini finishReason -> 'stop' | 'length' | 'content_filter'."""
    if gemini_reason == "MAX_TOKENS":
        return "length"
    if gemini_reason in _FILTERED:
        return "content_filter"
    return "stop"


def merge_turn(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Append parts as a turn, joining a same-role neighbour (Gemini wants alternation,
    and parallel functionResponses must share one turn)."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})

"""Anthropic request options → Gemini: generationConfig (sampling, thinking), tools and
toolConfig. Part of the Anthropic translator (proxy.protocols.anthropic)."""

from __future__ import annotations

import logging
from typing import Any

from proxy.errors import ApiError, ErrorKind
from proxy.protocols.schema import clean_parameters
from proxy.protocols.signatures import model_family

log = logging.getLogger(__name__)

# Thinking budget for {type:"adaptive"} + output_config.effort, and the Gemini 3 level.
EFFORT_BUDGET = {"low": 4_096, "medium": 12_288, "high": 24_576, "max": 32_768}
EFFORT_LEVEL = {"low": "LOW", "medium": "HIGH", "high": "HIGH", "max": "HIGH"}


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message, param=param)


def _number(body: dict[str, Any], key: str, *, integer: bool = False) -> float | int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise _bad(f"{key}: must be {'an integer' if integer else 'a number'}", key)
    return value


def generation_config(body: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    for key, gkey, integer in (
        ("temperature", "temperature", False),
        ("top_p", "topP", False),
        ("top_k", "topK", True),
        ("max_tokens", "maxOutputTokens", True),
    ):
        value = _number(body, key, integer=integer)
        if value is not None:
            gen[gkey] = value
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _bad("stop_sequences: must be a list of strings", "stop_sequences")
        if stops:
            gen["stopSequences"] = stops
    thinking = _thinking_config(body, upstream_model, gen.get("maxOutputTokens"))
    if thinking:
        gen["thinkingConfig"] = thinking
    return gen


def _thinking_config(
    body: dict[str, Any], upstream_model: str, max_tokens: int | None
) -> dict[str, Any] | None:
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise _bad("thinking: must be an object", "thinking")
    kind = thinking.get("type")
    if kind == "disabled":
        return None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise _bad(
                "thinking.budget_tokens: must be a non-negative integer", "thinking.budget_tokens"
            )
    elif kind == "adaptive":
        config = body.get("output_config")
        effort = config.get("effort", "high") if isinstance(config, dict) else "high"
        if effort not in EFFORT_BUDGET:
            raise _bad(f"output_config.effort: unknown effort {effort!r}", "output_config.effort")
        if upstream_model.lower().startswith("gemini-3"):
            return {"includeThoughts": True, "thinkingLevel": EFFORT_LEVEL[effort]}
        budget = EFFORT_BUDGET[effort]
    else:
        raise _bad(
            f"thinking.type: unknown type {kind!r} (enabled, adaptive or disabled)", "thinking.type"
        )
    if max_tokens is not None and budget >= max_tokens:
        budget = max(0, max_tokens - 1)  # the answer needs room after the thoughts
    return {"includeThoughts": True, "thinkingBudget": budget}


def function_declarations(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad("tools: must be a list", "tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"tools.{i}: must be an object", f"tools.{i}")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            log.debug(
                "dropping Anthropic server tool %r", kind
            )  # web_search_*, bash_*, ...: no Gemini twin
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"tools.{i}.name: is required", f"tools.{i}.name")
        decl: dict[str, Any] = {"name": name}
        if isinstance(tool.get("description"), str) and tool["description"]:
            decl["description"] = tool["description"]
        schema = tool.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise _bad(f"tools.{i}.input_schema: must be an object", f"tools.{i}.input_schema")
        params = clean_parameters(schema)
        if params is not None:
            decl["parameters"] = params
        out.append(decl)
    return out


def tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if not isinstance(choice, dict):
        raise _bad("tool_choice: must be an object", "tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        return {"mode": "AUTO"}
    if kind == "any":
        return {"mode": "ANY"}
    if kind == "none":
        return {"mode": "NONE"}
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise _bad("tool_choice.name: is required for type tool", "tool_choice.name")
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise _bad(f"tool_choice.type: unknown type {kind!r}", "tool_choice.type")


def guard_claude_thinking(request: dict[str, Any], upstream_model: str) -> None:
    """Claude (behind Antigravity) rejects thinking when the turn being continued made a
    tool call without a signed thinking block first; drop thinking for such a request."""
    gen = request.get("generationConfig")
    if not gen or "thinkingConfig" not in gen or model_family(upstream_model) != "claude":
        return
    model_turns = [c for c in request["contents"] if c["role"] == "model"]
    if not model_turns:
        return
    parts = model_turns[-1]["parts"]
    if any("functionCall" in p for p in parts) and not parts[0].get("thought"):
        del gen["thinkingConfig"]

"""OpenAI Responses API (what Codex CLI speaks) -> Gemini request (SPEC §8).
The reply side (`from_gemini`, `ResponsesStreamEncoder`) lives in responses_output.py
and is re-exported here. Pure: no I/O; `previous_response_id` reads the given store."""

from __future__ import annotations

import hashlib
from typing import Any

from proxy.protocols.common import GeminiCall
from proxy.protocols.openai_common import (
    bad,
    expect_type,
    function_call_part,
    function_declaration,
    media_part,
    merge_turn,
    parse_arguments,
    response_format_config,
    session_key_from_text,
    stream_flag,
    thinking_config,
    tool_config,
)
from proxy.protocols.responses_output import ResponsesStreamEncoder, from_gemini  # noqa: F401
from proxy.protocols.responses_store import ResponseStore
from proxy.protocols.signatures import SignatureStore

# Request fields the response object echoes back (the SDK's Response model needs some).
_ECHO_FIELDS = (
    "instructions",
    "max_output_tokens",
    "previous_response_id",
    "reasoning",
    "temperature",
    "top_p",
    "text",
    "truncation",
    "metadata",
    "store",
    "user",
    "prompt_cache_key",
)

_NS_SEP = "__"  # namespace tools become "<namespace>__<name>" for Gemini
_MAX_NAME = 64  # Gemini's limit on function names


def gemini_tool_name(name: str, namespace: str | None) -> str:
    """The Gemini function name for a (namespace, name) tool. Long joins are cut and
    given a hash suffix; the request's `tool_names` map reverses either form."""
    if not namespace:
        return name
    joined = f"{namespace}{_NS_SEP}{name}"
    if len(joined) <= _MAX_NAME:
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
    return f"{joined[: _MAX_NAME - 9]}_{digest}"


def request_echo(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a `response` object repeats, with the SDK's required ones."""
    echo = {k: body[k] for k in _ECHO_FIELDS if k in body}
    echo["tools"] = body.get("tools") or []
    echo["tool_choice"] = body.get("tool_choice", "auto")
    echo["parallel_tool_calls"] = body.get("parallel_tool_calls", True)
    return echo


def to_gemini(
    body: Any,
    *,
    upstream_model: str,
    store: ResponseStore | None,
    signatures: SignatureStore | None = None,
    session_key: str | None = None,
) -> GeminiCall:
    """A /v1/responses body -> the canonical Gemini call. `options` carries what the
    reply side needs: `tool_names` (Gemini name -> {name, namespace}), `echo`,
    `input_items` (full history, to save in the store) and `store`."""
    if not isinstance(body, dict):
        raise bad("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' is required and must be a string", "model")
    items = _input_items(body.get("input"))
    prev = body.get("previous_response_id")
    if prev is not None:
        expect_type(prev, str, "previous_response_id", "a string")
        stored = store.get(prev) if store is not None else None
        if stored is None:
            raise bad(f"previous_response_id not found: {prev!r}", "previous_response_id")
        items = stored.history() + items
    session_key = session_key or _cache_key(body) or _first_user_key(items)
    decls, tool_names = _tools(body.get("tools"))
    system, contents = _map_items(items, upstream_model, signatures, session_key)
    instructions = body.get("instructions")
    if instructions is not None:
        system.insert(0, {"text": expect_type(instructions, str, "instructions", "a string")})
    if not contents:
        raise bad("'input' must contain at least one user or assistant message", "input")
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    gen = _generation_config(body)
    if gen:
        request["generationConfig"] = gen
    if decls:
        request["tools"] = [{"functionDeclarations": decls}]
    choice = body.get("tool_choice")
    if choice is not None and decls:
        request["toolConfig"] = _tool_choice(choice)
    return GeminiCall(
        client_model=model,
        request=request,
        stream=stream_flag(body),
        session_key=session_key,
        options={
            "tool_names": tool_names,
            "echo": request_echo(body),
            "input_items": items,
            "store": body.get("store", True) is not False,
        },
    )


def _input_items(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise bad("'input' must be a string or an array of input items", "input")
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad(f"'input[{i}]' must be an object", f"input[{i}]")
    return raw


def _cache_key(body: dict[str, Any]) -> str | None:
    for key in ("prompt_cache_key", "user"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _first_user_key(items: list[dict[str, Any]]) -> str | None:
    for item in items:
        if item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, list):
                content = "".join(
                    text
                    for p in content
                    if isinstance(p, dict) and isinstance(text := p.get("text"), str)
                )
            if isinstance(content, str):
                return session_key_from_text(content)
    return None


def _map_items(
    items: list[dict[str, Any]],
    model: str,
    signatures: SignatureStore | None,
    session_key: str | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # call_id -> Gemini function name
    for i, item in enumerate(items):
        p = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                system.extend(_content_parts(item.get("content"), p, text_only=True))
            elif role in ("user", "assistant"):
                parts = _content_parts(item.get("content"), p, text_only=False)
                merge_turn(contents, "user" if role == "user" else "model", parts)
            else:
                raise bad(
                    f"'{p}.role' must be user, assistant, system or developer; got {role!r}",
                    f"{p}.role",
                )
        elif kind == "function_call":
            call_id = expect_type(item.get("call_id"), str, f"{p}.call_id", "a string")
            name = expect_type(item.get("name"), str, f"{p}.name", "a string")
            name = gemini_tool_name(name, item.get("namespace"))
            names[call_id] = name
            args = parse_arguments(item.get("arguments"), f"{p}.arguments")
            merge_turn(
                contents,
                "model",
                [
                    function_call_part(
                        call_id,
                        name,
                        args,
                        model=model,
                        signatures=signatures,
                        session_key=session_key,
                    )
                ],
            )
        elif kind == "function_call_output":
            merge_turn(contents, "user", _call_output(item, p, names))
        elif kind in ("reasoning", "web_search_call", "compaction"):
            # Reasoning summaries/encrypted blobs are OpenAI's; Gemini signatures are
            # restored per tool call instead. Hosted-tool records have no Gemini form.
            continue
        else:
            raise bad(
                f"'{p}.type' {kind!r} is not supported (message, function_call, "
                "function_call_output, reasoning)",
                f"{p}.type",
            )
    return system, contents


def _content_parts(
    content: Any, p: str, *, text_only: bool, field: str = "content"
) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise bad(f"'{p}.{field}' must be a string or an array of content parts", f"{p}.{field}")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        pj = f"{p}.{field}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text", "summary_text"):
            text = expect_type(part.get("text"), str, f"{pj}.text", "a string")
            if text:
                parts.append({"text": text})
        elif kind == "refusal":
            parts.append(
                {"text": expect_type(part.get("refusal"), str, f"{pj}.refusal", "a string")}
            )
        elif kind in ("input_image", "input_file") and not text_only:
            parts.append(_media(part, pj, kind))
        else:
            allowed = (
                "input_text" if text_only else "input_text, output_text, input_image, input_file"
            )
            raise bad(f"'{pj}.type' must be {allowed}; got {kind!r}", f"{pj}.type")
    return parts


def _media(part: dict[str, Any], pj: str, kind: str) -> dict[str, Any]:
    if kind == "input_image":
        if part.get("image_url") is None:
            raise bad(f"'{pj}.image_url' is required (file_id is not supported)", f"{pj}.image_url")
        return media_part(part["image_url"], f"{pj}.image_url")
    for key in ("file_data", "file_url"):
        if part.get(key) is not None:
            data = part[key]
            if key == "file_data" and isinstance(data, str) and not data.startswith("data:"):
                data = f"data:application/pdf;base64,{data}"  # the SDK sends bare base64
            return media_part(data, f"{pj}.{key}", "application/pdf")
    raise bad(f"'{pj}' needs file_data or file_url (file_id is not supported)", pj)


def _call_output(item: dict[str, Any], p: str, names: dict[str, str]) -> list[dict[str, Any]]:
    call_id = expect_type(item.get("call_id"), str, f"{p}.call_id", "a string")
    name = names.get(call_id)
    if name is None:
        raise bad(f"'{p}.call_id' {call_id!r} matches no earlier function_call", f"{p}.call_id")
    output = item.get("output")
    extra: list[dict[str, Any]] = []
    if isinstance(output, str):
        text = output
    elif isinstance(output, list):
        parts = _content_parts(output, p, text_only=False, field="output")
        text = "\n".join(x["text"] for x in parts if "text" in x)
        extra = [x for x in parts if "text" not in x]  # images travel as parts after the result
    else:
        raise bad(f"'{p}.output' must be a string or an array of content parts", f"{p}.output")
    response = {"functionResponse": {"id": call_id, "name": name, "response": {"output": text}}}
    return [response, *extra]


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    for key, target in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(key) is not None:
            gen[target] = expect_type(body[key], (int, float), key, "a number")
    if body.get("max_output_tokens") is not None:
        gen["maxOutputTokens"] = expect_type(
            body["max_output_tokens"], int, "max_output_tokens", "an integer"
        )
    text = body.get("text")
    if isinstance(text, dict) and text.get("format") is not None:
        gen.update(response_format_config(text["format"], "text.format"))
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise bad("'reasoning' must be an object", "reasoning")
        summary = reasoning.get("summary") or reasoning.get("generate_summary")
        show = summary not in (None, "none")
        if reasoning.get("effort") is not None:
            gen["thinkingConfig"] = thinking_config(reasoning["effort"], "reasoning.effort", show)
        elif show:
            gen["thinkingConfig"] = {"includeThoughts": True}
    return gen


def _tools(tools: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    if tools is None:
        return [], {}
    if not isinstance(tools, list):
        raise bad("'tools' must be an array", "tools")
    decls: list[dict[str, Any]] = []
    names: dict[str, dict[str, str]] = {}
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise bad(f"'tools[{i}]' must be an object", f"tools[{i}]")
        kind = tool.get("type")
        if kind == "function":
            decls.append(
                function_declaration(
                    tool.get("name"), tool.get("description"), tool.get("parameters"), f"tools[{i}]"
                )
            )
        elif kind == "namespace":
            ns = expect_type(tool.get("name"), str, f"tools[{i}].name", "a string")
            for j, inner in enumerate(tool.get("tools") or ()):
                if not isinstance(inner, dict) or inner.get("type", "function") != "function":
                    continue
                pj = f"tools[{i}].tools[{j}]"
                decl = function_declaration(
                    inner.get("name"), inner.get("description"), inner.get("parameters"), pj
                )
                decl["name"] = gemini_tool_name(decl["name"], ns)
                names[decl["name"]] = {"name": inner["name"], "namespace": ns}
                decls.append(decl)
        # web_search, file_search, custom, ... have no Gemini function equivalent: dropped.
    return decls, names


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice in ("none", "auto", "required"):
        return tool_config({"none": "NONE", "auto": "AUTO", "required": "ANY"}[choice])
    if isinstance(choice, dict):
        if choice.get("type") == "function" and isinstance(choice.get("name"), str):
            return tool_config("ANY", [choice["name"]])
        if choice.get("type") == "allowed_tools":
            names = [
                t["name"] for t in choice.get("tools") or () if isinstance(t, dict) and "name" in t
            ]
            return tool_config("ANY" if choice.get("mode") == "required" else "AUTO", names)
        return tool_config("AUTO")  # a hosted tool (web_search, ...) we dropped
    raise bad("'tool_choice' must be none, auto, required or {type:function,name}", "tool_choice")

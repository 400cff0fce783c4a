"""OpenAI Chat Completions -> Gemini request (SPEC §8). The reply side (`from_gemini`,
`OpenAIChatStreamEncoder`) lives in openai_chat_output.py and is re-exported here.
Pure: no I/O."""

from __future__ import annotations

from typing import Any

from proxy.protocols.common import GeminiCall
from proxy.protocols.openai_chat_output import OpenAIChatStreamEncoder, from_gemini  # noqa: F401
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
from proxy.protocols.signatures import SignatureStore

# OpenAI number fields -> generationConfig keys (type checked on the way).
_NUMBER_FIELDS = {
    "temperature": "temperature",
    "top_p": "topP",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
_INT_FIELDS = {
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "n": "candidateCount",
    "seed": "seed",
}


def to_gemini(
    body: Any,
    *,
    upstream_model: str,
    signatures: SignatureStore | None = None,
    session_key: str | None = None,
) -> GeminiCall:
    """A chat.completions request body -> the canonical Gemini call."""
    if not isinstance(body, dict):
        raise bad("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' is required and must be a string", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty array", "messages")
    session_key = session_key or _cache_key(body) or _first_user_key(messages)
    system, contents = _map_messages(messages, upstream_model, signatures, session_key)
    if not contents:
        raise bad("'messages' must contain at least one user or assistant message", "messages")
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    gen = _generation_config(body)
    if gen:
        request["generationConfig"] = gen
    tools = _tools(body.get("tools"))
    if tools:
        request["tools"] = [{"functionDeclarations": tools}]
    choice = body.get("tool_choice")
    if choice is not None:
        config = _tool_choice(choice)  # validated even when moot
        if tools:  # Gemini wants no toolConfig without function declarations
            request["toolConfig"] = config
    stream = stream_flag(body)
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise bad("'stream_options' must be an object", "stream_options")
    include_usage = bool(stream and opts and opts.get("include_usage") is True)
    return GeminiCall(
        client_model=model,
        request=request,
        stream=stream,
        session_key=session_key,
        options={"include_usage": include_usage},
    )


def _cache_key(body: dict[str, Any]) -> str | None:
    for key in ("prompt_cache_key", "user"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _first_user_key(messages: list[Any]) -> str | None:
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):
                content = "".join(
                    text
                    for p in content
                    if isinstance(p, dict) and isinstance(text := p.get("text"), str)
                )
            if isinstance(content, str):
                return session_key_from_text(content)
    return None


def _map_messages(
    messages: list[Any], model: str, signatures: SignatureStore | None, session_key: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, for tool messages
    for i, msg in enumerate(messages):
        p = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise bad(f"'{p}' must be an object", p)
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend({"text": t} for t in _texts(msg.get("content"), f"{p}.content") if t)
        elif role == "user":
            merge_turn(contents, "user", _user_parts(msg.get("content"), f"{p}.content"))
        elif role == "assistant":
            parts = _assistant_parts(msg, p, model, signatures, session_key, names)
            merge_turn(contents, "model", parts)  # an empty turn is dropped, never sent
        elif role in ("tool", "function"):
            merge_turn(contents, "user", [_tool_result(msg, p, role, names)])
        else:
            raise bad(
                f"'{p}.role' must be system, developer, user, assistant or tool; got {role!r}",
                f"{p}.role",
            )
    return system, contents


def _texts(content: Any, p: str) -> list[str]:
    if isinstance(content, str):
        return [content]
    if content is None:
        return []
    if not isinstance(content, list):
        raise bad(f"'{p}' must be a string or an array of content parts", p)
    out = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
            raise bad(f"'{p}[{j}]' must be a text part here", f"{p}[{j}]")
        text = part.get("text", part.get("refusal"))
        out.append(expect_type(text, str, f"{p}[{j}].text", "a string"))
    return out


def _user_parts(content: Any, p: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []  # Gemini 400s on empty text
    if not isinstance(content, list):
        raise bad(f"'{p}' must be a string or an array of content parts", p)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        pj = f"{p}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = expect_type(part.get("text"), str, f"{pj}.text", "a string")
            if text:
                parts.append({"text": text})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(media_part(url, f"{pj}.image_url.url"))
        elif kind == "input_audio":
            audio = part.get("input_audio")
            if not isinstance(audio, dict) or not isinstance(audio.get("format"), str):
                raise bad(f"'{pj}.input_audio' needs 'data' and 'format'", f"{pj}.input_audio")
            parts.append(
                media_part(
                    f"data:audio/{audio['format']};base64,{audio.get('data') or ''}",
                    f"{pj}.input_audio.data",
                )
            )
        elif kind == "file":
            data = (
                (part.get("file") or {}).get("file_data")
                if isinstance(part.get("file"), dict)
                else None
            )
            if not isinstance(data, str):
                raise bad(
                    f"'{pj}.file.file_data' must be a data: URI (file ids are not supported)",
                    f"{pj}.file.file_data",
                )
            parts.append(media_part(data, f"{pj}.file.file_data", "application/pdf"))
        else:
            raise bad(
                f"'{pj}.type' must be text, image_url, input_audio or file; got {kind!r}",
                f"{pj}.type",
            )
    return parts


def _assistant_parts(
    msg: dict[str, Any],
    p: str,
    model: str,
    signatures: SignatureStore | None,
    session_key: str | None,
    names: dict[str, str],
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    reasoning = msg.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"text": reasoning, "thought": True})
    parts.extend({"text": t} for t in _texts(msg.get("content"), f"{p}.content") if t)
    calls = msg.get("tool_calls")
    if calls is None:
        return parts
    if not isinstance(calls, list):
        raise bad(f"'{p}.tool_calls' must be an array", f"{p}.tool_calls")
    for k, call in enumerate(calls):
        pk = f"{p}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise bad(f"'{pk}.function.name' must be a non-empty string", f"{pk}.function.name")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise bad(f"'{pk}.id' must be a non-empty string", f"{pk}.id")
        names[call_id] = fn["name"]
        args = parse_arguments(fn.get("arguments"), f"{pk}.function.arguments")
        parts.append(
            function_call_part(
                call_id,
                fn["name"],
                args,
                model=model,
                signatures=signatures,
                session_key=session_key,
            )
        )
    return parts


def _tool_result(msg: dict[str, Any], p: str, role: str, names: dict[str, str]) -> dict[str, Any]:
    text = "\n".join(_texts(msg.get("content"), f"{p}.content"))
    if role == "function":  # the legacy shape names the function itself
        name = expect_type(msg.get("name"), str, f"{p}.name", "a string")
        return {"functionResponse": {"name": name, "response": {"output": text}}}
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"'{p}.tool_call_id' must be a non-empty string", f"{p}.tool_call_id")
    # Some clients trim old turns but name the function on the tool message itself.
    name = names.get(call_id) or (msg.get("name") if isinstance(msg.get("name"), str) else None)
    if not name:
        raise bad(
            f"'{p}.tool_call_id' {call_id!r} matches no earlier assistant tool_calls id",
            f"{p}.tool_call_id",
        )
    return {"functionResponse": {"id": call_id, "name": name, "response": {"output": text}}}


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    for key, target in _NUMBER_FIELDS.items():
        if body.get(key) is not None:
            gen[target] = expect_type(body[key], (int, float), key, "a number")
    for key, target in _INT_FIELDS.items():
        if body.get(key) is not None:
            gen[target] = expect_type(body[key], int, key, "an integer")
    stop = body.get("stop")
    if isinstance(stop, str):
        gen["stopSequences"] = [stop]
    elif isinstance(stop, list):
        if not all(isinstance(s, str) for s in stop):
            raise bad("'stop' must be a string or an array of strings", "stop")
        if stop:
            gen["stopSequences"] = stop
    elif stop is not None:
        raise bad("'stop' must be a string or an array of strings", "stop")
    if body.get("response_format") is not None:
        gen.update(response_format_config(body["response_format"], "response_format"))
    if body.get("reasoning_effort") is not None:
        gen["thinkingConfig"] = thinking_config(body["reasoning_effort"], "reasoning_effort")
    return gen


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise bad("'tools' must be an array", "tools")
    decls = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise bad(f"'tools[{i}]' must be an object", f"tools[{i}]")
        if tool.get("type", "function") != "function":
            continue  # custom/hosted tools have no Gemini function equivalent
        fn = tool.get("function")
        if not isinstance(fn, dict):
            raise bad(f"'tools[{i}].function' must be an object", f"tools[{i}].function")
        decls.append(
            function_declaration(
                fn.get("name"), fn.get("description"), fn.get("parameters"), f"tools[{i}].function"
            )
        )
    return decls


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice in ("none", "auto", "required"):
        return tool_config({"none": "NONE", "auto": "AUTO", "required": "ANY"}[choice])
    if isinstance(choice, dict) and choice.get("type") == "function":
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return tool_config("ANY", [fn["name"]])
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = [
            t["function"]["name"]
            for t in allowed.get("tools", [])
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
        return tool_config("ANY" if allowed.get("mode") == "required" else "AUTO", names)
    raise bad(
        "'tool_choice' must be none, auto, required or {type:function,function:{name}}",
        "tool_choice",
    )

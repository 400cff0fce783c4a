"""Anthropic Messages API → Gemini request (SPEC §8 "Anthropic → Gemini").

Options (generationConfig, tools) are in anthropic_config.py; the response side
(non-stream reply and the SSE encoder) lives in anthropic_stream.py and is re-exported here, so `proxy.protocols.anthropic` is the one name to import."""

from __future__ import annotations

from typing import Any

from proxy import jsoncodec
from proxy.errors import ApiError, ErrorKind
from proxy.protocols.anthropic_config import (
    EFFORT_BUDGET,
    function_declarations,
    generation_config,
    guard_claude_thinking,
    tool_choice,
)
from proxy.protocols.anthropic_stream import AnthropicStreamEncoder, from_gemini
from proxy.protocols.common import (
    GeminiCall,
    inline_data_part,
    remote_file_part,
    session_key_from_text,
)
from proxy.protocols.signatures import SENTINEL, SignatureStore, model_family, needs_signature

__all__ = ["EFFORT_BUDGET", "AnthropicStreamEncoder", "from_gemini", "session_key_of", "to_gemini"]

# Server-side tool blocks another backend ran; they have no Gemini meaning and are dropped.
_SERVER_BLOCKS = frozenset(
    {
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
        "tool_search_tool_result",
    }
)


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message, param=param)


def to_gemini(
    body: Any,
    *,
    upstream_model: str,
    signatures: SignatureStore | None = None,
    session_key: str | None = None,
) -> GeminiCall:
    """Translate a Messages API body. `session_key` is the X-Claude-Code-Session-Id
    header when the client sent one; otherwise it is derived from the body."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model: a model name is required", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages: at least one message is required", "messages")
    if "max_tokens" not in body:
        raise _bad("max_tokens: required (the most tokens the answer may use)", "max_tokens")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _bad("metadata: must be an object", "metadata")
    key = session_key or session_key_of(body)
    tr = _Translator(upstream_model, signatures, key)
    system = tr.system_parts(body.get("system"))
    contents = tr.contents(messages, system)
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"role": "user", "parts": system}
    gen = generation_config(body, upstream_model)
    if gen:
        request["generationConfig"] = gen
    tools = function_declarations(body.get("tools"))
    choice = tool_choice(body.get("tool_choice"))
    if tools:
        request["tools"] = [{"functionDeclarations": tools}]
        if choice:
            request["toolConfig"] = {"functionCallingConfig": choice}
    guard_claude_thinking(request, upstream_model)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream: must be a boolean", "stream")
    return GeminiCall(
        client_model=model,
        request=request,
        stream=stream,
        session_key=key,
        options={"thinking": "thinkingConfig" in gen},
    )


def session_key_of(body: dict[str, Any]) -> str | None:
    """Claude Code's session id from `metadata.user_id` (a JSON string in 2.x, the form
    `user_<hash>_account_<uuid>_session_<uuid>` before), else a hash of the first user text."""
    meta = body.get("metadata")
    user_id = meta.get("user_id") if isinstance(meta, dict) else None
    if isinstance(user_id, str) and user_id:
        if user_id.startswith("{"):
            try:
                parsed = jsoncodec.loads(user_id)
            except jsoncodec.JSONDecodeError:
                parsed = None
            session_id = parsed.get("session_id") if isinstance(parsed, dict) else None
            if isinstance(session_id, str) and session_id:
                return session_id
        elif "_session_" in user_id:
            return user_id.rsplit("_session_", 1)[1]
    for msg in body.get("messages") or ():
        if isinstance(msg, dict) and msg.get("role") == "user":
            text = _first_text(msg.get("content"))
            return session_key_from_text(text) if text else None
    return None


def _first_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # the last text block of the first turn: Claude Code puts reminders before the prompt
        texts = [
            text
            for b in content
            if isinstance(b, dict) and b.get("type") == "text"
            and isinstance(text := b.get("text"), str) and text
        ]
        return texts[-1] if texts else ""
    return ""


class _Translator:
    def __init__(
        self, upstream_model: str, signatures: SignatureStore | None, session_key: str | None
    ):
        self.model = upstream_model
        self.signatures = signatures
        self.session_key = session_key
        self.family = model_family(upstream_model)
        self.needs_sig = needs_signature(upstream_model)
        self.tool_names: dict[str, str] = {}

    def system_parts(self, system: Any) -> list[dict[str, Any]]:
        if system is None:
            return []
        if isinstance(system, str):
            return [{"text": system}] if system else []
        if not isinstance(system, list):
            raise _bad("system: must be a string or a list of text blocks", "system")
        parts = []
        for i, block in enumerate(system):
            if (
                not isinstance(block, dict)
                or block.get("type") != "text"
                or not isinstance(block.get("text"), str)
            ):
                raise _bad(f"system.{i}: expected a text block", f"system.{i}")
            if block["text"]:
                parts.append({"text": block["text"]})
        return parts

    def contents(self, messages: list[Any], system: list[dict[str, Any]]) -> list[dict[str, Any]]:
        contents: list[dict[str, Any]] = []
        last = len(messages) - 1
        for i, msg in enumerate(messages):
            where = f"messages.{i}"
            if not isinstance(msg, dict):
                raise _bad(f"{where}: each message must be an object", where)
            role = msg.get("role")
            if role == "system":  # Claude Code's mid-conversation system message
                system.extend(
                    self.system_parts(msg.get("content"))
                    if isinstance(msg.get("content"), (str, list))
                    else []
                )
                continue
            if role not in ("user", "assistant"):
                raise _bad(
                    f"{where}.role: unknown role {role!r} (expected user, assistant or system)",
                    f"{where}.role",
                )
            content = msg.get("content")
            if isinstance(content, str):
                blocks: list[Any] = [{"type": "text", "text": content}] if content else []
            elif isinstance(content, list):
                blocks = content
            else:
                raise _bad(
                    f"{where}.content: must be a string or a list of content blocks",
                    f"{where}.content",
                )
            if not blocks:
                if role == "assistant" and i == last:
                    continue  # an empty prefill is allowed and means nothing
                raise _bad(f"{where}.content: must not be empty", f"{where}.content")
            parts = self.parts(blocks, role, where)
            if not parts:
                continue  # e.g. only unsigned thinking, dropped
            g_role = "model" if role == "assistant" else "user"
            if contents and contents[-1]["role"] == g_role:
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": g_role, "parts": parts})
        if not contents:
            raise _bad("messages: no user or assistant content to send", "messages")
        return contents

    def parts(self, blocks: list[Any], role: str, where: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for j, block in enumerate(blocks):
            at = f"{where}.content.{j}"
            if not isinstance(block, dict):
                raise _bad(f"{at}: each content block must be an object", at)
            kind = block.get("type")
            if not isinstance(kind, str):
                raise _bad(f"{at}.type: must be a string naming the block type", f"{at}.type")
            if kind == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    raise _bad(f"{at}.text: must be a string", f"{at}.text")
                if text:
                    parts.append({"text": text})
            elif kind == "image" or kind == "document":
                parts.append(_media(block, at))
            elif kind == "tool_use":
                parts.append(self.tool_use(block, at))
            elif kind == "tool_result":
                parts.extend(self.tool_result(block, at))
            elif kind == "thinking":
                part = self.thinking(block, at)
                if part is not None:
                    parts.append(part)
            elif kind == "redacted_thinking" or kind in _SERVER_BLOCKS:
                continue
            elif kind == "search_result":
                parts.append({"text": _joined_text(block.get("content"), at)})
            else:
                raise _bad(f"{at}.type: unsupported content block type {kind!r}", f"{at}.type")
        return parts

    def tool_use(self, block: dict[str, Any], at: str) -> dict[str, Any]:
        call_id, name, args = block.get("id"), block.get("name"), block.get("input", {})
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{at}.id: a tool_use id is required", f"{at}.id")
        if not isinstance(name, str) or not name:
            raise _bad(f"{at}.name: a tool name is required", f"{at}.name")
        if not isinstance(args, dict):
            raise _bad(f"{at}.input: must be an object", f"{at}.input")
        self.tool_names[call_id] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args, "id": call_id}}
        sig = self.signatures.lookup(self.session_key, call_id) if self.signatures else None
        if sig:
            part["thoughtSignature"] = sig
        elif self.needs_sig:
            part["thoughtSignature"] = SENTINEL
        return part

    def tool_result(self, block: dict[str, Any], at: str) -> list[dict[str, Any]]:
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{at}.tool_use_id: is required", f"{at}.tool_use_id")
        name = self.tool_names.get(call_id)
        if name is None:
            raise _bad(
                f"{at}.tool_use_id: no earlier tool_use block has id {call_id!r}",
                f"{at}.tool_use_id",
            )
        is_error = bool(block.get("is_error"))
        content = block.get("content")
        texts: list[str] = []
        extra: list[dict[str, Any]] = []
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for k, item in enumerate(content):
                sub = f"{at}.content.{k}"
                if not isinstance(item, dict):
                    raise _bad(f"{sub}: each block must be an object", sub)
                if item.get("type") == "text" and isinstance(item.get("text"), str):
                    texts.append(item["text"])
                elif item.get("type") in ("image", "document"):
                    extra.append(_media(item, sub))
                elif item.get("type") == "tool_reference":
                    continue  # Claude Code's tool-search pointer: nothing for the model to read
                elif item.get("type") == "search_result":
                    texts.append(_joined_text(item.get("content"), sub))
                else:
                    raise _bad(
                        f"{sub}.type: unsupported block in tool_result: {item.get('type')!r}",
                        f"{sub}.type",
                    )
        elif content is not None:
            raise _bad(f"{at}.content: must be a string or a list of blocks", f"{at}.content")
        text = "\n".join(t for t in texts if t)
        if not text:
            text = "failed" if is_error else "executed"
        response = {"error": text} if is_error else {"output": text}
        return [{"functionResponse": {"name": name, "response": response, "id": call_id}}, *extra]

    def thinking(self, block: dict[str, Any], at: str) -> dict[str, Any] | None:
        text = block.get("thinking")
        if not isinstance(text, str):
            raise _bad(f"{at}.thinking: must be a string", f"{at}.thinking")
        sig = block.get("signature")
        if not isinstance(sig, str) or not sig:
            return None  # never invent a signature: unsigned thinking is dropped
        if self.signatures is not None and not self.signatures.is_known(sig, self.model):
            return None  # signed by another backend (or another family): the target would reject it
        return {"text": text, "thought": True, "thoughtSignature": sig}


def _media(block: dict[str, Any], at: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _bad(f"{at}.source: is required", f"{at}.source")
    kind = source.get("type")
    if kind == "base64":
        return inline_data_part(source.get("media_type"), source.get("data"), f"{at}.source.data")
    if kind == "url":
        return remote_file_part(source.get("url"), None, f"{at}.source.url")
    if kind == "text" and block.get("type") == "document" and isinstance(source.get("data"), str):
        return {"text": source["data"]}
    raise _bad(
        f"{at}.source.type: unsupported source type {kind!r} (use base64 or url)",
        f"{at}.source.type",
    )


def _joined_text(content: Any, at: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
    raise _bad(f"{at}.content: expected text", f"{at}.content")

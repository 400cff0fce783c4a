"""Gemini native API (SPEC §8 "Gemini native"): the body is already canonical, so this
validates it, normalises both proto-JSON spellings (snake_case → camelCase) and cleans
tool schemas; responses pass through with internal fields stripped."""

from __future__ import annotations

from typing import Any

from proxy import jsoncodec
from proxy.errors import ApiError, ErrorKind, Protocol, error_body
from proxy.models_table import model_limits
from proxy.protocols.common import (
    GeminiCall,
    StreamResult,
    ToolCall,
    Usage,
    check_base64,
    remote_file_part,
    session_key_from_text,
)
from proxy.protocols.schema import clean_parameters, clean_schema

# Top-level request fields forwarded upstream; others (model, cachedContent, labels...)
# mean nothing to a pooled upstream and are dropped.
_REQUEST_KEYS = (
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
)
# Values under these keys are user data (function args, schemas' property names): their
# own keys are kept verbatim rather than camelCased.
_OPAQUE = frozenset(
    {
        "args",
        "response",
        "parametersJsonSchema",
        "responseJsonSchema",
        "properties",
        "labels",
        "example",
        "default",
        "enum",
        "responseJsonSchemaOrdering",
    }
)
_PART_DATA = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_RESPONSE_KEYS = (
    "candidates",
    "promptFeedback",
    "usageMetadata",
    "modelVersion",
    "responseId",
    "createTime",
)
_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message, param=param)


def camel(key: str) -> str:
    if "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def normalise(node: Any) -> Any:
    """A copy with every structural key camelCased; user data under _OPAQUE keys is
    kept as is (schemas' `properties` get their values, not their names, normalised)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            ck = camel(key)
            if ck == "properties" and isinstance(value, dict):
                out[ck] = {name: normalise(sub) for name, sub in value.items()}
            elif ck in _OPAQUE:
                out[ck] = value
            else:
                out[ck] = normalise(value)
        return out
    if isinstance(node, list):
        return [normalise(v) for v in node]
    return node


def to_gemini(body: Any, *, model: str, stream: bool) -> GeminiCall:
    """Validate and normalise a native GenerateContentRequest for `model`."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    body = normalise(body)
    request: dict[str, Any] = {}
    request["contents"] = _contents(body.get("contents"))
    system = body.get("systemInstruction")
    if system is not None:
        request["systemInstruction"] = _system(system)
    if body.get("tools") is not None:
        tools = _tools(body["tools"])
        if tools:
            request["tools"] = tools
    for key in ("toolConfig", "safetySettings"):
        if body.get(key) is not None:
            request[key] = body[key]
    gen = body.get("generationConfig")
    if gen is not None:
        if not isinstance(gen, dict):
            raise _bad("generationConfig: must be an object", "generationConfig")
        request["generationConfig"] = _generation_config(gen)
    return GeminiCall(
        client_model=model,
        request=request,
        stream=stream,
        session_key=_session_key(request["contents"]),
    )


def _contents(contents: Any) -> list[dict[str, Any]]:
    if not isinstance(contents, list) or not contents:
        raise _bad("contents: at least one content is required", "contents")
    out = []
    for i, content in enumerate(contents):
        at = f"contents[{i}]"
        if not isinstance(content, dict):
            raise _bad(f"{at}: must be an object", at)
        role = content.get("role", "user")
        if role == "function":  # the old API's role for function responses
            role = "user"
        if role not in ("user", "model"):
            raise _bad(f"{at}.role: unknown role {role!r} (expected user or model)", f"{at}.role")
        out.append({"role": role, "parts": _parts(content.get("parts"), at)})
    return out


def _parts(parts: Any, at: str) -> list[dict[str, Any]]:
    if not isinstance(parts, list) or not parts:
        raise _bad(f"{at}.parts: must be a non-empty list", f"{at}.parts")
    for j, part in enumerate(parts):
        where = f"{at}.parts[{j}]"
        if not isinstance(part, dict):
            raise _bad(f"{where}: must be an object", where)
        if not any(k in part for k in _PART_DATA):
            raise _bad(f"{where}: needs one of {', '.join(_PART_DATA)}", where)
        if "text" in part and not isinstance(part["text"], str):
            raise _bad(f"{where}.text: must be a string", f"{where}.text")
        inline = part.get("inlineData")
        if inline is not None:
            if not isinstance(inline, dict) or not isinstance(inline.get("mimeType"), str):
                raise _bad(f"{where}.inlineData: needs mimeType and data", f"{where}.inlineData")
            inline["data"] = check_base64(_standard_base64(inline.get("data")), f"{where}.inlineData.data")
        file_data = part.get("fileData")
        if file_data is not None:
            if not isinstance(file_data, dict):
                raise _bad(f"{where}.fileData: must be an object", f"{where}.fileData")
            remote_file_part(
                file_data.get("fileUri"), file_data.get("mimeType"), f"{where}.fileData.fileUri"
            )
        call = part.get("functionCall")
        if call is not None and (
            not isinstance(call, dict) or not isinstance(call.get("name"), str)
        ):
            raise _bad(f"{where}.functionCall: needs a name", f"{where}.functionCall")
        if call is not None and not isinstance(call.get("args", {}), dict):
            raise _bad(
                f"{where}.functionCall.args: must be an object", f"{where}.functionCall.args"
            )
        resp = part.get("functionResponse")
        if resp is not None and (
            not isinstance(resp, dict) or not isinstance(resp.get("name"), str)
        ):
            raise _bad(f"{where}.functionResponse: needs a name", f"{where}.functionResponse")
        if resp is not None and not isinstance(resp.get("response", {}), dict):
            raise _bad(
                f"{where}.functionResponse.response: must be an object",
                f"{where}.functionResponse.response",
            )
    return parts


def _system(system: Any) -> dict[str, Any]:
    if isinstance(system, str):
        return {"role": "user", "parts": [{"text": system}]}
    if not isinstance(system, dict):
        raise _bad("systemInstruction: must be a Content object", "systemInstruction")
    parts = _parts(system.get("parts"), "systemInstruction")
    return {"role": "user", "parts": parts}


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise _bad("tools: must be a list", "tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"tools[{i}]: must be an object", f"tools[{i}]")
        decls = tool.get("functionDeclarations")
        if decls is None:
            out.append(tool)  # googleSearch, codeExecution, urlContext: passed as sent
            continue
        if not isinstance(decls, list):
            raise _bad(
                f"tools[{i}].functionDeclarations: must be a list",
                f"tools[{i}].functionDeclarations",
            )
        cleaned = []
        for j, decl in enumerate(decls):
            at = f"tools[{i}].functionDeclarations[{j}]"
            if (
                not isinstance(decl, dict)
                or not isinstance(decl.get("name"), str)
                or not decl["name"]
            ):
                raise _bad(f"{at}.name: is required", f"{at}.name")
            new: dict[str, Any] = {"name": decl["name"]}
            if isinstance(decl.get("description"), str):
                new["description"] = decl["description"]
            schema = decl.get("parameters", decl.get("parametersJsonSchema"))
            params = clean_parameters(schema)
            if params is not None:
                new["parameters"] = params
            cleaned.append(new)
        if cleaned:
            out.append({"functionDeclarations": cleaned})
    return out


def _generation_config(gen: dict[str, Any]) -> dict[str, Any]:
    out = dict(gen)
    # JSON-Schema spelling of the response schema (gemini-cli's router): cleaned to the
    # OpenAPI subset every upstream accepts.
    json_schema = out.pop("responseJsonSchema", None)
    if json_schema is not None and "responseSchema" not in out:
        out["responseSchema"] = clean_schema(json_schema)
    elif isinstance(out.get("responseSchema"), dict):
        out["responseSchema"] = clean_schema(out["responseSchema"])
    thinking = out.get("thinkingConfig")
    if thinking is not None and not isinstance(thinking, dict):
        raise _bad(
            "generationConfig.thinkingConfig: must be an object", "generationConfig.thinkingConfig"
        )
    return out


def _session_key(contents: list[dict[str, Any]]) -> str | None:
    # gemini-cli opens with a per-workspace context turn, so the first two user turns
    # together tell one conversation from another
    texts: list[str] = []
    for content in contents:
        if content["role"] == "user":
            found = [
                p["text"] for p in content["parts"] if isinstance(p.get("text"), str) and p["text"]
            ]
            if found:
                texts.append(found[-1][:2048])
            if len(texts) == 2:
                break
    return session_key_from_text("\n".join(texts)) if texts else None


def from_gemini(resp: dict[str, Any]) -> dict[str, Any]:
    """The client's reply: the upstream response minus fields only the upstream knows."""
    return {k: resp[k] for k in _RESPONSE_KEYS if k in resp}


class GeminiStreamEncoder:
    """Re-emit upstream chunks: SSE `data:` events (alt=sse) or Gemini's JSON-array
    stream. Never an OpenAI `[DONE]`."""

    def __init__(self, sse: bool) -> None:
        self.sse = sse
        self.result = StreamResult()
        self._count = 0
        self._done = False
        self._usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> bytes:
        if self._done:
            return b""
        self._observe(chunk)
        body = jsoncodec.dumps(from_gemini(chunk))
        self._count += 1
        if self.sse:
            return b"data: " + body + b"\r\n\r\n"
        return (b"[" if self._count == 1 else b",\r\n") + body

    def finish(self) -> bytes:
        if self._done:
            return b""
        self._done = True
        self.result.usage = Usage.from_gemini(self._usage)
        if self.sse:
            return b""
        return b"]" if self._count else b"[]"

    def fail(self, err: ApiError) -> bytes:
        if self._done:
            return b""
        self._done = True
        self.result.finish_reason = "error"
        body = jsoncodec.dumps(error_body(Protocol.GEMINI, err))
        if self.sse:
            return b"data: " + body + b"\r\n\r\n"
        return (b"[" if not self._count else b",\r\n") + body + b"]"

    def _observe(self, chunk: dict[str, Any]) -> None:
        if isinstance(chunk.get("usageMetadata"), dict):
            self._usage = chunk["usageMetadata"]
        candidates = chunk.get("candidates")
        if (
            not isinstance(candidates, list)
            or not candidates
            or not isinstance(candidates[0], dict)
        ):
            return
        cand = candidates[0]
        if cand.get("finishReason"):
            self.result.finish_reason = cand["finishReason"]
        content = cand.get("content")
        for part in (content.get("parts") or []) if isinstance(content, dict) else []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("functionCall"), dict):
                call = part["functionCall"]
                self.result.tool_calls.append(
                    ToolCall(
                        str(call.get("id") or ""),
                        str(call.get("name") or ""),
                        call.get("args") or {},
                    )
                )
            elif isinstance(part.get("text"), str):
                if part.get("thought"):
                    self.result.thinking += part["text"]
                else:
                    self.result.text += part["text"]


def model_info(model_id: str) -> dict[str, Any]:
    """One model in the Gemini listing shape (SPEC §3)."""
    inp, out = model_limits(model_id)
    return {
        "name": f"models/{model_id}",
        "version": "001",
        "displayName": model_id,
        "supportedGenerationMethods": list(_METHODS),
        "inputTokenLimit": inp,
        "outputTokenLimit": out,
    }


def models_list(ids: list[str]) -> dict[str, Any]:
    return {"models": [model_info(i) for i in dict.fromkeys(ids)]}


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def _standard_base64(data: object) -> object:
    """google-genai sends bytes in the URL-safe alphabet (proto3 JSON accepts both);
    upstreams get the standard one. Untouched (no copy) when already standard."""
    if isinstance(data, str) and ("-" in data or "_" in data):
        data = data.translate(_URLSAFE_TO_STANDARD)
        if len(data) % 4:
            data += "=" * (-len(data) % 4)
    return data

"""What the Gemini API accepts in a GenerateContentRequest, as assertions: every
translator's output must pass `assert_valid_gemini_request` (import it from this module:
`from gemini_validity import assert_valid_gemini_request`; pytest puts this folder on
sys.path). Encodes the v1beta REST reference plus the upstream 400s peers hit: schema
keys outside the OpenAPI subset, `required` naming missing properties, non-string enums,
arrays without `items`, snake_case spellings, empty parts, unknown roles."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

REQUEST_KEYS = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
}
PART_DATA = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
}
PART_EXTRA = {"thought", "thoughtSignature", "videoMetadata"}
GEN_KEYS = {
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseModalities",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
    "mediaResolution",
    "speechConfig",
}
THINKING_KEYS = {"includeThoughts", "thinkingBudget", "thinkingLevel"}
SCHEMA_KEYS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "title",
    "nullable",
}
SCHEMA_TYPES = {"string", "number", "integer", "boolean", "array", "object"}
TOOL_KINDS = {
    "functionDeclarations",
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
}
FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$")


def _fail(path: str, message: str) -> None:
    raise AssertionError(f"{path}: {message}")


def assert_valid_gemini_request(req: Any) -> None:
    """Raise AssertionError (naming the path) unless `req` is a request Gemini accepts."""
    if not isinstance(req, dict):
        _fail("$", "request must be an object")
    extra = set(req) - REQUEST_KEYS
    if extra:
        _fail("$", f"unknown top-level keys {sorted(extra)}")
    contents = req.get("contents")
    if not isinstance(contents, list) or not contents:
        _fail("contents", "must be a non-empty list")
    for i, content in enumerate(contents):
        _content(content, f"contents[{i}]", roles={"user", "model"})
    if "systemInstruction" in req:
        _content(req["systemInstruction"], "systemInstruction", roles={"user", "system", None})
        for j, part in enumerate(req["systemInstruction"]["parts"]):
            if set(part) != {"text"}:
                _fail(f"systemInstruction.parts[{j}]", "system parts must be text only")
    if "generationConfig" in req:
        _generation_config(req["generationConfig"])
    if "tools" in req:
        _tools(req["tools"])
    if "toolConfig" in req:
        _tool_config(req["toolConfig"], req.get("tools") or [])


def _content(content: Any, path: str, roles: set) -> None:
    if not isinstance(content, dict):
        _fail(path, "must be an object")
    if set(content) - {"role", "parts"}:
        _fail(path, f"unknown keys {sorted(set(content) - {'role', 'parts'})}")
    if content.get("role") not in roles:
        _fail(f"{path}.role", f"role {content.get('role')!r} not in {sorted(map(str, roles))}")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        _fail(f"{path}.parts", "must be a non-empty list")
    for j, part in enumerate(parts):
        _part(part, f"{path}.parts[{j}]")


def _part(part: Any, path: str) -> None:
    if not isinstance(part, dict):
        _fail(path, "must be an object")
    data = set(part) & PART_DATA
    if len(data) != 1:
        _fail(path, f"needs exactly one data field, has {sorted(data)}")
    extra = set(part) - PART_DATA - PART_EXTRA
    if extra:
        _fail(path, f"unknown keys {sorted(extra)}")
    if "text" in part and not isinstance(part["text"], str):
        _fail(f"{path}.text", "must be a string")
    if "thought" in part and not isinstance(part["thought"], bool):
        _fail(f"{path}.thought", "must be a boolean")
    if "thoughtSignature" in part and (
        not isinstance(part["thoughtSignature"], str) or not part["thoughtSignature"]
    ):
        _fail(f"{path}.thoughtSignature", "must be a non-empty string")
    if "inlineData" in part:
        inline = part["inlineData"]
        if set(inline) != {"mimeType", "data"} or not isinstance(inline["mimeType"], str):
            _fail(f"{path}.inlineData", "needs exactly mimeType and data")
        try:
            base64.b64decode(inline["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            _fail(f"{path}.inlineData.data", "not valid base64")
    if "fileData" in part:
        fd = part["fileData"]
        if not isinstance(fd.get("fileUri"), str) or not re.match(
            r"^(https?|gs)://", fd["fileUri"]
        ):
            _fail(f"{path}.fileData.fileUri", "must be an http(s) or gs URI")
        if set(fd) - {"fileUri", "mimeType"}:
            _fail(f"{path}.fileData", "unknown keys")
    if "functionCall" in part:
        call = part["functionCall"]
        if set(call) - {"name", "args", "id"} or not isinstance(call.get("name"), str):
            _fail(f"{path}.functionCall", f"bad shape {sorted(call)}")
        if not isinstance(call.get("args", {}), dict):
            _fail(f"{path}.functionCall.args", "must be an object")
    if "functionResponse" in part:
        resp = part["functionResponse"]
        if set(resp) - {"name", "response", "id"} or not isinstance(resp.get("name"), str):
            _fail(f"{path}.functionResponse", f"bad shape {sorted(resp)}")
        if not isinstance(resp.get("response"), dict):
            _fail(f"{path}.functionResponse.response", "must be an object")


def _generation_config(gen: Any) -> None:
    if not isinstance(gen, dict):
        _fail("generationConfig", "must be an object")
    extra = set(gen) - GEN_KEYS
    if extra:
        _fail("generationConfig", f"unknown keys {sorted(extra)}")
    for key in ("temperature", "topP"):
        if key in gen and (isinstance(gen[key], bool) or not isinstance(gen[key], (int, float))):
            _fail(f"generationConfig.{key}", "must be a number")
    for key in ("topK", "maxOutputTokens", "candidateCount", "seed"):
        if key in gen and (isinstance(gen[key], bool) or not isinstance(gen[key], int)):
            _fail(f"generationConfig.{key}", "must be an integer")
    if "stopSequences" in gen and not all(isinstance(s, str) for s in gen["stopSequences"]):
        _fail("generationConfig.stopSequences", "must be strings")
    if "responseSchema" in gen:
        assert_valid_schema(gen["responseSchema"], "generationConfig.responseSchema")
    thinking = gen.get("thinkingConfig")
    if thinking is not None:
        if not isinstance(thinking, dict) or set(thinking) - THINKING_KEYS:
            _fail("generationConfig.thinkingConfig", f"unknown keys in {thinking!r}")
        if "thinkingBudget" in thinking and not isinstance(thinking["thinkingBudget"], int):
            _fail("generationConfig.thinkingConfig.thinkingBudget", "must be an integer")
        if "includeThoughts" in thinking and not isinstance(thinking["includeThoughts"], bool):
            _fail("generationConfig.thinkingConfig.includeThoughts", "must be a boolean")


def _tools(tools: Any) -> None:
    if not isinstance(tools, list):
        _fail("tools", "must be a list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or len(set(tool) & TOOL_KINDS) != 1 or set(tool) - TOOL_KINDS:
            _fail(
                f"tools[{i}]",
                f"one tool kind per entry, got {sorted(tool) if isinstance(tool, dict) else tool}",
            )
        for j, decl in enumerate(tool.get("functionDeclarations") or []):
            path = f"tools[{i}].functionDeclarations[{j}]"
            if set(decl) - {"name", "description", "parameters"}:
                _fail(
                    path,
                    f"unknown keys {sorted(set(decl) - {'name', 'description', 'parameters'})}",
                )
            if not FUNCTION_NAME.match(decl.get("name", "")):
                _fail(f"{path}.name", f"invalid function name {decl.get('name')!r}")
            if decl["name"] in names:
                _fail(f"{path}.name", f"duplicate function name {decl['name']!r}")
            names.add(decl["name"])
            if "parameters" in decl:
                assert_valid_schema(decl["parameters"], f"{path}.parameters")
                if decl["parameters"]["type"].lower() != "object":
                    _fail(f"{path}.parameters.type", "function parameters must be an object")


def _tool_config(config: Any, tools: list) -> None:
    fcc = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(fcc, dict) or fcc.get("mode") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        _fail("toolConfig.functionCallingConfig", f"bad mode in {config!r}")
    declared = {d["name"] for t in tools for d in t.get("functionDeclarations") or []}
    for name in fcc.get("allowedFunctionNames") or []:
        if name not in declared:
            _fail(
                "toolConfig.functionCallingConfig.allowedFunctionNames", f"{name!r} is not declared"
            )


def assert_valid_schema(schema: Any, path: str = "schema") -> None:
    """A Gemini (OpenAPI-subset) Schema: allowed keys only, known types, required ⊆
    properties, string enums only on strings, arrays with items."""
    if not isinstance(schema, dict):
        _fail(path, "schema must be an object")
    extra = set(schema) - SCHEMA_KEYS
    if extra:
        _fail(path, f"keys Gemini rejects: {sorted(extra)}")
    typ = schema.get("type")
    if not isinstance(typ, str) or typ.lower() not in SCHEMA_TYPES:
        _fail(f"{path}.type", f"must be one of {sorted(SCHEMA_TYPES)}, got {typ!r}")
    typ = typ.lower()
    for key in ("description", "title"):
        if key in schema and not isinstance(schema[key], str):
            _fail(f"{path}.{key}", "must be a string")
    if "nullable" in schema and not isinstance(schema["nullable"], bool):
        _fail(f"{path}.nullable", "must be a boolean")
    if "enum" in schema:
        enum = schema["enum"]
        if (
            typ != "string"
            or not isinstance(enum, list)
            or not enum
            or not all(isinstance(v, str) for v in enum)
        ):
            _fail(f"{path}.enum", "must be a non-empty list of strings on a string schema")
    if "properties" in schema:
        if typ != "object" or not isinstance(schema["properties"], dict):
            _fail(f"{path}.properties", "only on object schemas, as a map")
        for name, sub in schema["properties"].items():
            assert_valid_schema(sub, f"{path}.properties.{name}")
    if "required" in schema:
        req = schema["required"]
        props = schema.get("properties") or {}
        if not isinstance(req, list) or not all(isinstance(r, str) and r in props for r in req):
            _fail(f"{path}.required", f"{req!r} must name existing properties")
    if typ == "array":
        if "items" not in schema:
            _fail(f"{path}.items", "an array needs items")
        assert_valid_schema(schema["items"], f"{path}.items")
    elif "items" in schema:
        _fail(f"{path}.items", "only on array schemas")

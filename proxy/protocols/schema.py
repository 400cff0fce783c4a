"""Turn any JSON Schema a client sends for a tool into the OpenAPI subset Gemini accepts
(SPEC §8 "Tool schemas for Gemini"). Pure; the input is never mutated."""

from __future__ import annotations

from typing import Any

from proxy import jsoncodec

_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_SCALAR_RANK = {"string": 0, "number": 1, "integer": 2, "boolean": 3}
# Constraints Gemini rejects or ignores; they survive as a hint in the description.
_HINT_KEYS = (
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "default",
    "examples",
)
_MAX_DEPTH = 40  # a guard against pathological nesting; cycles are caught earlier by ref tracking


def clean_schema(schema: Any) -> dict[str, Any]:
    """A Gemini-safe copy of `schema`: types lowercase, only type/description/properties/
    required/items/enum/title/nullable, `$ref` inlined (cycles cut), one branch of
    anyOf/oneOf, dropped constraints written into the description."""
    if not isinstance(schema, dict):
        return {"type": "object"}
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update({f"#/{key}/{name}": value for name, value in schema[key].items()})
    return _Cleaner(schema, defs).clean(schema, (), 0)


def clean_parameters(schema: Any) -> dict[str, Any] | None:
    """Function parameters: an object schema, or None when the function takes nothing
    (Gemini rejects an OBJECT without properties less often when it is simply omitted)."""
    if schema is None:
        return None
    out = clean_schema(schema)
    if out.get("type") != "object":
        # a non-object root cannot describe keyword arguments; wrap it
        out = {"type": "object", "properties": {"value": out}, "required": ["value"]}
    if not out.get("properties"):
        return None
    return out


class _Cleaner:
    def __init__(self, root: dict[str, Any], defs: dict[str, Any]) -> None:
        self.root = root
        self.defs = defs

    def resolve(self, ref: str) -> Any:
        if ref == "#":
            return self.root
        if ref in self.defs:
            return self.defs[ref]
        if ref.startswith("#/"):  # a JSON pointer into the root (zod-to-json-schema emits these)
            node: Any = self.root
            for token in ref[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and token in node:
                    node = node[token]
                elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                    node = node[int(token)]
                else:
                    return None
            return node
        return None

    def clean(self, node: Any, refs: tuple[str, ...], depth: int) -> dict[str, Any]:
        if not isinstance(node, dict) or depth > _MAX_DEPTH:
            return {}
        node, refs, notes = self._flatten(node, refs, depth)
        out: dict[str, Any] = {}
        types, nullable = _types(node.get("type"))
        enum = node.get("enum")
        if "const" in node:
            enum = [node["const"]]
        if isinstance(enum, list):
            if None in enum:
                nullable = True
                enum = [v for v in enum if v is not None]
        else:
            enum = None
        props = node.get("properties") if isinstance(node.get("properties"), dict) else None
        items = node.get("items")
        if isinstance(items, list):  # tuple form: describe by the first item
            items = items[0] if items else None
        if not types:
            if props is not None:
                types = ["object"]
            elif isinstance(items, dict):
                types = ["array"]
            elif enum and all(isinstance(v, str) for v in enum):
                types = ["string"]
            elif enum and all(isinstance(v, bool) for v in enum):
                types = ["boolean"]
            elif enum and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in enum
            ):
                types = ["number"]
        typ = _pick_type(types)
        if len(types) > 1:
            notes.append("type: " + " or ".join(types))
        if typ is None:
            # an unconstrained value: Gemini needs a type; a string carries anything
            typ = "string"
            notes.append("any JSON value")
        out["type"] = typ
        if nullable:
            out["nullable"] = True
        if isinstance(node.get("title"), str):
            out["title"] = node["title"]
        if typ == "object":
            self._object(node, props, refs, depth, out)
        elif typ == "array":
            sub = self.clean(items, refs, depth + 1) if isinstance(items, dict) else {}
            out["items"] = sub or {"type": "string"}
        if enum:
            if typ == "string" or all(isinstance(v, str) for v in enum):
                out["enum"] = [v if isinstance(v, str) else _text(v) for v in enum]
                if typ != "string":
                    out["type"] = "string"
            else:  # Gemini only takes string enums
                notes.append("one of: " + ", ".join(_text(v) for v in enum))
        for key in _HINT_KEYS:
            if key in node:
                notes.append(f"{key}: {_text(node[key])[:200]}")
        desc = node.get("description") if isinstance(node.get("description"), str) else ""
        if notes:
            hint = "(" + "; ".join(notes) + ")"
            desc = f"{desc} {hint}" if desc else hint
        if desc:
            out["description"] = desc
        return out

    def _object(self, node: dict, props: dict | None, refs: tuple, depth: int, out: dict) -> None:
        if props is None:
            return
        cleaned: dict[str, Any] = {}
        for name, sub in props.items():
            if isinstance(sub, bool):  # `true`/`false` sub-schemas carry nothing Gemini can use
                continue
            cleaned[name] = self.clean(sub, refs, depth + 1) or {"type": "string"}
        out["properties"] = cleaned
        required = node.get("required")
        if isinstance(required, list):
            kept = [r for r in required if isinstance(r, str) and r in cleaned]
            if kept:
                out["required"] = list(dict.fromkeys(kept))

    def _flatten(self, node: dict, refs: tuple, depth: int) -> tuple[dict, tuple, list[str]]:
        """Resolve $ref, merge allOf, choose an anyOf/oneOf branch, until none is left."""
        notes: list[str] = []
        for _ in range(_MAX_DEPTH):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref in refs:  # a cycle: stop here with a plain object
                    return (
                        {
                            "type": "object",
                            "description": node.get("description") or "(recursive structure)",
                        },
                        refs,
                        notes,
                    )
                target = self.resolve(ref)
                rest = {k: v for k, v in node.items() if k != "$ref"}
                node = {**target, **rest} if isinstance(target, dict) else rest
                refs = refs + (ref,)
                continue
            all_of = node.get("allOf")
            if isinstance(all_of, list):
                node = self._merge_all_of(node, all_of, refs, depth)
                continue
            for key in ("anyOf", "oneOf"):
                branches = node.get(key)
                if isinstance(branches, list):
                    node = self._pick_branch(node, key, branches, refs, depth, notes)
                    break
            else:
                return node, refs, notes
        return node, refs, notes

    def _merge_all_of(self, node: dict, all_of: list, refs: tuple, depth: int) -> dict:
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        props: dict[str, Any] = dict(merged.get("properties") or {})
        required: list[str] = list(merged.get("required") or [])
        for part in all_of:
            if not isinstance(part, dict):
                continue
            part, _, _ = self._flatten(part, refs, depth + 1)
            props.update(part.get("properties") or {})
            required.extend(part.get("required") or [])
            for key, value in part.items():
                if key not in ("properties", "required"):
                    merged.setdefault(key, value)
        if props:
            merged["properties"] = props
        if required:
            merged["required"] = required
        return merged

    def _pick_branch(
        self, node: dict, key: str, branches: list, refs: tuple, depth: int, notes: list[str]
    ) -> dict:
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        candidates: list[dict] = []
        nullable = False
        for branch in branches:
            if not isinstance(branch, dict):
                continue
            flat, _, _ = self._flatten(branch, refs, depth + 1)
            types, is_null = _types(flat.get("type"))
            if types == [] and is_null or flat.get("const", 0) is None:
                nullable = True
                continue
            candidates.append(flat)
        if not candidates:
            return {**rest, "type": "null"} if nullable else rest
        # all branches enumerate strings (zod literal unions): one enum keeps every choice
        values = [c["const"] if "const" in c else c.get("enum") for c in candidates]
        choices = [
            [v] if isinstance(v, str) else v
            for v in values
            if isinstance(v, str) or isinstance(v, list) and all(isinstance(x, str) for x in v)
        ]
        if len(choices) == len(values):
            enum = [x for c in choices for x in c]
            picked: dict[str, Any] = {"type": "string", "enum": list(dict.fromkeys(enum))}
        elif len(candidates) > 1 and all(_branch_rank(c) == 0 for c in candidates):
            # a union of object shapes: one object with every property; required only
            # where all branches agree
            props: dict[str, Any] = {}
            for c in candidates:
                props.update(c.get("properties") or {})
            common = set.intersection(*(set(c.get("required") or ()) for c in candidates))
            picked = {
                **candidates[0],
                "type": "object",
                "properties": props,
                "required": [r for r in props if r in common],
            }
        else:
            picked = min(candidates, key=_branch_rank)
            others = [t for c in candidates if c is not picked for t in _types(c.get("type"))[0]]
            if others:
                notes.append("may also be " + " or ".join(dict.fromkeys(others)))
        merged = {
            **picked,
            **{k: v for k, v in rest.items() if k != "type" or "type" not in picked},
        }
        if nullable:
            merged["type"] = _with_null(merged.get("type"))
        return merged


def _types(value: Any) -> tuple[list[str], bool]:
    """The non-null types named by `type` (lowercased) and whether null is allowed."""
    raw = value if isinstance(value, list) else [value] if value is not None else []
    names = [t.lower() for t in raw if isinstance(t, str) and t.lower() in _TYPES]
    return [t for t in names if t != "null"], "null" in names


def _pick_type(types: list[str]) -> str | None:
    if not types:
        return None
    return min(types, key=lambda t: _type_rank(t))


def _type_rank(typ: str) -> int:
    if typ == "object":
        return 0
    if typ == "array":
        return 1
    return 2 + _SCALAR_RANK.get(typ, 9)


def _branch_rank(schema: dict) -> int:
    types, _ = _types(schema.get("type"))
    if not types:
        if isinstance(schema.get("properties"), dict):
            return 0
        if "items" in schema:
            return 1
        return 20
    return min(_type_rank(t) for t in types)


def _with_null(value: Any) -> list[Any]:
    raw = value if isinstance(value, list) else [value] if value is not None else []
    return [*raw, "null"] if "null" not in raw else raw


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return jsoncodec.dumps(value).decode() if isinstance(value, (dict, list)) else str(value)

"""The Gemini tool-schema cleaner (SPEC §8 "Tool schemas for Gemini"), on real MCP and
client tool schemas and on each JSON Schema feature Gemini rejects."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from gemini_validity import assert_valid_schema

from proxy.protocols.schema import clean_parameters, clean_schema

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _mcp_tools() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((FIXTURES / "mcp_schemas").glob("*.json")):
        for tool in json.loads(path.read_text())["tools"]:
            out.append((f"{path.stem}:{tool['name']}", tool["inputSchema"]))
    return out


def _client_tools() -> list[tuple[str, dict]]:
    """Tool schemas from the captured Claude Code, Codex and gemini-cli requests."""
    out = []
    for path in sorted((FIXTURES / "clients").glob("*/*.json")):
        body = json.loads(path.read_text()).get("body")
        if not isinstance(body, dict):
            continue
        folder = path.parent.name
        for tool in body.get("tools") or []:
            if "input_schema" in tool:  # Anthropic
                out.append((f"{folder}:{tool['name']}", tool["input_schema"]))
            for decl in tool.get("functionDeclarations") or []:  # Gemini
                schema = decl.get("parametersJsonSchema", decl.get("parameters"))
                if schema is not None:
                    out.append((f"{folder}:{decl['name']}", schema))
            nested = tool.get("tools") if tool.get("type") == "namespace" else [tool]
            for t in nested or []:  # OpenAI Responses (Codex), flat function tools
                if t.get("type") == "function" and isinstance(t.get("parameters"), dict):
                    out.append((f"{folder}:{t['name']}", t["parameters"]))
    return out


MCP = _mcp_tools()
CLIENT = _client_tools()


def test_fixtures_cover_many_real_schemas():
    assert len(MCP) >= 35
    names = {n.split(":")[0] for n, _ in CLIENT}
    assert {"claude-tool-read", "gemini-tool-read", "py-genai-tools", "codex-tool-exec"} <= names


@pytest.mark.parametrize("name,schema", MCP, ids=[n for n, _ in MCP])
def test_mcp_server_schema_becomes_valid_gemini_schema(name, schema):
    original = copy.deepcopy(schema)
    cleaned = clean_schema(schema)
    assert_valid_schema(cleaned, name)
    assert schema == original  # the client's body is never mutated


@pytest.mark.parametrize("name,schema", CLIENT, ids=[n for n, _ in CLIENT])
def test_client_tool_schema_becomes_valid_gemini_schema(name, schema):
    assert_valid_schema(clean_schema(schema), name)


def test_validator_rejects_what_gemini_rejects():
    for bad in (
        {"type": "object", "additionalProperties": False},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
        {"type": "integer", "enum": [1, 2]},
        {"type": "array"},
        {"type": ["string", "null"]},
        {"anyOf": [{"type": "string"}]},
    ):
        with pytest.raises(AssertionError):
            assert_valid_schema(bad)


def test_ref_to_defs_is_inlined():
    schema = {
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/Point"}},
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}},
    }
    assert clean_schema(schema)["properties"]["p"] == {
        "type": "object",
        "properties": {"x": {"type": "number"}},
    }


def test_ref_to_definitions_and_json_pointer_are_inlined():
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/definitions/Name"}, "b": {"$ref": "#/properties/a"}},
        "definitions": {"Name": {"type": "string", "description": "a name"}},
    }
    out = clean_schema(schema)["properties"]
    assert out["a"] == out["b"] == {"type": "string", "description": "a name"}


def test_cyclic_ref_terminates_with_a_plain_object():
    schema = json.loads((FIXTURES / "mcp_schemas" / "zod_patterns.json").read_text())["tools"][1][
        "inputSchema"
    ]
    out = clean_schema(schema)
    child = out["properties"]["root"]["properties"]["children"]["items"]
    assert child["type"] == "object" and "properties" not in child
    assert_valid_schema(out)


def test_self_reference_to_root_terminates():
    out = clean_schema(
        {"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "string"}}}
    )
    assert out["properties"]["next"]["properties"]["next"]["type"] == "object"
    assert "properties" not in out["properties"]["next"]["properties"]["next"]


def test_all_of_is_merged():
    out = clean_schema(
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "number"}}, "required": ["b"]},
            ]
        }
    )
    assert out == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    }


def test_any_of_prefers_object_then_array_then_scalar():
    branches = [
        {"type": "string"},
        {"type": "null"},
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "properties": {"k": {"type": "string"}}},
    ]
    out = clean_schema({"anyOf": branches, "description": "d"})
    assert out["type"] == "object" and out["nullable"] is True
    assert out["description"].startswith("d (may also be")
    assert clean_schema({"oneOf": branches[:3]})["type"] == "array"
    assert clean_schema({"oneOf": [{"type": "null"}, {"type": "boolean"}]}) == {
        "type": "boolean",
        "nullable": True,
    }


def test_literal_union_keeps_every_choice_as_enum():
    out = clean_schema(
        {"anyOf": [{"type": "string", "const": "open"}, {"type": "string", "const": "closed"}]}
    )
    assert out == {"type": "string", "enum": ["open", "closed"]}


def test_type_array_collapses_and_notes_nullable():
    assert clean_schema({"type": ["string", "null"]}) == {"type": "string", "nullable": True}
    out = clean_schema({"type": ["number", "string"]})
    assert out["type"] == "string" and "number" in out["description"]


def test_const_becomes_one_value_enum():
    assert clean_schema({"const": "issue"}) == {"type": "string", "enum": ["issue"]}


def test_boolean_sub_schemas_are_dropped_and_required_filtered():
    out = clean_schema(
        {
            "type": "object",
            "properties": {"a": True, "b": {"type": "string"}},
            "required": ["a", "b", "ghost"],
            "additionalProperties": False,
        }
    )
    assert out == {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]}


def test_dropped_constraints_move_into_description():
    out = clean_schema(
        {
            "type": "string",
            "description": "Name.",
            "minLength": 1,
            "pattern": "^[a-z]+$",
            "format": "email",
        }
    )
    assert set(out) == {"type", "description"}
    assert out["description"].startswith("Name. (")
    for hint in ("minLength: 1", "pattern: ^[a-z]+$", "format: email"):
        assert hint in out["description"]


def test_non_string_enum_becomes_a_hint():
    out = clean_schema({"type": "integer", "enum": [1, 2, 3]})
    assert "enum" not in out and "one of: 1, 2, 3" in out["description"]


def test_uppercase_types_are_accepted_and_lowercased():
    out = clean_schema(
        {"type": "OBJECT", "properties": {"c": {"type": "STRING"}}, "required": ["c"]}
    )
    assert out == {"type": "object", "properties": {"c": {"type": "string"}}, "required": ["c"]}


def test_untyped_and_array_without_items_get_safe_types():
    out = clean_schema({"type": "object", "properties": {"any": {}, "list": {"type": "array"}}})
    assert out["properties"]["any"]["type"] == "string"
    assert out["properties"]["list"]["items"] == {"type": "string"}


def test_record_object_keeps_type_without_properties():
    out = clean_schema({"type": "object", "additionalProperties": {"type": "string"}})
    assert out == {"type": "object"}


def test_parameters_without_properties_are_omitted():
    assert clean_parameters({"type": "object", "properties": {}}) is None
    assert clean_parameters(None) is None
    assert clean_parameters({"type": "string"})["properties"]["value"] == {"type": "string"}


def test_union_of_objects_merges_properties_and_keeps_common_required():
    out = clean_schema(
        {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"path": {"type": "string"}, "line": {"type": "number"}},
                    "required": ["path", "line"],
                },
                {
                    "type": "object",
                    "properties": {"path": {"type": "string"}, "position": {"type": "number"}},
                    "required": ["path", "position"],
                },
            ]
        }
    )
    assert set(out["properties"]) == {"path", "line", "position"}
    assert out["required"] == ["path"]

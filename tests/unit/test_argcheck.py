"""Tool-argument checks: the same verdicts as `jsonschema`, without importing it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from ml_intern_jupyter.tools.argcheck import problems

TODOS = {
    "type": "object",
    "properties": {
        "todos": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": ["string", "integer"]},
                    "content": {"type": "string", "minLength": 1},
                    "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                },
                "required": ["content", "status"],
            },
        }
    },
    "required": ["todos"],
    "additionalProperties": False,
}
NUMBERS = {
    "type": "object",
    "properties": {
        "tail": {"type": "integer", "minimum": 1, "maximum": 500},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "flag": {"type": "boolean"},
        "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "minItems": 1},
    },
}
COMBINED = {
    "$defs": {
        "Point": {"type": "object", "required": ["x"], "properties": {"x": {"type": "number"}}}
    },
    "type": "object",
    "properties": {
        "where": {"$ref": "#/$defs/Point"},
        "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]},
        "kind": {"const": "fixed"},
        "nope": {"not": {"type": "string"}},
        "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}

CASES = [
    (TODOS, {"todos": []}),
    (TODOS, {"todos": [{"content": "a", "status": "pending", "id": 3}]}),
    (TODOS, {}),
    (TODOS, {"todos": [{"content": "", "status": "pending"}]}),
    (TODOS, {"todos": [{"content": "a", "status": "doing"}]}),
    (TODOS, {"todos": [{"content": "a", "status": "pending", "id": 1.5}]}),
    (TODOS, {"todos": [{"content": "a", "status": "pending", "id": True}]}),
    (TODOS, {"todos": [{"status": "pending"}] * 4}),
    (TODOS, {"todos": [], "extra": 1}),
    (TODOS, {"todos": "not a list"}),
    (TODOS, []),
    (NUMBERS, {"tail": 5, "ratio": 0.5, "flag": False, "name": "abc", "tags": ["a"]}),
    (NUMBERS, {"tail": 5.0}),
    (NUMBERS, {"tail": 0}),
    (NUMBERS, {"tail": 501}),
    (NUMBERS, {"tail": True}),
    (NUMBERS, {"ratio": 0}),
    (NUMBERS, {"ratio": 1}),
    (NUMBERS, {"ratio": "0.5"}),
    (NUMBERS, {"flag": 0}),
    (NUMBERS, {"name": "ABC"}),
    (NUMBERS, {"name": "abcdef"}),
    (NUMBERS, {"tags": []}),
    (NUMBERS, {"tags": ["a", "a"]}),
    (NUMBERS, {"tags": [1]}),
    (COMBINED, {"where": {"x": 1}}),
    (COMBINED, {"where": {"y": 1}}),
    (COMBINED, {"where": {"x": "1"}}),
    (COMBINED, {"either": None}),
    (COMBINED, {"either": 3}),
    (COMBINED, {"one": 3}),
    (COMBINED, {"one": 12}),
    (COMBINED, {"one": 12.5}),
    (COMBINED, {"one": "x"}),
    (COMBINED, {"kind": "fixed"}),
    (COMBINED, {"kind": "other"}),
    (COMBINED, {"nope": 1}),
    (COMBINED, {"nope": "s"}),
    (COMBINED, {"meta": {"a": 1}}),
    (COMBINED, {"meta": {"a": "b"}}),
]


@pytest.mark.parametrize(("schema", "value"), CASES)
def test_same_verdict_as_jsonschema(schema, value):
    expected = not list(Draft202012Validator(schema).iter_errors(value))
    assert (not problems(schema, value)) is expected, problems(schema, value)


def test_every_built_in_tool_schema_gets_the_same_verdicts(tmp_path):
    from ml_intern_jupyter.config import Config
    from ml_intern_jupyter.tools.registry import default_router

    router = default_router(Config(model_name="vllm/test-model"))
    assert len(router.names) > 10
    for name in router.names:
        schema = router.get(name).parameters
        values = ["junk", {}, {"no_such_parameter": 1}]
        for key, prop in schema.get("properties", {}).items():
            values += [{key: v} for v in (None, "text", 3, 2.5, True, [], {}, ["a"], -1)]
            values += [{key: option} for option in prop.get("enum", [])]
        for value in values:
            expected = not list(Draft202012Validator(schema).iter_errors(value))
            assert (not problems(schema, value)) is expected, (name, value)


def test_messages_name_the_place_and_the_problem():
    found = problems(TODOS, {"todos": [{"content": "a", "status": "doing"}], "x": 1})
    assert ((), "Additional properties are not allowed ('x' was unexpected)") in found
    assert (
        ("todos", 0, "status"),
        "'doing' is not one of ['pending', 'in_progress', 'completed']",
    ) in found
    assert problems(NUMBERS, {"tail": 0}) == [(("tail",), "0 is less than the minimum of 1")]


def test_unknown_keywords_and_foreign_refs_never_reject():
    schema = {
        "type": "object",
        "properties": {"a": {"format": "email", "x-custom": 1, "$ref": "http://x/y"}},
    }
    assert problems(schema, {"a": "not an email"}) == []
    assert problems({"properties": {"p": {"pattern": "("}}}, {"p": "x"}) == []


def test_a_cyclic_schema_ends():
    schema = {"$defs": {"N": {"$ref": "#/$defs/N"}}, "$ref": "#/$defs/N"}
    assert problems(schema, {"a": 1}) == []


def test_checking_arguments_imports_no_jsonschema():
    code = (
        "import sys\n"
        "from ml_intern_jupyter.tools.router import ToolRouter\n"
        "from ml_intern_jupyter.tools.argcheck import problems\n"
        "problems({'type': 'object', 'required': ['a']}, {})\n"
        "print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

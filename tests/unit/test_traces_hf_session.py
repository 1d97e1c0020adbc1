"""`to_hf_session_jsonl`: session history -> the Hub's Session Traces Format (STS-Format)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from ml_intern_jupyter._version import __version__
from ml_intern_jupyter.traces.hf_session import (
    HARNESS,
    IMAGE_NOTE,
    to_hf_session_jsonl,
    to_hf_session_lines,
)

SID = "nb-7f3a"
MODEL = "moonshotai/Kimi-K2-Instruct"
START = 1_750_000_000.0  # 2025-06-15T15:06:40Z
MS = 1_750_000_000_000
HF_SECRET = "hf_" + "Zy9XwVuTsRqPoNmLkJiHgFeDcBa876543"
ANT_SECRET = "sk-ant-" + "a1B2c3D4e5F6g7H8i9J0kLmNoPq"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

# The format as the Hub documents it (https://huggingface.co/docs/hub/session-traces-format):
# required fields, their types, the four roles, `arguments` a string; extra fields allowed.
HEADER_SCHEMA = {
    "type": "object",
    "required": ["type", "harness", "id"],
    "properties": {
        "type": {"const": "session"},
        "harness": {"type": "string", "minLength": 1},
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
    },
}
MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["type", "message"],
    "properties": {
        "type": {"const": "message"},
        "message": {
            "type": "object",
            "required": ["role", "content"],
            "properties": {
                "role": {"enum": ["user", "assistant", "system", "tool"]},
                "content": {"type": "string"},
                "reasoningContent": {"type": "string"},
                "toolCalls": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "function"],
                        "properties": {
                            "id": {"type": "string"},
                            "function": {
                                "type": "object",
                                "required": ["name", "arguments"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "arguments": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "toolCallId": {"type": "string"},
                "timestamp": {"type": "integer", "minimum": 0},
                "model": {"type": "string"},
            },
        },
    },
}
# The example on the format's page.
DOC_EXAMPLE = """\
{"type":"session","harness":"my-agent","id":"abc123","name":"what time is it"}
{"type":"message","message":{"role":"user","content":"what time is it?"}}
{"type":"message","message":{"role":"assistant","content":"","toolCalls":[{"id":"t1","function":{"name":"get_time","arguments":"{}"}}]}}
{"type":"message","message":{"role":"tool","toolCallId":"t1","content":"2026-07-01T15:00:00Z"}}
{"type":"message","message":{"role":"assistant","content":"it is 15:00 UTC"}}
"""


def validate(text: str) -> list[dict[str, Any]]:
    """Check `text` against the documented format; returns its parsed lines."""
    assert text.endswith("\n")
    raw = text.split("\n")[:-1]
    assert raw and len(raw) == len(text.splitlines())  # no line splits in two anywhere
    lines = [json.loads(line) for line in raw]
    jsonschema.validate(lines[0], HEADER_SCHEMA)
    calls: set[str] = set()
    for line in lines[1:]:
        jsonschema.validate(line, MESSAGE_SCHEMA)
        msg = line["message"]
        for call in msg.get("toolCalls", []):
            assert msg["role"] == "assistant"
            json.loads(call["function"]["arguments"])  # a JSON string, as documented
            calls.add(call["id"])
        if "toolCallId" in msg:
            assert msg["role"] == "tool" and msg["toolCallId"] in calls
    return lines


def jsonl(messages: list[dict[str, Any]], **kw: Any) -> str:
    args = {"session_id": SID, "model": MODEL, "session_start": START, **kw}
    return to_hf_session_jsonl(messages, **args)


def lines(messages: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    args = {"session_id": SID, "model": MODEL, "session_start": START, **kw}
    return to_hf_session_lines(messages, **args)


def call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def session() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are the intern.", "_ts": START},
        {"role": "user", "content": "How many rows does df have?", "_ts": START + 1.25},
        {
            "role": "assistant",
            "content": "Checking.",
            "reasoning_content": "Use the python tool.",
            "tool_calls": [
                call("call_1", "python", '{"code": "df.shape", "timeout": 60}'),
                call("call_2", "bash", '{"cmd": "cat missing.csv"}'),
            ],
            "_ts": START + 2,
            "_usage": {"input_tokens": 1200, "output_tokens": 45},
            "_finish_reason": "tool_calls",
        },
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "name": "python",
            "content": "(25000, 2)",
            "_ts": START + 3,
            "_success": True,
        },
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "name": "bash",
            "content": "ERROR: cat: missing.csv: No such file or directory",
            "_ts": START + 3.5,
            "_success": False,
        },
        {
            "role": "user",
            "content": "[SYSTEM: Continue: the plan has open steps.]",
            "_ts": START + 4,
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this plot?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
            "_ts": START + 5,
        },
        {
            "role": "assistant",
            "content": "25,000 rows; the plot is flat.",
            "_ts": START + 6,
            "_usage": {"input_tokens": 1300, "output_tokens": 12},
            "_finish_reason": "stop",
        },
    ]


# ------------------------------------------------------------------ golden


def test_a_whole_session() -> None:
    out = lines(session(), cwd="/home/me/project", name="Count the rows")
    assert out == [
        {
            "type": "session",
            "harness": HARNESS,
            "id": SID,
            "name": "Count the rows",
            "timestamp": MS,
            "model": MODEL,
            "cwd": "/home/me/project",
            "version": __version__,
            "usage": {"inputTokens": 2500, "outputTokens": 57},
        },
        {
            "type": "message",
            "message": {
                "role": "user",
                "content": "How many rows does df have?",
                "timestamp": MS + 1250,
            },
        },
        {
            "type": "message",
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "reasoningContent": "Use the python tool.",
                "toolCalls": [
                    {
                        "id": "call_1",
                        "function": {
                            "name": "python",
                            "arguments": '{"code":"df.shape","timeout":60}',
                        },
                    },
                    {
                        "id": "call_2",
                        "function": {"name": "bash", "arguments": '{"cmd":"cat missing.csv"}'},
                    },
                ],
                "model": MODEL,
                "timestamp": MS + 2000,
            },
            "stopReason": "tool_calls",
            "usage": {"inputTokens": 1200, "outputTokens": 45},
        },
        {
            "type": "message",
            "message": {
                "role": "tool",
                "toolCallId": "call_1",
                "content": "(25000, 2)",
                "timestamp": MS + 3000,
            },
            "isError": False,
        },
        {
            "type": "message",
            "message": {
                "role": "tool",
                "toolCallId": "call_2",
                "content": "ERROR: cat: missing.csv: No such file or directory",
                "timestamp": MS + 3500,
            },
            "isError": True,
        },
        {
            "type": "message",
            "message": {
                "role": "system",
                "content": "[SYSTEM: Continue: the plan has open steps.]",
                "timestamp": MS + 4000,
            },
            "isMeta": True,
        },
        {
            "type": "message",
            "message": {
                "role": "user",
                "content": f"And this plot?\n{IMAGE_NOTE}",
                "timestamp": MS + 5000,
            },
        },
        {
            "type": "message",
            "message": {
                "role": "assistant",
                "content": "25,000 rows; the plot is flat.",
                "model": MODEL,
                "timestamp": MS + 6000,
            },
            "stopReason": "stop",
            "usage": {"inputTokens": 1300, "outputTokens": 12},
        },
    ]


def test_jsonl_bytes_are_compact_one_object_per_line() -> None:
    history = [
        {"role": "user", "content": "hi", "_ts": START},
        {"role": "assistant", "content": "", "tool_calls": [call("t1", "now", "{}")]},
        {"role": "tool", "tool_call_id": "t1", "content": "15:00"},
        {"role": "assistant", "content": "hello"},
    ]
    assert jsonl(history, name="hi") == (
        f'{{"type":"session","harness":"{HARNESS}","id":"{SID}","name":"hi","timestamp":{MS},'
        f'"model":"{MODEL}","version":"{__version__}"}}\n'
        f'{{"type":"message","message":{{"role":"user","content":"hi","timestamp":{MS}}}}}\n'
        '{"type":"message","message":{"role":"assistant","content":"","toolCalls":'
        f'[{{"id":"t1","function":{{"name":"now","arguments":"{{}}"}}}}],"model":"{MODEL}"}}}}\n'
        '{"type":"message","message":{"role":"tool","toolCallId":"t1","content":"15:00"}}\n'
        f'{{"type":"message","message":{{"role":"assistant","content":"hello","model":"{MODEL}"}}}}\n'
    )


def test_an_older_history_without_outcomes_usage_or_times() -> None:
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("c", "bash", '{"cmd":"ls"}')]},
        {"role": "tool", "tool_call_id": "c", "content": "a.py"},
    ]
    header, *rest = lines(history)
    assert "usage" not in header and "name" not in header and "cwd" not in header
    for line in rest:
        assert set(line) == {"type", "message"}  # nothing unknown is made up
        assert "timestamp" not in line["message"]


def test_what_has_no_line() -> None:
    history = [
        {"role": "system", "content": "prompt"},
        {"role": "developer", "content": "dev"},
        {"role": "assistant", "content": None},  # neither text nor calls
        {"role": "assistant", "content": "", "tool_calls": []},
        "not a message",
        {"role": "assistant", "content": "", "reasoning_content": "only thinking"},
    ]
    out = lines(history)
    assert len(out) == 2
    assert out[1]["message"] == {
        "role": "assistant",
        "content": "",
        "reasoningContent": "only thinking",
        "model": MODEL,
    }
    assert jsonl([]).count("\n") == 1  # an empty history is still a session: its header


def test_content_parts_become_text() -> None:
    history = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "one"},
                {"type": "input_audio", "input_audio": {}},
                {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
                {"type": "file", "file": {}},
                {"type": "mystery"},
                "two",
            ],
        },
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I cannot."}]},
        {"role": "tool", "tool_call_id": "x", "content": {"rows": 3}},
    ]
    out = [line["message"]["content"] for line in lines(history)[1:]]
    assert out == [
        f"one\n[audio]\n{IMAGE_NOTE}\n[file]\n[attachment]\ntwo",
        "I cannot.",
        '{"rows": 3}',
    ]


def test_arguments_are_always_a_json_string() -> None:
    raw_cases = ['{"code": "print(1)"', "{code: 1}", '{"x": NaN}', '{"x": 1e999}']
    calls = [call(f"c{i}", "python", raw) for i, raw in enumerate(raw_cases)]
    calls += [call("l", "python", "[1, 2]"), call("i", "python", " 42 ")]
    calls += [call("e", "ls", ""), call("n", "ls", None), call("d", "python", {"code": "1 + 1"})]
    [_header, line] = lines([{"role": "assistant", "content": None, "tool_calls": calls}])
    got = [c["function"]["arguments"] for c in line["message"]["toolCalls"]]
    malformed = [json.dumps({"_raw": raw}, separators=(",", ":")) for raw in raw_cases]
    assert got == [*malformed, "[1,2]", "42", "{}", "{}", '{"code":"1 + 1"}']


# ------------------------------------------------------------------ the format


def test_the_documented_example_passes_the_check_and_broken_lines_do_not() -> None:
    validate(DOC_EXAMPLE)
    good = DOC_EXAMPLE.splitlines()
    broken = [
        (0, '"harness":"my-agent",', ""),  # no harness
        (0, '"type":"session"', '"type":"header"'),
        (1, '"content":"what time is it?"', '"text":"what time is it?"'),  # no content
        (1, '"role":"user"', '"role":"human"'),
        (2, '"arguments":"{}"', '"arguments":{}'),  # arguments not a string
        (3, '"toolCallId":"t1"', '"toolCallId":"t9"'),  # answers no call
    ]
    for index, old, new in broken:
        doc = list(good)
        assert old in doc[index]
        doc[index] = doc[index].replace(old, new)
        with pytest.raises((jsonschema.ValidationError, AssertionError)):
            validate("\n".join(doc) + "\n")


def test_output_follows_the_documented_format() -> None:
    odd = [
        {
            "role": "user",
            "content": "line\u2028separator and \x85 next-line, lone \ud800 surrogate",
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [call("c", "python", '{"s": "\u2029"}')],
        },
        {"role": "tool", "tool_call_id": "c", "content": "ok"},
    ]
    for history in (session(), odd, []):
        text = jsonl(history, name="t", cwd="/x")
        out = validate(text)
        assert out[0]["harness"] == HARNESS
        text.encode("utf-8")  # valid UTF-8, whatever the history held


# ------------------------------------------------------------------ secrets


def test_every_string_is_scrubbed() -> None:
    history = [
        {"role": "user", "content": f"My key: ANTHROPIC_API_KEY={ANT_SECRET}"},
        {
            "role": "assistant",
            "content": f"Using {HF_SECRET}",
            "reasoning_content": f"the token is {HF_SECRET}",
            "tool_calls": [
                call(
                    f"id-{HF_SECRET}", f"tool-{HF_SECRET}", json.dumps({"env": {"HF_TOKEN": "x"}})
                ),
                call("c2", "bash", json.dumps({"cmd": f"echo\n{HF_SECRET}"})),
                call("c3", "bash", f"not json {ANT_SECRET}"),
            ],
            "_finish_reason": HF_SECRET,
        },
        {
            "role": "tool",
            "tool_call_id": f"id-{HF_SECRET}",
            "content": [{"type": "text", "text": HF_SECRET}],
        },
        {"role": "user", "content": f"[SYSTEM: note {ANT_SECRET}]"},
    ]
    before = copy.deepcopy(history)
    text = jsonl(
        history,
        session_id=f"s-{HF_SECRET}",
        model=f"m-{HF_SECRET}",
        cwd=f"/home/{HF_SECRET}",
        name=f"title {ANT_SECRET}",
    )
    assert HF_SECRET not in text and ANT_SECRET not in text
    assert HF_SECRET[3:] not in text.replace("\\n", "\n")  # not even behind a JSON escape
    assert text.count("[REDACTED]") >= 12
    out = validate(text)
    args = json.loads(out[2]["message"]["toolCalls"][0]["function"]["arguments"])
    assert args == {"env": {"HF_TOKEN": "[REDACTED]"}}  # an entry named like a secret
    assert history == before  # the input is not mutated


def test_same_history_same_bytes() -> None:
    assert jsonl(session(), name="x") == jsonl(copy.deepcopy(session()), name="x")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"session_start": float("nan")}, "session_start must be a unix time"),
        ({"session_start": "yesterday"}, "session_start must be a unix time"),
        ({"session_id": ""}, "session_id must be a non-empty string"),
    ],
)
def test_bad_arguments_are_clear(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        jsonl([], **kw)

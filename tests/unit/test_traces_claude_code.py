"""History -> Claude Code JSONL (the HF Agent Trace Viewer format).

The expected lines below are written out by hand. Uuids come from `U`, an
independent implementation of the documented layout (the first 80 bits of
sha1("<session>::<role>"), then the index in 48 bits, with the version-8 and
RFC 4122 variant bits set, by integer arithmetic and the stdlib's `uuid`), not
from the code under test.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid as uuidlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_intern_jupyter._version import __version__
from ml_intern_jupyter.traces import redact
from ml_intern_jupyter.traces.claude_code import (
    TraceBuilder,
    to_claude_code_jsonl,
    to_claude_code_lines,
    trace_uuid,
)

SID = "sess-1"
MODEL = "anthropic/claude-sonnet-4"
START = 1_750_000_000.0  # 2025-06-15T15:06:40Z
START_ISO = "2025-06-15T15:06:40.000Z"
R = "[REDACTED]"


def U(role: str, index: int, session: str = SID) -> str:
    digest = hashlib.sha1(f"{session}::{role}".encode()).digest()
    n = int.from_bytes(digest[:10] + index.to_bytes(6, "big"), "big")
    n = (n & ~(0xF << 76)) | (8 << 76)  # version 8
    n = (n & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuidlib.UUID(int=n))


SESSION_UUID = str(
    uuidlib.UUID(bytes=hashlib.sha1(f"ml-intern-session::{SID}".encode()).digest()[:16], version=5)
)
# The fields every line carries besides its uuid, parent, timestamp and type.
BASE = {
    "isSidechain": False,
    "userType": "external",
    "cwd": "",
    "sessionId": SESSION_UUID,
    "version": __version__,
}


def MSG(line_uuid: str) -> dict[str, str]:
    """The `id` and `type` of an assistant line's message."""
    return {"id": "msg_" + line_uuid.replace("-", ""), "type": "message"}


def lines(messages: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    args = {"session_id": SID, "model": MODEL, "session_start": START, **kw}
    return to_claude_code_lines(messages, **args)


def jsonl(messages: list[dict[str, Any]], **kw: Any) -> str:
    args = {"session_id": SID, "model": MODEL, "session_start": START, **kw}
    return to_claude_code_jsonl(messages, **args)


def call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# ------------------------------------------------------------------ golden


def test_plain_exchange() -> None:
    history = [
        {"role": "system", "content": "You are the intern.", "_ts": START},
        {"role": "user", "content": "How many rows?", "_ts": START + 1.25},
        {"role": "assistant", "content": "25,000.", "_ts": START + 2.5},
    ]
    assert lines(history) == [
        {
            "uuid": U("user", 1),
            "parentUuid": None,
            **BASE,
            "timestamp": "2025-06-15T15:06:41.250Z",
            "type": "user",
            "message": {"role": "user", "content": "How many rows?"},
        },
        {
            "uuid": U("assistant", 2),
            "parentUuid": U("user", 1),
            **BASE,
            "timestamp": "2025-06-15T15:06:42.500Z",
            "type": "assistant",
            "message": {
                **MSG(U("assistant", 2)),
                "role": "assistant",
                "model": MODEL,
                "content": [{"type": "text", "text": "25,000."}],
            },
        },
    ]


def test_jsonl_is_compact_one_object_per_line() -> None:
    history = [
        {"role": "user", "content": "hi", "_ts": START},
        {"role": "assistant", "content": "hello", "_ts": START},
    ]
    u0, a1 = U("user", 0), U("assistant", 1)
    common = (
        f'"isSidechain":false,"userType":"external","cwd":"","sessionId":"{SESSION_UUID}",'
        f'"version":"{__version__}","timestamp":"{START_ISO}"'
    )
    assert jsonl(history) == (
        f'{{"uuid":"{u0}","parentUuid":null,{common},"type":"user",'
        '"message":{"role":"user","content":"hi"}}\n'
        f'{{"uuid":"{a1}","parentUuid":"{u0}",{common},"type":"assistant",'
        f'"message":{{"id":"msg_{a1.replace("-", "")}","type":"message",'
        f'"role":"assistant","model":"{MODEL}",'
        '"content":[{"type":"text","text":"hello"}]}}\n'
    )


def test_empty_history_gives_empty_jsonl() -> None:
    assert jsonl([]) == ""
    assert jsonl([{"role": "system", "content": "only a prompt"}]) == ""


def test_tool_calls_and_results() -> None:
    history = [
        {"role": "user", "content": "Look at df", "_ts": START},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [call("call_1", "python_exec", '{"code": "df.shape", "timeout": 60}')],
            "_ts": START + 1,
        },
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "name": "python_exec",
            "content": "(25000, 2)",
            "_ts": START + 2,
        },
    ]
    out = lines(history)
    assert [line["message"] for line in out] == [
        {"role": "user", "content": "Look at df"},
        {
            **MSG(U("assistant", 1)),
            "role": "assistant",
            "model": MODEL,
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "python_exec",
                    "input": {"code": "df.shape", "timeout": 60},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "(25000, 2)"}],
        },
    ]
    assert [line["type"] for line in out] == ["user", "assistant", "user"]
    assert [line["uuid"] for line in out] == [U("user", 0), U("assistant", 1), U("tool", 2)]
    assert [line["parentUuid"] for line in out] == [None, U("user", 0), U("assistant", 1)]


def test_malformed_and_non_object_arguments_become_raw() -> None:
    raw_cases = [
        '{"code": "print(1)"',  # truncated
        "{code: 1}",  # not JSON
        "[1, 2]",  # JSON, not an object
        "42",
        '"just a string"',
        "null",
        '{"x": NaN}',  # Python's json accepts NaN; strict JSON does not
        '{"x": 1e999}',  # would parse to inf
    ]
    calls = [call(f"c{i}", "python_exec", raw) for i, raw in enumerate(raw_cases)]
    calls.append(call("c_empty", "list_files", ""))
    calls.append(call("c_none", "list_files", None))
    calls.append(call("c_dict", "python_exec", {"code": "1 + 1"}))  # already parsed
    history = [{"role": "assistant", "content": None, "tool_calls": calls}]
    [line] = lines(history)
    assert line["message"]["content"] == [
        {
            "type": "tool_use",
            "id": "c0",
            "name": "python_exec",
            "input": {"_raw": '{"code": "print(1)"'},
        },
        {"type": "tool_use", "id": "c1", "name": "python_exec", "input": {"_raw": "{code: 1}"}},
        {"type": "tool_use", "id": "c2", "name": "python_exec", "input": {"_raw": "[1, 2]"}},
        {"type": "tool_use", "id": "c3", "name": "python_exec", "input": {"_raw": "42"}},
        {
            "type": "tool_use",
            "id": "c4",
            "name": "python_exec",
            "input": {"_raw": '"just a string"'},
        },
        {"type": "tool_use", "id": "c5", "name": "python_exec", "input": {"_raw": "null"}},
        {"type": "tool_use", "id": "c6", "name": "python_exec", "input": {"_raw": '{"x": NaN}'}},
        {"type": "tool_use", "id": "c7", "name": "python_exec", "input": {"_raw": '{"x": 1e999}'}},
        {"type": "tool_use", "id": "c_empty", "name": "list_files", "input": {}},
        {"type": "tool_use", "id": "c_none", "name": "list_files", "input": {}},
        {"type": "tool_use", "id": "c_dict", "name": "python_exec", "input": {"code": "1 + 1"}},
    ]
    for text in jsonl(history).splitlines():
        json.loads(text, parse_constant=_no_constants)  # strict JSON throughout


def test_broken_tool_call_entries_do_not_break_the_line() -> None:
    history = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                "not a dict",
                {"id": 7, "type": "function"},  # no function
                {"id": None, "type": "function", "function": {"name": None, "arguments": "{}"}},
            ],
        }
    ]
    assert lines(history)[0]["message"]["content"] == [
        {"type": "tool_use", "id": "7", "name": "", "input": {}},
        {"type": "tool_use", "id": "", "name": "", "input": {}},
    ]


def test_multi_block_content() -> None:
    history = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this plot?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "Be brief."},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "A loss curve."},
                {"type": "text", "text": ""},
                {"type": "input_audio", "input_audio": {"data": "..."}},
                {"type": "text", "text": "It flattens."},
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_9",
            "content": [
                {"type": "text", "text": "saved plot.png"},
                {"type": "image", "data": "..."},
            ],
        },
        {"role": "user", "content": [{"type": "mystery", "blob": 1}, "plain string part"]},
    ]
    assert [line["message"] for line in lines(history)] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this plot?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                },
                {"type": "text", "text": "Be brief."},
            ],
        },
        {
            **MSG(U("assistant", 1)),
            "role": "assistant",
            "model": MODEL,
            "content": [
                {"type": "text", "text": "A loss curve."},
                {"type": "text", "text": "[audio]"},
                {"type": "text", "text": "It flattens."},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_9",
                    "content": "saved plot.png\n[image not included in the trace: no inline image data]",
                }
            ],
        },
        {"role": "user", "content": "[attachment]\nplain string part"},
    ]


def test_system_messages_are_skipped_but_keep_their_index() -> None:
    history = [
        {"role": "system", "content": "prompt"},
        {"role": "user", "content": "a"},
        {"role": "system", "content": "a mid-session system message"},
        {"role": "developer", "content": "the newer name for system"},
        {"role": "assistant", "content": "b"},
    ]
    out = lines(history)
    assert [(line["uuid"], line["message"]["content"]) for line in out] == [
        (U("user", 1), "a"),
        (U("assistant", 4), [{"type": "text", "text": "b"}]),
    ]
    assert out[1]["parentUuid"] == U("user", 1)


def test_system_notes_are_kept_as_user_turns() -> None:
    note = (
        "[SYSTEM: Your prior memory of this conversation — written in your own voice right "
        "before restart. Continue from here.]\n\nI fine-tuned distilbert; next: push it."
    )
    history = [
        {"role": "system", "content": "prompt"},
        {"role": "user", "content": note, "_ts": START + 5},
        {"role": "assistant", "content": "Continuing.", "_ts": START + 6},
    ]
    first = lines(history)[0]
    assert first == {
        "uuid": U("user", 1),
        "parentUuid": None,
        **BASE,
        "timestamp": "2025-06-15T15:06:45.000Z",
        "type": "user",
        "isMeta": True,  # the agent's note, not the user's prompt
        "isCompactSummary": True,  # the summary a continued session starts from
        "message": {"role": "user", "content": note},
    }
    nudge = "[SYSTEM: Your plan still has unfinished items: eval. Continue with them.]"
    [line] = lines([{"role": "user", "content": nudge}])
    assert line["isMeta"] is True and "isCompactSummary" not in line


def test_empty_assistant_messages_are_skipped_without_breaking_the_chain() -> None:
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None},
        {"role": "assistant", "content": "", "tool_calls": []},
        {"role": "assistant", "content": [{"type": "text", "text": ""}]},
        {"role": "assistant", "content": "done"},
    ]
    out = lines(history)
    assert [line["uuid"] for line in out] == [U("user", 0), U("assistant", 4)]
    assert out[1]["parentUuid"] == U("user", 0)


def test_user_and_tool_lines_are_kept_even_when_empty() -> None:
    history = [
        {"role": "user", "content": None},
        {"role": "tool", "tool_call_id": None, "content": None},
        {"role": "mystery", "content": "no place in the format"},
        "not a message",
    ]
    assert [line["message"] for line in lines(history)] == [  # type: ignore[arg-type]
        {"role": "user", "content": ""},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "", "content": ""}]},
    ]


def test_private_keys_never_reach_the_trace() -> None:
    history = [{"role": "user", "content": "x", "_ts": START, "_secret_note": "internal"}]
    assert "_secret_note" not in jsonl(history) and "internal" not in jsonl(history)


# ------------------------------------------------------------- timestamps


def test_each_line_has_its_own_timestamp() -> None:
    history = [
        {"role": "user", "content": "a", "_ts": START + 0.001},
        {"role": "assistant", "content": "b", "_ts": START + 61.5},
        {"role": "tool", "tool_call_id": "c", "content": "c", "_ts": 1_700_000_000.9994},
    ]
    assert [line["timestamp"] for line in lines(history)] == [
        "2025-06-15T15:06:40.001Z",
        "2025-06-15T15:07:41.500Z",
        "2023-11-14T22:13:20.999Z",
    ]


@pytest.mark.parametrize(
    "bad_ts", [None, "1750000000", float("nan"), float("inf"), -5.0, True, 10**400, 1e13]
)
def test_missing_or_unusable_ts_falls_back_to_session_start(bad_ts: Any) -> None:
    history = [
        {"role": "user", "content": "no _ts at all"},
        {"role": "user", "content": "bad _ts", "_ts": bad_ts},
    ]
    assert [line["timestamp"] for line in lines(history)] == [START_ISO, START_ISO]


def test_fallback_uses_the_given_session_start() -> None:
    out = lines([{"role": "user", "content": "x"}], session_start=1_700_000_000.25)
    assert out[0]["timestamp"] == "2023-11-14T22:13:20.250Z"


def test_timestamps_are_the_microsecond_rounded_time_cut_to_milliseconds() -> None:
    import datetime
    import random

    rng = random.Random(7)
    times = [rng.uniform(0, 253_402_214_399.9) for _ in range(2000)]
    times += [rng.uniform(1.7e9, 1.8e9) for _ in range(2000)]
    times += [0.0, 0.0005, 0.9995, 59.9999999, 86_399.9996, 1e9 + 0.9999996, 253_402_214_399.9999]
    history = [{"role": "user", "content": "x", "_ts": ts} for ts in times]
    epoch = datetime.datetime(1970, 1, 1)
    for ts, line in zip(times, lines(history), strict=True):
        when = epoch + datetime.timedelta(microseconds=round(ts * 1_000_000))
        assert line["timestamp"] == when.strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{when.microsecond // 1000:03d}Z"
        )


@pytest.mark.parametrize("bad_start", [float("nan"), -1.0, "yesterday", None])
def test_unusable_session_start_is_an_error(bad_start: Any) -> None:
    with pytest.raises(ValueError):
        lines([{"role": "user", "content": "x"}], session_start=bad_start)


# ------------------------------------------------------------------- uuids


def test_uuid_layout() -> None:
    value = trace_uuid("abc", "user", 3)
    digest = hashlib.sha1(b"abc::user").hexdigest()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value
    )
    parsed = uuidlib.UUID(value)
    assert parsed.version == 8 and parsed.variant == uuidlib.RFC_4122
    # Apart from the version and variant bits, the digest's first 80 bits, then the index.
    hexed = value.replace("-", "")
    assert hexed[:12] + hexed[13:16] + hexed[17:20] == digest[:12] + digest[13:16] + digest[17:20]
    assert hexed[20:] == "000000000003"
    assert value == U("user", 3, session="abc")
    assert trace_uuid("abc", "user", 2**40 + 5).endswith("-010000000005")


def test_uuids_depend_on_session_role_and_index() -> None:
    values = {
        trace_uuid("s", "user", 1),
        trace_uuid("s", "user", 2),
        trace_uuid("s", "tool", 1),
        trace_uuid("t", "user", 1),
    }
    assert len(values) == 4


def test_output_is_deterministic() -> None:
    history = _busy_history()
    first = jsonl(copy.deepcopy(history))
    assert jsonl(copy.deepcopy(history)) == first
    assert jsonl(history) == first
    assert jsonl(history, session_id="other") != first


# ----------------------------------------------------------------- secrets

HF = "hf_" + "a1B2c3D4e5" * 3 + "xyz9"  # 34 characters after the prefix
BEARER_TOKEN = "abcDEF123456ghiJKL789012"  # 24 characters
OPENAI_VALUE = "sk-proj" + "x1Y2z3" * 7
SECRETS = [
    # (text that carries a secret, the part that must not survive)
    (HF, HF[3:]),
    ("Authorization: Bearer " + BEARER_TOKEN, BEARER_TOKEN),
    ("OPENAI_API_KEY=" + OPENAI_VALUE, OPENAI_VALUE),
    ("sk-ant-api03-" + "Q7" * 15, "Q7" * 15),
    ("sk-" + "Zk9_" * 11, "Zk9_" * 11),
    ("ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2", "A1b2C3d4E5f6G7h8I9j0K1l2"),
    ("github_pat_11ABCDEFG0123456789_abcdefghij", "11ABCDEFG0123456789_abcdefghij"),
    ("AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
    ("ASIAY34FZKBOKMUTVV7A", "Y34FZKBOKMUTVV7A"),
    ("HF_TOKEN=plainvalue123", "plainvalue123"),
    ("DB_PASSWORD: hunter2hunter2", "hunter2hunter2"),
    ("CLIENT_SECRET=shh-its-a-secret", "shh-its-a-secret"),
    ("AWS_ACCESS_KEY_ID=idvalue12345", "idvalue12345"),
]


def _places(secret: str) -> list[dict[str, Any]]:
    """A history that carries `secret` in every place a string can come from."""
    return [
        {"role": "user", "content": f"please use {secret} for this"},
        {
            "role": "assistant",
            "content": f"I will run it with {secret}.",
            "tool_calls": [
                call("c1", "python_exec", json.dumps({"code": f"x = 1\n{secret}\n"})),
                call("c2", "python_exec", "{broken " + secret),
                call("c3", "python_exec", json.dumps({secret: 1, "nested": [{"v": secret}]})),
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": f"stdout:\n{secret}\n"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": secret}]},
        {"role": "assistant", "content": [{"type": "text", "text": f"({secret})"}]},
    ]


@pytest.mark.parametrize(("text", "value"), SECRETS, ids=[s[0][:12] for s in SECRETS])
def test_every_secret_is_scrubbed_everywhere(text: str, value: str) -> None:
    history = _places(text)
    out = jsonl(history)
    assert value not in out
    assert R in out
    messages = [line["message"] for line in lines(history)]
    tool_uses = messages[1]["content"][1:]
    assert value not in json.dumps(tool_uses[0]["input"])  # parsed arguments
    assert set(tool_uses[1]["input"]) == {"_raw"}  # malformed arguments
    assert value not in tool_uses[1]["input"]["_raw"]
    assert value not in json.dumps(messages[2])  # tool output


def test_secret_hidden_behind_a_json_escape_is_scrubbed() -> None:
    # In the raw argument text the token follows "\n" (backslash, n): no word
    # boundary there, so only the parsed string shows it as a token.
    arguments = json.dumps({"code": "print(1)\n" + HF})
    assert "\\n" + HF in arguments
    [line] = lines(
        [{"role": "assistant", "content": None, "tool_calls": [call("c", "f", arguments)]}]
    )
    assert line["message"]["content"][0]["input"] == {"code": "print(1)\n" + R}


def test_argument_entries_named_like_secrets_are_scrubbed() -> None:
    arguments = json.dumps({"env": {"HF_TOKEN": "short-but-secret", "EPOCHS": "3"}})
    [line] = lines(
        [{"role": "assistant", "content": None, "tool_calls": [call("c", "f", arguments)]}]
    )
    assert line["message"]["content"][0]["input"] == {"env": {"HF_TOKEN": R, "EPOCHS": "3"}}


def test_secrets_in_argument_keys_are_scrubbed_at_any_depth() -> None:
    arguments = json.dumps({HF: 1, "rows": [{"note": 2, f"token={HF}": 3}]})
    [line] = lines(
        [{"role": "assistant", "content": None, "tool_calls": [call("c", "f", arguments)]}]
    )
    assert line["message"]["content"][0]["input"] == {R: 1, "rows": [{"note": 2, f"token={R}": 3}]}


def test_secret_in_the_model_name_is_scrubbed() -> None:
    out = jsonl([{"role": "assistant", "content": "x"}], model="my-model?token=" + HF)
    assert HF not in out


# -------------------------------------------------------------- no mutation


def _busy_history() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "prompt", "_ts": START},
        {"role": "user", "content": f"token {HF}", "_ts": START + 1},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "on it"}, {"type": "image_url", "image_url": {}}],
            "tool_calls": [
                call("c1", "python_exec", json.dumps({"code": f"login('{HF}')", "n": [1, 2]})),
                call("c2", "python_exec", "{oops"),
                call("c3", "python_exec", {"already": {"parsed": HF}}),
            ],
            "_ts": START + 2,
        },
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": HF}]},
        {"role": "tool", "tool_call_id": "c2", "content": "error", "_ts": START + 4},
        {"role": "user", "content": "[SYSTEM: note]", "_ts": START + 5},
        {"role": "assistant", "content": "done", "_ts": START + 6},
    ]


def test_input_is_never_mutated() -> None:
    history = _busy_history()
    before = copy.deepcopy(history)
    out = lines(history)
    jsonl(history)
    assert history == before
    # Nor does the output share containers with the input.
    blocks = out[1]["message"]["content"]
    assert [b["type"] for b in blocks] == ["text", "text", "tool_use", "tool_use", "tool_use"]
    blocks[2]["input"]["n"].append(3)
    blocks[4]["input"]["already"]["parsed"] = "changed"
    assert history == before


# ------------------------------------------------------------ odd characters


def test_non_ascii_and_line_separators_stay_on_one_line() -> None:
    text = "caf\u00e9 \u2014 \u2028next\u2029 \x85 \ud800 lone surrogate \U0001f600"
    history = [{"role": "user", "content": text}, {"role": "assistant", "content": text}]
    out = jsonl(history)
    assert out.isascii()
    assert len(out.splitlines()) == 2
    assert json.loads(out.splitlines()[0])["message"]["content"] == text


# ---------------------------------------------------------------- property


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


_texts = st.text(max_size=40)
_parts = st.lists(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": _texts}),
        st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.just({"url": "u"})}),
        st.dictionaries(st.text(max_size=5), _texts, max_size=2),
        _texts,
    ),
    max_size=3,
)
_content = st.one_of(st.none(), _texts, _parts)
_arguments = st.one_of(
    _texts,
    st.dictionaries(
        st.text(max_size=8), st.one_of(_texts, st.integers(), st.floats()), max_size=3
    ).map(json.dumps),
    st.none(),
    st.integers(),
)
_tool_call = st.fixed_dictionaries(
    {
        "id": st.one_of(_texts, st.none(), st.integers()),
        "type": st.just("function"),
        "function": st.fixed_dictionaries({"name": _texts, "arguments": _arguments}),
    }
)
_ts = st.one_of(st.none(), st.floats(), st.integers(min_value=-(10**12), max_value=10**12), _texts)
_message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "developer", "other"]), "content": _content},
        optional={"_ts": _ts},
    ),
    st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": _content},
        optional={"tool_calls": st.one_of(st.none(), st.lists(_tool_call, max_size=3)), "_ts": _ts},
    ),
    st.fixed_dictionaries(
        {
            "role": st.just("tool"),
            "tool_call_id": st.one_of(_texts, st.none()),
            "name": _texts,
            "content": _content,
        },
        optional={"_ts": _ts},
    ),
)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(history=st.lists(_message, max_size=12), session_id=st.text(min_size=1, max_size=10))
def test_any_history_gives_valid_chained_jsonl(
    history: list[dict[str, Any]], session_id: str
) -> None:
    before = copy.deepcopy(history)
    out = to_claude_code_jsonl(history, session_id=session_id, model=MODEL, session_start=START)
    assert history == before
    assert out == "" or out.endswith("\n")
    rows = out.split("\n")[:-1]
    assert len(rows) == len(out.splitlines())  # no reader sees a line break inside a line
    parsed = [json.loads(row, parse_constant=_no_constants) for row in rows]
    seen: set[str] = set()
    for i, line in enumerate(parsed):
        if i == 0:
            assert line["parentUuid"] is None
        else:
            assert line["parentUuid"] in seen
        assert line["uuid"] not in seen
        seen.add(line["uuid"])
        assert uuidlib.UUID(line["sessionId"]).version in (4, 5)
        assert uuidlib.UUID(line["uuid"]).version == 8
        assert line["type"] in ("user", "assistant")
    assert (
        to_claude_code_jsonl(history, session_id=session_id, model=MODEL, session_start=START)
        == out
    )


@settings(max_examples=200, deadline=None, database=None)
@given(history=st.lists(_message, max_size=12), cuts=st.lists(st.integers(0, 12), max_size=4))
def test_a_trace_built_in_pieces_is_the_trace_of_the_whole(
    history: list[dict[str, Any]], cuts: list[int]
) -> None:
    builder = TraceBuilder(session_id=SID, model=MODEL, session_start=START)
    done = 0
    for cut in sorted(min(c, len(history)) for c in cuts) + [len(history)]:
        builder.extend(history[done:cut])
        done = cut
        assert builder.count == done
        assert builder.jsonl() == jsonl(history[:done])
    assert builder.jsonl() == jsonl(history)


def test_builder_extends_with_the_next_messages_only() -> None:
    first = [
        {"role": "system", "content": "prompt"},
        {"role": "user", "content": "hi", "_ts": START + 1},
    ]
    more = [{"role": "assistant", "content": "hello", "_ts": START + 2}]
    builder = TraceBuilder(session_id=SID, model=MODEL, session_start=START)
    assert builder.extend(first).jsonl() == jsonl(first)
    text = builder.extend(more).jsonl()
    assert text == jsonl(first + more)
    last = json.loads(text.splitlines()[-1])
    # Index 2 in the history, chained to the user line at index 1.
    assert last["uuid"] == U("assistant", 2) and last["parentUuid"] == U("user", 1)
    assert builder.extend([]).jsonl() == text


def test_builder_knows_what_it_was_built_for() -> None:
    builder = TraceBuilder(session_id=SID, model=MODEL, session_start=START)
    assert builder.matches(session_id=SID, model=MODEL, session_start=START)
    assert not builder.matches(session_id=SID, model="other/model", session_start=START)
    assert not builder.matches(session_id="other", model=MODEL, session_start=START)
    assert not builder.matches(session_id=SID, model=MODEL, session_start=START + 1)
    with pytest.raises(ValueError, match="session_start"):
        TraceBuilder(session_id=SID, model=MODEL, session_start=float("nan"))


# ------------------------------------------------ scrub_text's shortcuts
#
# `redact.scrub_text` skips patterns whose literals are absent and checks word
# boundaries itself. These tests hold it to a plain "every pattern" reference.

_REFERENCE = [
    (re.compile(rf"({redact._KEYWORD}){redact._SEPARATOR}(?:{redact._QUOTED}|[^\s'\"]+)"), None),
    (re.compile(rf"(?i)({redact._KEYWORD}){redact._SEPARATOR}(?:{redact._QUOTED})"), None),
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]{20,}"), "Bearer " + redact.REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), redact.REDACTED),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}"), redact.REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{40,}"), redact.REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), redact.REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), redact.REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), redact.REDACTED),
]


def _every_pattern(text: str) -> str:
    for pattern, replacement in _REFERENCE:
        text = pattern.sub(replacement or redact._redact_assignment, text)
    return text


_NAMES = (
    "token TOKEN ToKeN HF_TOKEN api_key API_KEY secret Secret_Key AWS_SECRET_ACCESS_KEY "
    "PASSWORD passwd access_key_id key _key tokenizer max_tokens \u0130 \u0131"
).split()
_SEPARATORS = ["=", ":", " = ", ": ", '":', '"]=', "'] = ", "\t=\t", " ", "\n", "\xa0="]
_PREFIXES = (
    "hf_ HF_ sk- sk-ant- SK- ghp_ gho_ ghu_ ghs_ ghr_ ghx_ github_pat_ AKIA ASIA akia "
    "Bearer\x20 bearer\t BEARER\x20 bEaReR\n Bearer"
).split()
_ODD = ["'", '"', "]", "[", "-", "_", ".", "/", "\r\n", "\x0b", "\u2028", "\u00e9", "\u2014"]
_ODD += ["\u2588", "\ud800", "\u0130", "\u0131", "\u017f", "\u212a", "x", "1"]
_ALNUM_RUNS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=45,
)
_VALUES = st.one_of(_ALNUM_RUNS, _ALNUM_RUNS.map(lambda v: f'"{v} x"'), st.just("'v'"))
_PIECES = st.one_of(
    st.sampled_from(_NAMES + _SEPARATORS + _PREFIXES + _ODD),
    st.tuples(st.sampled_from(_PREFIXES), _ALNUM_RUNS).map("".join),  # token shapes
    st.tuples(st.sampled_from(_NAMES), st.sampled_from(_SEPARATORS), _VALUES).map("".join),
    _ALNUM_RUNS,
    st.text(max_size=6),
)


@settings(max_examples=2_000, deadline=None, database=None)
@given(pieces=st.lists(_PIECES, min_size=1, max_size=10))
def test_shortcuts_scrub_exactly_like_every_pattern(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert redact.scrub_text(text) == _every_pattern(text)


# ------------------------------------------------- the scan that skips scrubbing

_secretish = st.sampled_from(
    [
        "HF_TOKEN=hf_" + "a" * 34,
        'password = "hunter22"',
        "api_key: 'abc123'",
        "AWS_ACCESS_KEY_ID=AKIA" + "B" * 16,
        "Bearer " + "x" * 24,
        "ghp_" + "c" * 30,
        "sk-" + "d" * 44,
        "ſecret = 'v'",  # long s: IGNORECASE reads it as "secret"
        "TO\u212aEN='v'",  # Kelvin sign
        "tokenizer.pad_token = tokenizer.eos_token",
        "\ud800 lone surrogate, token='v'",
        "plain words",
    ]
)
_dirty_text = st.lists(st.one_of(_secretish, st.text(max_size=12)), max_size=4).map(" ".join)


@settings(max_examples=300, deadline=None, database=None)
@given(
    texts=st.lists(_dirty_text, min_size=1, max_size=6),
    keys=st.lists(st.sampled_from(["code", "HF_TOKEN", "secret", "x"]), max_size=3),
)
def test_the_scan_gives_what_scrubbing_every_string_gives(
    texts: list[str], keys: list[str]
) -> None:
    history: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        kind = i % 3
        if kind == 0:
            history.append({"role": "user", "content": text})
        elif kind == 1:
            args = json.dumps({k: text for k in keys} or {"code": text})
            history.append(
                {"role": "assistant", "content": text, "tool_calls": [call(f"c{i}", "t", args)]}
            )
        else:
            history.append({"role": "tool", "tool_call_id": f"c{i}", "content": text})
    # `to_claude_code_lines` scrubs every string; the JSONL path scrubs only the
    # lines the scan picks.
    assert [json.loads(row) for row in jsonl(history).splitlines()] == json.loads(
        json.dumps(lines(history))
    )


def test_every_character_that_folds_to_ascii_is_one_the_scan_looks_for() -> None:
    from ml_intern_jupyter.traces.claude_code import _secret_patterns

    scanned = {lit.decode() for lit in _secret_patterns() if not lit.isascii()}
    ascii_letter = re.compile("[a-z]", re.IGNORECASE)
    folding = set()
    for code in range(0x80, 0x110000):
        c = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        if any(ch.isascii() and ch.isalpha() for ch in c.lower()):
            folding.add(c)
        elif ascii_letter.fullmatch(c):
            folding.add(c)
    assert folding <= scanned, sorted(folding - scanned)


def test_outcome_usage_and_stop_reason_only_where_recorded() -> None:
    history = [
        {"role": "assistant", "content": "a", "tool_calls": [call("c1", "t", "{}")]},
        {"role": "tool", "tool_call_id": "c1", "content": "old row: outcome unknown"},
        {
            "role": "assistant",
            "content": "b",
            "_usage": {"input_tokens": 10, "output_tokens": 2},
            "_finish_reason": "length",
        },
        {"role": "tool", "tool_call_id": "c2", "content": "boom", "_success": False},
        {"role": "tool", "tool_call_id": "c3", "content": "fine", "_success": True},
    ]
    out = [line["message"] for line in lines(history)]
    assert "usage" not in out[0] and "stop_reason" not in out[0]
    assert "is_error" not in out[1]["content"][0]
    assert out[2]["usage"] == {"input_tokens": 10, "output_tokens": 2}
    assert out[2]["stop_reason"] == "max_tokens"
    assert out[3]["content"][0]["is_error"] is True
    assert out[4]["content"][0]["is_error"] is False


def test_images_too_large_linked_or_secret_become_visible_notes() -> None:
    from ml_intern_jupyter.traces.claude_code import IMAGE_MAX_CHARS

    big = "A" * (IMAGE_MAX_CHARS + 4)
    parts = [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{big}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,not base64!"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUFB"}},
    ]
    content = lines([{"role": "user", "content": parts}])[0]["message"]["content"]
    texts = [b["text"] for b in content if b["type"] == "text"]
    assert len(texts) == 3  # one visible note per image left out
    assert "1,500,003 bytes, over the 1,500,000-byte limit" in texts[0]
    assert "link" in texts[1] and "not valid base64" in texts[2]
    assert content[-1] == parts[-1]
    assert big not in jsonl([{"role": "user", "content": parts}])


def test_history_records_outcome_and_usage() -> None:
    from ml_intern_jupyter.agent.context import History

    h = History("p")
    h.add_assistant("x", usage=(7, 3), finish_reason="stop")
    h.add_tool_result("c", "t", "out", success=False)
    h.add_tool_result("d", "t", "out")
    assert h.messages[1]["_usage"] == {"input_tokens": 7, "output_tokens": 3}
    assert h.messages[1]["_finish_reason"] == "stop"
    assert h.messages[2]["_success"] is False and "_success" not in h.messages[3]
    assert all(not k.startswith("_") for m in h.for_llm() for k in m)


def test_reasoning_becomes_a_thinking_block_first_and_is_scrubbed() -> None:
    secret = "hf_" + "Zq9" * 12
    history = [
        {"role": "user", "content": "go", "_ts": START},
        {
            "role": "assistant",
            "content": "Done.",
            "reasoning_content": f"use token {secret} then answer",
            "thinking_blocks": [{"type": "thinking", "thinking": "x", "signature": "sig-1"}],
            "_ts": START + 1,
        },
    ]
    content = lines(history)[1]["message"]["content"]
    assert content[0]["type"] == "thinking" and content[0]["signature"] == "sig-1"
    assert secret not in content[0]["thinking"] and "then answer" in content[0]["thinking"]
    assert content[1] == {"type": "text", "text": "Done."}

"""The fast path of a JSONL conversion: lines encoded a chunk at a time, tool
arguments embedded as they are, the scan in a worker thread, the collector
paused. Each test holds the JSONL to what scrubbing every string gives
(`to_claude_code_lines`), and to the property that made the shortcut safe."""

from __future__ import annotations

import gc
import json
import threading
from typing import Any

import pytest

from ml_intern_jupyter.traces import claude_code
from ml_intern_jupyter.traces.claude_code import (
    TraceBuilder,
    to_claude_code_jsonl,
    to_claude_code_lines,
)

ARGS = {"session_id": "sess-cold", "model": "m/x", "session_start": 1_750_000_000.0}
HF = "hf_" + "a1B2c3D4e5" * 4
R = "[REDACTED]"


def jsonl(messages: list[dict[str, Any]]) -> str:
    return to_claude_code_jsonl(messages, **ARGS)


def parsed(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = jsonl(messages)
    assert out.endswith("\n") or out == ""
    return [json.loads(row) for row in out.split("\n")[:-1]]


def reference(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every string scrubbed, the slow and obvious way, as JSON would read it back."""
    return json.loads(json.dumps(to_claude_code_lines(messages, **ARGS)))


def call_with(arguments: str, i: int = 0) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": arguments}}
        ],
    }


def history(n: int, extra: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i in (extra or {}):
            out.append((extra or {})[i])
        elif i % 3 == 0:
            out.append({"role": "user", "content": f"request {i}: tokenizer café"})
        elif i % 3 == 1:
            out.append(call_with(json.dumps({"code": f"print({i})", "n": i}), i))
        else:
            out.append({"role": "tool", "tool_call_id": f"c{i - 1}", "content": f"out {i}"})
    return out


def test_arguments_go_in_as_written_when_the_scan_sees_all_of_them() -> None:
    arguments = '{"code": "print(1)",  "n": 12345678901234567890123}'
    out = jsonl([call_with(arguments)])
    assert arguments in out  # spacing and the 23-digit integer kept as written
    [line] = parsed([call_with(arguments)])
    assert line["message"]["content"][0]["input"] == {
        "code": "print(1)",
        "n": 12345678901234567890123,
    }


@pytest.mark.parametrize(
    "arguments",
    [
        # a token behind an escape of its first letter: the raw text has no "hf_"
        json.dumps({"code": "x = '\\u0068" + HF[1:] + "'"}).replace("\\\\u0068", "\\u0068"),
        # an assignment whose separator is escaped
        '{"code": "HF_TOKEN\\u003d' + "s3cr3t-value" + '"}',
        # a key named like a secret
        '{"env": {"API_KEY": "abc"}}',
        # a token right after an escaped newline (no word boundary in the raw text)
        json.dumps({"code": "print(1)\n" + HF}),
    ],
)
def test_secrets_in_arguments_are_scrubbed_on_the_fast_path(arguments: str) -> None:
    history = [call_with(arguments)]
    assert parsed(history) == reference(history)
    out = jsonl(history)
    assert HF not in out and "s3cr3t-value" not in out and '"abc"' not in out


def test_line_breaks_and_what_orjson_refuses_keep_arguments_out_of_the_fast_path() -> None:
    assert not claude_code._embeddable('{"a":\n1}')
    assert not claude_code._embeddable('{"a": NaN}')
    assert not claude_code._embeddable('{"a": "\\ud800"}')  # lone surrogate
    assert not claude_code._embeddable("[1, 2]")
    assert claude_code._embeddable('{"text": "caf\\u00e9 \\ud83d\\ude00"}')
    pretty = json.dumps({"code": "print(1)", "n": 2}, indent=2)
    out = jsonl([call_with(pretty)])
    assert out.count("\n") == 1
    assert json.loads(out)["message"]["content"][0]["input"] == {"code": "print(1)", "n": 2}


@pytest.mark.parametrize(
    "escape", ["\\u0068", "\\u0009", "\\u0130", "\\u0131", "\\u017F", "\\u212a", "\\u007e"]
)
def test_a_line_with_an_escape_that_could_hide_a_literal_is_picked(escape: str) -> None:
    arguments = '{"code": "x' + escape + 'y"}'
    assert claude_code._embeddable(arguments)  # goes in as written...
    data = claude_code._encode_chunk(
        [claude_code.TraceBuilder(**ARGS)._line(call_with(arguments), 0, None, False)]
    )
    assert data is not None and escape.encode() in data
    found = claude_code._scan(data, 1)
    assert found is not None and found[2] == {0}  # ...and the scan picks its line
    plain = claude_code._encode_chunk(
        [claude_code.TraceBuilder(**ARGS)._line(call_with('{"code": "xy"}'), 0, None, False)]
    )
    assert plain is not None and claude_code._scan(plain, 1)[2] == set()  # type: ignore[index]


def test_a_nested_object_that_looks_like_a_line_start_does_not_split_lines() -> None:
    fake = json.dumps(
        {"items": [{"a": 1}, {"uuid": "x", "parentUuid": None}]}, separators=(",", ":")
    )
    messages = history(20, {4: call_with(fake, 4)})
    assert ',{"uuid":"' in jsonl(messages).split("\n")[4]
    assert parsed(messages) == reference(messages)


def test_a_chunk_orjson_refuses_is_encoded_line_by_line() -> None:
    messages = history(30, {6: {"role": "user", "content": "lone \ud800 surrogate " + HF}})
    out = jsonl(messages)
    assert out.isascii() is False  # the other lines keep their UTF-8
    assert HF not in out
    assert parsed(messages) == reference(messages)
    assert parsed(messages)[6]["message"]["content"] == f"lone \ud800 surrogate {R}"


def test_many_chunks_with_secrets_and_line_splitters_in_several_of_them() -> None:
    n = claude_code._CHUNK * 4 + 7
    extra = {
        5: {"role": "user", "content": "export HF_TOKEN=" + HF},
        claude_code._CHUNK + 3: {"role": "tool", "tool_call_id": "c", "content": "a\u2028b " + HF},
        2 * claude_code._CHUNK: {"role": "user", "content": "x\u2029y\x85z"},
        n - 1: call_with(json.dumps({"headers": {"Authorization": "Bearer " + "t" * 30}})),
    }
    messages = history(n, extra)
    out = jsonl(messages)
    assert HF not in out and "t" * 30 not in out
    assert len(out.splitlines()) == n  # no raw splitter breaks a line
    assert "\u2028" not in out and "\u2029" not in out and "\x85" not in out
    assert parsed(messages) == reference(messages)


def test_the_trace_is_the_same_built_cold_or_a_turn_at_a_time() -> None:
    messages = history(claude_code._CHUNK * 2 + 50, {100: {"role": "user", "content": HF}})
    builder = TraceBuilder(**ARGS)
    for at in range(0, len(messages), 37):
        builder.extend(messages[at : at + 37])
    assert builder.jsonl() == jsonl(messages)


def test_the_collector_is_paused_only_during_a_large_conversion() -> None:
    messages = history(claude_code._CHUNK + 10)
    seen: list[bool] = []
    line = TraceBuilder._line

    def spy(self: TraceBuilder, *a: Any) -> Any:
        seen.append(gc.isenabled())
        return line(self, *a)

    try:
        TraceBuilder._line = spy  # type: ignore[method-assign]
        assert gc.isenabled()
        jsonl(messages)
        assert gc.isenabled()  # back on afterwards
        assert seen and not any(seen)
        seen.clear()
        gc.disable()
        jsonl(messages)
        assert not gc.isenabled()  # a caller's own choice is left as it was
        gc.enable()
        seen.clear()
        jsonl(messages[:10])  # a turn's few messages: nothing paused
        assert seen and all(seen)
    finally:
        TraceBuilder._line = line  # type: ignore[method-assign]
        gc.enable()


def test_the_scan_runs_beside_the_building_not_after_it() -> None:
    messages = history(claude_code._CHUNK * 3)
    threads: set[str] = set()
    scan = claude_code._scan

    def spy(*args: Any) -> Any:
        threads.add(threading.current_thread().name)
        return scan(*args)

    claude_code._scan = spy  # type: ignore[assignment]
    try:
        jsonl(messages)
    finally:
        claude_code._scan = scan  # type: ignore[assignment]
    assert threads and all(name.startswith("ml-intern-trace-scan") for name in threads)

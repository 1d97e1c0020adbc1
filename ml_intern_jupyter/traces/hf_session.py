"""Session history -> the Hub's Session Traces Format (STS-Format) JSONL.

The format the Hugging Face Hub documents for custom agent harnesses
(https://huggingface.co/docs/hub/session-traces-format; our notes and the
mapping in docs/hf-session-format.md). One header line, then one line per
message:

* header:      {"type": "session", "harness": "ml-intern-jupyter", "id": <session id>,
                "name": <title>, ...extra metadata}
* user:        {"type": "message", "message": {"role": "user", "content": <text>}}
* agent note:  the same with "role": "system" (`[SYSTEM: ...]` user turns are
               the agent's notes to the model, not the user's words)
* assistant:   {"type": "message", "message": {"role": "assistant", "content": <text>,
                "reasoningContent": ..., "toolCalls": [{"id", "function":
                {"name", "arguments": <JSON string>}}], "model": ..., "timestamp": <ms>}}
* tool result: {"type": "message", "message": {"role": "tool", "toolCallId": ...,
                "content": <text>}}

The format's `message` object has no place for a tool call's outcome, token
usage or stop reason; those go next to it in the envelope (`isError`,
`usage`, `stopReason`; `isMeta` on agent notes), where readers of the format
do not look. Content is text only: images become a one-line note.

Every string in the output is scrubbed of secrets (`redact`); the input is
never mutated, and the output is a pure function of the arguments (same
history, same bytes). The session's system prompt is left out, as in the
Claude Code trace.
"""

from __future__ import annotations

import json
from typing import Any

from ml_intern_jupyter._version import __version__
from ml_intern_jupyter.agent.context import SYSTEM_PREFIX
from ml_intern_jupyter.traces.parts import (
    SPLITTERS,
    decode_arguments,
    part_text,
    text_of,
    usage_counts,
    valid_ts,
)
from ml_intern_jupyter.traces.redact import scrub, scrub_text

__all__ = ["HARNESS", "IMAGE_NOTE", "to_hf_session_jsonl", "to_hf_session_lines"]

# The id of the harness that produced the trace (the header's `harness`).
HARNESS = "ml-intern-jupyter"
IMAGE_NOTE = "[image: not included, this trace format carries text only]"


def to_hf_session_lines(
    messages: list[dict[str, Any]],
    *,
    session_id: str,
    model: str,
    session_start: float,
    cwd: str = "",
    name: str = "",
) -> list[dict[str, Any]]:
    """The header and message lines of `messages` (OpenAI-format dicts), scrubbed.

    A message's `_ts` gives its `timestamp` (epoch milliseconds; left out
    when unknown); `_success` (tool results), `_usage` and `_finish_reason`
    (assistant messages) give the envelope's `isError`, `usage` and
    `stopReason`. System messages, unknown roles and assistant messages with
    no text, reasoning or tool calls produce no line.
    """
    start = valid_ts(session_start)
    if start is None:
        raise ValueError(f"session_start must be a unix time, got {session_start!r}")
    if not isinstance(session_id, str) or not session_id:
        raise ValueError(f"session_id must be a non-empty string, got {session_id!r}")
    model_name = scrub_text(model) if isinstance(model, str) else ""
    body: list[dict[str, Any]] = []
    totals = [0, 0]
    for msg in messages:
        line = _line(msg, model_name)
        if line is None:
            continue
        usage = line.get("usage")
        if usage is not None:
            totals[0] += usage.get("inputTokens", 0)
            totals[1] += usage.get("outputTokens", 0)
        body.append(line)
    header: dict[str, Any] = {"type": "session", "harness": HARNESS, "id": scrub_text(session_id)}
    if isinstance(name, str) and name.strip():
        header["name"] = scrub_text(name.strip())
    header["timestamp"] = _ms(start)
    if model_name:
        header["model"] = model_name
    if isinstance(cwd, str) and cwd:
        header["cwd"] = scrub_text(cwd)
    header["version"] = __version__
    if any(totals):
        header["usage"] = {"inputTokens": totals[0], "outputTokens": totals[1]}
    return [header, *body]


def to_hf_session_jsonl(
    messages: list[dict[str, Any]],
    *,
    session_id: str,
    model: str,
    session_start: float,
    cwd: str = "",
    name: str = "",
) -> str:
    """The trace as JSONL: one compact JSON object per line, each ending in a newline."""
    lines = to_hf_session_lines(
        messages,
        session_id=session_id,
        model=model,
        session_start=session_start,
        cwd=cwd,
        name=name,
    )
    return "".join(_dumps(line) for line in lines)


# -- one message


def _line(msg: Any, model: str) -> dict[str, Any] | None:
    if not isinstance(msg, dict):
        return None
    role = msg.get("role")
    extras: dict[str, Any] = {}  # the envelope's fields besides the message
    if role == "user":
        raw = msg.get("content")
        note = isinstance(raw, str) and raw.startswith(SYSTEM_PREFIX)
        body: dict[str, Any] = {"role": "system" if note else "user", "content": _text(raw)}
        if note:
            extras["isMeta"] = True
    elif role == "tool":
        body = {
            "role": "tool",
            "toolCallId": scrub_text(text_of(msg.get("tool_call_id"))),
            "content": _text(msg.get("content")),
        }
        ok = msg.get("_success")
        if isinstance(ok, bool):
            extras["isError"] = not ok
    elif role == "assistant":
        body = {"role": "assistant", "content": _text(msg.get("content"))}
        thought = text_of(msg.get("reasoning_content"))
        if thought:
            body["reasoningContent"] = scrub_text(thought)
        calls = _tool_calls(msg.get("tool_calls"))
        if calls:
            body["toolCalls"] = calls
        if not (body["content"] or thought or calls):
            return None
        if model:
            body["model"] = model
        stop = msg.get("_finish_reason")
        if isinstance(stop, str) and stop:
            extras["stopReason"] = scrub_text(stop)
        usage = _usage(msg.get("_usage"))
        if usage is not None:
            extras["usage"] = usage
    else:
        return None  # "system", "developer", or something unknown
    ts = valid_ts(msg.get("_ts"))
    if ts is not None:
        body["timestamp"] = _ms(ts)
    return {"type": "message", "message": body, **extras}


def _tool_calls(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    out = []
    for call in value:
        if not isinstance(call, dict):
            continue
        fn = call.get("function")
        if not isinstance(fn, dict):
            fn = {}
        out.append(
            {
                "id": scrub_text(text_of(call.get("id"))),
                "function": {
                    "name": scrub_text(text_of(fn.get("name"))),
                    "arguments": _arguments(fn.get("arguments")),
                },
            }
        )
    return out


def _arguments(raw: Any) -> str:
    """The call's arguments as a JSON string (the format wants one), scrubbed.

    They are parsed first and scrubbed value by value (so a secret behind a
    JSON escape, or an entry named like a secret, is seen as the tool saw
    it), then written back compactly. Text that is not strict JSON (the model
    sent it malformed) becomes `{"_raw": <the text, scrubbed>}`, as in the
    Claude Code trace.
    """
    if raw is None:
        return "{}"
    text = raw if isinstance(raw, str) else text_of(raw)
    if not text or text.isspace():
        return "{}"
    try:
        value = scrub(decode_arguments(text), keys=True)
    except (ValueError, RecursionError):
        value = {"_raw": scrub_text(text)}
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _usage(value: Any) -> dict[str, int] | None:
    counts = usage_counts(value)
    if counts is None:
        return None
    keys = ("inputTokens", "outputTokens")
    return {k: n for k, n in zip(keys, counts, strict=True) if n is not None}


# -- content


def _text(content: Any) -> str:
    """Content as one scrubbed string: text parts joined by newlines, other parts as notes."""
    if not isinstance(content, list):
        return scrub_text(text_of(content))
    parts = [part_text(part, IMAGE_NOTE) for part in content]
    return scrub_text("\n".join(p for p in parts if p))


# -- encoding and time


def _dumps(line: dict[str, Any]) -> str:
    text = json.dumps(line, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, the line stays valid UTF-8
        return json.dumps(line, ensure_ascii=True, separators=(",", ":"), allow_nan=False) + "\n"
    for raw, escaped in SPLITTERS:
        if raw in text:
            text = text.replace(raw, escaped)
    return text + "\n"


def _ms(ts: float) -> int:
    return round(ts * 1000)

"""Session history -> Claude Code JSONL, the format the HF Agent Trace Viewer reads.

One line per non-system message, chained by `parentUuid`. Every string that
ends up in a line goes through `redact.scrub_text` / `redact.scrub` first; the
input is never mutated, and the output is a pure function of the arguments
(same history, same bytes).

Line shapes; all lines also carry `uuid`, `parentUuid`, `sessionId`, `timestamp`:

* user:        {"type": "user", "message": {"role": "user", "content": "<text>"}}
* assistant:   {"type": "assistant", "message": {"role": "assistant", "model": ...,
                "content": [{"type": "text", "text": ...},
                            {"type": "tool_use", "id": ..., "name": ..., "input": {...}}]}}
* tool result: {"type": "user", "message": {"role": "user", "content":
                [{"type": "tool_result", "tool_use_id": ..., "content": "<text>"}]}}
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
from typing import Any

from ml_intern_jupyter.traces.redact import scrub, scrub_text

__all__ = ["TraceBuilder", "to_claude_code_jsonl", "to_claude_code_lines", "trace_uuid"]

# Placeholders for the non-text parts of multi-part (OpenAI) content.
_PART_PLACEHOLDERS = {
    "image_url": "[image]",
    "image": "[image]",
    "input_image": "[image]",
    "input_audio": "[audio]",
    "audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
}
_OTHER_PART = "[attachment]"
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})

# Latest time that still has a 4-digit year: 9999-12-31T00:00:00Z.
_MAX_TS = 253_402_214_400.0
_EPOCH = datetime.datetime(1970, 1, 1)

# ASCII output escapes lone surrogates and U+2028/U+2029, so every line is valid
# UTF-8 and no reader splits a line in two; it is also the faster encoder here.
# The lines are fresh trees, so the circular-reference check is skipped.
_encode = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e999" parses to inf, which strict JSON cannot hold
        raise ValueError(f"{text} is out of range")
    return value


# Strict JSON: NaN/Infinity literals are not arguments, they are a malformed string.
_decode = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float).decode


def trace_uuid(session_id: str, role: str, index: int) -> str:
    """sha1("<session_id>::<role>::<index>") as 8-4-4-4-12 hex digits."""
    h = hashlib.sha1(f"{session_id}::{role}::{index}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class TraceBuilder:
    """The trace of one session's history, built incrementally.

    A line depends only on its message, the message's index and the previous
    line's uuid, so a history that only grows needs only its new messages
    converted: `extend` takes the messages that follow the `count` already
    consumed, and `jsonl()` is the whole trace so far, byte for byte what
    `to_claude_code_jsonl` gives for the full history. When earlier messages
    change (a compaction rewrote the history) start a new builder.
    """

    def __init__(self, *, session_id: str, model: str, session_start: float) -> None:
        start = _valid_ts(session_start)
        if start is None:
            raise ValueError(f"session_start must be a unix time, got {session_start!r}")
        self.session_id = session_id
        self.model = model
        self.session_start = session_start
        self.count = 0  # messages consumed so far
        self._start_iso = _iso(start)
        self._scrubbed_model = scrub_text(model)
        self._parent: str | None = None
        self._encoded: list[str] = []
        self._text: str | None = ""

    def matches(self, *, session_id: str, model: str, session_start: float) -> bool:
        """True if this builder makes lines the way a fresh one with these arguments would."""
        return (session_id, model, session_start) == (
            self.session_id,
            self.model,
            self.session_start,
        )

    def _consume(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Consume `messages` (the next ones in the history); their lines, unencoded
        (`extend` keeps them; `to_claude_code_lines` hands them out)."""
        out: list[dict[str, Any]] = []
        index = self.count
        for msg in messages:
            line = self._line(msg, index)
            if line is not None:
                out.append(line)
            index += 1
        self.count = index
        return out

    def extend(self, messages: list[dict[str, Any]]) -> TraceBuilder:
        """Consume `messages` (the next ones in the history) and encode their lines."""
        added = [_encode(line) + "\n" for line in self._consume(messages)]
        if added:
            self._encoded += added
            self._text = None
        return self

    def jsonl(self) -> str:
        """The trace so far: one compact JSON object per line, each ending in a newline."""
        if self._text is None:
            self._text = "".join(self._encoded)
            self._encoded = [self._text]  # one copy of the text, not the lines and the whole
        return self._text

    @property
    def size(self) -> int:
        """Characters held (the JSONL so far)."""
        return sum(map(len, self._encoded))

    def _line(self, msg: Any, index: int) -> dict[str, Any] | None:
        if not isinstance(msg, dict):
            return None
        role = msg.get("role")
        if role == "user":
            kind = "user"
            body: dict[str, Any] = {"role": "user", "content": _text(msg.get("content"))}
        elif role == "tool":
            kind = "user"
            result = {
                "type": "tool_result",
                "tool_use_id": scrub_text(_str(msg.get("tool_call_id"))),
                "content": _text(msg.get("content")),
            }
            body = {"role": "user", "content": [result]}
        elif role == "assistant":
            blocks = _assistant_blocks(msg)
            if not blocks:
                return None
            kind = "assistant"
            body = {"role": "assistant", "model": self._scrubbed_model, "content": blocks}
        else:  # "system", "developer", or something unknown
            return None
        ts = _valid_ts(msg.get("_ts"))
        uuid = trace_uuid(self.session_id, role, index)
        line = {
            "uuid": uuid,
            "parentUuid": self._parent,
            "sessionId": self.session_id,
            "timestamp": self._start_iso if ts is None else _iso(ts),
            "type": kind,
            "message": body,
        }
        self._parent = uuid
        return line


def to_claude_code_lines(
    messages: list[dict[str, Any]], *, session_id: str, model: str, session_start: float
) -> list[dict[str, Any]]:
    """The trace lines of `messages` (OpenAI-format dicts; `_`-prefixed keys are ignored).

    `index` in each uuid is the message's position in `messages`. A message's
    own `_ts` gives its timestamp, else `session_start` does. System messages,
    roles the format has no place for, and assistant messages with neither text
    nor tool calls produce no line; the chain continues past them.
    """
    builder = TraceBuilder(session_id=session_id, model=model, session_start=session_start)
    return builder._consume(messages)


def to_claude_code_jsonl(
    messages: list[dict[str, Any]], *, session_id: str, model: str, session_start: float
) -> str:
    """The trace as JSONL: one compact JSON object per line, each ending in a newline."""
    builder = TraceBuilder(session_id=session_id, model=model, session_start=session_start)
    return builder.extend(messages).jsonl()


# -- content


def _assistant_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    content = msg.get("content")
    texts = [_part_text(p) for p in content] if isinstance(content, list) else [_str(content)]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": scrub_text(t)} for t in texts if t]
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if not isinstance(call, dict):
                continue
            fn = call.get("function")
            if not isinstance(fn, dict):
                fn = {}
            blocks.append(
                {
                    "type": "tool_use",
                    "id": scrub_text(_str(call.get("id"))),
                    "name": scrub_text(_str(fn.get("name"))),
                    "input": _tool_input(fn.get("arguments")),
                }
            )
    return blocks


def _text(content: Any) -> str:
    """User or tool content as one scrubbed string; text parts joined by newlines."""
    if isinstance(content, list):
        return scrub_text("\n".join([t for t in map(_part_text, content) if t]))
    return scrub_text(_str(content))


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return _str(part)
    kind = part.get("type")
    if kind in _TEXT_PARTS or (kind is None and "text" in part):
        return _str(part.get("text"))
    if kind == "refusal":
        return _str(part.get("refusal"))
    return _PART_PLACEHOLDERS.get(kind, _OTHER_PART) if isinstance(kind, str) else _OTHER_PART


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, RecursionError):  # NaN is fine here; cycles and depth are not
            return repr(value)
    return str(value)


# -- tool arguments


def _tool_input(arguments: Any) -> dict[str, Any]:
    """Parsed, scrubbed tool arguments; {"_raw": text} when they are not a JSON object.

    Parsing comes before scrubbing, so a secret behind a JSON escape (a token
    right after a `\\n`) is seen as the tool saw it, and a dict entry named
    like a secret is redacted by `scrub`.
    """
    if arguments is None:
        return {}
    # Providers that hand over parsed arguments get a JSON round trip, which
    # leaves plain JSON values only (no NaN, no odd key types).
    raw = arguments if isinstance(arguments, str) else _str(arguments)
    if not raw or raw.isspace():
        return {}
    try:
        parsed = _decode(raw)
        if isinstance(parsed, dict):
            return scrub(parsed, keys=True)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        pass
    return {"_raw": scrub_text(raw)}


# -- time


def _valid_ts(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        ts = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return ts if 0.0 <= ts <= _MAX_TS else None  # the comparison also rejects NaN


def _iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds: 2025-06-15T14:13:20.123Z."""
    seconds, micros = divmod(round(ts * 1_000_000), 1_000_000)
    minutes, secs = divmod(seconds, 60)
    return f"{_minute(minutes)}{secs:02d}.{micros // 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _minute(minutes_since_epoch: int) -> str:
    # Integer arithmetic from the epoch, not time.gmtime, whose range is platform-bound.
    return (_EPOCH + datetime.timedelta(minutes=minutes_since_epoch)).strftime("%Y-%m-%dT%H:%M:")

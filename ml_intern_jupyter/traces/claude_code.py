"""Session history -> Claude Code JSONL, the format the HF Agent Trace Viewer reads.

One line per non-system message, chained by `parentUuid`, with the fields
Claude Code's own transcripts carry, so the tools people use to read them
(the Hub's trace viewer, `claude-code-log`, `claude-code-transcripts`) show
everything. Every string that ends up in a line is scrubbed of secrets
(`redact.scrub_text` / `redact.scrub`); the input is never mutated, and the
output is a pure function of the arguments (same history, same bytes).

Every line carries `uuid`, `parentUuid`, `isSidechain` (false), `userType`
("external"), `cwd`, `sessionId` (a UUID), `version`, `timestamp`, `type`:

* user:        {"type": "user", "message": {"role": "user", "content": "<text>"}}
               (content is a list of text and image blocks when it has images);
               the agent's own notes (`[SYSTEM: ...]`) also carry "isMeta": true, and
               the catch-up seed of a restored session "isCompactSummary": true
* assistant:   {"type": "assistant", "message": {"id": "msg_...", "type": "message",
                "role": "assistant", "model": ...,
                "content": [{"type": "text", "text": ...},
                            {"type": "tool_use", "id": ..., "name": ..., "input": {...}}],
                "stop_reason": ..., "usage": {"input_tokens": ..., "output_tokens": ...}}}
               (`stop_reason` and `usage` only where the history recorded them)
* tool result: {"type": "user", "message": {"role": "user", "content":
                [{"type": "tool_result", "tool_use_id": ..., "content": "<text>",
                  "is_error": <bool, where the history recorded the outcome>}]}}

Speed: lines are first built without scrubbing and encoded by orjson a few
hundred at a time, as one JSON array, tool arguments going in as the text
they are where they are an object without line breaks (`_embeddable`). One
multi-literal scan (Aho-Corasick, in a worker thread: it runs without the
GIL while the next lines are built) then finds the boundaries between the
lines and the few lines that contain anything a secret pattern could start
from, or a JSON escape that could hide such a thing, and only those are
built again with every string scrubbed. A string without any of those
literals is left as it is by the scrubber, and JSON encoding never splits or
escapes the characters of a literal, so this gives what scrubbing every
string gives (a test holds the two to each other). The cyclic garbage
collector is paused while a large history converts. Line uuids are version 8
(RFC 9562): the first 74 free bits of sha1("<session_id>::<role>"), then the
message's index in 48 bits (`trace_uuid`).
"""

from __future__ import annotations

import bisect
import concurrent.futures
import datetime
import functools
import gc
import hashlib
import itertools
import json
import re
from typing import Any

import ahocorasick_rs
import orjson

from ml_intern_jupyter._version import __version__
from ml_intern_jupyter.agent.context import RESTORE_NOTE, SYSTEM_PREFIX
from ml_intern_jupyter.traces.parts import (
    IMAGE_PARTS,
    MAX_TS,
    SPLITTERS,
    decode_arguments,
    part_text,
    text_of,
    usage_counts,
    valid_ts,
)
from ml_intern_jupyter.traces.redact import scrub, scrub_text

__all__ = [
    "IMAGE_MAX_CHARS",
    "TraceBuilder",
    "session_uuid",
    "to_claude_code_jsonl",
    "to_claude_code_jsonl_bytes",
    "to_claude_code_lines",
    "trace_cwd",
    "trace_uuid",
]

# The catch-up seed a restored session starts from (`agent.context.RESTORE_NOTE`).
_RESTORE_NOTE_HEAD = RESTORE_NOTE.split("{summary}")[0].rstrip()

# Base64 characters kept per image; larger images are replaced by a note.
IMAGE_MAX_CHARS = 2_000_000

_ROLES = frozenset({"user", "tool", "assistant"})
_DATA_URL = re.compile(r"data:(image/[A-Za-z0-9.+-]{1,40});base64,", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)

# OpenAI finish reasons -> Claude stop reasons; others are kept as they are.
_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}

_EPOCH = datetime.datetime(1970, 1, 1)

# -- encoding

# The stdlib encoder, for what orjson refuses (lone surrogates, integers
# beyond 64 bits). ASCII output escapes lone surrogates, so the line is
# valid UTF-8.
_ascii_encode = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False, check_circular=False
).encode
# Characters `str.splitlines()` splits on that orjson writes as they are: as
# `\\uXXXX` escapes (they only ever occur inside JSON strings), no reader can
# split a line in two.
_SPLITTERS = tuple((raw.encode(), escaped.encode()) for raw, escaped in SPLITTERS)


def _dumps(line: dict[str, Any]) -> tuple[bytes, bool]:
    """(compact JSON of `line` and a newline, whether orjson encoded it)."""
    try:
        out = orjson.dumps(line)
    except (orjson.JSONEncodeError, TypeError):
        return _ascii_encode(line).encode() + b"\n", False
    return _escape_splitters(out) + b"\n", True


def _escape_splitters(out: bytes) -> bytes:
    for raw, escaped in _SPLITTERS:
        if raw in out:
            out = out.replace(raw, escaped)
    return out


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _scan_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ml-intern-trace-scan")
    return _POOL


# -- encoding many lines at once

# One orjson call per line costs several times what one call for a few hundred
# lines costs. A list of lines encodes as `[line,line,...]`; each line starts
# with `{"uuid":"`, and that text with its bare quotes cannot occur inside a
# JSON string (a quote there is escaped), so the commas before it are the
# boundaries unless a nested object starts the same way. The scan finds them
# all: with exactly one fewer than lines, every one is a boundary.
_CHUNK = 256
_BOUNDARY = b',{"uuid":"'


def _encode_chunk(lines: list[dict[str, Any]]) -> bytes | None:
    """`lines` as one JSON array, or None if orjson cannot encode them."""
    try:
        return orjson.dumps(lines)
    except (orjson.JSONEncodeError, TypeError):
        return None


def _encode_each(
    lines: list[dict[str, Any]],
) -> tuple[bytes, tuple[list[int], list[int]], set[int]]:
    """(`lines` encoded one by one, each with its newline; where each starts
    and ends; the lines that must be built again because orjson could not
    encode them)."""
    encoded: list[bytes] = []
    starts: list[int] = []
    ends: list[int] = []
    end, fallback = 0, set()
    for i, line in enumerate(lines):
        try:
            data = orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
        except (orjson.JSONEncodeError, TypeError):
            # Only a scrubbed build can be encoded another way (it has no
            # embedded arguments), so the line is built again whatever the scan finds.
            data = b"\n"
            fallback.add(i)
        encoded.append(data)
        starts.append(end)
        end += len(data)
        ends.append(end - 1)  # the newline
    return b"".join(encoded), (starts, ends), fallback


# -- the literals a secret pattern can start from (see `redact.scrub_text`)

# Matched against the encoded lines as they are. The assignment keywords and
# "bearer" match in any case, so each is looked for in every ASCII spelling
# (an automaton of a few thousand patterns scans as fast as one of a few
# dozen, and no lower-cased copy of the text is needed). The keywords only
# count when a separator could follow them (`redact._SEPARATOR`; in JSON a
# quote or a tab starts with a backslash), so each is looked for with every
# such character after it. The key shapes match as they are spelled. The
# non-ASCII characters are those that `IGNORECASE` or `str.lower()` turn into
# an ASCII letter (İ, ı, ſ and the Kelvin sign): with one of them a keyword
# may be spelled otherwise.
_KEYWORDS = (b"token", b"secret", b"password", b"_key", b"key_id")
_AFTER_KEYWORD = b"'\"] \t=:\\"
_KEY_SHAPES = (
    b"hf_",
    b"sk-",
    b"ghp_",
    b"gho_",
    b"ghu_",
    b"ghs_",
    b"ghr_",
    b"github_pat_",
    b"AKIA",
    b"ASIA",
)
_ODD_FOLDS = tuple(c.encode() for c in "\u0130\u0131\u017f\u212a")
# JSON escapes that could hide one of the above from the scan: of an ASCII
# character from the space to DEL, of a tab, or of a character that folds to
# an ASCII letter. orjson writes none of them (it escapes only quotes,
# backslashes and control characters, and never a tab that way), so they are
# only ever in tool arguments embedded as written (`_embeddable`), and a line
# with one is built again with its arguments parsed and scrubbed.
_HIDING_ESCAPES = (
    *(b"\\u00" + bytes([c]) for c in b"234567"),
    b"\\u0009",
    *(b"\\u013" + bytes([c]) for c in b"01"),
    *(b"\\u017" + bytes([c]) for c in b"fF"),
    *(b"\\u212" + bytes([c]) for c in b"aA"),
)


def _spellings(word: bytes) -> list[bytes]:
    """`word` in every mix of ASCII upper and lower case."""
    letters = [(bytes([c]).lower(), bytes([c]).upper()) for c in word]
    return [b"".join(p) for p in itertools.product(*(set(pair) for pair in letters))]


@functools.cache
def _secret_patterns() -> tuple[bytes, ...]:
    """What a line the scan picks has in it (built at the first conversion, not at import)."""
    return (
        *(w + bytes([c]) for kw in _KEYWORDS for w in _spellings(kw) for c in _AFTER_KEYWORD),
        *_spellings(b"bearer"),
        *_KEY_SHAPES,
        *_ODD_FOLDS,
        *_HIDING_ESCAPES,
    )


@functools.cache
def _scanner() -> ahocorasick_rs.BytesAhoCorasick:
    """The secret patterns, then the raw line splitters orjson leaves in a
    line, then the boundary between lines (see `_BOUNDARY`). A DFA: twice the
    search speed of the default for this many patterns, for a few
    milliseconds once, at the first conversion."""
    patterns = [*_secret_patterns(), *(raw for raw, _escaped in _SPLITTERS), _BOUNDARY]
    return ahocorasick_rs.BytesAhoCorasick(
        patterns, implementation=ahocorasick_rs.Implementation.DFA
    )


_Scan = tuple[list[int], list[int], set[int], set[int]]


def _scan(
    data: bytes, count: int, bounds: tuple[list[int], list[int]] | None = None
) -> _Scan | None:
    """(where each of the `count` lines of `data` starts, where it ends, the
    lines that contain a literal a secret pattern needs, the lines with a raw
    line splitter).

    `data` is the lines as a JSON array unless `bounds` gives where they
    start and end; in an array, the boundaries are found by the scan, and
    None means they cannot be told apart from a nested object that looks
    like one. The search itself runs without the GIL, so a conversion runs
    it in a worker thread while it builds the next lines.
    """
    hits = _scanner().find_matches_as_indexes(data, overlapping=True)
    n_secret = len(_secret_patterns())
    boundary = n_secret + len(_SPLITTERS)
    found: list[int] = []
    secret_at: list[int] = []
    split_at: list[int] = []
    for pattern, start, _stop in hits:
        if pattern < n_secret:
            secret_at.append(start)
        elif pattern == boundary:
            found.append(start)
        else:
            split_at.append(start)
    if bounds is None:
        if len(found) != count - 1:
            return None
        found.sort()
        starts = [1, *(at + 1 for at in found)]
        ends = [*found, len(data) - 1]  # the comma after each line, the closing bracket
    else:
        starts, ends = bounds
    # A hit never starts on a line's last byte (a comma, a bracket or a newline).
    secret = {bisect.bisect_right(ends, at) for at in secret_at}
    split = {bisect.bisect_right(ends, at) for at in split_at}
    return starts, ends, secret, split


# -- uuids


def _sha1_uuid(name: str) -> str:
    """sha1(name) as a name-based (version 5, RFC 4122 variant) UUID."""
    h = _sha1_hex(name)
    return _uuid_prefix(h, "5") + h[20:32]


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def _uuid_head(session_id: str, role: str) -> str:
    """The first 20 hex digits (and dashes) of every uuid of `role`'s lines."""
    return _uuid_prefix(_sha1_hex(f"{session_id}::{role}"), "8")


def _sha1_hex(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()


def _uuid_prefix(h: str, version: str) -> str:
    """The first 20 of the hex digits `h` as a UUID's first four groups, with
    `version` and the RFC 4122 variant set: "xxxxxxxx-xxxx-Vxxx-yxxx-"."""
    return f"{h[:8]}-{h[8:12]}-{version}{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-"


def trace_uuid(session_id: str, role: str, index: int) -> str:
    """The uuid of the line of message `index`, a `role` message, in session
    `session_id`: a version-8 (RFC 9562, RFC 4122 variant) UUID whose first
    74 free bits are sha1("<session_id>::<role>") and whose last 48 are the
    index, so a line's uuid costs a format, not a hash. Same arguments, same uuid."""
    return f"{_uuid_head(session_id, role)}{index & _INDEX_MASK:012x}"


_INDEX_MASK = (1 << 48) - 1


def session_uuid(session_id: str) -> str:
    """The trace's `sessionId`: the session id if it is a UUID, else one derived from it."""
    if _UUID.fullmatch(session_id):
        return session_id.lower()
    return _sha1_uuid(f"ml-intern-session::{session_id}")


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def trace_cwd(record: Any) -> str:
    """The working directory a session recorded (`metadata["cwd"]`), else ""."""
    cwd = (getattr(record, "metadata", None) or {}).get("cwd")
    return cwd if isinstance(cwd, str) else ""


def _keep(text: str) -> str:
    return text


class TraceBuilder:
    """The trace of one session's history, built incrementally.

    A line depends only on its message, the message's index and the previous
    line's uuid, so a history that only grows needs only its new messages
    converted: `extend` takes the messages that follow the `count` already
    consumed, and `jsonl()` is the whole trace so far, byte for byte what
    `to_claude_code_jsonl` gives for the full history. When earlier messages
    change (a compaction rewrote the history) start a new builder.
    """

    def __init__(self, *, session_id: str, model: str, session_start: float, cwd: str = "") -> None:
        start = valid_ts(session_start)
        if start is None:
            raise ValueError(f"session_start must be a unix time, got {session_start!r}")
        if not isinstance(session_id, str) or not session_id:
            raise ValueError(f"session_id must be a non-empty string, got {session_id!r}")
        self.session_id = session_id
        self.model = model
        self.session_start = session_start
        self.cwd = cwd
        self.count = 0  # messages consumed so far
        self._start_iso = _iso(start)
        self._model = scrub_text(model)
        self._cwd = scrub_text(cwd)
        self._session = scrub_text(session_uuid(session_id))
        self._parent: str | None = None
        self._uuid_head = {role: _uuid_head(session_id, role) for role in _ROLES}
        # An assistant line's message id: "msg_" and its uuid without the dashes.
        self._message_head = "msg_" + self._uuid_head["assistant"].replace("-", "")
        self._head: dict[str, Any] = {
            "uuid": "",
            "parentUuid": None,
            "isSidechain": False,
            "userType": "external",
            "cwd": self._cwd,
            "sessionId": self._session,
            "version": __version__,
            "timestamp": self._start_iso,
            "type": "user",
        }
        self._encoded: list[Any] = []  # bytes and memoryviews of them
        self._data: bytes | None = b""

    def matches(self, *, session_id: str, model: str, session_start: float, cwd: str = "") -> bool:
        """True if this builder makes lines the way a fresh one with these arguments would."""
        return (session_id, model, session_start, cwd) == (
            self.session_id,
            self.model,
            self.session_start,
            self.cwd,
        )

    def _consume(
        self, messages: list[dict[str, Any]], *, clean: bool
    ) -> tuple[list[dict[str, Any]], list[tuple[Any, int, str | None]]]:
        """Consume `messages` (the next ones in the history): their lines,
        scrubbed if `clean`, and for each line its (message, index, parent),
        what building it again takes."""
        lines: list[dict[str, Any]] = []
        keys: list[tuple[Any, int, str | None]] = []
        index = self.count
        parent = self._parent
        for msg in messages:
            line = self._line(msg, index, parent, clean)
            if line is not None:
                lines.append(line)
                keys.append((msg, index, parent))
                parent = line["uuid"]
            index += 1
        self.count = index
        self._parent = parent
        return lines, keys

    def _lines(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._consume(messages, clean=True)[0]

    def _encode(self, messages: list[dict[str, Any]]) -> list[Any]:
        """The encoded, scrubbed lines of `messages` (consumed), as buffers to join."""
        if len(messages) <= _CHUNK:
            return self._encode_chunks(messages, None)
        # The lines are many small dicts that all live until the end: the
        # cyclic collector finds nothing in them, and walking them costs a
        # sixth of the conversion. It runs again as soon as this is done.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._encode_chunks(messages, _scan_pool())
        finally:
            if paused:
                gc.enable()

    def _encode_chunks(
        self, messages: list[dict[str, Any]], pool: concurrent.futures.Executor | None
    ) -> list[Any]:
        # Chunk by chunk: build the lines, encode them, hand the bytes to the
        # scan, and mend the chunk before (its scan has run meanwhile). A
        # chunk's line dicts are dropped once encoded, so the next chunk's
        # reuse their memory.
        out: list[Any] = []
        waiting: tuple[Any, ...] | None = None
        for at in range(0, len(messages), _CHUNK):
            lines, keys = self._consume(messages[at : at + _CHUNK], clean=False)
            if not lines:
                continue
            data = _encode_chunk(lines)
            bounds, fallback = None, set[int]()
            if data is None:
                data, bounds, fallback = _encode_each(lines)
            del lines
            scan: Any = None
            if pool is not None:
                try:
                    scan = pool.submit(_scan, data, len(keys), bounds)
                except RuntimeError:  # the interpreter is shutting down
                    pool = None
            if pool is None:
                scan = _scan(data, len(keys), bounds)
            if waiting is not None:
                self._mend(out, *waiting)
            waiting = (keys, data, fallback, scan)
        if waiting is not None:
            self._mend(out, *waiting)
        return out

    def _mend(
        self,
        out: list[Any],
        keys: list[tuple[Any, int, str | None]],
        data: bytes,
        fallback: set[int],
        scan: Any,
    ) -> None:
        """Append to `out` the lines of `data`, each with its newline, the lines
        the scan picked (and those in `fallback`) built again scrubbed, and
        the raw line splitters in the lines that have them escaped."""
        found = scan.result() if isinstance(scan, concurrent.futures.Future) else scan
        if found is None:  # a nested object that looks like a boundary
            lines = [self._line(msg, index, parent, False) for msg, index, parent in keys]
            data, bounds, fallback = _encode_each(lines)  # type: ignore[arg-type]
            found = _scan(data, len(keys), bounds)
            assert found is not None  # with the bounds given, always found
        starts, ends, secret, split = found
        scrub = secret | fallback
        text = bytearray(data)
        for end in ends:  # the comma (or closing bracket, or newline) after each line
            text[end] = 0x0A
        view = memoryview(text)
        pos = starts[0]
        for i in sorted(scrub | split):
            start, end = starts[i], ends[i] + 1
            out.append(view[pos:start])
            if i in scrub:
                msg, index, parent = keys[i]
                line = self._line(msg, index, parent, True)
                assert line is not None  # scrubbing never empties a line
                out.append(_dumps(line)[0])
            else:
                out.append(_escape_splitters(bytes(view[start:end])))
            pos = end
        out.append(view[pos:])

    def extend(self, messages: list[dict[str, Any]]) -> TraceBuilder:
        """Consume `messages` (the next ones in the history) and encode their lines."""
        added = self._encode(messages)
        if added:
            self._encoded += added
            self._data = None
        return self

    def jsonl_bytes(self) -> bytes:
        """The trace so far as UTF-8: one compact JSON object per line, each ending in a newline."""
        if self._data is None:
            self._data = b"".join(self._encoded)
            self._encoded = [self._data]  # one copy of the text, not the lines and the whole
        return self._data

    def jsonl(self) -> str:
        """`jsonl_bytes()` as text."""
        return self.jsonl_bytes().decode()

    @property
    def size(self) -> int:
        """Bytes held (the JSONL so far)."""
        return sum(map(len, self._encoded))

    def _line(self, msg: Any, index: int, parent: str | None, clean: bool) -> dict[str, Any] | None:
        if not isinstance(msg, dict):
            return None
        s = scrub_text if clean else _keep
        role = msg.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            return None  # "system", "developer", or something unknown
        uuid = f"{self._uuid_head[role]}{index & _INDEX_MASK:012x}"
        meta = summary = False
        if role == "user":
            kind = "user"
            raw = msg.get("content")
            if isinstance(raw, str):
                meta = raw.startswith(SYSTEM_PREFIX)  # an agent's note
                summary = meta and raw.startswith(_RESTORE_NOTE_HEAD)
                body: dict[str, Any] = {"role": "user", "content": s(raw)}
            else:
                body = {"role": "user", "content": _content(raw, s)}
        elif role == "tool":
            kind = "user"
            raw = msg.get("content")
            call_id = msg.get("tool_call_id")
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": s(call_id if type(call_id) is str else text_of(call_id)),
                "content": s(raw) if type(raw) is str else _content(raw, s),
            }
            ok = msg.get("_success")
            if isinstance(ok, bool):
                result["is_error"] = not ok
            body = {"role": "user", "content": [result]}
        elif role == "assistant":
            blocks = _assistant_blocks(msg, s, clean)
            if not blocks:
                return None
            kind = "assistant"
            body = {
                "id": f"{self._message_head}{index & _INDEX_MASK:012x}",
                "type": "message",
                "role": "assistant",
                "model": self._model,
                "content": blocks,
            }
            stop = msg.get("_finish_reason")
            if isinstance(stop, str) and stop:
                body["stop_reason"] = s(_STOP_REASONS.get(stop, stop))
            usage = msg.get("_usage")
            if usage is not None and (usage := _usage(usage)) is not None:
                body["usage"] = usage
        else:
            return None
        ts = msg.get("_ts")
        line = self._head.copy()  # the keys in their order; the varying ones set below
        line["uuid"] = uuid
        line["parentUuid"] = parent
        if type(ts) is float and 0.0 <= ts <= MAX_TS:
            line["timestamp"] = _iso(ts)
        elif (ts := valid_ts(ts)) is not None:
            line["timestamp"] = _iso(ts)
        line["type"] = kind
        if meta:
            line["isMeta"] = True
        if summary:  # what Claude Code marks the summary a continued session starts from
            line["isCompactSummary"] = True
        line["message"] = body
        return line


def to_claude_code_lines(
    messages: list[dict[str, Any]],
    *,
    session_id: str,
    model: str,
    session_start: float,
    cwd: str = "",
) -> list[dict[str, Any]]:
    """The trace lines of `messages` (OpenAI-format dicts).

    `index` in each uuid is the message's position in `messages`. A message's
    own `_ts` gives its timestamp, else `session_start` does; `_success` (tool
    results), `_usage` and `_finish_reason` (assistant messages) give
    `is_error`, `usage` and `stop_reason`; other `_`-prefixed keys are
    ignored. System messages, roles the format has no place for, and
    assistant messages with neither text nor tool calls produce no line; the
    chain continues past them.
    """
    builder = TraceBuilder(session_id=session_id, model=model, session_start=session_start, cwd=cwd)
    return builder._lines(messages)


def to_claude_code_jsonl(
    messages: list[dict[str, Any]],
    *,
    session_id: str,
    model: str,
    session_start: float,
    cwd: str = "",
) -> str:
    """The trace as JSONL: one compact JSON object per line, each ending in a newline."""
    return to_claude_code_jsonl_bytes(
        messages, session_id=session_id, model=model, session_start=session_start, cwd=cwd
    ).decode()


def to_claude_code_jsonl_bytes(
    messages: list[dict[str, Any]],
    *,
    session_id: str,
    model: str,
    session_start: float,
    cwd: str = "",
) -> bytes:
    """`to_claude_code_jsonl` as UTF-8, what a file or an upload takes (no decoding)."""
    builder = TraceBuilder(session_id=session_id, model=model, session_start=session_start, cwd=cwd)
    return builder.extend(messages).jsonl_bytes()


# -- content


def _usage(value: Any) -> dict[str, int] | None:
    counts = usage_counts(value)
    if counts is None:
        return None
    keys = ("input_tokens", "output_tokens")
    return {k: n for k, n in zip(keys, counts, strict=True) if n is not None}


def _assistant_blocks(msg: dict[str, Any], s: Any, clean: bool) -> list[dict[str, Any]]:
    content = msg.get("content")
    if isinstance(content, list):  # one block per part
        blocks = []
        for part in content:
            image = _image(part, s) if isinstance(part, dict) else None
            if image is not None:
                blocks.append(image)
            elif text := part_text(part):
                blocks.append({"type": "text", "text": s(text)})
    else:
        text = content if type(content) is str else text_of(content)
        blocks = [{"type": "text", "text": s(text)}] if text else []
    thought = msg.get("reasoning_content")
    if thought is not None and (
        thought := text_of(thought)
    ):  # the model's reasoning first, as Claude Code records thinking
        signed = [b for b in msg.get("thinking_blocks") or [] if isinstance(b, dict)]
        signature = next((b.get("signature") for b in signed if b.get("signature")), None)
        block: dict[str, Any] = {"type": "thinking", "thinking": s(thought)}
        if isinstance(signature, str):
            block["signature"] = signature
        blocks.insert(0, block)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if not isinstance(call, dict):
                continue
            fn = call.get("function")
            if not isinstance(fn, dict):
                fn = {}
            call_id, name = call.get("id"), fn.get("name")
            blocks.append(
                {
                    "type": "tool_use",
                    "id": s(call_id if type(call_id) is str else text_of(call_id)),
                    "name": s(name if type(name) is str else text_of(name)),
                    "input": _tool_input(fn.get("arguments"), s, clean),
                }
            )
    return blocks


def _content(content: Any, s: Any) -> Any:
    """User or tool content: one string (text parts joined by newlines), or a
    list of text and image blocks when there are images."""
    if not isinstance(content, list):
        return s(text_of(content))
    blocks = _blocks(content, s)
    if any(b["type"] == "image" for b in blocks):
        return blocks
    return "\n".join(b["text"] for b in blocks)


def _blocks(parts: list[Any], s: Any) -> list[dict[str, Any]]:
    """Text runs (joined by newlines, scrubbed) and image blocks, in order."""
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []
    for part in parts:
        image = _image(part, s) if isinstance(part, dict) else None
        if image is None:
            text = part_text(part)
            if text:
                texts.append(text)
            continue
        if texts:
            blocks.append({"type": "text", "text": s("\n".join(texts))})
            texts = []
        blocks.append(image)
    if texts:
        blocks.append({"type": "text", "text": s("\n".join(texts))})
    return blocks


def _image(part: dict[str, Any], s: Any) -> dict[str, Any] | None:
    """An image part as a Claude image block (or a text block saying why it
    was left out); None if `part` is not an image."""
    kind = part.get("type")
    if kind not in IMAGE_PARTS:
        return None
    media, data = "", None
    source = part.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":  # Claude's own shape
        media, data = text_of(source.get("media_type")), source.get("data")
    else:
        url = part.get("image_url", part.get("url"))
        if isinstance(url, dict):
            url = url.get("url")
        if isinstance(url, str):
            m = _DATA_URL.match(url)
            if m is None:
                return _note("[image not included in the trace: it is a link, not inline data]")
            media, data = m.group(1), url[m.end() :]
    if not isinstance(data, str) or not media.startswith("image/") or not data:
        return _note("[image not included in the trace: no inline image data]")
    if len(data) > IMAGE_MAX_CHARS:
        return _note(
            f"[image not included in the trace: {len(data) * 3 // 4:,} bytes, "
            f"over the {IMAGE_MAX_CHARS * 3 // 4:,}-byte limit]"
        )
    if _BASE64.fullmatch(data) is None or len(data) % 4:
        return _note("[image not included in the trace: its data is not valid base64]")
    if s(data) != data or s(media) != media:
        return _note("[image not included in the trace: its data looked like a secret]")
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}


def _note(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


# -- tool arguments


def _tool_input(arguments: Any, s: Any, clean: bool) -> dict[str, Any]:
    """Parsed, scrubbed tool arguments; {"_raw": text} when they are not a JSON object.

    Parsing comes before scrubbing, so a secret behind a JSON escape (a token
    right after a `\\n`) is seen as the tool saw it, and a dict entry named
    like a secret is redacted by `scrub`.
    """
    if arguments is None:
        return {}
    # Providers that hand over parsed arguments get a JSON round trip, which
    # leaves plain JSON values only (no NaN, no odd key types).
    raw = arguments if isinstance(arguments, str) else text_of(arguments)
    if not raw or raw.isspace():
        return {}
    if not clean and _embeddable(raw):
        return orjson.Fragment(raw)  # type: ignore[return-value]
    try:
        parsed = decode_arguments(raw)
        if isinstance(parsed, dict):
            return scrub(parsed, keys=True) if clean else parsed
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        pass
    return {"_raw": s(raw)}


# Arguments go into an unscrubbed line as the text they are when they have no
# line break and are a JSON object by orjson's rules (stricter than the
# stdlib's: no NaN, no lone surrogates). The scan sees everything in them
# that a scrubbed copy would, except what a JSON escape could hide; it looks
# for those escapes too (`_HIDING_ESCAPES`). A line the scan picks is built
# again with the arguments parsed and scrubbed.


def _embeddable(raw: str) -> bool:
    if "\n" in raw or "\r" in raw:
        return False
    try:
        return isinstance(orjson.loads(raw), dict)
    except orjson.JSONDecodeError:
        return False


# -- time


def _iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds: 2025-06-15T14:13:20.123Z."""
    days, millis = divmod(round(ts * 1_000_000) // 1000, 86_400_000)
    day = _DAYS.get(days)
    if day is None:
        day = _day(days)
    minute, millis = divmod(millis, 60_000)
    # %-format is the quickest here; a float of n/1000 prints back as n exactly.
    return "%s%s%06.3fZ" % (day, _HOURS_MINUTES[minute], millis / 1000)  # noqa: UP031


# "HH:MM:" of each minute of a day, made with the first date (not at import).
_HOURS_MINUTES: tuple[str, ...] = ()
_DAYS: dict[int, str] = {}


def _day(days_since_epoch: int) -> str:
    global _HOURS_MINUTES
    if not _HOURS_MINUTES:
        _HOURS_MINUTES = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
    # Integer arithmetic from the epoch, not time.gmtime, whose range is platform-bound.
    day = (_EPOCH + datetime.timedelta(days=days_since_epoch)).strftime("%Y-%m-%dT")
    if len(_DAYS) >= 4096:
        _DAYS.clear()
    _DAYS[days_since_epoch] = day
    return day

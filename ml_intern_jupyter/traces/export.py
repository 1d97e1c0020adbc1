"""Export a saved session to a file (`%intern export`).

Formats:

* ``claude_code``: the trace as Claude Code JSONL (what gets uploaded);
* ``hf_session``: the Hub's Session Traces Format JSONL (`hf_session.py`);
* ``markdown``: a readable transcript — user and assistant turns, tool calls
  as fenced code with their arguments, tool results cut short; system
  messages and `[SYSTEM: ...]` notes are left out;
* ``json``: the session record and its message list, as stored.

Everything is scrubbed of secrets (`redact.scrub`) before it is written,
before any truncation, so a cut cannot split a secret past the scrubber.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..agent.context import SYSTEM_PREFIX
from .claude_code import to_claude_code_jsonl_bytes, trace_cwd
from .hf_session import to_hf_session_jsonl
from .redact import scrub, scrub_text

if TYPE_CHECKING:
    from ..store.base import SessionRecord, SessionStore

__all__ = ["EXTENSIONS", "FORMATS", "export_session", "render_export", "session_markdown"]

FORMATS = ("claude_code", "hf_session", "markdown", "json")
EXTENSIONS = {"claude_code": ".jsonl", "hf_session": ".jsonl", "markdown": ".md", "json": ".json"}
JSON_FORMAT_NAME = "ml-intern-session"
TOOL_RESULT_LINES = 40
TOOL_RESULT_CHARS = 4000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_BACKTICKS = re.compile(r"`{3,}")


def export_session(store: SessionStore, session_id: str, path: str | Path, fmt: str) -> Path:
    """Write the session to `path` in `fmt`; returns the file written.

    `path` may be an existing directory: the file is then `<session_id><ext>`
    in it. Missing parent directories are created. Raises `ValueError` for an
    unknown format or a path that cannot be written, and the store's
    `UnknownSessionError` for an unknown session.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}.")
    from ..store.base import UnknownSessionError

    record = store.get_session(session_id)
    if record is None:
        raise UnknownSessionError(session_id)
    data = render_export(fmt, record, store.load_messages(session_id))
    target = Path(path).expanduser()
    if target.is_dir():
        target = target / f"{_UNSAFE.sub('_', session_id)}{EXTENSIONS[fmt]}"
    try:
        _write_atomic(target, data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(f"Cannot write the export to {target}: {reason}.") from exc
    return target


def render_export(fmt: str, record: SessionRecord, messages: list[dict[str, Any]]) -> bytes:
    """An export as UTF-8 (scrubbed)."""
    if fmt == "claude_code":  # built as UTF-8 already: no decode and encode again
        return to_claude_code_jsonl_bytes(
            messages,
            session_id=record.id,
            model=record.model,
            session_start=record.created,
            cwd=trace_cwd(record),
        )
    return _render_text(fmt, record, messages).encode("utf-8", "replace")


def _render_text(fmt: str, record: SessionRecord, messages: list[dict[str, Any]]) -> str:
    if fmt == "hf_session":
        return to_hf_session_jsonl(
            messages,
            session_id=record.id,
            model=record.model,
            session_start=record.created,
            cwd=trace_cwd(record),
            name=record.title,
        )
    clean: list[dict[str, Any]] = [m for m in scrub(messages) if isinstance(m, dict)]
    if fmt == "markdown":
        return session_markdown(record, clean)
    if fmt == "json":
        doc = {
            "format": JSON_FORMAT_NAME,
            "version": 1,
            "session": scrub(dataclasses.asdict(record)),
            "messages": clean,
        }
        return json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"
    raise ValueError(f"Unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}.")


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------- markdown


def session_markdown(record: SessionRecord, messages: list[dict[str, Any]]) -> str:
    """A readable transcript of (already scrubbed) messages."""
    started = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
    out = [f"# {scrub_text(record.title) or f'Session {record.id}'}", ""]
    out.append(f"- Session: `{record.id}`")
    if record.model:
        out.append(f"- Model: `{scrub_text(record.model)}`")
    out.append(f"- Started: {started.strftime('%Y-%m-%d %H:%M UTC')}")
    if record.notebook:
        out.append(f"- Notebook: `{scrub_text(record.notebook)}`")
    out += ["", "---", ""]

    tool_names: dict[str, str] = {}
    body: list[str] = []
    for msg in messages:
        role = msg.get("role")
        if role == "user":
            text = _text(msg.get("content"))
            if text.startswith(SYSTEM_PREFIX):  # the agent's notes to the model
                continue
            body += ["## User", "", text or "*(empty)*", ""]
        elif role == "assistant":
            body += _assistant(msg, tool_names)
        elif role == "tool":
            call_id = str(msg.get("tool_call_id") or "")
            name = str(msg.get("name") or tool_names.get(call_id) or "tool")
            body += [f"**Tool result** `{name}`", "", *_fenced(_clip(_text(msg.get("content"))))]
            body.append("")
    out += body or ["*The conversation is empty.*", ""]
    return scrub_text("\n".join(out).rstrip() + "\n")


def _assistant(msg: dict[str, Any], tool_names: dict[str, str]) -> list[str]:
    out: list[str] = []
    text = _text(msg.get("content"))
    calls = [c for c in msg.get("tool_calls") or [] if isinstance(c, dict)]
    if not text and not calls:
        return out
    out += ["## Assistant", ""]
    if text:
        out += [text, ""]
    for call in calls:
        fn = call.get("function")
        if not isinstance(fn, dict):
            fn = {}
        name = str(fn.get("name") or "?")
        tool_names[str(call.get("id") or "")] = name
        out += [f"**Tool call** `{name}`", "", *_fenced(_arguments(fn.get("arguments")), "json")]
        out.append("")
    return out


def _arguments(raw: Any) -> str:
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return raw
    if value is None:
        return "{}"
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                kind = part.get("type")
                if "text" in part:
                    parts.append(str(part.get("text") or ""))
                elif kind:
                    parts.append(f"[{str(kind).replace('_url', '')}]")
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(p for p in parts if p).strip()
    return "" if content is None else str(content).strip()


def _clip(text: str) -> str:
    lines = text.splitlines()
    kept = lines[:TOOL_RESULT_LINES]
    cut = "\n".join(kept)
    if len(cut) > TOOL_RESULT_CHARS:
        cut = cut[:TOOL_RESULT_CHARS]
    if len(cut) < len(text.rstrip("\n")):
        cut += f"\n… (truncated: {len(lines)} lines, {len(text)} characters in all)"
    return cut


def _fenced(text: str, lang: str = "") -> list[str]:
    """`text` in a code fence longer than any run of backticks inside it."""
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(text)), default=2)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", text, fence]

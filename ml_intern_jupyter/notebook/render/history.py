"""The conversation as markdown (`%intern history`); hidden `[SYSTEM: ...]` notes are left out."""

from __future__ import annotations

from typing import Any

from .markup import compact_args

__all__ = ["history_markdown"]

TOOL_RESULT_LINES = 6


def history_markdown(messages: list[dict[str, Any]]) -> str:
    from ...agent.context import is_system_note

    out: list[str] = []
    for msg in messages:
        role = msg.get("role")
        content = msg.get("content")
        if role == "system" or is_system_note(msg):
            continue
        if role == "user":
            out += ["**You:**", "", _quote(str(content or "")), ""]
        elif role == "assistant":
            if content:
                out += ["**Intern:**", "", str(content), ""]
            for call in msg.get("tool_calls") or []:
                fn = call.get("function", {})
                out.append(f"→ **{fn.get('name', '?')}** `{_args(fn.get('arguments', ''))}`")
                out.append("")
        elif role == "tool":
            lines = str(content or "").splitlines()
            shown = lines[:TOOL_RESULT_LINES]
            if len(lines) > len(shown):
                shown.append(f"… ({len(lines) - len(shown)} more lines)")
            out.append(f"← **{msg.get('name', 'tool')}**")
            out += ["", *("    " + line for line in shown), ""]
    return "\n".join(out).strip() or "*The conversation is empty.*"


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines()) or ">"


def _args(raw: Any) -> str:
    import json

    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = raw
    text = compact_args(value) if isinstance(value, dict) else str(value)[:120]
    return text.replace("`", "'")

"""Guards that notice a model going in circles and tell it so.

* Doom loop: over the last 30 messages each tool call gets a signature
  (name, hash of canonical args, hash of its result). Three identical
  signatures in a row, or a sequence of 2-5 signatures repeated back to back,
  fires a `[SYSTEM: REPETITION GUARD]` note. The result is part of the
  signature, so polling whose output changes is not a loop.
* Malformed arguments: two malformed calls in a row to the same tool fire a
  note telling the model to stop retrying that shape.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["DoomLoopGuard", "MalformedStreak"]

WINDOW = 30

DOOM_NOTE = (
    "[SYSTEM: REPETITION GUARD] You have made the same tool call(s) with the same "
    "arguments and received the same results several times in a row: {calls}. Repeating "
    "them will not change the outcome. Stop, think about why it is not working, and try "
    "a different approach — or tell the user what is blocking you."
)
MALFORMED_NOTE = (
    "[SYSTEM: Your last {n} calls to '{tool}' had malformed JSON arguments and were not "
    "executed. Stop retrying the same shape. Send a smaller, simpler JSON object; for "
    "large content write it in several smaller pieces (for example several `edit` calls, "
    "or a heredoc through `bash`).]"
)


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]


def _canonical_args(raw: str) -> str:
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except (ValueError, TypeError):
        return raw


def call_signatures(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    results = {m.get("tool_call_id"): m.get("content") for m in messages if m.get("role") == "tool"}
    sigs = []
    for m in messages:
        calls = m.get("tool_calls") if m.get("role") == "assistant" else None
        for call in calls or []:
            fn = call.get("function", {})
            sigs.append(
                (
                    fn.get("name", ""),
                    _digest(_canonical_args(fn.get("arguments") or "")),
                    _digest(results.get(call.get("id")) or ""),
                )
            )
    return sigs


def find_repetition(sigs: list[tuple[str, str, str]]) -> list[tuple[str, str, str]] | None:
    """The repeating unit at the end of `sigs`, or None."""
    if len(sigs) >= 3 and sigs[-1] == sigs[-2] == sigs[-3]:
        return [sigs[-1]]
    for length in range(2, 6):
        if len(sigs) >= 2 * length and sigs[-length:] == sigs[-2 * length : -length]:
            unit = sigs[-length:]
            if len(set(unit)) > 1:
                return unit
    return None


class DoomLoopGuard:
    def __init__(self) -> None:
        self._fired_at = -1  # number of signatures seen when it last fired

    def check(self, messages: list[dict[str, Any]]) -> str | None:
        total = sum(
            len(m.get("tool_calls") or ()) for m in messages if m.get("role") == "assistant"
        )
        if total == self._fired_at:
            return None  # nothing new since the last warning
        unit = find_repetition(call_signatures(messages[-WINDOW:]))
        if unit is None:
            return None
        self._fired_at = total
        return DOOM_NOTE.format(calls=", ".join(name for name, _, _ in unit))

    def reset(self) -> None:
        self._fired_at = -1


class MalformedStreak:
    def __init__(self, limit: int = 2) -> None:
        self.limit = limit
        self._streak: dict[str, int] = {}

    def record(self, tool: str, malformed: bool) -> str | None:
        """Count one call; returns the note when the streak reaches the limit."""
        if not malformed:
            self._streak.pop(tool, None)
            return None
        n = self._streak.get(tool, 0) + 1
        self._streak[tool] = n
        return MALFORMED_NOTE.format(n=n, tool=tool) if n == self.limit else None

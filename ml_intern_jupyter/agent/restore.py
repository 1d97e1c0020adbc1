"""Seed a new session from a stored conversation after the old one was lost.

Two ways, as the "Where were we?" banner offers them:
* catch up: the model writes a first-person note to its future self from the
  stored history, and the new session starts from that note;
* restore: the stored messages are loaded verbatim (tool calls that never got
  a result are closed, an unanswered approval is dropped).
Either way the model is told that the kernel restarted, so the Python
variables it made before are gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import RESTORE_NOTE, History, estimate_tokens

if TYPE_CHECKING:
    from .session import Session

__all__ = ["RESTART_NOTE", "catch_up", "fits_context", "restore_full"]

RESTART_NOTE = (
    "[SYSTEM: The Jupyter kernel restarted since this conversation. Python variables, "
    "imports and loaded models from before are gone; files on disk and pushed Hub repos "
    "remain. Re-create what you need before you use it.]"
)
NOT_RESUMED = "Not executed: the session ended before this call was approved."


def _conversation(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored messages minus system prompts, with private keys kept."""
    return [dict(m) for m in messages if m.get("role") != "system"]


def fits_context(session: Session, messages: list[dict[str, Any]]) -> bool:
    """Whether the stored history, loaded verbatim, stays under the compaction threshold."""
    size = sum(
        estimate_tokens({k: v for k, v in m.items() if not k.startswith("_")}) for m in messages
    )
    limit = session.config.compaction_threshold * session.llm.context_window()
    return size + estimate_tokens(session.history.messages[0].get("content") or "") < limit


def restore_full(session: Session, messages: list[dict[str, Any]]) -> int:
    """Load `messages` into `session` after its system prompt; returns how many."""
    history = session.history
    restored = History(str(history.messages[0].get("content") or ""))
    for message in _conversation(messages):
        restored.messages.append(message)
    restored.patch_dangling(NOT_RESUMED)
    restored.add_user(RESTART_NOTE)
    history.replace(restored.messages)
    return len(restored.messages) - 1


async def catch_up(session: Session, messages: list[dict[str, Any]]) -> str:
    """Summarise `messages` with the restore prompt and seed `session` with the note."""
    from .loop import TurnRunner

    summary = await TurnRunner(session).summarise_for_restore(_conversation(messages))
    if not summary:
        summary = "(The summary came back empty; ask the user what they were working on.)"
    session.history.add_user(RESTORE_NOTE.format(summary=summary) + "\n\n" + RESTART_NOTE)
    return summary

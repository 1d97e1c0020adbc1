"""Read-only snapshots of a session, for threads other than the session's own.

A session lives on the intern thread and changes there. Everything another
thread shows (the notebook's commands, headers, the sidebar) reads a
`SessionSnapshot` instead: the session builds a new one on its own thread
after each change it makes (at each event it emits, streamed text aside, and
after a settings change) and publishes it by assigning one attribute, which
is atomic. A reader therefore always gets one consistent moment of the
session, never half of a change, and never waits for the intern loop (which
a blocking call from the intern thread itself could not).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config
    from .session import Session, Totals
    from .states import RunState

__all__ = ["FrozenTotals", "SessionSnapshot", "snapshot_of"]

# Events that change nothing a snapshot shows (they stream text or output).
STREAMING = frozenset({"assistant_chunk", "assistant_reasoning", "tool_output"})


@dataclass(frozen=True)
class FrozenTotals:
    """A copy of a session's `Totals` at one moment."""

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    turns: int = 0
    inference_usd: float = 0.0
    jobs_usd: float = 0.0
    by_day: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, t: Totals) -> FrozenTotals:
        values = {f.name: getattr(t, f.name) for f in fields(cls)}
        values["by_day"] = MappingProxyType(dict(t.by_day))
        return cls(**values)


@dataclass(frozen=True)
class SessionSnapshot:
    """What a session looked like after one of its changes (see the module docstring)."""

    session_id: str
    seq: int  # the last event emitted before this snapshot
    model: str
    effort: str | None  # the configured reasoning effort (None: the model's default)
    effort_takes: str | None  # the highest effort the model was found to accept, if probed
    state: RunState
    messages: int  # in the history, the system prompt included
    totals: FrozenTotals
    yolo: bool
    spend_pause_usd: float | None  # the next spend pause (None: never)
    pending: tuple[str, ...]  # tools of the calls waiting for a decision
    pending_ids: tuple[str, ...]  # their tool call ids
    title: str  # the saved session's title, else one from the first request ("" before it)
    mcp_disabled: tuple[str, ...]
    notifies: tuple[str, ...]  # notification destinations
    # The session's settings. The session never changes a Config; it replaces it.
    config: Config


def snapshot_of(session: Session, title: str) -> SessionSnapshot:
    """Build a snapshot of `session` (on the session's own thread)."""
    cfg = session.config
    notifier = session.notifier
    return SessionSnapshot(
        session_id=session.id,
        seq=session._seq,
        model=cfg.model_name,
        effort=cfg.reasoning_effort,
        effort_takes=session.effort_memo.known(cfg.model_name),
        state=session.state,
        messages=len(session.history.messages),
        totals=FrozenTotals.of(session.totals),
        yolo=session.policy.yolo,
        spend_pause_usd=session.policy.spend_pause_usd,
        pending=tuple(p.tool for p in session.pending),
        pending_ids=tuple(p.tool_call_id for p in session.pending),
        title=title,
        mcp_disabled=tuple(cfg.mcp_disabled),
        notifies=tuple(notifier.destinations) if notifier is not None else (),
        config=cfg,
    )

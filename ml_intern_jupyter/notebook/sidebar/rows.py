"""One session's row in the JupyterLab sidebar, kept up to date from its events.

A `RowTracker` subscribes to a session like the live view does and builds
the row the sidebar shows (see ARCHITECTURE.md, "Sidebar channel", for the
fields). Everything here runs on the intern thread; the tracker reads the
session's snapshot (`Session.describe()`: totals, model, title) only.

Changes are coalesced: a row is published at most once per `ROW_INTERVAL`
(10 per second) and the last state always goes out within `ROW_INTERVAL`
of its change. Notices (a session starts waiting, fails, finishes a turn)
are published at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_intern_jupyter.agent import messages as ev
    from ml_intern_jupyter.agent.session import Session

__all__ = ["ARGS_MAX_CHARS", "ROW_INTERVAL", "RowTracker"]

ROW_INTERVAL = 0.1  # seconds between two row messages of one session
ARGS_MAX_CHARS = 4000
# Operations that are the session's work (the rest are instant bookkeeping).
WORK_OPS = frozenset({"user_input", "exec_approval", "compact", "undo", "new"})
# Tool states that close a pending call.
CLOSING_STATES = frozenset({"approved", "rejected", "cancelled", "abandoned"})

Publish = Callable[[dict[str, Any]], None]


def arguments_text(arguments: Any) -> tuple[str, bool]:
    """A tool call's arguments as scrubbed JSON text, at most ARGS_MAX_CHARS; (text, truncated)."""
    from ...traces.redact import scrub

    try:
        text = json.dumps(scrub(arguments, keys=True), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(scrub(str(arguments)))
    if len(text) <= ARGS_MAX_CHARS:
        return text, False
    return text[: ARGS_MAX_CHARS - 1] + "…", True


class RowTracker:
    """A session's sidebar row (intern thread). Feed it the session's events with `on_event`."""

    def __init__(
        self,
        session: Session,
        *,
        name: str,
        notebook: str,
        publish: Publish,
        cell_of: Callable[[str], str | None] = lambda _op_id: None,
        held: Callable[[], int] = lambda: 0,
    ):
        self.session = session
        self.name = name
        self.notebook = notebook
        self._publish = publish
        self._cell_of = cell_of  # op id -> the cellId of the cell that submitted it
        self._held = held  # requests waiting in the conductor (behind "Where were we?")
        self.active: str | None = None  # id of the work operation being handled
        self.queued: set[str] = set()  # work operations queued in the session
        self.running: dict[str, str] = {}  # tool_call_id -> tool, while it runs
        self.pending: list[dict[str, Any]] = []  # calls waiting for a decision
        self.decided: set[str] = set()  # pending calls decided in a cell, not yet sent
        self.seen_calls: set[str] = set()  # every call id that ever waited for approval
        self.failed = False
        self.error: str | None = None
        self.cell_id: str | None = None
        self.last_activity = float(getattr(session, "created", 0.0) or time.time())
        self.closed = False
        self._title = ""
        # The current turn: its work time so far, and when its running span began.
        self._turn_active_s: float | None = None
        self._span_start: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_sent = float("-inf")
        self.published = 0  # row messages published (for tests and benchmarks)

    # ------------------------------------------------------------------ row

    def status(self) -> tuple[str, str | None]:
        if self.active is not None:
            if self.running:
                return "running", next(reversed(self.running.values()))
            return "streaming", None
        if self.waiting_calls():
            return "waiting", None
        if self.queued or self._held():
            return "queued", None
        if self.failed:
            return "error", None
        return "idle", None

    def waiting_calls(self) -> list[dict[str, Any]]:
        return [p for p in self.pending if p["call_id"] not in self.decided]

    def title(self) -> str:
        if not self._title:
            self._title = self.session.describe().title
        return self._title or self.name

    def row(self) -> dict[str, Any]:
        s = self.session.describe()
        totals = s.totals
        status, tool = self.status()
        return {
            "id": s.session_id,
            "title": self.title(),
            "notebook": self.notebook,
            "model": s.model,
            "status": status,
            "tool": tool,
            "pending": [dict(p) for p in self.waiting_calls()],
            "turns": totals.turns,
            "tokens": totals.tokens,
            "cost": float(totals.cost_usd),
            "last_activity": self.last_activity,
            "cell_id": self.cell_id,
            "error": self.error,
        }

    # --------------------------------------------------------------- events

    def on_event(self, e: Any) -> None:
        if self.closed:
            return
        self.last_activity = max(self.last_activity, float(e.timestamp))
        # A research sub-agent's events (`parent_call_id`) belong to its `research`
        # call, which the row already shows running; its errors are that call's result.
        handler = None if getattr(e, "parent_call_id", "") else getattr(self, f"_on_{e.type}", None)
        if handler is not None:
            handler(e)
        if not self.closed:
            self.changed()

    def _on_op_queued(self, e: ev.OpQueued) -> None:
        if e.op_type in WORK_OPS:
            self.queued.add(e.op_id)

    def _on_op_started(self, e: ev.OpStarted) -> None:
        self.queued.discard(e.op_id)
        if e.op_type not in WORK_OPS:
            return
        self.active = e.op_id
        if e.op_type == "user_input":
            self.failed, self.error = False, None
            self.cell_id = self._cell_of(e.op_id)
            self._turn_active_s = 0.0
        if e.op_type == "exec_approval":
            self.pending, self.decided = [], set()
        if e.op_type in ("user_input", "exec_approval"):
            self._span_start = float(e.timestamp)

    def _on_op_done(self, e: ev.OpDone) -> None:
        self.queued.discard(e.op_id)
        if e.outcome == "error":
            self.failed = True
        if e.op_id != self.active:
            return
        self.active = None
        self.running.clear()
        if e.op_type not in ("user_input", "exec_approval") or self._turn_active_s is None:
            return
        if self._span_start is not None:
            self._turn_active_s += max(0.0, float(e.timestamp) - self._span_start)
            self._span_start = None
        if e.outcome == "paused":
            return
        duration, self._turn_active_s = self._turn_active_s, None
        if e.outcome == "done":
            self.notice(
                "turn_done",
                e,
                f"the turn finished after {duration:.0f} s.",
                duration_s=round(duration, 3),
            )

    def _on_tool_state_change(self, e: ev.ToolStateChange) -> None:
        if e.state == "running":
            self.running[e.tool_call_id] = e.tool
        elif e.state in CLOSING_STATES:
            self.running.pop(e.tool_call_id, None)
            self._drop_pending(e.tool_call_id)

    def _on_tool_output(self, e: ev.ToolOutput) -> None:
        self.running.pop(e.tool_call_id, None)
        self._drop_pending(e.tool_call_id)

    def _on_approval_required(self, e: Any) -> None:
        from ...traces.redact import scrub_text

        self.pending, self.decided = [], set()
        for call in e.tools:
            text, truncated = arguments_text(call.arguments)
            self.pending.append(
                {
                    "call_id": call.tool_call_id,
                    "tool": call.tool,
                    "arguments": text,
                    "truncated": truncated,
                    "reason": scrub_text(call.reason or ""),
                    "estimated_cost": call.estimated_cost_usd,
                    "kind": getattr(call, "kind", "tool"),  # "spend": a spend pause
                }
            )
            self.seen_calls.add(call.tool_call_id)
        if all(getattr(c, "kind", "tool") == "spend" for c in e.tools):
            message = "the session's spend reached a pause; go on?"
        else:
            tools = ", ".join(sorted({c.tool for c in e.tools}))
            message = f"{len(e.tools)} tool call(s) wait for your approval ({tools})."
        self.notice("approval", e, message)

    def _on_error(self, e: Any) -> None:
        from ...traces.redact import scrub_text

        self.error = scrub_text(e.error)
        self.notice("error", e, self.error)

    def _on_shutdown(self, _e: ev.ShutdownEvent) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._publish({"type": "removed", "id": self.session.id})

    def _drop_pending(self, call_id: str) -> None:
        if any(p["call_id"] == call_id for p in self.pending):
            self.pending = [p for p in self.pending if p["call_id"] != call_id]
            self.decided.discard(call_id)

    # ------------------------------------------------------------ publishing

    def mark_decided(self, call_id: str) -> None:
        """A pending call was decided in its cell (its decision goes out with the others)."""
        if any(p["call_id"] == call_id for p in self.pending):
            self.decided.add(call_id)
            self.changed()

    def notice(self, kind: str, e: Any, message: str, *, duration_s: float | None = None) -> None:
        self._publish(
            {
                "type": "notice",
                "kind": kind,
                "session_id": self.session.id,
                "notice_id": f"{self.session.id}:{e.seq}:{kind}",
                "message": message,
                "duration_s": duration_s,
            }
        )

    def changed(self) -> None:
        """The row changed: publish it now, or when the interval since the last one is over."""
        if self.closed or self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_sent + ROW_INTERVAL - loop.time())
        self._timer = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        self._timer = None
        if self.closed:
            return
        self._last_sent = asyncio.get_running_loop().time()
        self.published += 1
        self._publish({"type": "session", "session": self.row()})

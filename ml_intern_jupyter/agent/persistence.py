"""Writes a session's history and totals to a `SessionStore` as the turn goes.

Completed messages are appended (never the whole history again); a rewrite
(compaction, undo, new, a repaired tool call) records a new history
generation. `sync` is awaited before every model call and before a turn ends,
so a kernel killed mid-turn loses nothing that had completed. Store I/O runs
in a worker thread: a slow disk or server never stalls streaming.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..store.base import SessionRecord, SessionStore, StoreError, title_from_prompt
from .context import is_real_user
from .states import RunState

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Recorder"]

log = logging.getLogger(__name__)

_STATUS: dict[RunState, str] = {
    "idle": "idle",
    "processing": "active",
    "waiting_approval": "waiting_approval",
    "ended": "ended",
}


class Recorder:
    def __init__(
        self,
        store: SessionStore,
        *,
        notebook: str = "",
        parent_id: str | None = None,
        title: str = "",
        metadata: dict[str, Any] | None = None,
    ):
        """`parent_id`, `title` and `metadata` may be changed until the first `sync`."""
        self.store = store
        self.notebook = notebook
        self.parent_id = parent_id
        self.metadata = dict(metadata or {})
        self._created = False
        self._persisted = 0  # messages of the current generation already stored
        self._history_generation = -1  # History.generation the stored rows belong to
        self._store_generation = 0
        self._title = title
        self._failed = False
        self._lock = asyncio.Lock()

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, value: str) -> None:
        self._title = value

    async def sync(self, session: Session, *, meta: bool = False) -> None:
        """Store new messages (and, with `meta`, the totals); never raises."""
        async with self._lock:
            try:
                snap = self._snapshot(session, meta)
                try:
                    await asyncio.to_thread(self._sync, session, meta, snap)
                except RuntimeError as exc:
                    if "after shutdown" not in str(exc):
                        raise
                    self._sync(session, meta, snap)  # the interpreter is exiting: no workers
            except StoreError as exc:
                self._report(session, exc)
            except Exception as exc:  # a store bug must not end the turn
                log.exception("saving session %s failed", session.id)
                self._report(session, exc)

    def _snapshot(self, session: Session, meta: bool) -> dict[str, Any]:
        # Taken on the loop thread, so the worker never reads state that is changing.
        history = session.history
        snap: dict[str, Any] = {
            "generation": history.generation,
            "messages": list(history.messages),
        }
        if not self._title:
            first = next((m for m in history.messages if is_real_user(m)), None)
            if first is not None:
                self._title = title_from_prompt(str(first.get("content") or ""))
        if meta or not self._created:
            t = session.totals
            snap["fields"] = {
                "model": session.config.model_name,
                "status": _STATUS.get(session.state, "idle"),
                "title": self._title,
                "turns": t.turns,
                "prompt_tokens": t.prompt_tokens,
                "completion_tokens": t.completion_tokens,
                "cost_usd": t.cost_usd,
                "pending_approval": (
                    {"calls": [p.__dict__ for p in session.pending]} if session.pending else None
                ),
            }
            if t.by_day:  # the spend split by kind and by day (`%intern cost` reads it)
                snap["fields"]["metadata"] = {
                    **self.metadata,
                    "spend": {
                        "inference_usd": t.inference_usd,
                        "jobs_usd": t.jobs_usd,
                        "by_day": dict(t.by_day),
                    },
                }
        return snap

    def _sync(self, session: Session, meta: bool, snap: dict[str, Any]) -> None:
        fields = snap.get("fields")
        if not self._created:
            record = SessionRecord(
                id=session.id,
                notebook=self.notebook,
                parent_id=self.parent_id,
                created=session.created,
                metadata=self.metadata,
            )
            existing = self.store.get_session(session.id)
            if existing is None:
                self.store.create_session(record)
            else:
                self._store_generation = existing.generation
            self._created = True
        messages = snap["messages"]
        if snap["generation"] != self._history_generation:
            if self._history_generation == -1 and self.store.count_messages(session.id) == 0:
                self.store.append_messages(session.id, self._store_generation, 0, messages)
            else:
                self._store_generation = self.store.new_generation(session.id, messages)
            self._history_generation = snap["generation"]
            self._persisted = len(messages)
        elif len(messages) > self._persisted:
            self.store.append_messages(
                session.id, self._store_generation, self._persisted, messages[self._persisted :]
            )
            self._persisted = len(messages)
        if fields is not None:
            self.store.update_session(session.id, **fields)

    def _report(self, session: Session, exc: Exception) -> None:
        if self._failed:
            return
        self._failed = True
        from . import messages as ev

        session.emit(
            ev.ToolLog(
                tool="store",
                log=f"Could not save this session ({exc}); the conversation continues "
                "but may not survive a kernel restart.",
            )
        )

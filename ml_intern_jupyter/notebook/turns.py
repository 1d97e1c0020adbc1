"""Which cell's view receives which events: one `Conductor` per session.

A session emits one stream of events with no turn ids. The conductor sends
this notebook's requests to the session one at a time, so every event
belongs to the request in flight (the *active* job): a `%%intern` cell
submitted while a turn runs waits here, shown as "queued", and is sent
when that turn ends. A turn paused for approval leaves the session idle;
new text then abandons the pending calls (as the session does) and runs.

Everything here runs on the intern thread, except the few methods marked
thread-safe; cells and button callbacks hop over with `Runtime.call_soon`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Conductor", "Job", "Sink"]

log = logging.getLogger(__name__)

# Events that end a job, by job kind, and the outcome they mean.
_TURN_END = {
    "turn_complete": "done",
    "error": "error",
    "interrupted": "interrupted",
    "shutdown": "interrupted",
}
TERMINAL = {
    "turn": _TURN_END,
    "compact": {**_TURN_END, "compacted": "done"},
    "undo": {**_TURN_END, "undo_complete": "done"},
    "task": {},  # ends when its coroutine returns
}


class Sink(Protocol):
    """What receives a job's progress (a live view, the text renderer, a command)."""

    def queued(self) -> None: ...
    def started(self) -> None: ...
    def event(self, event: Any) -> None: ...
    def finished(self, outcome: str) -> None: ...


@dataclass(eq=False)
class Job:
    kind: str  # turn | compact | undo | task
    op: Any
    sink: Sink
    model: str | None = None  # set the session's model when the job starts
    yolo: bool = False  # yolo for this job only
    # Text mode: reject every approval request with this feedback for the model.
    auto_reject: str | None = None
    state: str = "new"  # new | queued | active | paused | done
    call_ids: set[str] = field(default_factory=set)
    restore_yolo: bool = False
    # kind "task": `await run(job)` on the intern loop instead of submitting `op`
    # (seeding a session after a restart); returns the outcome, "done" if None.
    run: Any = None
    task: Any = None
    waiting_user: bool = False  # a task job waiting for a click (e.g. "Where were we?")


class Conductor:
    def __init__(self, runtime: Any, session: Any, name: str):
        self.runtime = runtime
        self.session = session
        self.name = name
        self.active: Job | None = None
        self.queue: deque[Job] = deque()
        self.closed = False
        self._ignored: set[str] = set()  # tool calls of abandoned jobs
        self._idle = threading.Event()
        self._idle.set()
        self._unsubscribe: Any = None
        # Called with the session after each turn ends (e.g. to upload its trace).
        self.on_turn_end: Any = None

    def attach(self) -> Conductor:
        """Subscribe to the session (call from the main thread, before any job)."""
        self._unsubscribe = self.runtime.subscribe(self.session.id, self._on_event)
        return self

    # ------------------------------------------------------ thread-safe reads

    @property
    def busy(self) -> bool:
        """A request is running or queued (a turn paused for approval does not count)."""
        return not self._idle.is_set()

    @property
    def paused(self) -> bool:
        job = self.active
        return job is not None and job.state == "paused"

    @property
    def waiting_choice(self) -> bool:
        """A task job (seeding after a restart) waits for the user's choice in a view."""
        job = self.active
        return job is not None and job.waiting_user

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block (not on the intern thread) until nothing runs or is queued."""
        return self._idle.wait(timeout)

    # ------------------------------------------------ intern-thread operations

    def enqueue(self, job: Job) -> None:
        if self.closed:
            job.state = "done"
            job.sink.event(_error("This session has shut down; run the cell again."))
            job.sink.finished("error")
            return
        self._idle.clear()
        if self.active is not None and self.active.state == "paused":
            self._abandon(self.active)
        if self.active is None and not self.queue:
            self._start(job)
        else:
            job.state = "queued"
            self.queue.append(job)
            job.sink.queued()
            self._next()

    def decide(self, job: Job, approvals: list[Any]) -> bool:
        """The user answered an approval request; False when it no longer applies."""
        if job is not self.active or job.state != "paused":
            return False
        from ..agent.messages import ExecApproval

        job.state = "active"
        self._idle.clear()
        self.session.submit(ExecApproval(approvals=approvals))
        return True

    def stop(self, job: Job) -> None:
        """Stop one job: drop it if queued, interrupt it if it runs or waits."""
        if job in self.queue:
            self.queue.remove(job)
            self._finish(job, "cancelled")
            self._update_idle()
        elif job is self.active:
            if job.task is not None:
                job.task.cancel()
                return
            from ..agent.messages import Interrupt

            self.session.submit(Interrupt())

    def stop_all(self) -> int:
        """Drop every queued job and interrupt the active one; returns how many were affected."""
        count = 0
        while self.queue:
            self._finish(self.queue.popleft(), "cancelled")
            count += 1
        if self.active is not None:
            self.stop(self.active)
            count += 1
        self._update_idle()
        return count

    def fail_queued(self, message: str) -> None:
        """End every queued job with `message` shown as its error."""
        while self.queue:
            job = self.queue.popleft()
            job.sink.started()
            job.sink.event(_error(message))
            self._finish(job, "error")
        self._update_idle()

    def close(self) -> None:
        self.closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --------------------------------------------------------------- internals

    def _start(self, job: Job) -> None:
        self.active = job
        job.state = "active"
        try:
            if job.model and job.model != self.session.config.model_name:
                self.session.update_config(model_name=job.model)
            if job.yolo and not self.session.policy.yolo:
                self.session.update_config(yolo_mode=True)
                job.restore_yolo = True
        except Exception as exc:  # ConfigError: validated in the cell already; be safe
            job.sink.started()
            job.sink.event(_error(str(exc)))
            self._finish(job, "error")
            self._next()
            return
        job.sink.started()
        if job.run is not None:
            job.task = asyncio.ensure_future(self._run_task(job))
            return
        self.session.submit(job.op)

    async def _run_task(self, job: Job) -> None:
        try:
            outcome = await job.run(job) or "done"
        except asyncio.CancelledError:
            outcome = "interrupted"
        except Exception as exc:  # our bug: show it, keep the conductor going
            log.exception("a %s job failed", job.kind)
            job.sink.event(_error(f"Internal error: {type(exc).__name__}: {exc}"))
            outcome = "error"
        job.task = None
        if self.active is job:
            self.active = None
        self._finish(job, outcome)
        self._next()

    def _next(self) -> None:
        if self.active is None and self.queue:
            self._start(self.queue.popleft())
        self._update_idle()

    def _update_idle(self) -> None:
        # A paused turn counts as idle: nothing moves until the user clicks.
        if self.active is None and not self.queue or self.paused:
            self._idle.set()
        else:
            self._idle.clear()

    def _abandon(self, job: Job) -> None:
        """New input while `job` waits for approval: its pending calls will not run."""
        self._ignored |= job.call_ids
        self.active = None
        self._finish(job, "abandoned")

    def _finish(self, job: Job, outcome: str) -> None:
        job.state = "done"
        if job.restore_yolo:
            job.restore_yolo = False
            if self.session.policy.yolo:
                self.session.update_config(yolo_mode=False)
        try:
            job.sink.finished(outcome)
        except Exception:
            log.exception("a view failed to finish")
        if self.on_turn_end is not None and job.kind == "turn":
            try:
                self.on_turn_end(self.session)
            except Exception:
                log.exception("the end-of-turn hook failed")

    def _on_event(self, event: Any) -> None:
        call_id = getattr(event, "tool_call_id", None)
        if call_id and call_id in self._ignored:
            return  # the 'abandoned' notices of a turn that already ended
        job = self.active
        if job is None:
            if event.type == "shutdown":
                self._shutdown()
            return
        if call_id:
            job.call_ids.add(call_id)
        if event.type == "approval_required":
            for pending in event.tools:
                job.call_ids.add(pending.tool_call_id)
        try:
            job.sink.event(event)
        except Exception:
            log.exception("a view failed on %s", event.type)
        outcome = TERMINAL[job.kind].get(event.type)
        if outcome is not None:
            self.active = None
            self._finish(job, outcome)
            if event.type == "shutdown":
                self._shutdown()
            self._next()
        elif event.type == "approval_required" and job.kind == "turn":
            job.state = "paused"
            if job.auto_reject is not None:
                self._auto_reject(job, event)
            else:
                self._update_idle()

    def _auto_reject(self, job: Job, event: Any) -> None:
        from ..agent.messages import ApprovalDecision

        self.decide(
            job,
            [
                ApprovalDecision(
                    tool_call_id=p.tool_call_id, approved=False, feedback=job.auto_reject
                )
                for p in event.tools
            ],
        )

    def _shutdown(self) -> None:
        self.closed = True
        while self.queue:
            job = self.queue.popleft()
            job.sink.event(_error("The session shut down before this request started."))
            self._finish(job, "error")
        self._update_idle()
        self.close()


def _error(text: str) -> Any:
    from ..agent.messages import Error

    return Error(error=text, kind="session")

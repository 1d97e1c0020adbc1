"""Which cell's view receives which events: one `Conductor` per session.

Every operation the conductor submits has an id, and the session stamps
each event with the id of the operation it was handling (`op_id`), so the
conductor routes events by id (`op_id -> Request`) and never guesses. The
session's queue is the only queue: a `%%intern` cell submitted while a turn
runs goes straight to the session and shows "queued" until its
`op_started`. A request ends at its operation's `op_done`; outcome
"paused" means its turn waits for approval, and the decision is one more
operation of the same request. Events of an operation no request routes
(for instance the `abandoned` notices of a turn the user moved on from) are
dropped.

The one thing held here is a *gate*: after a restart, "Where were we?" must
be answered before anything reaches the new session, so requests enqueued
while a gate is open wait for it (shown "queued") and are submitted, in
order, when it closes.

Everything here runs on the intern thread, except the few methods marked
thread-safe; cells and button callbacks hop over with `Runtime.call_soon`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

if TYPE_CHECKING:
    from ml_intern_jupyter.agent.messages import ApprovalDecision, Event, Operation, Outcome
    from ml_intern_jupyter.agent.session import Session
    from ml_intern_jupyter.runtime import Runtime

__all__ = ["Conductor", "Finish", "Gate", "Request", "RequestControls", "Sink"]

log = logging.getLogger(__name__)

RequestKind = Literal["turn", "compact", "undo"]
RequestState = Literal["new", "queued", "active", "paused", "done"]
# How a request ended, as its sink's `finished` hears it: its operation's
# outcome, or "cancelled" (withdrawn while held) / "abandoned" (a paused turn
# the user moved on from).
Finish = Literal["done", "error", "interrupted", "cancelled", "abandoned"]


class Sink(Protocol):
    """What receives a request's progress (a live view, the text renderer, a command)."""

    def queued(self) -> None: ...
    def started(self) -> None: ...
    def event(self, event: Event) -> None: ...
    def finished(self, outcome: Finish) -> None: ...


@dataclass(eq=False)
class Request:
    """One cell's (or command's) request to a session: its operations and its sink."""

    kind: RequestKind
    op: Operation
    sink: Sink
    # Text mode: reject every approval request with this feedback for the model.
    auto_reject: str | None = None
    state: RequestState = "new"
    current: str = ""  # the operation whose op_done ends (or pauses) this request
    op_ids: set[str] = field(default_factory=set)


@dataclass(eq=False)
class Gate:
    """A coroutine that must finish before the session gets any request.

    `run(gate)` runs on the intern loop and returns the outcome ("done" if
    None); `waiting_user` is set while it waits for a click."""

    run: Callable[[Gate], Awaitable[str | None]]
    sink: Sink
    task: asyncio.Task[None] | None = None
    waiting_user: bool = False
    state: RequestState = "new"


class RequestControls:
    """What a request's view may do to it, and nothing more: stop it, or answer
    its approval request. Thread-safe: both hop onto the intern loop."""

    def __init__(self, runtime: Any, conductor: Conductor, request: Request):
        self._call_soon = runtime.call_soon
        self._conductor = conductor
        self._request = request

    def stop(self) -> None:
        self._call_soon(self._conductor.stop, self._request)

    def decide(self, approvals: list[Any]) -> None:
        """Send the decisions; the conductor ignores them if the request no longer waits."""
        self._call_soon(self._conductor.decide, self._request, approvals)


class Conductor:
    def __init__(self, runtime: Runtime, session: Session, name: str):
        self.runtime = runtime
        self.session = session
        self.name = name
        self.closed = False
        self.live: list[Request] = []  # submitted to the session, not finished
        self.routes: dict[str, Request] = {}  # op id -> request, while it is live
        self.gate: Gate | None = None
        self.held: deque[Request] = deque()  # waiting for the gate
        # Operations the gate itself submitted (op id -> (its end, its events)).
        self._gate_ops: dict[str, tuple[asyncio.Future[tuple[str, list[Any]]], list[Any]]] = {}
        self._idle = threading.Event()
        self._idle.set()
        self._idle_lock = threading.Lock()
        self._incoming = 0  # handed to the intern loop by `expect`, not yet enqueued
        self._unsubscribe: Callable[[], None] | None = None
        # Called with the session after each turn ends (e.g. to upload its trace).
        self.on_turn_end: Callable[[Session], None] | None = None

    def attach(self) -> Conductor:
        """Subscribe to the session (call from the main thread, before any request)."""
        self._unsubscribe = self.runtime.subscribe(self.session.id, self._on_event)
        return self

    # ------------------------------------------------------ thread-safe reads

    @property
    def busy(self) -> bool:
        """A request is running or queued (a turn paused for approval does not count)."""
        return not self._idle.is_set()

    @property
    def paused(self) -> bool:
        return any(r.state == "paused" for r in list(self.live))

    @property
    def waiting_choice(self) -> bool:
        """A gate (seeding after a restart) waits for the user's choice in a view."""
        gate = self.gate
        return gate is not None and gate.waiting_user

    @property
    def queued(self) -> int:
        """Requests waiting: behind the gate, or in the session's queue."""
        return len(self.held) + sum(1 for r in list(self.live) if r.state == "queued")

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block (not on the intern thread) until nothing runs or is queued."""
        return self._idle.wait(timeout)

    def expect(self) -> None:
        """Any thread: a request is on its way to `enqueue`; until it lands the
        conductor is busy (so `%intern wait` in the next cell waits for it)."""
        with self._idle_lock:
            self._incoming += 1
            self._idle.clear()

    # ------------------------------------------------ intern-thread operations

    def enqueue(self, item: Request | Gate) -> None:
        with self._idle_lock:
            self._incoming = max(0, self._incoming - 1)
        if self.closed:
            item.state = "done"
            item.sink.event(_error("This session has shut down; run the cell again."))
            item.sink.finished("error")
            self._update_idle()
            return
        if isinstance(item, Gate):
            self._open_gate(item)
            return
        if self.gate is not None:
            item.state = "queued"
            self.held.append(item)
            item.sink.queued()
            self._update_idle()
            return
        self._submit(item)

    def decide(self, request: Request, approvals: list[ApprovalDecision]) -> bool:
        """The user answered an approval request; False when it no longer applies."""
        if request.state != "paused" or request not in self.live:
            return False
        from ...agent.messages import ExecApproval

        request.state = "active"
        self._send(request, ExecApproval(approvals=approvals), current=True)
        self._update_idle()
        return True

    def stop(self, item: Request | Gate) -> None:
        """Stop one request: withdraw it if queued, interrupt it if it runs or waits."""
        if isinstance(item, Gate):
            if item.task is not None:
                item.task.cancel()
            return
        if item in self.held:
            self.held.remove(item)
            self._finish(item, "cancelled")
        elif item in self.live:
            if item.state in ("new", "queued"):
                self.session.withdraw(item.current)
                return  # its op_done("interrupted") ends it
            from ...agent.messages import Interrupt

            # A paused turn ends with the interrupt's own op_done; a running
            # one with its operation's op_done ("interrupted").
            self._send(item, Interrupt(), current=item.state == "paused")
        self._update_idle()

    def stop_all(self) -> int:
        """Drop every queued request and interrupt the rest; returns how many were affected."""
        items: list[Request | Gate] = [*self.held, *self.live]
        if self.gate is not None:
            items.append(self.gate)
        for item in items:
            self.stop(item)
        self._update_idle()
        return len(items)

    def fail_queued(self, message: str) -> None:
        """End every request held behind the gate with `message` shown as its error."""
        while self.held:
            request = self.held.popleft()
            request.sink.started()
            request.sink.event(_error(message))
            self._finish(request, "error")
        self._update_idle()

    async def gate_op(self, op: Any) -> tuple[str, list[Any]]:
        """Run `op` in the session for the open gate: (its outcome, its events).

        Its events go to the gate's sink as they come (errors aside: the gate
        words them), so nothing reaches the session outside its queue."""
        future: asyncio.Future[tuple[str, list[Any]]] = asyncio.get_running_loop().create_future()
        self._gate_ops[op.id] = (future, [])
        try:
            self.session.submit(op)
            return await future
        finally:
            self._gate_ops.pop(op.id, None)

    def close(self) -> None:
        self.closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --------------------------------------------------------------- internals

    def _submit(self, request: Request) -> None:
        if request.kind in ("turn", "undo"):
            # New input abandons a turn waiting for approval (the session closes
            # its calls; those notices belong to the old turn and are dropped).
            for other in [r for r in self.live if r.state == "paused"]:
                self._finish(other, "abandoned")
        if self.session.busy:
            request.state = "queued"
            request.sink.queued()
        self.live.append(request)
        self._send(request, request.op, current=True)
        self._update_idle()

    def _send(self, request: Request, op: Operation, *, current: bool) -> None:
        request.op_ids.add(op.id)
        self.routes[op.id] = request
        if current:
            request.current = op.id
        self.session.submit(op)

    def _open_gate(self, gate: Gate) -> None:
        self.gate = gate
        gate.state = "active"
        gate.sink.started()
        gate.task = asyncio.ensure_future(self._run_gate(gate))
        self._update_idle()

    async def _run_gate(self, gate: Gate) -> None:
        try:
            # the gate's coroutine (notebook/restore.py `_seed`) returns a Finish
            outcome = cast(Finish, await gate.run(gate) or "done")
        except asyncio.CancelledError:
            outcome = "interrupted"
        except Exception as exc:  # our bug: show it, keep the conductor going
            log.exception("seeding the session failed")
            gate.sink.event(_error(f"Internal error: {type(exc).__name__}: {exc}"))
            outcome = "error"
        gate.task = None
        gate.state = "done"
        self.gate = None
        try:
            gate.sink.finished(outcome)
        except Exception:
            log.exception("a view failed to finish")
        while self.held and not self.closed and self.gate is None:
            self._submit(self.held.popleft())
        self._update_idle()

    def _update_idle(self) -> None:
        # A paused turn counts as idle: nothing moves until the user clicks.
        working = self.gate is not None or self.held or any(r.state != "paused" for r in self.live)
        with self._idle_lock:
            if working or self._incoming:
                self._idle.clear()
            else:
                self._idle.set()

    def _finish(self, request: Request, outcome: Finish) -> None:
        request.state = "done"
        if request in self.live:
            self.live.remove(request)
        for op_id in request.op_ids:
            if self.routes.get(op_id) is request:
                del self.routes[op_id]
        try:
            request.sink.finished(outcome)
        except Exception:
            log.exception("a view failed to finish")
        if self.on_turn_end is not None and request.kind == "turn" and outcome != "cancelled":
            try:
                self.on_turn_end(self.session)
            except Exception:
                log.exception("the end-of-turn hook failed")
        self._update_idle()

    def _on_event(self, event: Any) -> None:
        if event.type == "shutdown":
            self._shutdown()
            return
        if not event.op_id and self.gate is not None:
            # emitted outside any operation while the gate runs (its own events,
            # e.g. session_expired): the gate's view shows them
            try:
                self.gate.sink.event(event)
            except Exception:
                log.exception("a view failed on %s", event.type)
            return
        gate_op = self._gate_ops.get(event.op_id) if event.op_id else None
        if gate_op is not None:
            self._gate_event(event, *gate_op)
            return
        request = self.routes.get(event.op_id)
        if request is None:
            return  # another operation's (e.g. an abandoned turn's late notices)
        if event.type == "op_started":
            if event.op_id == request.current and request.state in ("new", "queued"):
                request.state = "active"
                request.sink.started()
            return
        if event.type == "op_queued":
            return
        if event.type == "op_done":
            if event.op_id == request.current:
                self._op_done(request, event.outcome)
            return
        try:
            request.sink.event(event)
        except Exception:
            log.exception("a view failed on %s", event.type)

    def _gate_event(
        self, event: Any, future: asyncio.Future[tuple[str, list[Any]]], seen: list[Any]
    ) -> None:
        if event.type == "op_done":
            if not future.done():
                future.set_result((event.outcome, seen))
            return
        if event.type in ("op_queued", "op_started"):
            return
        seen.append(event)
        if event.type != "error" and self.gate is not None:
            try:
                self.gate.sink.event(event)
            except Exception:
                log.exception("a view failed on %s", event.type)

    def _op_done(self, request: Request, outcome: Outcome) -> None:
        if outcome == "paused":
            request.state = "paused"
            self._update_idle()
            if request.auto_reject is not None:
                self._auto_reject(request)
            return
        if outcome == "refused":
            outcome = "error"
        self._finish(request, outcome)

    def _auto_reject(self, request: Request) -> None:
        from ...agent.messages import ApprovalDecision

        self.decide(
            request,
            [
                ApprovalDecision(tool_call_id=call_id, approved=False, feedback=request.auto_reject)
                for call_id in self.session.describe().pending_ids
            ],
        )

    def _shutdown(self) -> None:
        self.closed = True
        for request in [*self.held, *self.live]:
            if request.state in ("new", "queued"):
                request.sink.event(_error("The session shut down before this request started."))
                self._finish(request, "error")
            else:
                self._finish(request, "interrupted")
        self.held.clear()
        self._update_idle()
        self.close()


def _error(text: str) -> Any:
    from ...agent.messages import Error

    return Error(error=text, kind="session")

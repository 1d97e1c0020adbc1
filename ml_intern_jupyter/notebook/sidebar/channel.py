"""The kernel end of the JupyterLab sidebar's channel: comm target `ml_intern_sidebar`.

`%load_ext ml_intern_jupyter` registers the target (idempotent). The sidebar
opens one comm per running kernel; the kernel answers with a snapshot of
its sessions' rows, then sends each row as it changes (`sidebar_rows`),
notices, and replies to requests (`snapshot`, `decide`, `stop`). The
protocol is in ARCHITECTURE.md ("Sidebar channel").

Threads: comm messages arrive on the main thread, like widget clicks, and
`decide` / `stop` do exactly what the cell's Approve/Reject and Stop buttons
do, through the same view methods. Rows are built and sent from the intern
thread, as widget updates are (ipykernel's IOPub socket is thread-safe).
Every message carries `seq`, one counter per kernel process, taken and sent
under one lock so the order on the wire is the order of `seq`.

No secret goes over the comm: titles, arguments, reasons and errors are
scrubbed (`traces/redact.py`).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import Any

from ..conductor.sessions import notebook_sessions
from .rows import RowTracker

__all__ = ["PROTOCOL_VERSION", "TARGET", "SidebarChannel", "note_cell", "register"]

log = logging.getLogger(__name__)

TARGET = "ml_intern_sidebar"
PROTOCOL_VERSION = 1
METHODS = ("snapshot", "decide", "stop")
ALREADY_DECIDED = "already decided"
PANEL_WAIT_S = 2.0  # how long `decide` waits for the cell to show its approval panel
_CELLS_KEPT = 256


class BadRequest(Exception):
    """A request the sidebar got wrong: the reply says why (ok=false)."""


class SidebarChannel:
    def __init__(self, sessions: Any):
        self.sessions = sessions  # NotebookSessions
        self.comms: dict[str, Any] = {}  # comm_id -> comm (main thread adds/removes)
        self._comms_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._seq = 0
        self.trackers: dict[str, Any] = {}  # session id -> RowTracker (intern thread only)
        self._cells: collections.OrderedDict[str, str | None] = collections.OrderedDict()
        self._cells_lock = threading.Lock()
        self.manager: Any = None

    @property
    def runtime(self) -> Any:
        return self.sessions.runtime

    # ------------------------------------------------------------- sending

    def send(self, message: dict[str, Any], comm: Any = None) -> None:
        """Send to `comm`, or to every open comm (any thread)."""
        with self._comms_lock:
            targets = [comm] if comm is not None else list(self.comms.values())
        if not targets:
            return
        with self._send_lock:
            self._seq += 1
            data = {"v": PROTOCOL_VERSION, **message, "seq": self._seq}
            for target in targets:
                try:
                    target.send(data)
                except Exception:  # a comm closing under us: drop it
                    log.debug("sidebar comm send failed", exc_info=True)

    def reply(self, comm: Any, request_id: Any, ok: bool, message: str) -> None:
        self.send({"type": "reply", "request_id": request_id, "ok": ok, "message": message}, comm)

    # --------------------------------------------------- cells (main thread)

    def note_cell(self, op_id: str, cell_id: str | None) -> None:
        with self._cells_lock:
            self._cells[op_id] = cell_id
            while len(self._cells) > _CELLS_KEPT:
                self._cells.popitem(last=False)

    def cell_of(self, op_id: str) -> str | None:
        with self._cells_lock:
            return self._cells.pop(op_id, None)

    # ------------------------------------------------ sessions (intern thread)

    def watch(self, name: str, conductor: Any) -> None:
        """A conductor was created (any thread): start tracking its session's row."""
        self.runtime.call_soon(self._track, name, conductor)

    def _track(self, name: str, conductor: Any) -> None:
        session = conductor.session
        if session.id in self.trackers or conductor.closed:
            return
        recorder = getattr(session, "recorder", None)
        notebook = getattr(recorder, "notebook", None) or self.sessions.notebook()
        tracker = RowTracker(
            session,
            name=name,
            notebook=notebook,
            publish=lambda m: self._publish(session.id, m),
            cell_of=self.cell_of,
            held=lambda: len(conductor.held) + (conductor.gate is not None),
        )
        self.trackers[session.id] = tracker
        session.subscribe(tracker.on_event)
        tracker.changed()

    def _publish(self, session_id: str, message: dict[str, Any]) -> None:
        if message["type"] == "removed":
            self.trackers.pop(session_id, None)
        self.send(message)

    def _snapshot(self, comm: Any, request_id: Any = None) -> None:  # intern thread
        rows = [t.row() for t in self.trackers.values() if not t.closed]
        message: dict[str, Any] = {"type": "snapshot", "pid": os.getpid(), "sessions": rows}
        if request_id is not None:
            message["request_id"] = request_id
        self.send(message, comm)
        if request_id is not None:
            self.reply(comm, request_id, True, f"{len(rows)} session(s)")

    # ------------------------------------------------- the comm (main thread)

    def on_open(self, comm: Any, _msg: Any) -> None:
        with self._comms_lock:
            self.comms[comm.comm_id] = comm
        comm.on_msg(lambda msg: self.on_msg(comm, msg))
        comm.on_close(lambda _msg: self._forget(comm))
        self.runtime.call_soon(self._snapshot, comm)

    def _forget(self, comm: Any) -> None:
        with self._comms_lock:
            self.comms.pop(comm.comm_id, None)

    def on_msg(self, comm: Any, msg: Any) -> None:
        data = (msg.get("content") or {}).get("data") if isinstance(msg, dict) else None
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            request_id = None  # the reply cannot name it
        try:
            if not isinstance(data, dict):
                raise BadRequest("A request must be a JSON object with a 'method'.")
            if request_id is None:
                raise BadRequest("The request has no 'request_id' (a string).")
            method = data.get("method")
            if method == "snapshot":
                self.runtime.call_soon(self._snapshot, comm, request_id)
                return
            if method == "decide":
                message = self._decide(data)
            elif method == "stop":
                message = self._stop(data)
            else:
                raise BadRequest(
                    f"Unknown method {method!r}: valid methods are {', '.join(METHODS)}."
                )
        except BadRequest as exc:
            self.reply(comm, request_id, False, str(exc))
            return
        except Exception as exc:  # our bug: say so, never a traceback in the sidebar
            log.exception("sidebar request failed")
            self.reply(comm, request_id, False, f"Internal error: {type(exc).__name__}: {exc}")
            return
        self.reply(comm, request_id, True, message)

    # ------------------------------------------------------------ requests

    def _decide(self, data: dict[str, Any]) -> str:
        session_id = _field(data, "session_id")
        call_id = _field(data, "call_id")
        approved = data.get("approved")
        if not isinstance(approved, bool):
            raise BadRequest("'approved' must be true or false.")
        feedback = data.get("feedback")
        if feedback is not None and not isinstance(feedback, str):
            raise BadRequest("'feedback' must be text or null.")

        async def locate() -> Any:
            return self._locate_call(session_id, call_id)

        view = self.runtime.call(locate(), timeout=10)
        from ..view.live import NOT_SHOWN

        deadline = time.monotonic() + PANEL_WAIT_S
        # The cell's view shows its panel on its next frame (tens of ms).
        while (problem := view.decide_call(call_id, approved, feedback)) == NOT_SHOWN:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if problem is not None:
            raise BadRequest(problem)
        tracker = self.trackers.get(session_id)
        if tracker is not None:
            self.runtime.call_soon(tracker.mark_decided, call_id)
        return "approved" if approved else "rejected"

    def _locate_call(self, session_id: str, call_id: str) -> Any:  # intern thread
        conductor, tracker = self._conductor(session_id)
        if call_id not in {p["call_id"] for p in tracker.waiting_calls()}:
            if call_id in tracker.seen_calls:
                raise BadRequest(ALREADY_DECIDED)
            raise BadRequest(f"Session {session_id} has no tool call '{call_id}' waiting.")
        for request in conductor.live:
            if request.state == "paused" and hasattr(request.sink, "decide_call"):
                return request.sink
        raise BadRequest(
            "This call can only be decided in its cell (the cell does not show live buttons)."
        )

    def _stop(self, data: dict[str, Any]) -> str:
        session_id = _field(data, "session_id")

        async def pick() -> Any:
            return self._stop_target(session_id)

        view = self.runtime.call(pick(), timeout=10)
        if view is not None:
            view.request_stop()  # what the cell's Stop button does
        return "stopping"

    def _stop_target(self, session_id: str) -> Any:  # intern thread
        """The view whose Stop to press; None when stopped here (no live view)."""
        conductor, _tracker = self._conductor(session_id)
        live = list(conductor.live)
        order = [r for r in live if r.state in ("active", "paused")]
        order += [r for r in live if r.state in ("new", "queued")] + list(conductor.held)
        for request in order:
            if hasattr(request.sink, "request_stop"):
                return request.sink
            conductor.stop(request)
            return None
        if conductor.gate is not None:
            conductor.stop(conductor.gate)
            return None
        raise BadRequest("Nothing is running in this session.")

    def _conductor(self, session_id: str) -> tuple[Any, Any]:  # intern thread
        tracker = self.trackers.get(session_id)
        found = self.sessions.named(session_id)
        if tracker is None or found is None:
            raise BadRequest(f"No session '{session_id}' in this kernel.")
        return found[1], tracker


def _field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"The request has no '{name}' (a string).")
    return value


# --------------------------------------------------------------- registering

_channel: SidebarChannel | None = None
_lock = threading.Lock()


def channel() -> SidebarChannel | None:
    return _channel


def _comm_manager(shell: Any) -> Any:
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None  # terminal IPython: no frontend to talk to
    manager = getattr(kernel, "comm_manager", None)
    if manager is not None:
        return manager
    try:  # ipykernel >= 6.18 keeps it in the `comm` package
        import comm

        return comm.get_comm_manager()
    except Exception:
        return None


def register(shell: Any) -> SidebarChannel | None:
    """Register the comm target in this kernel (idempotent); None outside a kernel."""
    global _channel
    manager = _comm_manager(shell)
    if manager is None:
        return None
    with _lock:
        if _channel is None:
            sessions = notebook_sessions()
            sessions.bind_shell(shell)
            _channel = SidebarChannel(sessions)
            sessions.watchers.append(_channel.watch)
            for name, conductor in sessions.items():
                _channel.watch(name, conductor)
        if _channel.manager is not manager:
            manager.register_target(TARGET, _channel.on_open)
            _channel.manager = manager
        return _channel


def unregister() -> None:
    with _lock:
        if _channel is not None and _channel.manager is not None:
            try:
                _channel.manager.unregister_target(TARGET, _channel.on_open)
            except Exception:
                pass
            _channel.manager = None


def cell_id(shell: Any) -> str | None:
    """The JupyterLab cellId of the cell being executed (None if the frontend sends none)."""
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else {}
    except Exception:
        parent = getattr(shell, "parent_header", None) or {}
    metadata = (parent or {}).get("metadata") or {}
    value = metadata.get("cellId") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def note_cell(shell: Any, op_id: str) -> None:
    """Remember which cell submitted operation `op_id` (main thread, from `%%intern`)."""
    if _channel is not None:
        _channel.note_cell(op_id, cell_id(shell))

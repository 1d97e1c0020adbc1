"""Upload each session's trace to the user's dataset on the Hub, in the background.

After a turn, `TraceUploader.schedule(session_id)` asks for an upload; it
returns at once. After a short debounce (so a burst of turns is one upload)
the session's stored messages are converted to Claude Code JSONL (scrubbed;
see `claude_code.py`) and the file at `trace_path` of `{hf_user}/ml-intern-sessions`
is replaced (see `dataset.py` for the dataset itself). The uploader keeps the
converted traces of recent sessions, so the next upload of a session loads
and converts only the messages added since.

Each session's progress is kept in its `SessionRecord.trace_status`:

* ``{"state": "pending"}``: asked for, not started (the debounce, or a crash);
* ``{"state": "uploading", "attempts": n}``;
* ``{"state": "uploaded", "repo", "path", "url", "uploaded_at", "messages"}``;
* ``{"state": "failed", "error", "attempts"}``: retried after the next turn, or
  by `retry_failed()` at the next start;
* ``{"state": "skipped", "reason", "note"}``: reason ``no_token``,
  ``no_username``, ``share_traces_off`` or ``empty``; never an exception.

Every status also has ``requested_at`` (the wall-clock time of the request it
belongs to) and ``at`` (when it was written).

Threads and ordering: the uploader has one daemon thread running its own
asyncio loop, started by the first `schedule`; Hub and store calls run in
worker threads under deadlines (`hub_client.in_thread`). Each session has at
most one task, which writes that session's statuses in order and runs one
upload at a time; a request that arrives meanwhile replaces any request not
yet started and runs afterwards. Status writes are compare-and-set on
``requested_at`` (read and write under one lock): a status belonging to an
older request never replaces a newer one, even one written by another
process sharing the store.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..store.base import StoreConflictError
from ..tools.hub_client import HubSettings, in_thread, make_api, namespace_of, resolve_token
from .claude_code import TraceBuilder, trace_cwd
from .dataset import (
    describe_share_status,
    file_url,
    is_unauthorised,
    push_trace_blocking,
    set_visibility,
    share_traces_info,
    short_error,
    trace_path,
    trace_repo_id,
)

if TYPE_CHECKING:
    from ..config import Config
    from ..store.base import SessionRecord, SessionStore

__all__ = [
    "FAILED",
    "PENDING",
    "SKIPPED",
    "UPLOADED",
    "UPLOADING",
    "TraceUploader",
    "describe_share_status",
    "describe_trace_status",
    "set_visibility",
    "share_traces_info",
    "trace_path",
    "trace_repo_id",
]

log = logging.getLogger(__name__)

PENDING, UPLOADING, UPLOADED, FAILED, SKIPPED = (
    "pending",
    "uploading",
    "uploaded",
    "failed",
    "skipped",
)
# States a previous run may have left unfinished.
_UNFINISHED = frozenset({PENDING, UPLOADING, FAILED})
# At most this many characters of converted traces are kept between uploads.
_CACHED_BYTES = 64_000_000
# Skips that a login undoes (as `_retry_key` gives them).
_LOGIN_SKIPS = frozenset({"skipped:no_token", "skipped:no_username"})


def _retry_key(status: dict[str, Any]) -> str:
    state = str(status.get("state"))
    return f"{state}:{status.get('reason')}" if state == SKIPPED else state


_NOTES = {
    "no_token": "Trace not shared: no Hugging Face token. Log in with `%intern login` "
    "(or `huggingface-cli login`), or set HF_TOKEN.",
    "no_username": "Trace not shared: the Hugging Face token was not accepted, so your user "
    "name is unknown. Log in again with `%intern login`.",
    "share_traces_off": "Trace not shared: sharing is off (share_traces is false).",
    "empty": "Trace not shared yet: the session has no messages.",
}

Status = dict[str, Any]
Build = Callable[[Status], Status]


def describe_trace_status(status: Status | None) -> str | None:
    """One line about a session's trace for the user; None when nothing was asked yet."""
    if not status:
        return None
    state = status.get("state")
    if state == SKIPPED:
        reason = str(status.get("reason") or "")
        return str(status.get("note") or _NOTES.get(reason, f"Trace not shared ({reason})."))
    if state == UPLOADED:
        return f"Trace uploaded: {status.get('url')}"
    if state == FAILED:
        return (
            f"Trace upload failed ({status.get('error')}); it is retried after the next "
            "turn or at the next start."
        )
    if state == UPLOADING:
        return "Trace uploading…"
    if state == PENDING:
        return "Trace upload pending."
    return None


def _prior_attempts(prev: Status) -> int:
    if prev.get("state") in _UNFINISHED:
        n = prev.get("attempts")
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0
    return 0


def _pending(prev: Status) -> Status:
    n = _prior_attempts(prev)
    return {"state": PENDING, "attempts": n} if n else {"state": PENDING}


def _skipped(reason: str) -> Build:
    return lambda prev: {"state": SKIPPED, "reason": reason, "note": _NOTES[reason]}


@dataclass
class _Slot:
    """One session's queue on the loop: its newest request not yet started, and its task."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    requested_at: float | None = None
    due: float = 0.0  # loop time
    pending_written: bool = False
    task: asyncio.Task[None] | None = None


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()


class TraceUploader:
    """Debounced background uploads of session traces. Safe to call from any thread.

    `debounce_s` is the quiet time after the last `schedule` before uploading;
    `settings` the Hub deadlines; `max_concurrent` how many sessions upload at
    once; `cached_traces` how many sessions' converted traces are kept, so
    their next upload converts only new messages; `clock` the wall clock for
    statuses. Nothing starts until the first
    `schedule`. Assign `config` to change settings (e.g. `share_traces`) later.
    """

    def __init__(
        self,
        store: SessionStore,
        config: Config,
        *,
        debounce_s: float = 2.0,
        settings: HubSettings | None = None,
        max_concurrent: int = 2,
        cached_traces: int = 4,
        clock: Callable[[], float] = time.time,
        name: str = "ml-intern-traces",
    ) -> None:
        self.config = config
        self.debounce_s = debounce_s
        self._store = store
        self._settings = settings or HubSettings()
        self._max_concurrent = max_concurrent
        self._cached_traces = max(0, cached_traces)
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()  # loop start/stop, request times
        self._status_lock = threading.Lock()  # read-compare-write of statuses
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_request = 0.0
        # Used on the loop only.
        self._slots: dict[str, _Slot] = {}
        self._flushing = 0
        self._limit: asyncio.Semaphore | None = None
        # The traces of the sessions uploaded last, by session id, with the
        # history generation they were built from: the next upload of the
        # session converts only the messages added since (see `_build_trace`).
        self._traces: OrderedDict[str, tuple[int, TraceBuilder]] = OrderedDict()
        self._traces_lock = threading.Lock()

    # ------------------------------------------------------------ public

    def schedule(self, session_id: str, *, delay: float | None = None) -> None:
        """Ask for an upload of `session_id` after `delay` s (default `debounce_s`).

        Returns at once. Another call before the upload starts replaces this
        one (and restarts the wait); a call during an upload runs after it.
        Ignored after `close`.
        """
        wait = self.debounce_s if delay is None else delay
        with self._lock:
            if self._closed:
                return
            # Strictly increasing, so two requests never compare equal.
            requested_at = max(self._clock(), self._last_request + 1e-6)
            self._last_request = requested_at
            loop = self._start_locked()
            loop.call_soon_threadsafe(self._request, session_id, requested_at, max(0.0, wait))

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Upload everything asked for now (no debounce) and wait; True if all finished in time."""
        with self._lock:
            loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return True
        if threading.current_thread() is thread:
            raise RuntimeError("TraceUploader.flush would deadlock on its own thread")
        future = asyncio.run_coroutine_threadsafe(self._drain(), loop)
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()  # stops waiting; the uploads themselves go on
            return False
        return True

    def close(self, timeout: float | None = 30.0) -> bool:
        """`flush`, then stop the thread. Later `schedule` calls are ignored."""
        done = self.flush(timeout)
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        return done

    def retry_failed(self, *, limit: int = 1000) -> list[str]:
        """Schedule (at once) every session a previous run left failed, pending or uploading.

        Meant for the next start. Sessions skipped for want of a token (or of a
        user name) are retried too when there is a token now, e.g. after a
        login. Reads the `limit` most recently updated sessions from the store
        (blocking, one query); returns the ids scheduled. A session another
        live process is uploading may be uploaded twice: harmless (same file),
        and its status stays the newest.
        """
        if not self.config.share_traces:
            return []
        retry = set(_UNFINISHED)
        if resolve_token():
            retry |= _LOGIN_SKIPS
        ids = [
            r.id
            for r in self._store.list_sessions(limit=limit)
            if isinstance(r.trace_status, dict) and _retry_key(r.trace_status) in retry
        ]
        for session_id in ids:
            self.schedule(session_id, delay=0.0)
        return ids

    def status_note(self, session_id: str) -> str | None:
        """One line about the session's trace (e.g. why it was not shared), from the store."""
        record = self._store.get_session(session_id)
        return None if record is None else describe_trace_status(record.trace_status)

    # ------------------------------------------------------------ loop thread

    def _start_locked(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            return self._loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._limit = asyncio.Semaphore(self._max_concurrent)
        self._slots = {}
        self._thread = threading.Thread(target=main, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        return loop

    def _request(self, session_id: str, requested_at: float, wait: float) -> None:
        loop = asyncio.get_running_loop()
        slot = self._slots.get(session_id)
        if slot is None:
            slot = self._slots[session_id] = _Slot()
        if slot.requested_at is None or requested_at > slot.requested_at:
            slot.requested_at = requested_at
        slot.due = loop.time() + (0.0 if self._flushing else wait)
        slot.wake.set()
        if slot.task is None:
            slot.task = loop.create_task(self._serve(session_id, slot))

    async def _serve(self, session_id: str, slot: _Slot) -> None:
        """The session's one task: its statuses are written here, in order."""
        loop = asyncio.get_running_loop()
        try:
            while slot.requested_at is not None:
                requested_at = slot.requested_at
                if not slot.pending_written and self.config.share_traces:
                    slot.pending_written = True
                    await self._write(session_id, requested_at, _pending)
                    continue  # a newer request may have come in meanwhile
                delay = slot.due - loop.time()
                if delay > 0:
                    slot.wake.clear()
                    await _sleep_unless(slot.wake, delay)
                    continue
                slot.requested_at = None
                slot.pending_written = False
                assert self._limit is not None
                async with self._limit:
                    await self._upload(session_id, requested_at)
        except Exception:  # _upload handles its own; this is a bug in ours
            log.exception("trace uploader: session %s", session_id)
        finally:
            if self._slots.get(session_id) is slot:
                del self._slots[session_id]

    async def _drain(self) -> None:
        self._flushing += 1
        try:
            while self._slots:
                slots = list(self._slots.values())
                for slot in slots:
                    slot.due = 0.0
                    slot.wake.set()
                await asyncio.wait([s.task for s in slots if s.task is not None])
        finally:
            self._flushing -= 1

    # ------------------------------------------------------------ one upload

    async def _upload(self, session_id: str, requested_at: float) -> None:
        deadline = self._settings.request_timeout_s
        attempt: list[int] = []

        def uploading(prev: Status) -> Status:
            attempt.append(_prior_attempts(prev) + 1)
            return {"state": UPLOADING, "attempts": attempt[-1]}

        try:
            config = self.config
            if not config.share_traces:
                await self._write(session_id, requested_at, _skipped("share_traces_off"))
                return
            token = await in_thread(resolve_token, deadline=deadline)
            if not token:
                await self._write(session_id, requested_at, _skipped("no_token"))
                return
            api = make_api(token)
            try:
                user = await in_thread(namespace_of, api, token, deadline=deadline)
            except Exception as exc:
                if not is_unauthorised(exc):
                    raise
                await self._write(session_id, requested_at, _skipped("no_username"))
                return
            built = await in_thread(self._build_trace, session_id, deadline=deadline)
            if built is None:  # deleted meanwhile
                return
            record, trace = built
            text = trace.jsonl_bytes()
            if not text:
                await self._write(session_id, requested_at, _skipped("empty"))
                return
            if await self._write(session_id, requested_at, uploading) is False:
                return  # a newer request owns this session's trace now
            repo, path = trace_repo_id(config, user), trace_path(session_id, record.created)
            await in_thread(
                push_trace_blocking,
                api,
                repo,
                path,
                text,
                f"Upload the trace of session {session_id}",
                deadline=self._settings.upload_timeout_s,
            )
            done: Status = {
                "state": UPLOADED,
                "repo": repo,
                "path": path,
                "url": file_url(repo, path),
                "uploaded_at": self._clock(),
                "messages": trace.count,
            }
            await self._write(session_id, requested_at, lambda prev: done)
        except Exception as exc:
            error = short_error(exc)
            log.info("trace upload of session %s failed: %s", session_id, error)

            def failed(prev: Status) -> Status:
                n = attempt[-1] if attempt else _prior_attempts(prev) + 1
                return {"state": FAILED, "error": error, "attempts": n}

            await self._write(session_id, requested_at, failed)

    # ------------------------------------------------------------ conversion

    def _build_trace(self, session_id: str) -> tuple[SessionRecord, TraceBuilder] | None:
        """The session's record and its whole trace; None if the session is gone.

        Blocking (a worker thread). Within a history generation messages are
        only appended, so when the session's previous trace was built from the
        current generation (and the same model) only the messages after it are
        loaded and converted. The generation is read again after loading: if a
        compaction rewrote the history meanwhile, the trace is rebuilt.
        """
        store = self._store
        record = store.get_session(session_id)
        with self._traces_lock:
            cached = self._traces.pop(session_id, None)
        for _attempt in range(3):
            if record is None:
                return None
            model, start, generation = record.model, record.created, record.generation
            cwd = trace_cwd(record)
            if (
                cached is not None
                and cached[0] == generation
                and cached[1].matches(
                    session_id=session_id, model=model, session_start=start, cwd=cwd
                )
            ):
                trace = cached[1]
                new = store.load_messages(session_id, offset=trace.count)
            else:
                trace = TraceBuilder(
                    session_id=session_id, model=model, session_start=start, cwd=cwd
                )
                new = store.load_messages(session_id)
            current = store.get_session(session_id)
            if current is not None and current.generation == generation:
                trace.extend(new)
                with self._traces_lock:
                    self._traces[session_id] = (generation, trace)
                    held = sum(t.size for _g, t in self._traces.values())
                    while self._traces and (
                        len(self._traces) > self._cached_traces or held > _CACHED_BYTES
                    ):
                        _sid, (_g, dropped) = self._traces.popitem(last=False)
                        held -= dropped.size
                return record, trace
            record, cached = current, None
        raise StoreConflictError(f"the history of session {session_id} kept changing")

    # ------------------------------------------------------------ statuses

    async def _write(self, session_id: str, requested_at: float, build: Build) -> bool | None:
        """Compare-and-set the status: True written, False superseded, None store failure."""
        try:
            return await in_thread(
                self._write_blocking,
                session_id,
                requested_at,
                build,
                deadline=self._settings.request_timeout_s,
            )
        except Exception as exc:
            log.warning("could not record the trace status of session %s: %s", session_id, exc)
            return None

    def _write_blocking(self, session_id: str, requested_at: float, build: Build) -> bool:
        with self._status_lock:
            record = self._store.get_session(session_id)
            if record is None:
                return False
            prev = record.trace_status if isinstance(record.trace_status, dict) else {}
            newer = prev.get("requested_at")
            if isinstance(newer, (int, float)) and newer > requested_at:
                return False
            status = {**build(prev), "requested_at": requested_at, "at": self._clock()}
            # A trace status is not activity: keep the session's place in "recent".
            self._store.update_session(session_id, trace_status=status, updated=record.updated)
            return True

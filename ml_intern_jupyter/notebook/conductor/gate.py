"""Sessions that outlive the kernel: "Where were we?" after a restart, and resuming.

When a cell needs a new session under a name and this notebook's latest
saved session (not archived) is not alive in this kernel, the new session
first runs a *seed* job: a conductor gate, a coroutine on the intern loop
that holds every request until it ends. It emits `session_expired`, waits for
the choice (a click on the banner, or a flag in text mode), then either
archives the old session and starts fresh, or submits a `seed` operation,
which the session handles in its queue like any other: it records where it
came from in its recorder and catches up from a summary or restores the full
history. The cell's own request, and any cell run meanwhile, wait behind the
gate, so nothing reaches the new session before it is seeded; the notebook
never writes into the session.

`open_conductor` does the blocking part (store reads, session creation) and
must run off the cell's path: in the helper thread of a live view, or in a
cell that blocks anyway (text mode, line commands).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import functools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from .turns import Gate

if TYPE_CHECKING:
    from ...store.base import SessionRecord, SessionStore
    from .sessions import NotebookSessions
    from .turns import Conductor

__all__ = [
    "CANCEL",
    "CATCH_UP",
    "CHOICES",
    "FRESH",
    "RESTORE",
    "RESUME",
    "Offer",
    "SeedSink",
    "Opened",
    "Previous",
    "TextSeedSink",
    "latest_saved",
    "open_conductor",
    "open_for_text",
    "run_seed_blocking",
    "text_show",
]

CATCH_UP, RESTORE, FRESH = "catch_up", "restore", "fresh"
CHOICES = (CATCH_UP, RESTORE, FRESH)
RESUME = "resume"  # restore the full history if it fits, else catch up
CANCEL = "cancel"  # the user stopped the request before choosing
TITLE = "Where were we?"
STOPPED_BEFORE_CHOICE = (
    "Stopped before you chose how to continue the earlier session: run the cell again."
)


# ------------------------------------------------------------------- data


class SeedSink(Protocol):
    """A seed job's sink: a `turns.Sink` that also shows progress lines."""

    def queued(self) -> None: ...
    def started(self) -> None: ...
    def event(self, event: Any) -> None: ...
    def finished(self, outcome: str) -> None: ...
    def progress(self, text: str, kind: str = "info") -> None: ...
    def working(self, state: str) -> None: ...


@dataclass
class Previous:
    """A saved session that is not alive in this kernel, with its messages."""

    record: SessionRecord
    messages: list[dict[str, Any]]
    store: SessionStore

    @property
    def count(self) -> int:
        """Messages of the conversation (the system prompt left out)."""
        return sum(1 for m in self.messages if m.get("role") != "system")

    @property
    def label(self) -> str:
        title = self.record.title or "untitled"
        return f"“{title}” ({self.record.id})"

    def describe(self) -> str:
        """“title” (id), last active 2 hours ago, 12 messages"""
        return f"{self.label}, last active {ago(self.record.updated)}, {self.count} messages"


def ago(when: float, now: float | None = None) -> str:
    seconds = max(0.0, (now or time.time()) - when)
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            if unit == "day" and n > 7:
                return "on " + datetime.datetime.fromtimestamp(when).strftime("%Y-%m-%d")
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


class Offer:
    """How to continue a `Previous` session: decided once, by a click or a flag (thread-safe)."""

    def __init__(self, previous: Previous, choice: str | None = None):
        self.previous = previous
        self.fits = False  # set on the intern loop before the banner shows
        self._future: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._lock = threading.Lock()
        if choice is not None:
            self._future.set_result(choice)

    @property
    def decided(self) -> bool:
        return self._future.done()

    @property
    def choice(self) -> str | None:
        return self._future.result() if self._future.done() else None

    def choose(self, choice: str) -> bool:
        """Record the choice; False when one was made already."""
        with self._lock:
            if self._future.done():
                return False
            self._future.set_result(choice)
            return True

    async def wait(self) -> str:
        return await asyncio.wrap_future(self._future)


@dataclass
class Opened:
    """What `open_conductor` found or made."""

    conductor: Conductor
    name: str
    seed: Gate | None = None  # enqueue before the cell's own request
    offer: Offer | None = None
    notice: str | None = None  # a one-line warning to show (e.g. the store is unavailable)


# ------------------------------------------------------------ finding one


def latest_saved(
    store: SessionStore, notebook: str, name: str | None = None
) -> SessionRecord | None:
    """The notebook's most recently updated saved session that is not archived."""
    for record in store.list_sessions(notebook=notebook, limit=50):
        if record.status == "archived":
            continue
        if name is not None and (record.metadata or {}).get("name", "default") != name:
            continue
        return record
    return None


def _find_previous(
    sessions: NotebookSessions, name: str, explicit: bool, config: Any
) -> tuple[Previous | None, tuple[str, Conductor] | None, str | None]:
    """(expired session, live (name, conductor) of the latest one, notice)."""
    from ...agent.context import is_real_user
    from ...store.base import StoreError

    store = sessions.saving.get(config)
    if store is None:
        return None, None, sessions.saving.take_notice()
    try:
        record = latest_saved(store, sessions.notebook(), name if explicit else None)
        if record is None:
            return None, None, None
        live = sessions.named(record.id)
        if live is not None:
            return None, live, None
        messages = store.load_messages(record.id)
    except StoreError as exc:
        return None, None, f"Could not read the saved sessions ({exc})."
    if not any(is_real_user(m) for m in messages):
        return None, None, None
    return Previous(record, messages, store), None, None


def open_conductor(
    sessions: NotebookSessions,
    name: str,
    *,
    model: str | None = None,
    new: bool = False,
    explicit: bool = False,
    choice: str | None = None,
    sink: Callable[[Offer], Any],
) -> Opened:
    """The conductor for a request under `name`, with a seed job when a session expired.

    Blocking (store I/O, session creation). Raises `InternError` (bad config).
    `choice` (one of CHOICES) skips asking; `sink(offer)` makes the seed job's sink.
    """
    from ...config import load_config

    if not new:
        conductor = sessions.get(name)
        if conductor is not None:
            return Opened(conductor, name)
    config = load_config({"model_name": model} if model else None)
    previous, live, notice = (None, None, None)
    if not new:
        previous, live, notice = _find_previous(sessions, name, explicit, config)
    else:
        sessions.saving.get(config)
        notice = sessions.saving.take_notice()
    if live is not None:
        live_name, conductor = live
        sessions.current = live_name
        return Opened(conductor, live_name, notice=notice)
    if new:
        conductor = sessions.new(name, model=model)
    else:
        conductor, created = sessions.ensure(name, model=model)
        if not created:
            return Opened(conductor, name, notice=notice)
    if previous is None:
        return Opened(conductor, name, notice=notice)
    offer = Offer(previous, choice)
    return Opened(conductor, name, seed_gate(conductor, offer, sink(offer)), offer, notice)


def seed_gate(conductor: Conductor, offer: Offer, sink: Any) -> Gate:
    """The gate that asks "Where were we?" and seeds the session before any request."""
    return Gate(functools.partial(_seed, conductor, offer), sink)


# ----------------------------------------------------------- the seed job


async def _seed(conductor: Conductor, offer: Offer, job: Gate) -> str:  # intern thread
    from ...agent import messages as ev
    from ...agent.restore import fits_context

    session = conductor.session
    previous = offer.previous
    sink = cast(SeedSink, job.sink)
    offer.fits = fits_context(session, previous.messages)
    session.emit(ev.SessionExpired(previous_session_id=previous.record.id))
    job.waiting_user = not offer.decided
    try:
        choice = await offer.wait()
    except asyncio.CancelledError:
        _abort(conductor, STOPPED_BEFORE_CHOICE)
        raise
    finally:
        job.waiting_user = False
    if choice == CANCEL:
        _abort(conductor, STOPPED_BEFORE_CHOICE)
        return "cancelled"
    if choice == FRESH:
        try:
            await asyncio.to_thread(previous.store.archive_session, previous.record.id)
        except Exception as exc:
            sink.progress(f"Could not archive {previous.label} ({exc}).", "warn")
        sink.progress(
            f"Started fresh. The earlier session {previous.label} is archived; "
            f"`%intern resume {previous.record.id}` brings it back."
        )
        return "done"
    full = choice in (RESTORE, RESUME) and offer.fits
    if not full:
        if choice == RESTORE:
            sink.progress(
                "The full history does not fit the model's context; catching up from a "
                "summary instead.",
                "warn",
            )
        sink.progress(f"Catching up on {previous.label}: summarising {previous.count} messages…")
        sink.working("catching up")
    # The session seeds itself in its own queue (and records where it came from).
    seed = ev.Seed(
        mode="full" if full else "catch_up",
        messages=previous.messages,
        parent_id=previous.record.id,
        title=previous.record.title or "",
    )
    try:
        outcome, events = await conductor.gate_op(seed)
    except asyncio.CancelledError:
        session.withdraw(seed.id)
        _abort(conductor, "Stopped while catching up: run the cell again to retry.")
        raise
    seeded = next((e for e in events if e.type == "seeded"), None)
    if seeded is not None and full:
        sink.progress(f"Restored the full history of {previous.label}: {seeded.messages} messages.")
        return "done"
    if seeded is not None:
        sink.progress("Caught up: the intern has a summary of the earlier session.")
        return "done"
    why = next((e.error for e in events if e.type == "error"), f"it ended: {outcome}.")
    message = (
        f"Could not catch up on {previous.label}: {why} Run the cell again to retry, "
        "or start fresh (`--fresh`)."
    )
    sink.progress(message, "error")
    _abort(conductor, message)
    return "error"


def _abort(conductor: Conductor, message: str) -> None:  # intern thread
    """Drop the unseeded session: queued requests fail, nothing of it is saved."""
    from ...agent.messages import Shutdown

    conductor.fail_queued(message)
    conductor.close()
    conductor.session.submit(Shutdown(save=False))  # the session drops its recorder


# -------------------------------------------------------------- text mode


class TextSeedSink:
    """The seed job's sink when a cell blocks: everything goes to the cell's thread."""

    def __init__(self) -> None:
        self.q: queue.Queue[tuple[str, Any]] = queue.Queue()

    def queued(self) -> None:
        pass

    def started(self) -> None:
        pass

    def event(self, event: Any) -> None:
        self.q.put(("event", event))

    def finished(self, outcome: str) -> None:
        self.q.put(("finished", outcome))

    def progress(self, text: str, kind: str = "info") -> None:
        self.q.put(("progress", (text, kind)))

    def working(self, state: str) -> None:
        pass


def expired_markdown(offer: Offer) -> str:
    """The text-mode "Where were we?" line, saying what happens."""
    previous = offer.previous
    what = {
        CATCH_UP: "Catching up from a summary of it (`--restore` reloads the full history, "
        "`--fresh` starts over).",
        RESTORE: "Restoring its full history (`--catch-up` uses a summary, `--fresh` starts over).",
        FRESH: "Starting fresh, as asked (`--catch-up` or `--restore` would continue it).",
    }.get(offer.choice or CATCH_UP, "")
    return (
        f"**{TITLE}** This notebook's last session, {previous.describe()}, is not in this "
        f"kernel any more (the kernel restarted). {what}"
    )


def run_seed_blocking(
    sessions: NotebookSessions, opened: Opened, show: Callable[[str], None], *, announce: bool
) -> str:
    """Submit the seed job and show its progress until it ends; returns the outcome."""
    assert opened.seed is not None and opened.offer is not None
    sink = cast(TextSeedSink, opened.seed.sink)
    sessions.submit(opened.conductor, opened.seed)
    stopping = False
    while True:
        try:
            try:
                kind, payload = sink.q.get(timeout=0.05)
            except queue.Empty:
                sessions.drain()
                continue
        except KeyboardInterrupt:
            if not stopping:
                stopping = True
                sessions.runtime.call_soon(opened.conductor.stop, opened.seed)
            continue
        if kind == "event" and payload.type == "session_expired" and announce:
            show(expired_markdown(opened.offer))
        elif kind == "progress":
            text, level = payload
            show(f"**{text}**" if level == "error" else f"*{text}*")
        elif kind == "finished":
            return str(payload)


def open_for_text(
    sessions: NotebookSessions,
    name: str,
    *,
    model: str | None,
    new: bool,
    explicit: bool,
    choice: str | None,
    show: Callable[[str], None],
    lock: Any = None,
) -> Conductor | None:
    """A blocking cell's conductor, seeded first if a session expired; None if seeding failed.

    `lock` is held while the conductor is looked up or made (not while seeding).
    """
    with lock or contextlib.nullcontext():
        opened = open_conductor(
            sessions,
            name,
            model=model,
            new=new,
            explicit=explicit,
            choice=choice or CATCH_UP,
            sink=lambda _offer: TextSeedSink(),
        )
    if opened.notice:
        show(f"*{opened.notice}*")
    if opened.seed is None:
        return opened.conductor
    outcome = run_seed_blocking(sessions, opened, show, announce=True)
    return opened.conductor if outcome == "done" else None


def text_show(shell: Any) -> Callable[[str], None]:
    """How a blocking cell shows a line: printed in a terminal, markdown in a notebook."""
    if type(shell).__name__ != "ZMQInteractiveShell":
        return print

    def markdown(text: str) -> None:
        from IPython.display import Markdown, display

        display(Markdown(text))

    return markdown

"""The session store interface: what any persistence backend must provide.

Two implementations are planned: `SqliteStore` (embedded, the default in
Colab / VS Code / terminal IPython) and an HTTP client that talks to the
Jupyter server extension, which owns the SQLite file when a server is there.
Both implement `SessionStore`; `tests/unit/test_store.py` is written against
this interface so it can run against either.

The model:

* A session is one row of metadata (`SessionRecord`) plus its history.
* The history is a list of OpenAI-format message dicts (private keys such as
  `_ts` included). Messages are appended as they complete, by position
  (`start_index`) within the current *history generation*.
* Rewrites (compaction, undo, truncate, dangling-call repair) never rewrite
  stored messages: `new_generation()` records the rewritten history as a new
  generation and makes it current. Older generations stay in the store.
* Everything is scrubbed of secrets (`traces.redact.scrub`) before it is
  written, so what comes back is the scrubbed form.

Errors: every method that takes a session id raises `UnknownSessionError`
(a `StoreError` and a `KeyError`) for an id the store does not know, except
`get_session`, which returns None. Writing at a position that is already
taken by a different message, or into a generation that is no longer
current, raises `StoreConflictError`; the writer should reload and retry.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ..errors import InternError
from ..traces.redact import scrub_text

__all__ = [
    "SESSION_FIELDS",
    "STATUSES",
    "TITLE_MAX_CHARS",
    "UPDATABLE_FIELDS",
    "SessionRecord",
    "SessionStore",
    "StoreConflictError",
    "StoreError",
    "StoreUnavailableError",
    "StoreVersionError",
    "UnknownSessionError",
    "title_from_prompt",
]

STATUSES = frozenset({"active", "idle", "waiting_approval", "ended", "archived", "error"})
TITLE_MAX_CHARS = 80


class StoreError(InternError):
    """The session store could not do what was asked; `str(exc)` says why."""


class UnknownSessionError(StoreError, KeyError):
    """No session with that id exists in the store."""

    def __init__(self, session_id: str):
        super().__init__(
            f"No saved session with id '{session_id}'. It may have been deleted; "
            "list the saved sessions to pick another one."
        )
        self.session_id = session_id

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])

    def __reduce__(self) -> tuple[type[UnknownSessionError], tuple[str]]:
        return (type(self), (self.session_id,))


class StoreConflictError(StoreError):
    """Another writer got there first (position taken, or generation replaced)."""


class StoreUnavailableError(StoreError):
    """The store could not be reached at all (e.g. the Jupyter server went away).

    `request_sent` is True when the connection failed after the request had
    been sent, so the server may have carried it out before it went away.
    """

    def __init__(self, message: str, *, request_sent: bool = False):
        super().__init__(message)
        self.request_sent = request_sent


class StoreVersionError(StoreError):
    """The store was written by a newer version of the package."""


@dataclass
class SessionRecord:
    """One session's metadata (a row of the `sessions` table).

    `generation` is managed by the store (`new_generation`); it is ignored on
    `create_session` (a new session starts at generation 0) and cannot be set
    with `update_session`.
    """

    id: str
    notebook: str = ""
    title: str = ""
    model: str = ""
    status: str = "active"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    parent_id: str | None = None
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    pending_approval: dict[str, Any] | None = None
    generation: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    trace_status: dict[str, Any] | None = None


SESSION_FIELDS: tuple[str, ...] = tuple(SessionRecord.__dataclass_fields__)
# `id`, `created` and `generation` belong to the store.
UPDATABLE_FIELDS = frozenset(SESSION_FIELDS) - {"id", "created", "generation"}

_WS = re.compile(r"\s+")


def title_from_prompt(prompt: str, max_chars: int = TITLE_MAX_CHARS) -> str:
    """A one-line session title from the first prompt.

    Secrets are scrubbed *before* trimming, so a token cut in half by the
    trim cannot slip past the scrubber's length-based patterns.
    """
    text = _WS.sub(" ", scrub_text(prompt)).strip()
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rstrip()
    return cut + "…"


class SessionStore(ABC):
    """Persistence for sessions and their message histories.

    Implementations are synchronous and thread-safe. Callers on an asyncio
    loop should run them in an executor (appends are ~sub-millisecond for
    the SQLite store, so calling inline is acceptable too).
    """

    # -- small settings (key -> text), e.g. what a model was found to support

    def get_setting(self, key: str) -> str | None:
        """A stored setting, or None. Stores without settings keep none."""
        return None

    def put_setting(self, key: str, value: str) -> None:
        """Keep a setting (best effort; stores without settings drop it)."""
        return None  # noqa: B027 - optional, not abstract: most stores keep settings elsewhere

    # -- sessions

    @abstractmethod
    def create_session(self, record: SessionRecord) -> None:
        """Add a new session. An id that already exists raises `StoreError`."""

    @abstractmethod
    def update_session(self, session_id: str, **fields: Any) -> None:
        """Change metadata fields (see `UPDATABLE_FIELDS`).

        An unknown field name or status value raises `ValueError`. `updated`
        is set to now unless given explicitly. Dict fields (`metadata`,
        `pending_approval`, `trace_status`) are replaced whole, not merged.
        """

    @abstractmethod
    def get_session(self, session_id: str) -> SessionRecord | None:
        """The session's record, or None."""

    @abstractmethod
    def list_sessions(
        self, *, notebook: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        """Sessions, most recently updated first, optionally filtered."""

    @abstractmethod
    def archive_session(self, session_id: str) -> None:
        """Mark the session archived (kept, hidden from "recent")."""

    @abstractmethod
    def delete_session(self, session_id: str) -> None:
        """Remove the session and every generation of its history."""

    # -- history

    @abstractmethod
    def append_messages(
        self, session_id: str, generation: int, start_index: int, messages: list[dict[str, Any]]
    ) -> None:
        """Store `messages` at positions `start_index...` of `generation`.

        Does not touch the session record (not even `updated`: that would
        rewrite two index pages per message); update the record at turn
        boundaries with `update_session`.

        Idempotent: positions that already hold the same message are skipped.
        A position holding a different message, or a `generation` that is not
        the session's current one, raises `StoreConflictError`. Leaving a gap
        (`start_index` beyond the end) raises `StoreError`.
        """

    @abstractmethod
    def new_generation(self, session_id: str, messages: list[dict[str, Any]]) -> int:
        """Record a rewritten history as the new current one; returns its number."""

    @abstractmethod
    def load_messages(
        self, session_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The current generation's messages, in order (a slice of them)."""

    @abstractmethod
    def count_messages(self, session_id: str) -> int:
        """How many messages the current generation holds."""

    # -- lifecycle

    @abstractmethod
    def close(self) -> None:
        """Release resources. Further calls raise `StoreError`."""

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

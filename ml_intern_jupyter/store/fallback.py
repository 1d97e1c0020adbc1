"""`FallbackStore`: the server's store while it lasts, then the SQLite file.

A kernel started by Jupyter Server writes through the server extension
(`HttpStore`). If the server goes away mid-session (`StoreUnavailableError`),
the kernel switches, permanently, to the embedded store opened by
`fallback_factory` — the same SQLite file the server wrote to, since both
resolve the same `ML_INTERN_HOME` — and retries the failed call there, so
nothing is lost: every write the server acknowledged is already in the file.

A call that failed after its request was sent may have been carried out by
the server before it went away. Retrying it is harmless for appends (they
are idempotent), updates and archives (same result) and rewrites (one more,
equal generation); a create or delete that the server already did is taken
as done rather than reported as a duplicate or an unknown id.

A body too large for the server (`PayloadTooLargeError`, e.g. a rewrite of
a huge history) is written directly to the file, once, without switching.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from .base import (
    SessionRecord,
    SessionStore,
    StoreError,
    StoreUnavailableError,
    UnknownSessionError,
)
from .http import PayloadTooLargeError

__all__ = ["FallbackStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class FallbackStore(SessionStore):
    """Use `primary`; on `StoreUnavailableError` switch to `fallback_factory()` for good.

    `on_switch(error)` (optional) is called once, after the switch, so the
    caller can tell the user; it must not raise.
    """

    def __init__(
        self,
        primary: SessionStore,
        fallback_factory: Callable[[], SessionStore],
        *,
        on_switch: Callable[[StoreUnavailableError], None] | None = None,
    ):
        self.primary = primary
        self._factory = fallback_factory
        self._on_switch = on_switch
        self._local: SessionStore | None = None  # opened on first need
        self._switched = False
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"FallbackStore({self.primary!r}, switched={self._switched})"

    @property
    def switched(self) -> bool:
        """True once the primary failed and the fallback took over for good."""
        return self._switched

    @property
    def active(self) -> SessionStore:
        """The store calls go to now (the fallback is opened if needed)."""
        return self._open_local() if self._switched else self.primary

    def _open_local(self) -> SessionStore:
        with self._lock:
            return self._open_local_locked()

    def _open_local_locked(self) -> SessionStore:
        if self._closed:
            raise StoreError("The session store has been closed.")
        if self._local is None:
            try:
                self._local = self._factory()
            except StoreError:
                raise
            except Exception as exc:  # e.g. OSError creating the directory
                raise StoreError(f"Cannot open the local session store: {exc}") from exc
        return self._local

    def _switch(self, error: StoreUnavailableError) -> SessionStore:
        with self._lock:
            store = self._open_local_locked()
            first, self._switched = not self._switched, True
        if first:
            # The primary stays open until `close()`: calls other threads have
            # in flight on it must fail as unavailable (and retry here), not as closed.
            log.warning("%s Continuing with the local session store %r.", error, store)
            if self._on_switch is not None:
                try:
                    self._on_switch(error)
                except Exception:  # a notification must not cost a write
                    log.exception("on_switch callback failed")
        return store

    def _run(
        self,
        call: Callable[[SessionStore], T],
        done_already: Callable[[StoreError, SessionStore], bool] | None = None,
    ) -> T:
        """`call` on the active store; on the primary failing, switch and retry.

        `done_already(error, store)` says whether the retry's error means the
        server had carried the call out before it went away (only asked when
        the failed request had been sent).
        """
        if self._switched:
            return call(self._open_local())
        try:
            return call(self.primary)
        except StoreUnavailableError as exc:
            store = self._switch(exc)
            try:
                return call(store)
            except StoreError as retry_error:
                if exc.request_sent and done_already and done_already(retry_error, store):
                    return cast(T, None)
                raise
        except PayloadTooLargeError:
            return call(self._open_local())  # this call only; the server stays primary

    # -- sessions

    def create_session(self, record: SessionRecord) -> None:
        def created_by_server(error: StoreError, store: SessionStore) -> bool:
            existing = store.get_session(record.id)
            return existing is not None and existing.created == record.created

        self._run(lambda s: s.create_session(record), created_by_server)

    def update_session(self, session_id: str, **fields: Any) -> None:
        self._run(lambda s: s.update_session(session_id, **fields))

    def get_session(self, session_id: str) -> SessionRecord | None:
        return self._run(lambda s: s.get_session(session_id))

    def list_sessions(
        self, *, notebook: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        return self._run(lambda s: s.list_sessions(notebook=notebook, status=status, limit=limit))

    def archive_session(self, session_id: str) -> None:
        self._run(lambda s: s.archive_session(session_id))

    def delete_session(self, session_id: str) -> None:
        def deleted_by_server(error: StoreError, store: SessionStore) -> bool:
            return isinstance(error, UnknownSessionError)

        self._run(lambda s: s.delete_session(session_id), deleted_by_server)

    # -- history

    def append_messages(
        self, session_id: str, generation: int, start_index: int, messages: list[dict[str, Any]]
    ) -> None:
        self._run(lambda s: s.append_messages(session_id, generation, start_index, messages))

    def new_generation(self, session_id: str, messages: list[dict[str, Any]]) -> int:
        return self._run(lambda s: s.new_generation(session_id, messages))

    def load_messages(
        self, session_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return self._run(lambda s: s.load_messages(session_id, offset=offset, limit=limit))

    def count_messages(self, session_id: str) -> int:
        return self._run(lambda s: s.count_messages(session_id))

    # -- settings: always the local file (the server keeps none; both share that file)

    def get_setting(self, key: str) -> str | None:
        return self._open_local().get_setting(key)

    def put_setting(self, key: str, value: str) -> None:
        self._open_local().put_setting(key, value)

    # -- lifecycle

    def close(self) -> None:
        with self._lock:
            self._closed = True
            local = self._local
        self.primary.close()
        if local is not None:
            local.close()

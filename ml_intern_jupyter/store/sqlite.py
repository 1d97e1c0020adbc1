"""The embedded session store: one SQLite file, `<home>/sessions.db`.

Settings: WAL journal (readers never block the writer, a crash of the
process loses no committed transaction), `synchronous=NORMAL` (no fsync per
commit; a power cut may lose the last few appends, a killed process loses
none), `busy_timeout` so several kernels can share the file, and versioned
migrations (`migrations.py`).

History generations and shared prefixes
---------------------------------------
Stored messages are never rewritten. A rewrite of the history (compaction,
undo, truncate, repair) becomes a new *generation*: a row in `generations`
plus message rows for the part that changed. Rewrites mostly keep a prefix
of the old history (undo and truncate keep everything before a point;
compaction keeps the system message and the first prompt), so instead of
copying the whole history, `new_generation` finds the longest prefix of the
new history that equals the current one (comparing the stored, scrubbed
JSON) and records it as `keep_upto` plus `segments`: a flattened list of
`[source_generation, lo, hi]` ranges saying where positions `0..keep_upto-1`
already live. Positions keep their index across generations, so a segment is
a plain range scan on the primary key. The generation's own rows start at
`keep_upto`. Loading a generation is one range query per segment (usually
one to three) — no recursion, no copying — and undo on a 10,000-message
session writes a single small row.

Concurrency: one connection per store object guarded by a lock (calls are
short; JSON parsing of loads happens outside the lock). Every write is a
`BEGIN IMMEDIATE` transaction, so the check-then-insert of an append is
atomic across processes as well; two writers racing for the same position
get `StoreConflictError` rather than silently dropping a message.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..traces.redact import scrub, scrub_text
from .base import (
    SESSION_FIELDS,
    STATUSES,
    UPDATABLE_FIELDS,
    SessionRecord,
    SessionStore,
    StoreConflictError,
    StoreError,
    UnknownSessionError,
)
from .migrations import LATEST_VERSION, migrate, schema_version, version_error

__all__ = ["DB_NAME", "SqliteStore"]

DB_NAME = "sessions.db"
_JSON_FIELDS = frozenset({"pending_approval", "metadata", "trace_status"})
_TEXT_FIELDS = frozenset({"notebook", "title", "model"})
_OPEN_END = 1 << 62
_COLUMNS = ", ".join(SESSION_FIELDS)
_HEAD = (
    "SELECT s.generation, g.keep_upto, g.segments,"
    " (SELECT MAX(idx) + 1 FROM messages m"
    "   WHERE m.session_id = s.id AND m.generation = s.generation)"
    " FROM sessions s JOIN generations g"
    " ON g.session_id = s.id AND g.generation = s.generation WHERE s.id = ?"
)
_RANGE = (
    "SELECT data FROM messages WHERE session_id = ? AND generation = ?"
    " AND idx >= ? AND idx < ? ORDER BY idx"
)
_INSERT = (
    "INSERT INTO messages (session_id, generation, idx, role, data, ts) VALUES (?, ?, ?, ?, ?, ?)"
)

Segment = tuple[int, int, int]  # (source generation, lo, hi): positions lo..hi-1


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


Row = tuple[str, str, float]  # (role, scrubbed JSON, timestamp)


def _json_of(position: int, message: Any) -> str:
    if not isinstance(message, dict):
        raise ValueError(f"Message {position} is a {type(message).__name__}, not a dict.")
    try:
        return _dumps(message)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Message {position} cannot be stored as JSON: {exc}") from exc


def _encode(position: int, message: dict[str, Any], now: float) -> Row:
    if not isinstance(message, dict):
        raise ValueError(f"Message {position} is a {type(message).__name__}, not a dict.")
    clean = scrub(message)
    ts = clean.get("_ts")
    return (
        str(clean.get("role") or ""),
        _json_of(position, clean),
        float(ts) if isinstance(ts, (int, float)) else now,
    )


def _encode_messages(messages: list[dict[str, Any]]) -> list[Row]:
    now = time.time()
    return [_encode(i, message, now) for i, message in enumerate(messages)]


def _encode_field(name: str, value: Any) -> Any:
    if name == "status":
        if value not in STATUSES:
            raise ValueError(
                f"Unknown session status {value!r}; expected one of {', '.join(sorted(STATUSES))}."
            )
        return value
    if name in _JSON_FIELDS:
        if value is None:
            return "{}" if name == "metadata" else None
        if not isinstance(value, dict):
            raise ValueError(f"Session field {name!r} must be a dict or None.")
        return _dumps(scrub(value))
    if name in _TEXT_FIELDS:
        return scrub_text(str(value or ""))
    return value


def _record(row: tuple[Any, ...]) -> SessionRecord:
    values = dict(zip(SESSION_FIELDS, row, strict=True))
    for name in _JSON_FIELDS:
        raw = values[name]
        values[name] = json.loads(raw) if raw is not None else None
    if values["metadata"] is None:
        values["metadata"] = {}
    return SessionRecord(**values)


def _clip(segments: Iterable[Segment], lo: int, hi: int) -> list[Segment]:
    out = []
    for src, a, b in segments:
        a, b = max(a, lo), min(b, hi)
        if a < b:
            out.append((src, a, b))
    return out


class _Head:
    """Where the current generation of one session lives."""

    __slots__ = ("generation", "keep_upto", "length", "segments")

    def __init__(self, row: tuple[Any, ...]):
        self.generation = int(row[0])
        self.keep_upto = int(row[1])
        self.length = max(self.keep_upto, int(row[3] or 0))
        shared: list[Segment] = [(int(s), int(a), int(b)) for s, a, b in json.loads(row[2])]
        self.segments = [*shared, (self.generation, self.keep_upto, _OPEN_END)]


class SqliteStore(SessionStore):
    """`SessionStore` on one SQLite file. Use `SqliteStore.open(home)` normally."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 5000):
        self.path = Path(path)
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._closed = False
        self._conn: sqlite3.Connection | None = self._connect()

    @classmethod
    def open(cls, home: Path | str, **kwargs: Any) -> SqliteStore:
        """The store at `<home>/sessions.db`, creating `home` if needed."""
        home = Path(home).expanduser()
        home.mkdir(parents=True, exist_ok=True)
        return cls(home / DB_NAME, **kwargs)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- connection

    def _connect(self) -> sqlite3.Connection:
        is_new = not self.path.exists()
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the session store at {self.path}: {exc}") from exc
        try:
            if is_new:
                try:
                    os.chmod(self.path, 0o600)  # before the -wal/-shm files copy its mode
                except OSError:
                    pass
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms:d}")
            found = schema_version(conn)
            if found > LATEST_VERSION:
                raise version_error(found, LATEST_VERSION, f"at {self.path}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, where=f"at {self.path}")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(
                    f"The session store at {self.path} is not a usable SQLite database ({exc}). "
                    "Move the file away to start a fresh store."
                ) from exc
            raise
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if os.getpid() != self._pid:
            # Forked: never touch the parent's connection (closing it could
            # checkpoint and remove the WAL under the parent); open our own.
            self._lock = threading.RLock()
            self._pid = os.getpid()
            if not self._closed:
                self._conn = self._connect()
        with self._lock:
            if self._closed or self._conn is None:
                raise StoreError(f"The session store at {self.path} has been closed.")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"The session store at {self.path} failed: {exc}") from exc

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """A write (IMMEDIATE) or snapshot-read (DEFERRED) transaction."""
        with self._connection() as conn:
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None and os.getpid() == self._pid:
                conn.close()

    # -- helpers (inside a transaction)

    @staticmethod
    def _head(conn: sqlite3.Connection, session_id: str) -> _Head:
        row = conn.execute(_HEAD, (session_id,)).fetchone()
        if row is None:
            raise UnknownSessionError(session_id)
        return _Head(row)

    @staticmethod
    def _iter_data(
        conn: sqlite3.Connection, session_id: str, segments: Iterable[Segment]
    ) -> Generator[str, None, None]:
        for src, lo, hi in segments:
            cursor = conn.execute(_RANGE, (session_id, src, lo, hi))
            try:
                for (data,) in cursor:
                    yield data
            finally:
                cursor.close()

    # -- settings

    def get_setting(self, key: str) -> str | None:
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_setting(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO settings (key, value, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                (key, value, time.time()),
            )

    # -- sessions

    def create_session(self, record: SessionRecord) -> None:
        values = [
            0 if name == "generation" else _encode_field(name, getattr(record, name))
            for name in SESSION_FIELDS
        ]
        marks = ", ".join("?" * len(SESSION_FIELDS))
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (record.id,)).fetchone():
                raise StoreError(f"A session with id '{record.id}' already exists.")
            conn.execute(f"INSERT INTO sessions ({_COLUMNS}) VALUES ({marks})", values)
            conn.execute(
                "INSERT INTO generations (session_id, generation, keep_upto, segments, created)"
                " VALUES (?, 0, 0, '[]', ?)",
                (record.id, record.created),
            )

    def update_session(self, session_id: str, **fields: Any) -> None:
        unknown = set(fields) - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(
                f"Cannot update session field(s) {', '.join(sorted(unknown))}; "
                f"updatable fields: {', '.join(sorted(UPDATABLE_FIELDS))}."
            )
        fields.setdefault("updated", time.time())
        names = list(fields)
        values = [_encode_field(name, fields[name]) for name in names]
        assignments = ", ".join(f"{name} = ?" for name in names)
        with self._transaction() as conn:
            cursor = conn.execute(
                f"UPDATE sessions SET {assignments} WHERE id = ?", [*values, session_id]
            )
            if cursor.rowcount == 0:
                raise UnknownSessionError(session_id)

    def get_session(self, session_id: str) -> SessionRecord | None:
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        return _record(row) if row is not None else None

    def list_sessions(
        self, *, notebook: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        if status is not None and status not in STATUSES:
            raise ValueError(f"Unknown session status {status!r}.")
        if limit < 0:
            raise ValueError("limit must be >= 0.")
        where, params = [], []
        if notebook is not None:
            where.append("notebook = ?")
            params.append(scrub_text(notebook))
        if status is not None:
            where.append("status = ?")
            params.append(status)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM sessions {clause}"
                " ORDER BY updated DESC, created DESC, id LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [_record(row) for row in rows]

    def archive_session(self, session_id: str) -> None:
        self.update_session(session_id, status="archived")

    def delete_session(self, session_id: str) -> None:
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            if cursor.rowcount == 0:
                raise UnknownSessionError(session_id)
            conn.execute("DELETE FROM generations WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))

    # -- history

    def append_messages(
        self, session_id: str, generation: int, start_index: int, messages: list[dict[str, Any]]
    ) -> None:
        if start_index < 0:
            raise ValueError("start_index must be >= 0.")
        rows = _encode_messages(messages)
        with self._transaction() as conn:
            head = self._head(conn, session_id)
            if generation != head.generation:
                raise StoreConflictError(
                    f"Session '{session_id}' history was rewritten (generation "
                    f"{head.generation}, not {generation}); reload it before appending."
                )
            if start_index > head.length:
                raise StoreError(
                    f"Cannot append at position {start_index} of session '{session_id}': "
                    f"it holds only {head.length} messages (no gaps allowed)."
                )
            overlap = min(head.length - start_index, len(rows))
            if overlap > 0:
                stored = self._iter_data(
                    conn, session_id, _clip(head.segments, start_index, start_index + overlap)
                )
                try:
                    for offset, (data, row) in enumerate(zip(stored, rows, strict=False)):
                        if data != row[1]:
                            raise StoreConflictError(
                                f"Position {start_index + offset} of session '{session_id}' "
                                "already holds a different message; reload the session."
                            )
                finally:
                    # Close the cursor now, not when the traceback is collected
                    # (maybe after the connection is closed).
                    stored.close()
            if overlap < len(rows):
                conn.executemany(
                    _INSERT,
                    [
                        (session_id, generation, start_index + i, role, data, ts)
                        for i, (role, data, ts) in enumerate(rows)
                        if i >= overlap
                    ],
                )

    def new_generation(self, session_id: str, messages: list[dict[str, Any]]) -> int:
        # Scrubbing costs ~25x more than serialising, and a rewrite usually
        # keeps most of the history: compare the caller's plain JSON with the
        # stored (scrubbed) JSON first and scrub only where they differ —
        # equal means the message had nothing to scrub and is stored already.
        plain = [_json_of(i, message) for i, message in enumerate(messages)]
        now = time.time()
        with self._transaction() as conn:
            head = self._head(conn, session_id)
            keep = 0
            current = self._iter_data(conn, session_id, _clip(head.segments, 0, len(messages)))
            try:
                for data in current:
                    if data != plain[keep] and data != _encode(keep, messages[keep], now)[1]:
                        break
                    keep += 1
            finally:
                current.close()
            new = head.generation + 1
            conn.execute(
                "INSERT INTO generations (session_id, generation, keep_upto, segments, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, new, keep, _dumps(_clip(head.segments, 0, keep)), now),
            )
            conn.executemany(
                _INSERT,
                [
                    (session_id, new, i, *_encode(i, messages[i], now))
                    for i in range(keep, len(messages))
                ],
            )
            conn.execute(
                "UPDATE sessions SET generation = ?, updated = ? WHERE id = ?",
                (new, now, session_id),
            )
        return new

    def load_messages(
        self, session_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        # One parse of a JSON array is faster than one json.loads per row.
        parsed: list[dict[str, Any]] = json.loads(
            self.load_messages_json(session_id, offset=offset, limit=limit)
        )
        return parsed

    def load_messages_json(
        self, session_id: str, *, offset: int = 0, limit: int | None = None
    ) -> str:
        """`load_messages` as the text of a JSON array, unparsed (the server
        extension sends it on as it is)."""
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError("offset and limit must be >= 0.")
        end = _OPEN_END if limit is None else offset + limit
        with self._transaction("DEFERRED") as conn:
            head = self._head(conn, session_id)
            data = list(self._iter_data(conn, session_id, _clip(head.segments, offset, end)))
        return "[" + ",".join(data) + "]"

    def count_messages(self, session_id: str) -> int:
        with self._connection() as conn:
            return self._head(conn, session_id).length

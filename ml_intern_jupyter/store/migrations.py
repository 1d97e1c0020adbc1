"""Versioned schema migrations for the SQLite session store.

The schema version lives in the database header (`PRAGMA user_version`).
`MIGRATIONS[i]` upgrades a database from version `i` to `i + 1`; the latest
version is `len(MIGRATIONS)`. Pending migrations run in order inside one
`BEGIN IMMEDIATE` transaction (SQLite DDL is transactional), so a failure
leaves the database at its old version, and two processes opening an old
database at once cannot both migrate it. Never edit a released migration:
append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from .base import StoreVersionError

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "Migration",
    "migrate",
    "schema_version",
    "version_error",
]

Migration = Callable[[sqlite3.Connection], None]


def _v1_initial(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE sessions (
            id                TEXT PRIMARY KEY,
            notebook          TEXT NOT NULL DEFAULT '',
            title             TEXT NOT NULL DEFAULT '',
            model             TEXT NOT NULL DEFAULT '',
            status            TEXT NOT NULL DEFAULT 'active',
            created           REAL NOT NULL,
            updated           REAL NOT NULL,
            parent_id         TEXT,
            turns             INTEGER NOT NULL DEFAULT 0,
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd          REAL NOT NULL DEFAULT 0,
            pending_approval  TEXT,
            generation        INTEGER NOT NULL DEFAULT 0,
            metadata          TEXT NOT NULL DEFAULT '{}',
            trace_status      TEXT
        )
        """
    )
    conn.execute("CREATE INDEX sessions_by_updated ON sessions (updated)")
    conn.execute("CREATE INDEX sessions_by_notebook ON sessions (notebook, updated)")
    # One row per history generation. The generation's history is the shared
    # prefix described by `segments` (JSON [[source_generation, lo, hi], ...],
    # covering positions 0..keep_upto-1 in order) followed by the generation's
    # own message rows from position keep_upto on.
    conn.execute(
        """
        CREATE TABLE generations (
            session_id  TEXT NOT NULL,
            generation  INTEGER NOT NULL,
            keep_upto   INTEGER NOT NULL,
            segments    TEXT NOT NULL,
            created     REAL NOT NULL,
            PRIMARY KEY (session_id, generation)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE messages (
            session_id  TEXT NOT NULL,
            generation  INTEGER NOT NULL,
            idx         INTEGER NOT NULL,
            role        TEXT NOT NULL,
            data        TEXT NOT NULL,
            ts          REAL NOT NULL,
            PRIMARY KEY (session_id, generation, idx)
        )
        """
    )


def _v2_settings(conn: sqlite3.Connection) -> None:
    # Small per-user facts that outlive a kernel (e.g. a model's reasoning effort).
    conn.execute(
        """
        CREATE TABLE settings (
            key      TEXT PRIMARY KEY,
            value    TEXT NOT NULL,
            updated  REAL NOT NULL
        )
        """
    )


MIGRATIONS: list[Migration] = [_v1_initial, _v2_settings]
LATEST_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def version_error(found: int, known: int, where: str) -> StoreVersionError:
    return StoreVersionError(
        f"The session store {where} uses schema version {found}, but this version of "
        f"ml-intern-jupyter only understands versions up to {known}; it was written by a "
        "newer release. Upgrade the package (`pip install -U ml-intern-jupyter`) and "
        "restart the kernel, or point ML_INTERN_HOME at another directory."
    )


def migrate(
    conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS, *, where: str = ""
) -> int:
    """Bring the database to the latest version; returns that version.

    `conn` must be in autocommit mode (`isolation_level=None`).
    """
    latest = len(migrations)
    found = schema_version(conn)
    if found > latest:
        raise version_error(found, latest, where)
    if found == latest:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)  # another process may have migrated meanwhile
        if found > latest:
            raise version_error(found, latest, where)
        for version in range(found, latest):
            migrations[version](conn)
        conn.execute(f"PRAGMA user_version = {latest:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return latest

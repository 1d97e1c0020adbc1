"""Session persistence: the `SessionStore` interface and its SQLite backend.

`open_store(config)` gives the embedded store at `<home>/sessions.db`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    STATUSES,
    SessionRecord,
    SessionStore,
    StoreConflictError,
    StoreError,
    StoreVersionError,
    UnknownSessionError,
    title_from_prompt,
)
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "STATUSES",
    "SessionRecord",
    "SessionStore",
    "SqliteStore",
    "StoreConflictError",
    "StoreError",
    "StoreVersionError",
    "UnknownSessionError",
    "open_store",
    "title_from_prompt",
]


def open_store(config: Config) -> SqliteStore:
    """The embedded SQLite store under `config.resolved_home()`."""
    return SqliteStore.open(config.resolved_home())

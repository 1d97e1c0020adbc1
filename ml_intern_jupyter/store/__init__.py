"""Session persistence: the `SessionStore` interface and its backends.

`open_store(config)` gives the embedded store at `<home>/sessions.db`.
`connect(config)` gives what a kernel should use: the Jupyter server's store
over HTTP when this kernel was started by a server running the extension
(falling back to the same SQLite file if the server goes away), else the
embedded store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .base import (
    STATUSES,
    SessionRecord,
    SessionStore,
    StoreConflictError,
    StoreError,
    StoreUnavailableError,
    StoreVersionError,
    UnknownSessionError,
    title_from_prompt,
)
from .fallback import FallbackStore
from .http import SERVER_SECRET_ENV, SERVER_URL_ENV, HttpStore, PayloadTooLargeError
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger(__name__)

__all__ = [
    "STATUSES",
    "FallbackStore",
    "HttpStore",
    "PayloadTooLargeError",
    "SessionRecord",
    "SessionStore",
    "SqliteStore",
    "StoreConflictError",
    "StoreError",
    "StoreUnavailableError",
    "StoreVersionError",
    "UnknownSessionError",
    "connect",
    "open_store",
    "title_from_prompt",
]


def open_store(config: Config) -> SqliteStore:
    """The embedded SQLite store under `config.resolved_home()`."""
    return SqliteStore.open(config.resolved_home())


def connect(
    config: Config,
    *,
    env: Mapping[str, str] | None = None,
    on_switch: Callable[[StoreUnavailableError], None] | None = None,
) -> SessionStore:
    """The store a kernel should use.

    With `ML_INTERN_SERVER_URL` and `ML_INTERN_SERVER_SECRET` in `env`
    (default: `os.environ`), the server extension's store over HTTP (no I/O
    until the first call), falling back for good to the SQLite file under
    `config.resolved_home()` if the server goes away (`on_switch` is told
    when); otherwise that SQLite store, opened now.
    """
    env = os.environ if env is None else env
    home = config.resolved_home()
    url, secret = env.get(SERVER_URL_ENV), env.get(SERVER_SECRET_ENV)
    if url and secret:
        try:
            primary = HttpStore(url, secret)
        except ValueError as exc:
            log.warning("%s Using the local session store instead.", exc)
        else:
            return FallbackStore(primary, lambda: SqliteStore.open(home), on_switch=on_switch)
    return SqliteStore.open(home)

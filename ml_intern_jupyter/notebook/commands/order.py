"""What the commands that start or replace a session share: the lock that keeps
requests in the order their cells ran, and the message for a busy session."""

from __future__ import annotations

import threading

__all__ = ["BUSY", "ORDER"]

BUSY = (
    "The intern is busy with a turn in session '{name}'; run `%intern {cmd}` when it ends, "
    "or `%intern stop` first."
)
# Keeps requests in the order their cells ran while a session is being created.
ORDER = threading.Lock()

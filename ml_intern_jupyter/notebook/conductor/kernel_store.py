"""Where this kernel saves its sessions, and which notebook they belong to.

One store per kernel (`store.connect`: the Jupyter server's store over HTTP
when the server extension started this kernel, else the SQLite file under
`ML_INTERN_HOME`), opened on first use from whichever thread needs it: the
helper thread that creates a cell's session, or a blocking command. Never
on a `%%intern` cell's own path.

A session records its notebook: `JPY_SESSION_NAME` (set by Jupyter Server
to the notebook's path), VS Code's `__vsc_ipynb_file__`, else a default per
working directory, `dir:<cwd>`.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...agent.persistence import Recorder
    from ...config import Config
    from ...store.base import SessionStore

__all__ = ["KernelStore", "notebook_id"]

log = logging.getLogger(__name__)

OFF = "Saving sessions is off (`save_sessions` is false in the config)."


def notebook_id(shell: Any = None, env: Any = None) -> str:
    """The notebook this kernel runs, as sessions record it."""
    env = os.environ if env is None else env
    name = env.get("JPY_SESSION_NAME")
    if name:
        return str(name)
    user_ns = getattr(shell, "user_ns", None) or {}
    vscode = user_ns.get("__vsc_ipynb_file__")
    if vscode:
        return str(vscode)
    return f"dir:{os.getcwd()}"


class KernelStore:
    """This kernel's session store: opened once, lazily, thread-safe."""

    def __init__(self) -> None:
        self._store: SessionStore | None = None
        self._lock = threading.Lock()
        self.error: str | None = None  # why the store could not be opened
        self.switched: str | None = None  # set when the server went away (now local SQLite)
        self._noticed = False

    def get(self, config: Config) -> SessionStore | None:
        """The store, or None when saving is off or the store cannot be opened (see `error`)."""
        if not config.save_sessions:
            return None
        with self._lock:
            if self._store is None and self.error is None:
                try:
                    from ...store import connect

                    self._store = connect(config, on_switch=self._on_switch)
                except Exception as exc:  # a broken disk must not break the notebook
                    log.warning("cannot open the session store", exc_info=True)
                    self.error = (
                        f"Sessions are not being saved: the session store could not be opened "
                        f"({exc})."
                    )
            return self._store

    def take_notice(self) -> str | None:
        """Why sessions are not saved, once per kernel (for a note in a cell's output)."""
        with self._lock:
            if self.error is None or self._noticed:
                return None
            self._noticed = True
            return self.error

    def why_not(self, config: Config) -> str:
        """One line saying why there is no store (after `get` returned None)."""
        if not config.save_sessions:
            return OFF
        return self.error or "Sessions are not being saved."

    def recorder(self, config: Config, *, notebook: str, name: str) -> Recorder | None:
        store = self.get(config)
        if store is None:
            return None
        from ...agent.persistence import Recorder

        # The working directory goes into the trace (`cwd`, as Claude Code records it).
        return Recorder(store, notebook=notebook, metadata={"name": name, "cwd": os.getcwd()})

    def _on_switch(self, exc: Exception) -> None:
        self.switched = f"The Jupyter server's session store went away ({exc}); saving locally."
        log.warning(self.switched)

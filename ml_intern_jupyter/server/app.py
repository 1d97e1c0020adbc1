"""The `ml_intern_jupyter` Jupyter Server extension.

It owns the session store while the server runs: it opens the SQLite file
under the ml-intern home, serves it under `<base_url>ml-intern/api/`
(`handlers.py`, `feed.py`), and tells the kernels it starts how to reach it
(`auth.py`: URL and secret in the environment they inherit).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Int, Unicode

from ..store.sqlite import SqliteStore
from .auth import EnvPublisher, new_secret, server_url
from .feed import Feed
from .handlers import api_routes

__all__ = ["MLInternApp", "default_home"]


def default_home() -> Path:
    """The home a kernel resolves too: the config's `home`, `$ML_INTERN_HOME`,
    or `<jupyter data dir>/ml_intern_jupyter`."""
    from ..config import Config, load_config
    from ..errors import ConfigError

    try:
        return load_config().resolved_home()
    except ConfigError:
        # A broken user config must not take the session store down with it.
        env = os.environ.get("ML_INTERN_HOME")
        return Config.model_construct(home=Path(env) if env else None).resolved_home()


class MLInternApp(ExtensionApp):
    name = "ml_intern_jupyter"
    load_other_extensions = True

    home = Unicode(
        "",
        config=True,
        help="Directory of the session store (sessions.db). Empty: the ml-intern config's "
        "`home`, else $ML_INTERN_HOME, else <jupyter data dir>/ml_intern_jupyter — where "
        "kernels look too. When set, it is exported as ML_INTERN_HOME to the kernels.",
    )
    max_body_bytes = Int(
        8 * 1024 * 1024,
        config=True,
        help="Largest request body the session API accepts, in bytes (larger: 413).",
    )
    store_threads = Int(
        4, config=True, help="Threads that run session store calls off the event loop."
    )

    store: SqliteStore
    executor: ThreadPoolExecutor
    feed: Feed
    secret: str

    def initialize_settings(self) -> None:
        explicit = Path(self.home).expanduser() if self.home else None
        self.store_home = explicit or default_home()
        self.store = SqliteStore.open(self.store_home)
        self.executor = ThreadPoolExecutor(
            max(1, self.store_threads), thread_name_prefix="ml-intern-store"
        )
        self.feed = Feed()
        self.secret = new_secret()
        self._env = EnvPublisher()
        self._export_home = str(explicit) if explicit else None
        self._publish()  # kernels may not start before the server does; refreshed then
        self.log.info("ml-intern session store: %s", self.store.path)

    def initialize_handlers(self) -> None:
        self.handlers.extend(api_routes())

    def _publish(self) -> None:
        assert self.serverapp is not None
        self._env.publish(server_url(self.serverapp), self.secret, self._export_home)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # The port is only certain now (port 0, or port retries).
        self._publish()

    async def stop_extension(self) -> None:
        self._env.withdraw()
        self.feed.close_all()
        self.executor.shutdown(wait=True)
        self.store.close()

"""A real Jupyter server with the extension, for synchronous clients (`HttpStore`).

pytest-jupyter's `jp_fetch` server runs on the test's own event loop, which
only turns while an async test awaits, so a blocking client in the test
would deadlock against it. `LiveServer` runs a full `ServerApp` (our
extension only, isolated Jupyter dirs, a random port, a token) on its own
thread and loop instead; `stop()` shuts it down and closes every socket, as
a dying server process would.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_server.serverapp import ServerApp
from traitlets.config import Config

from ml_intern_jupyter.server import MLInternApp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(
        self,
        root: Path,
        home: Path,
        *,
        max_body_bytes: int | None = None,
        extra_config: dict[str, Any] | None = None,
    ):
        self.root = root
        self.home = home
        self.extra_config = extra_config or {}
        self.token = secrets.token_hex(16)
        self.max_body_bytes = max_body_bytes
        self.app: ServerApp | None = None
        self.extension: MLInternApp | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- what clients need

    @property
    def url(self) -> str:
        assert self.app is not None
        return f"http://127.0.0.1:{self.app.port}{self.app.base_url}"

    @property
    def secret(self) -> str:
        assert self.extension is not None
        return self.extension.secret

    # -- lifecycle

    def _config(self) -> Config:
        extension: dict[str, Any] = {"home": str(self.home)}
        if self.max_body_bytes is not None:
            extension["max_body_bytes"] = self.max_body_bytes
        config = Config(
            {
                "ServerApp": {
                    # A free port picked here, not port 0: servers before 2.20
                    # never read the port the OS chose back into `port`
                    # (the extension then publishes no URL; kernels use SQLite).
                    "port": free_port(),
                    "port_retries": 20,
                    "ip": "127.0.0.1",
                    "open_browser": False,
                    "root_dir": str(self.root),
                    "jpserver_extensions": {
                        "ml_intern_jupyter": True,
                        "jupyter_server_terminals": False,
                    },
                    "allow_root": True,
                    "log_level": "WARN",
                },
                "IdentityProvider": {"token": self.token},
                "MLInternApp": extension,
            }
        )
        config.merge(Config(self.extra_config))
        return config

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            runtime = self.root / ".jupyter-runtime"  # server info files, not in ~
            app = ServerApp(config=self._config(), runtime_dir=str(runtime))
            app.init_signal = lambda: None  # type: ignore[method-assign]  # main thread only
            app.initialize(argv=[], find_extensions=False)
            point = app.extension_manager.extension_points["ml_intern_jupyter"]
            self.extension = point.app
            app.start_app()
            self.app = app
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        app.io_loop.add_callback(self._ready.set)
        app.start_ioloop()
        # The loop has stopped: close every socket it still holds, kept-alive
        # client connections included, as the OS does when a server dies.
        app.io_loop.close(all_fds=True)

    def start(self, timeout: float = 30) -> LiveServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="live-jupyter-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the Jupyter server did not start")
        if self._error is not None:
            raise RuntimeError(f"the Jupyter server failed to start: {self._error}")
        # The extension publishes the final URL from its start hook, a moment
        # after the loop starts; kernels could not start any earlier either.
        deadline = time.monotonic() + timeout
        while os.environ.get("ML_INTERN_SERVER_URL") != self.url:
            if time.monotonic() > deadline:
                raise TimeoutError("the extension did not publish its URL")
            time.sleep(0.002)
        return self

    def stop(self, timeout: float = 30) -> None:
        app, thread = self.app, self._thread
        if app is None or thread is None or not thread.is_alive():
            return
        app.io_loop.add_callback(app.stop)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("the Jupyter server did not stop")

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def environ_snapshot() -> dict[str, str | None]:
    names = ("ML_INTERN_SERVER_URL", "ML_INTERN_SERVER_SECRET", "ML_INTERN_HOME")
    return {name: os.environ.get(name) for name in names}


_PROCESS_MAIN = """
import json, sys, time
from pathlib import Path
from tests.server.live import LiveServer

server = LiveServer(Path(sys.argv[1]), Path(sys.argv[2])).start()
print(json.dumps({"url": server.url, "secret": server.secret}), flush=True)
while True:
    time.sleep(3600)
"""


class ServerProcess:
    """A `LiveServer` in a child process, for killing it the hard way (SIGKILL)."""

    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.secret = ""

    def start(self, timeout: float = 60) -> ServerProcess:
        repo = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": str(repo)}
        for name in environ_snapshot():  # the child makes its own
            env.pop(name, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PROCESS_MAIN, str(self.root), str(self.home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not ready or not ready[0]:
            self.kill()
            raise RuntimeError("the Jupyter server process did not start")
        info = json.loads(ready[0])
        self.url, self.secret = info["url"], info["secret"]
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

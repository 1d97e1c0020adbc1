"""The lifecycle every loopback fake shares: an HTTP server in a daemon thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import Self


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class LoopbackServer:
    """Subclasses call `_listen(handler_class, server_class)` in `__init__`."""

    url_path = ""  # appended to http://127.0.0.1:<port>
    _httpd: LoopbackHTTPServer

    def _listen(
        self,
        handler: type[BaseHTTPRequestHandler],
        server_class: type[LoopbackHTTPServer] = LoopbackHTTPServer,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> Any:
        self._httpd = server_class((host, port), handler)
        self._thread: threading.Thread | None = None
        return self._httpd

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.url_path}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def _before_stop(self) -> None:
        """Release anything a handler may be waiting on."""

    def stop(self) -> None:
        self._before_stop()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

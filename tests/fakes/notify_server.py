"""A loopback HTTP server that records POSTs and answers from a script, for
webhook and Slack notifications. Standard library only.

    with NotifyServer() as srv:
        srv.script(Answer(503), Answer(200, {"ok": True}))
        ...  # POST srv.url + "/hook"
        assert srv.requests[-1].json["text"] == "..."
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow service)


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    json: Any
    at: float


class NotifyServer(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[Posted] = []
        self._script: deque[Answer] = deque()
        self.fallback = Answer()
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                size = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(size) if size else b""
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with outer.arrived:
                    outer.requests.append(
                        Posted(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                    answer = outer._script.popleft() if outer._script else outer.fallback
                    outer.arrived.notify_all()
                if answer.delay:
                    time.sleep(answer.delay)
                data = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a timeout test)

        self._listen(Handler)

    def script(self, *answers: Answer) -> None:
        with self._lock:
            self._script.extend(answers)

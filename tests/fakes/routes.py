"""A small routed JSON/text server for the loopback fakes of GitHub, search and Semantic Scholar.

Subclasses list `routes` as (method, regex, function name); a route returns
a JSON-able value, or a `Reply` for text, headers and status. `inject(status,
match, headers)` fails matching requests; every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackHTTPServer, LoopbackServer

__all__ = ["Reply", "Request", "RoutedFake"]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # str/bytes sent as is, anything else as JSON
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int
    match: str
    headers: dict[str, str]
    body: Any
    times: int | None


class RoutedFake(LoopbackServer):
    routes: list[tuple[str, str, str]] = []

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._compiled = [(m, re.compile(p), getattr(self, f)) for m, p, f in self.routes]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._dispatch(self, "GET")

            def do_POST(self) -> None:
                fake._dispatch(self, "POST")

        self._listen(Handler, LoopbackHTTPServer)

    def inject(
        self,
        status: int,
        match: str = "",
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int | None = None,
    ) -> None:
        self._faults.append(_Fault(status, match, headers or {}, body, times))

    def calls(self, contains: str = "") -> list[Request]:
        return [r for r in self.requests if contains in r.path]

    def _fault_for(self, req: Request) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match in req.path and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        req = Request(
            method,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in h.headers.items()},
        )
        self.requests.append(req)
        fault = self._fault_for(req)
        if fault is not None:
            reply = Reply(
                fault.status, fault.body or {"message": "injected"}, headers=fault.headers
            )
        else:
            reply = self._route(method, req)
        body = reply.body
        if isinstance(body, str):
            data = body.encode()
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.content_type)
        h.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _route(self, method: str, req: Request) -> Reply:
        for m, pattern, fn in self._compiled:
            found = pattern.match(req.path)
            if m == method and found:
                result = fn(req, *found.groups())
                return result if isinstance(result, Reply) else Reply(body=result)
        return Reply(404, {"message": "Not Found"})

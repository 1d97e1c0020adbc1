"""`HttpStore`: the session store of the Jupyter server extension, over HTTP.

A kernel started by a Jupyter server that runs the `ml_intern_jupyter`
extension finds `ML_INTERN_SERVER_URL` and `ML_INTERN_SERVER_SECRET` in its
environment (the extension puts them there; kernels inherit them) and talks
to the routes under `<url>ml-intern/api/` with the secret in the
`X-ML-Intern-Secret` header.

Standard library only (`http.client`), so it is cheap to import in a kernel.
Connections are kept alive and reused (one per concurrent caller), which
keeps an append to one round trip on an open loopback socket.

Errors: 404 for a session -> `UnknownSessionError`, 409 -> `StoreConflictError`
(or `StoreError` for other store refusals such as a duplicate id), 400 ->
`ValueError` (as the SQLite store raises for bad arguments), 413 ->
`PayloadTooLargeError`; the server not being there (connection refused or
reset, a timeout, 502/503/504, a 403 for our secret because a new server took
the port, a 404 from a server without the extension) -> `StoreUnavailableError`.

The server scrubs secrets before anything reaches its disk. The client scrubs
too before sending (`scrub_before_send`) when the server is not on loopback.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ..traces.redact import scrub
from .base import (
    SESSION_FIELDS,
    SessionRecord,
    SessionStore,
    StoreConflictError,
    StoreError,
    StoreUnavailableError,
    UnknownSessionError,
)

__all__ = [
    "API_PREFIX",
    "SECRET_HEADER",
    "SERVER_SECRET_ENV",
    "SERVER_URL_ENV",
    "SESSION_ID_PATTERN",
    "HttpStore",
    "PayloadTooLargeError",
]

SERVER_URL_ENV = "ML_INTERN_SERVER_URL"
SERVER_SECRET_ENV = "ML_INTERN_SERVER_SECRET"
SECRET_HEADER = "X-ML-Intern-Secret"
API_PREFIX = "ml-intern/api"
# Ids the server accepts in URLs; anything else can never name a stored session.
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
# A kept-alive connection the server has closed fails like this on reuse.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class PayloadTooLargeError(StoreError):
    """The server refused a request body over its `max_body_bytes` limit (413)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _message_json(position: int, message: Any) -> str:
    if not isinstance(message, dict):
        raise ValueError(f"Message {position} is a {type(message).__name__}, not a dict.")
    try:
        return _dumps(message)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Message {position} cannot be stored as JSON: {exc}") from exc


def _record(data: Any) -> SessionRecord:
    if not isinstance(data, dict):
        raise StoreError("The Jupyter server sent a session that is not a JSON object.")
    return SessionRecord(**{k: v for k, v in data.items() if k in SESSION_FIELDS})


class HttpStore(SessionStore):
    """`SessionStore` client of the server extension's REST API.

    `url` is the server's base URL including its base_url (the value of
    `ML_INTERN_SERVER_URL`, e.g. `http://127.0.0.1:8888/`). No I/O happens
    here; the first call opens the first connection.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 60.0,
        scrub_before_send: bool | None = None,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"Session server URL {url!r} is not an http(s) URL with a host; "
                f"check {SERVER_URL_ENV}."
            )
        if not secret:
            raise ValueError(f"An empty session server secret; check {SERVER_SECRET_ENV}.")
        self.url = url if url.endswith("/") else url + "/"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        base = parts.path if parts.path.endswith("/") else parts.path + "/"
        self._api = f"{base}{API_PREFIX}"
        self._headers = {
            SECRET_HEADER: secret,
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
        }
        self._timeout = timeout
        self._scrub = (
            parts.hostname not in _LOOPBACK if scrub_before_send is None else scrub_before_send
        )
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPConnection] = []
        self._pid = os.getpid()
        self._closed = False

    def __repr__(self) -> str:
        return f"HttpStore({self.url!r})"

    # -- transport

    def _new_connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self._timeout)

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._closed:
                raise StoreError(f"The session store client for {self.url} has been closed.")
            if os.getpid() != self._pid:  # forked: the sockets belong to the parent
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop(), True
        return self._new_connection(), False

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and os.getpid() == self._pid:
                self._idle.append(conn)
                return
        conn.close()

    def _send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        url = self._api + path
        while True:
            conn, reused = self._checkout()
            sent = False
            try:
                conn.request(method, url, body=body, headers=self._headers)
                sent = True
                response = conn.getresponse()
                data = response.read()
            except _STALE as exc:
                conn.close()
                if reused:
                    continue  # the server closed an idle connection: retry on a new one
                raise self._unavailable(exc, sent) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise self._unavailable(exc, sent) from exc
            if response.will_close:
                conn.close()
            else:
                self._checkin(conn)
            return response.status, data

    def _unavailable(self, exc: BaseException, sent: bool) -> StoreUnavailableError:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, socket.timeout):
            reason = f"no answer within {self._timeout:g} s"
        return StoreUnavailableError(
            f"Cannot reach the Jupyter server's session store at {self.url} ({reason}).",
            request_sent=sent,
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        session_id: str | None = None,
    ) -> Any:
        status, data = self._send(method, path, body.encode("utf-8") if body is not None else None)
        if 200 <= status < 300:
            return json.loads(data) if data else None
        raise self._error(status, data, method, path, session_id)

    def _error(
        self, status: int, data: bytes, method: str, path: str, session_id: str | None
    ) -> Exception:
        try:
            reply = json.loads(data)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            reply = {}
        message = str(reply.get("message") or http.client.responses.get(status, "error"))
        code = reply.get("error")
        where = f"{method} {self.url}{API_PREFIX}{path}"
        if status == 404 and code == "unknown_session" and session_id is not None:
            return UnknownSessionError(session_id)
        if status == 404:
            return StoreUnavailableError(
                f"The Jupyter server at {self.url} does not serve the ml-intern session API "
                f"({where} gave 404); is the ml_intern_jupyter server extension enabled?"
            )
        if status == 409:
            return StoreConflictError(message) if code == "conflict" else StoreError(message)
        if status == 400:
            return ValueError(message)
        if status == 413:
            return PayloadTooLargeError(message)
        if status == 403 or status in _UNAVAILABLE_STATUSES:
            # 403 for our own secret: the server that started this kernel is gone
            # and another one has its port. Either way we cannot use it.
            return StoreUnavailableError(
                f"The Jupyter server's session store at {self.url} is not available "
                f"({status}: {message})."
            )
        return StoreError(
            f"The Jupyter server's session store failed ({where}: {status} {message})."
        )

    def _session_path(self, session_id: str, suffix: str = "") -> str:
        if not isinstance(session_id, str) or not SESSION_ID_PATTERN.match(session_id):
            raise UnknownSessionError(str(session_id))
        return f"/sessions/{quote(session_id, safe='')}{suffix}"

    def _payload(self, value: Any) -> Any:
        return scrub(value) if self._scrub else value

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- sessions

    def create_session(self, record: SessionRecord) -> None:
        if not SESSION_ID_PATTERN.match(record.id):
            raise ValueError(
                f"Invalid session id {record.id!r}: use 1-64 letters, digits, '_' or '-'."
            )
        fields = {name: getattr(record, name) for name in SESSION_FIELDS}
        self._call("POST", "/sessions", body=self._json_fields(self._payload(fields)))

    def update_session(self, session_id: str, **fields: Any) -> None:
        path = self._session_path(session_id)
        self._call(
            "PATCH", path, body=self._json_fields(self._payload(fields)), session_id=session_id
        )

    @staticmethod
    def _json_fields(fields: dict[str, Any]) -> str:
        try:
            return _dumps(fields)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Session fields cannot be sent as JSON: {exc}") from exc

    def get_session(self, session_id: str) -> SessionRecord | None:
        try:
            path = self._session_path(session_id)
            return _record(self._call("GET", path, session_id=session_id))
        except UnknownSessionError:
            return None

    def list_sessions(
        self, *, notebook: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        query: dict[str, str] = {"limit": str(limit)}
        if notebook is not None:
            query["notebook"] = notebook
        if status is not None:
            query["status"] = status
        reply = self._call("GET", "/sessions?" + urlencode(query))
        return [_record(item) for item in reply["sessions"]]

    def archive_session(self, session_id: str) -> None:
        path = self._session_path(session_id, "/archive")
        self._call("POST", path, body="{}", session_id=session_id)

    def delete_session(self, session_id: str) -> None:
        self._call("DELETE", self._session_path(session_id), session_id=session_id)

    # -- history

    def append_messages(
        self, session_id: str, generation: int, start_index: int, messages: list[dict[str, Any]]
    ) -> None:
        path = self._session_path(session_id, "/messages")
        # Serialised one by one so a bad message is named by its position.
        parts = [_message_json(i, self._payload(m)) for i, m in enumerate(messages)]
        head = _dumps({"generation": generation, "start_index": start_index})
        body = head[:-1] + ',"messages":[' + ",".join(parts) + "]}"
        self._call("POST", path, body=body, session_id=session_id)

    def new_generation(self, session_id: str, messages: list[dict[str, Any]]) -> int:
        path = self._session_path(session_id, "/generations")
        parts = [_message_json(i, self._payload(m)) for i, m in enumerate(messages)]
        body = '{"messages":[' + ",".join(parts) + "]}"
        reply = self._call("POST", path, body=body, session_id=session_id)
        return int(reply["generation"])

    def load_messages(
        self, session_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        query = {"offset": str(offset)}
        if limit is not None:
            query["limit"] = str(limit)
        path = self._session_path(session_id, "/messages?" + urlencode(query))
        messages: list[dict[str, Any]] = self._call("GET", path, session_id=session_id)["messages"]
        return messages

    def count_messages(self, session_id: str) -> int:
        path = self._session_path(session_id, "/messages?limit=0")
        return int(self._call("GET", path, session_id=session_id)["total"])

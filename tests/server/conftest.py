"""Fixtures for the server extension tests.

pytest-jupyter's server fixtures (`jp_serverapp`, `jp_fetch`, `jp_ws_fetch`,
...) are imported here rather than registered for the whole suite, so they
and their autouse fixtures apply to `tests/server` only.

The project runs pytest-asyncio in auto mode, whose loop is not the one
pytest-jupyter's server lives on; so the tests here are plain functions and
drive pytest-jupyter's loop through the `api` fixture (`api.get(...)` etc.
wrap `jp_fetch`; `api.run(coro)` runs any coroutine, e.g. websocket reads).

``api``
    Calls `/ml-intern/api/...` on the pytest-jupyter server: `auth="token"`
    (default, Jupyter's token header), `"secret"` (the kernel secret header
    only), `None` (no credentials), or a dict of extra headers. Returns a
    `Reply` (status code, parsed JSON, headers); never raises on 4xx.
    `await api.acall(...)` is the same inside a coroutine run by `api.run`.

``live_server``
    A `LiveServer` (real server on its own thread) for blocking clients.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403
from tornado.httpclient import HTTPResponse

from ml_intern_jupyter.store.http import SECRET_HEADER
from tests.server.live import LiveServer, environ_snapshot

T = TypeVar("T")
API = ("ml-intern", "api")


@pytest.fixture
def ml_home(tmp_path: Path) -> Path:
    return tmp_path / "ml_intern_home"


@pytest.fixture
def max_body_bytes() -> int:
    return 64 * 1024


@pytest.fixture
def jp_server_config(ml_home: Path, max_body_bytes: int) -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"ml_intern_jupyter": True, "jupyter_server_terminals": False}
        },
        "MLInternApp": {"home": str(ml_home), "max_body_bytes": max_body_bytes},
    }


@pytest.fixture(autouse=True)
def _restore_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The extension writes its URL and secret into os.environ; undo that."""
    for name, value in environ_snapshot().items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    yield


@dataclass
class Reply:
    code: int
    body: bytes
    headers: Any

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def message(self) -> str:
        return str(self.json["message"])


class Api:
    def __init__(self, fetch: Callable[..., Any], run: Callable[[Awaitable[Any]], Any], app: Any):
        self._fetch = fetch
        self.run = run
        self.app = app  # MLInternApp

    @property
    def secret(self) -> str:
        return str(self.app.secret)

    def headers(self, auth: str | dict[str, str] | None) -> dict[str, str]:
        if auth == "token":
            return {}  # jp_fetch adds the token header
        # An empty Authorization header keeps jp_fetch from adding the token.
        headers = {"Authorization": ""}
        if auth == "secret":
            headers[SECRET_HEADER] = self.secret
        elif isinstance(auth, dict):
            headers.update(auth)
        return headers

    async def acall(
        self,
        method: str,
        *parts: str,
        body: Any = None,
        raw: bytes | str | None = None,
        params: dict[str, Any] | None = None,
        auth: str | dict[str, str] | None = "token",
    ) -> Reply:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is None and method in ("POST", "PATCH", "PUT"):
            data = b""
        response: HTTPResponse = await self._fetch(
            *API,
            *parts,
            method=method,
            body=data,
            params=params,
            headers=self.headers(auth),
            raise_error=False,
            allow_nonstandard_methods=True,
        )
        return Reply(response.code, response.body or b"", response.headers)

    def call(self, method: str, *parts: str, **kwargs: Any) -> Reply:
        return self.run(self.acall(method, *parts, **kwargs))  # type: ignore[no-any-return]

    def get(self, *parts: str, **kwargs: Any) -> Reply:
        return self.call("GET", *parts, **kwargs)

    def post(self, *parts: str, **kwargs: Any) -> Reply:
        return self.call("POST", *parts, **kwargs)

    def patch(self, *parts: str, **kwargs: Any) -> Reply:
        return self.call("PATCH", *parts, **kwargs)

    def delete(self, *parts: str, **kwargs: Any) -> Reply:
        return self.call("DELETE", *parts, **kwargs)


@pytest.fixture
def api(jp_fetch: Any, jp_serverapp: Any, jp_asyncio_loop: Any) -> Api:
    app = jp_serverapp.extension_manager.extension_points["ml_intern_jupyter"].app

    def run(awaitable: Awaitable[T]) -> T:
        return jp_asyncio_loop.run_until_complete(awaitable)  # type: ignore[no-any-return]

    return Api(jp_fetch, run, app)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "live", tmp_path / "live_home").start()
    try:
        yield server
    finally:
        server.stop()

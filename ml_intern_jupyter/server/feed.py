"""`GET /ml-intern/api/feed`: a websocket that pushes every session change.

Each message is `{"type": "session", "event": E, "session": {...}}` with E
one of `created`, `updated`, `archived`, `deleted` (for `deleted`, the
session is just `{"id": ...}`). Appends do not change the session record
and are not announced. The feed is one-way; what clients send is ignored.
Authentication is that of the REST routes (Jupyter user, or the kernel
secret header); browsers need `read` on resource `ml_intern`.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .auth import AUTH_RESOURCE, SecretAuthMixin

__all__ = ["Feed", "FeedHandler"]


class Feed:
    """The open feed sockets of one server, and fan-out to them (event-loop thread only)."""

    def __init__(self) -> None:
        self._sockets: set[FeedHandler] = set()

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, socket: FeedHandler) -> None:
        self._sockets.add(socket)

    def discard(self, socket: FeedHandler) -> None:
        self._sockets.discard(socket)

    def publish(self, event: str, session: dict[str, Any]) -> None:
        if not self._sockets:
            return
        text = json.dumps({"type": "session", "event": event, "session": session})
        for socket in list(self._sockets):
            try:
                socket.write_message(text)
            except WebSocketClosedError:
                self._sockets.discard(socket)

    def close_all(self) -> None:
        for socket in list(self._sockets):
            socket.close(1001, "server shutting down")
        self._sockets.clear()


class FeedHandler(
    SecretAuthMixin, ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler
):
    auth_resource = AUTH_RESOURCE

    @property
    def feed(self) -> Feed:
        feed: Feed = self.extensionapp.feed  # type: ignore[attr-defined]
        return feed

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not self.secret_authenticated:
            allowed = await ensure_async(
                self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
            )
            if not allowed:
                raise web.HTTPError(403, "Not authorized to read the ml-intern session feed.")
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.feed.add(self)

    def on_message(self, message: str | bytes) -> None:
        pass  # one-way feed

    def on_close(self) -> None:
        self.feed.discard(self)

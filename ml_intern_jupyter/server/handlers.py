"""REST handlers for `/ml-intern/api/sessions...`.

Every reply is JSON; errors are `{"message": ..., "error": <code>}` with
400 (bad JSON, field, type, id or query), 403 (not authenticated or not
authorized), 404 (`unknown_session`), 409 (`conflict`: a position taken or
a generation replaced; `store_error`: another refusal of the store such as a
duplicate id), 413 (`too_large`: body over `max_body_bytes`) or 503.

Store calls run on the extension's thread pool, so a 10k-message load
never stalls the server's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..store.base import (
    SessionRecord,
    SessionStore,
    StoreConflictError,
    StoreError,
    UnknownSessionError,
)
from ..store.sqlite import SqliteStore
from . import validate
from .auth import AUTH_RESOURCE, SecretAuthMixin, guarded
from .feed import FeedHandler

if TYPE_CHECKING:
    from .app import MLInternApp

__all__ = ["ApiError", "api_routes"]

T = TypeVar("T")

_DEFAULT_CODES = {
    400: "invalid",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "store_error",
    413: "too_large",
    503: "unavailable",
}


class ApiError(web.HTTPError):
    """An HTTP error with a message for the caller and a machine-readable code."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(status, "%s", message)
        self.error_code = code or _DEFAULT_CODES.get(status, "error")


def record_json(record: SessionRecord) -> dict[str, Any]:
    return dict(vars(record))


class BaseApiHandler(SecretAuthMixin, ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def app(self) -> MLInternApp:
        return self.extensionapp  # type: ignore[return-value]

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        await super().prepare(*args, **kwargs)
        limit = self.app.max_body_bytes
        size = len(self.request.body or b"")
        if size > limit:
            raise ApiError(
                413, f"The request body is {size:,} bytes; this server accepts at most {limit:,}."
            )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = self._reason
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif exc is not None and not isinstance(exc, web.HTTPError):
            message = f"Internal error of the ml-intern session API: {type(exc).__name__}: {exc}"
        code = getattr(exc, "error_code", None) or _DEFAULT_CODES.get(status_code, "error")
        self.finish(json.dumps({"message": message, "error": code}))

    def reply(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(value, ensure_ascii=False))

    def body_object(self) -> dict[str, Any]:
        try:
            return validate.json_object(self.request.body)
        except ValueError as exc:
            raise ApiError(400, str(exc), "invalid_json") from exc

    def session_id(self, raw: str) -> str:
        try:
            return validate.check_session_id(raw)
        except ValueError as exc:
            raise ApiError(400, str(exc), "invalid_id") from exc

    def query_int(self, name: str, default: int | None) -> int | None:
        try:
            return validate.query_int(name, self.get_query_argument(name, None), default)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc

    async def run(self, call: Callable[[SqliteStore], T]) -> T:
        """`call(store)` on the store's threads, store errors turned into HTTP errors."""
        app = self.app
        try:
            pending = asyncio.get_running_loop().run_in_executor(app.executor, call, app.store)
        except RuntimeError as exc:  # the pool is shut down: the server is stopping
            raise ApiError(503, "The ml-intern session store is shutting down.") from exc
        try:
            return await pending
        except UnknownSessionError as exc:
            raise ApiError(404, str(exc), "unknown_session") from exc
        except StoreConflictError as exc:
            raise ApiError(409, str(exc), "conflict") from exc
        except StoreError as exc:
            raise ApiError(409, str(exc), "store_error") from exc
        except ValueError as exc:  # bad arguments, as the store reports them
            raise ApiError(400, str(exc)) from exc

    def announce(self, event: str, session: dict[str, Any]) -> None:
        self.app.feed.publish(event, session)

    async def _reply_changed(
        self, session_id: str, event: str, change: Callable[[SessionStore], SessionRecord | None]
    ) -> None:
        record = await self.run(change)
        # None: deleted by another writer between the change and the read.
        session = record_json(record) if record is not None else {"id": session_id}
        self.announce(event, session)
        self.reply(session)


class SessionsHandler(BaseApiHandler):
    """GET: list (newest first, `?notebook=&status=&limit=`); POST: create."""

    @guarded
    async def get(self) -> None:
        notebook = self.get_query_argument("notebook", None)
        status = self.get_query_argument("status", None) or None
        limit = self.query_int("limit", 100)
        assert limit is not None
        records = await self.run(
            lambda s: s.list_sessions(notebook=notebook, status=status, limit=limit)
        )
        self.reply({"sessions": [record_json(r) for r in records]})

    @guarded
    async def post(self) -> None:
        body = self.body_object()
        try:
            record = validate.session_record(body)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc

        def create(store: SessionStore) -> SessionRecord | None:
            store.create_session(record)
            return store.get_session(record.id)

        stored = await self.run(create)
        session = record_json(stored) if stored is not None else {"id": record.id}
        self.announce("created", session)
        self.reply(session, 201)


class SessionHandler(BaseApiHandler):
    """GET one session; PATCH its metadata; DELETE it (and all its history)."""

    @guarded
    async def get(self, raw_id: str) -> None:
        session_id = self.session_id(raw_id)
        record = await self.run(lambda s: s.get_session(session_id))
        if record is None:
            raise ApiError(404, str(UnknownSessionError(session_id)), "unknown_session")
        self.reply(record_json(record))

    @guarded
    async def patch(self, raw_id: str) -> None:
        session_id = self.session_id(raw_id)
        try:
            fields = validate.session_updates(self.body_object())
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc

        def update(store: SessionStore) -> SessionRecord | None:
            store.update_session(session_id, **fields)
            return store.get_session(session_id)

        await self._reply_changed(session_id, "updated", update)

    @guarded
    async def delete(self, raw_id: str) -> None:
        session_id = self.session_id(raw_id)
        await self.run(lambda s: s.delete_session(session_id))
        self.announce("deleted", {"id": session_id})
        self.set_status(204)
        self.finish()


class ArchiveHandler(BaseApiHandler):
    """POST: mark the session archived."""

    @guarded
    async def post(self, raw_id: str) -> None:
        session_id = self.session_id(raw_id)

        def archive(store: SessionStore) -> SessionRecord | None:
            store.archive_session(session_id)
            return store.get_session(session_id)

        await self._reply_changed(session_id, "archived", archive)


class MessagesHandler(BaseApiHandler):
    """GET: a page of the current history (`?offset=&limit=`) and its total;
    POST: append `{generation, start_index, messages}`."""

    @guarded
    async def get(self, raw_id: str) -> None:
        session_id = self.session_id(raw_id)
        offset = self.query_int("offset", 0)
        limit = self.query_int("limit", None)
        assert offset is not None

        def page(store: SqliteStore) -> tuple[str, int]:
            total = store.count_messages(session_id)
            if limit == 0 or offset >= total:
                return "[]", total
            return store.load_messages_json(session_id, offset=offset, limit=limit), total

        # The stored JSON goes out as it is: no parse and re-encode of 10k messages.
        messages, total = await self.run(page)
        self.finish(f'{{"messages":{messages},"total":{total},"offset":{offset}}}')

    @guarded
    async def post(self, raw_id: str) -> None:
        session_id = self.session_id(raw_id)
        try:
            generation, start, messages = validate.append_request(self.body_object())
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        await self.run(lambda s: s.append_messages(session_id, generation, start, messages))
        self.set_status(204)
        self.finish()


class GenerationsHandler(BaseApiHandler):
    """POST `{messages}`: record a rewritten history; replies `{generation}`."""

    @guarded
    async def post(self, raw_id: str) -> None:
        session_id = self.session_id(raw_id)
        try:
            messages = validate.generation_request(self.body_object())
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc

        def rewrite(store: SessionStore) -> tuple[int, SessionRecord | None]:
            return store.new_generation(session_id, messages), store.get_session(session_id)

        generation, record = await self.run(rewrite)
        if record is not None:
            self.announce("updated", record_json(record))
        self.reply({"generation": generation}, 201)


class ExportHandler(BaseApiHandler):
    """GET `?format=claude_code|hf_session|markdown|json`: the session as a download, scrubbed
    (the same text `%intern export` writes)."""

    @guarded
    async def get(self, raw_id: str) -> None:
        from ..traces.export import EXTENSIONS, FORMATS, render_export

        session_id = self.session_id(raw_id)
        fmt = self.get_query_argument("format", "claude_code")
        if fmt not in FORMATS:
            raise ApiError(
                400, f"Unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}."
            )

        def render(store: SqliteStore) -> bytes:
            record = store.get_session(session_id)
            if record is None:
                raise UnknownSessionError(session_id)
            return render_export(fmt, record, store.load_messages(session_id))

        data = await self.run(render)
        self.set_header(
            "Content-Disposition", f'attachment; filename="{session_id}{EXTENSIONS[fmt]}"'
        )
        self.finish(data, set_content_type=_EXPORT_TYPES[fmt])


_EXPORT_TYPES = {
    "claude_code": "application/x-ndjson; charset=utf-8",
    "hf_session": "application/x-ndjson; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
_ID = r"([^/]+)"


def api_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    """Routes relative to the server's base_url (the extension prefixes it)."""
    api = "/ml-intern/api"
    return [
        (f"{api}/sessions", SessionsHandler),
        (f"{api}/sessions/{_ID}", SessionHandler),
        (f"{api}/sessions/{_ID}/archive", ArchiveHandler),
        (f"{api}/sessions/{_ID}/messages", MessagesHandler),
        (f"{api}/sessions/{_ID}/generations", GenerationsHandler),
        (f"{api}/sessions/{_ID}/export", ExportHandler),
        (f"{api}/feed", FeedHandler),
    ]

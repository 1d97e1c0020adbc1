"""A scripted, OpenAI-compatible chat-completions server for tests.

Standard library only. The server runs ``http.server.ThreadingHTTPServer`` in a
daemon thread on ``127.0.0.1`` and answers ``POST /v1/chat/completions`` from a
FIFO script of responses::

    with FakeLLMServer() as server:
        server.script(
            Reply(content="hello"),
            Reply(tool_calls=[ToolCall("read_file", {"path": "a.txt"})]),
            ErrorReply.rate_limit(retry_after=1),
            Disconnect(),
        )
        ...  # litellm.acompletion(model="openai/test-model", api_base=server.url, ...)
        assert server.requests[-1].body["messages"][0]["role"] == "user"

Each chat-completions request consumes one scripted response; when the script
is empty, ``server.fallback`` is used. A scripted entry may also be a callable
``fn(request: RecordedRequest) -> response`` evaluated when the request arrives.

Streaming (``"stream": true``) uses Server-Sent Events over HTTP/1.1 chunked
transfer encoding, so an abrupt close mid-stream is seen by the client as an
incomplete body (a protocol error), like a real dropped connection.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackHTTPServer, LoopbackServer

__all__ = [
    "Disconnect",
    "ErrorReply",
    "RawStream",
    "FakeLLMServer",
    "RecordedRequest",
    "Reply",
    "Response",
    "ToolCall",
    "router_provider",
]

DEFAULT_MODEL = "test-model"


# ---------------------------------------------------------------------------
# Response descriptions
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """One tool call in an assistant reply.

    ``arguments`` given as a dict is ``json.dumps``-ed; a str is sent verbatim
    (so malformed JSON such as ``'{"a": '`` can be scripted). When ``id`` is
    None the server assigns ``call_<n>``, unique per server.
    """

    name: str
    arguments: str | dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """A successful assistant reply (streamed or not, as the request asks)."""

    content: str = ""
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str | None = None
    usage: tuple[int, int] | None = (10, 5)
    chunk_size: int = 8
    delay: float = 0.0
    disconnect_after_chunks: int | None = None
    reasoning: str | None = None
    # Merged into the usage object, e.g. {"prompt_tokens_details": {"cached_tokens": 80}}.
    usage_extra: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        # Accept a list for convenience but store an immutable tuple.
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))

    @property
    def effective_finish_reason(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error with an OpenAI-style JSON body."""

    status: int
    message: str = "fake server error"
    headers: dict[str, str] | None = None
    code: str | None = None
    type: str | None = None

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type if self.type is not None else _default_error_type(self.status),
                "param": None,
                "code": self.code,
            }
        }

    @classmethod
    def rate_limit(cls, retry_after: float | None = 0) -> ErrorReply:
        headers = None
        if retry_after is not None:
            # Integral values are sent as "2", not "2.0", like real servers do.
            value = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
            headers = {"Retry-After": value}
        return cls(
            status=429,
            message="Rate limit reached for test-model. Please try again later.",
            headers=headers,
            code="rate_limit_exceeded",
            type="requests",
        )

    @classmethod
    def server_error(cls, status: int = 500) -> ErrorReply:
        message = (
            "The server is overloaded or not ready yet."
            if status == 503
            else "The server had an error while processing your request."
        )
        return cls(status=status, message=message, type="server_error")

    @classmethod
    def context_overflow(cls) -> ErrorReply:
        return cls(
            status=400,
            message=(
                "This model's maximum context length is 8192 tokens. However, your "
                "messages resulted in 9000 tokens. Please reduce the length of the messages."
            ),
            code="context_length_exceeded",
            type="invalid_request_error",
        )

    @classmethod
    def auth(cls) -> ErrorReply:
        return cls(
            status=401,
            message="Invalid credentials",
            code="invalid_api_key",
            type="invalid_request_error",
        )

    @classmethod
    def not_found_model(cls, model: str = DEFAULT_MODEL) -> ErrorReply:
        return cls(
            status=404,
            message=f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
            type="invalid_request_error",
        )


def router_provider(
    name: str,
    *,
    input: float | None = 1.0,
    output: float | None = 2.0,
    context: int | None = 131072,
    tools: bool | None = True,
    status: str = "live",
) -> dict[str, Any]:
    """One provider of a model in the router's `GET /v1/models` shape, for
    `FakeLLMServer.catalog = {"org/m": {"providers": [router_provider("a"), ...]}}`.
    A field given as None is left out (as the router does when it does not know)."""
    entry: dict[str, Any] = {"provider": name, "status": status}
    if context is not None:
        entry["context_length"] = context
    if input is not None or output is not None:
        entry["pricing"] = {"input": input or 0.0, "output": output or 0.0}
    if tools is not None:
        entry["supports_tools"] = tools
        entry["supports_structured_output"] = tools
    return entry


def _default_error_type(status: int) -> str:
    if status == 429:
        return "requests"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


@dataclass(frozen=True)
class Disconnect:
    """Close the connection without sending any response."""


@dataclass(frozen=True)
class RawStream:
    """A 200 ``text/event-stream`` whose body is sent verbatim (for SSE edge
    cases: comments, multi-line data, an error event inside the stream)."""

    body: bytes


@dataclass
class RecordedRequest:
    """A chat-completions request as received by the server."""

    path: str
    headers: dict[str, str]
    body: Any
    method: str = "POST"
    raw_body: bytes = b""


Response = Reply | ErrorReply | Disconnect | RawStream | Callable[[RecordedRequest], Any]


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


class _AbortConnection(Exception):
    """Raised inside the handler to drop the connection abruptly."""


class _HTTPServer(LoopbackHTTPServer):
    fake: FakeLLMServer


class FakeLLMServer(LoopbackServer):
    """Scripted OpenAI-compatible chat-completions server on 127.0.0.1."""

    def __init__(self, model: str = DEFAULT_MODEL, host: str = "127.0.0.1", port: int = 0):
        self.model = model
        self.fallback: Response = Reply(content="(fake server: script exhausted)")
        # Extra fields per model id for `GET /v1/models` (e.g. the router's
        # "providers" list with pricing and context_length); models listed here
        # are served in addition to `model`.
        self.catalog: dict[str, dict[str, Any]] = {}
        self.catalog_requests = 0
        self.requests: list[RecordedRequest] = []
        # Exceptions raised while building a response (e.g. by a callable in the
        # script). The client gets a 500; tests can assert this list is empty.
        self.errors: list[BaseException] = []
        self._script: deque[Response] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._listen(_Handler, _HTTPServer, host, port).fake = self

    url_path = "/v1"

    # -- scripting ---------------------------------------------------------

    def script(self, *responses: Response) -> FakeLLMServer:
        with self._lock:
            self._script.extend(responses)
        return self

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.errors.clear()

    @property
    def pending(self) -> int:
        """Number of scripted responses not yet consumed."""
        with self._lock:
            return len(self._script)

    # -- internals used by the handler --------------------------------------

    def _next_response(self, request: RecordedRequest) -> Response:
        with self._lock:
            self.requests.append(request)
            response = self._script.popleft() if self._script else self.fallback
        # Evaluate callables outside the lock so they may inspect the server.
        while callable(response) and not isinstance(
            response, (Reply, ErrorReply, Disconnect, RawStream)
        ):
            response = response(request)
        return response

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids)}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    # Keep test output quiet.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeLLMServer:
        return self.server.fake

    # -- plumbing ------------------------------------------------------------

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _AbortConnection:
            self._abort()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _abort(self) -> None:
        """Drop the connection without finishing the HTTP message."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers until a blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # -- routes --------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models"):
            with self.fake._lock:
                self.fake.catalog_requests += 1
            ids = [self.fake.model, *[m for m in self.fake.catalog if m != self.fake.model]]
            data = [
                {
                    "id": model_id,
                    "object": "model",
                    "created": 0,
                    "owned_by": "fake-llm-server",
                    **self.fake.catalog.get(model_id, {}),
                }
                for model_id in ids
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, ErrorReply(404, f"Unknown path {self.path}").body())

    def do_POST(self) -> None:
        raw = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if not path.endswith("/chat/completions"):
            self._send_json(404, ErrorReply(404, f"Unknown path {self.path}").body())
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError as exc:
            self._send_json(400, ErrorReply(400, f"Invalid JSON body: {exc}").body())
            return
        request = RecordedRequest(
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            method="POST",
            raw_body=raw,
        )
        try:
            response = self.fake._next_response(request)
        except Exception as exc:  # a scripted callable failed
            self.fake.errors.append(exc)
            self._send_json(500, ErrorReply(500, f"fake server script error: {exc!r}").body())
            return

        if isinstance(response, Disconnect):
            raise _AbortConnection
        if isinstance(response, ErrorReply):
            self._send_json(response.status, response.body(), response.headers)
            return
        if isinstance(response, RawStream):
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            if response.body:
                self._write_chunk(response.body)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if not isinstance(response, Reply):
            exc = TypeError(f"unsupported scripted response: {response!r}")
            self.fake.errors.append(exc)
            self._send_json(500, ErrorReply(500, str(exc)).body())
            return

        body_dict = body if isinstance(body, dict) else {}
        model = body_dict.get("model") or self.fake.model
        call_ids = [tc.id or self.fake._next_id("call_") for tc in response.tool_calls]
        completion_id = self.fake._next_id("chatcmpl-fake-")
        if body_dict.get("stream"):
            stream_options = body_dict.get("stream_options") or {}
            include_usage = bool(stream_options.get("include_usage"))
            self._stream_reply(response, model, completion_id, call_ids, include_usage)
        else:
            self._send_json(200, _completion_object(response, model, completion_id, call_ids))

    def _stream_reply(
        self,
        reply: Reply,
        model: str,
        completion_id: str,
        call_ids: list[str],
        include_usage: bool,
    ) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()

        sent = 0
        for payload in _stream_chunks(reply, model, completion_id, call_ids, include_usage):
            if reply.disconnect_after_chunks is not None and sent >= reply.disconnect_after_chunks:
                raise _AbortConnection
            if reply.delay:
                time.sleep(reply.delay)
            self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")
            sent += 1
        if reply.disconnect_after_chunks is not None and sent >= reply.disconnect_after_chunks:
            raise _AbortConnection
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


# ---------------------------------------------------------------------------
# Payload builders
# ---------------------------------------------------------------------------


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _usage(reply: Reply) -> dict[str, int] | None:
    if reply.usage is None:
        return None
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        **(reply.usage_extra or {}),
    }


def _completion_object(
    reply: Reply, model: str, completion_id: str, call_ids: list[str]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.reasoning is not None:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments_text()},
            }
            for tc, call_id in zip(reply.tool_calls, call_ids, strict=True)
        ]
    if message["content"] is None and not reply.tool_calls:
        message["content"] = ""
    obj: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.effective_finish_reason,
                "logprobs": None,
            }
        ],
    }
    usage = _usage(reply)
    if usage is not None:
        obj["usage"] = usage
    return obj


def _stream_chunks(
    reply: Reply,
    model: str,
    completion_id: str,
    call_ids: list[str],
    include_usage: bool,
) -> list[dict[str, Any]]:
    """All ``chat.completion.chunk`` payloads for one streamed reply, in order."""
    created = int(time.time())
    deltas: list[dict[str, Any]] = []

    for piece in _pieces(reply.reasoning or "", reply.chunk_size):
        deltas.append({"reasoning_content": piece})
    for piece in _pieces(reply.content, reply.chunk_size):
        deltas.append({"content": piece})

    # Tool calls: one header delta per call, then argument fragments
    # interleaved round-robin by index.
    fragments = [_pieces(tc.arguments_text(), reply.chunk_size) for tc in reply.tool_calls]
    for index, (tc, call_id) in enumerate(zip(reply.tool_calls, call_ids, strict=True)):
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": tc.name, "arguments": ""},
                    }
                ]
            }
        )
    for round_ in range(max((len(f) for f in fragments), default=0)):
        for index, frags in enumerate(fragments):
            if round_ < len(frags):
                deltas.append(
                    {"tool_calls": [{"index": index, "function": {"arguments": frags[round_]}}]}
                )

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    chunks = [chunk(delta, None) for delta in deltas]
    chunks.append(chunk({}, reply.effective_finish_reason))
    # The first chunk carries the role.
    chunks[0]["choices"][0]["delta"] = {"role": "assistant", **chunks[0]["choices"][0]["delta"]}

    usage = _usage(reply)
    if include_usage and usage is not None:
        chunks.append(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [],
                "usage": usage,
            }
        )
    return chunks

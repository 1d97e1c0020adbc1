"""A lean client for the OpenAI-compatible chat-completions API, on httpx.

The Hugging Face router and every local server (ollama, vllm, LM Studio,
llama.cpp) speak this API, so they need no translation layer: this module
posts the request, reads the Server-Sent-Events stream and hands each chunk
(a plain dict, as parsed from JSON) to the caller. It knows nothing about
retries, error wording or prices; `llm.py` owns those. Failures surface as
two exception types, both without httpx in their signature:

* `APIStatusError`: the server answered with an HTTP error (or sent an error
  object inside the stream, status 0 when it gives none); carries the status, the server's message, its
  error code and the response headers (for `Retry-After`);
* `TransportFailure` (a `ConnectionError`): no usable answer (refused,
  reset, timed out, the stream cut off mid-body).

httpx itself is imported on first use (pre-warm does that on the intern
thread). One `httpx.AsyncClient` is kept per event loop, so connections to
the router are reused across calls; it never retries (httpx does not by
default, and ours are the only retries).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._version import __version__

__all__ = ["APIStatusError", "TransportFailure", "chat_completion", "get_json", "stream_chat"]

USER_AGENT = f"ml-intern-jupyter/{__version__}"


class APIStatusError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status
        self.message = message
        self.code = code
        self.headers: Mapping[str, str] = headers or {}


class TransportFailure(ConnectionError):
    """The request got no complete answer (the underlying httpx error is `__cause__`)."""


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _client() -> Any:
    """This loop's shared AsyncClient (connection pools are bound to a loop)."""
    import httpx

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=60),
            follow_redirects=False,
        )
        _clients[loop] = client
    return client


def _timeout(seconds: float) -> Any:
    import httpx

    # `read` bounds the gap between two chunks of a stream, not the whole reply.
    return httpx.Timeout(seconds, connect=min(seconds, 30.0))


def _headers(api_key: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if api_key:  # the router's catalog is readable without a token
        headers["Authorization"] = f"Bearer {api_key}"
    if extra:
        headers.update(extra)
    return headers


def _url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def _error_from_body(status: int, raw: bytes, headers: Mapping[str, str]) -> APIStatusError:
    message = raw.decode("utf-8", "replace").strip() or f"HTTP {status}"
    code: str | None = None
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            message = str(err.get("message") or err.get("detail") or message)
            raw_code = err.get("code") or err.get("type")
            code = str(raw_code) if raw_code is not None else None
        elif isinstance(err, str):
            message = err
    return APIStatusError(status, message[:2000], code=code, headers=dict(headers))


async def stream_chat(
    *,
    base_url: str,
    api_key: str,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    timeout: float,
) -> AsyncIterator[dict[str, Any]]:
    """POST a streaming chat completion and yield each SSE `data:` payload as a dict.

    Cancelling the consumer closes the response (and its connection) at once.
    """
    import httpx

    client = _client()
    payload = {**body, "stream": True}
    try:
        async with client.stream(
            "POST",
            _url(base_url, "/chat/completions"),
            json=payload,
            headers={**_headers(api_key, headers), "Accept": "text/event-stream"},
            timeout=_timeout(timeout),
        ) as response:
            if response.status_code >= 400:
                raw = await response.aread()
                raise _error_from_body(response.status_code, raw, response.headers)
            data: list[str] = []
            event = ""
            async for line in response.aiter_lines():
                if line == "":  # an event ends at a blank line
                    chunk = _event_payload(event, data)
                    data, event = [], ""
                    if chunk is _DONE:
                        return
                    if chunk is not None:
                        yield chunk
                    continue
                if line.startswith(":"):  # a comment (keep-alive)
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    data.append(value)
                elif field == "event":
                    event = value
            chunk = _event_payload(event, data)  # a last event without its blank line
            if chunk is not None and chunk is not _DONE:
                yield chunk
    except httpx.TransportError as exc:  # refused, reset, timed out, cut off mid-body
        raise TransportFailure(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc


_DONE: Any = object()


def _event_payload(event: str, data: list[str]) -> Any:
    if not data:
        return None
    text = "\n".join(data)
    if text.strip() == "[DONE]":
        return _DONE
    try:
        chunk = json.loads(text)
    except ValueError as exc:
        raise APIStatusError(
            502, f"The model server sent an unreadable event: {text[:200]}"
        ) from exc
    if isinstance(chunk, dict) and (event == "error" or "error" in chunk):
        # Some servers report failures (overflow, overload) inside a 200 stream.
        err = chunk.get("error", chunk)
        if isinstance(err, dict):
            # In-stream errors rarely carry an HTTP status; 0 means "not given".
            raw_status = err.get("status_code", err.get("code"))
            status = int(str(raw_status)) if str(raw_status).isdigit() else 0
            code = err.get("code") if isinstance(err.get("code"), str) else err.get("type")
            raise APIStatusError(status, str(err.get("message") or err), code=code)
        raise APIStatusError(0, str(err))
    return chunk if isinstance(chunk, dict) else None


async def chat_completion(
    *,
    base_url: str,
    api_key: str,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    timeout: float,
) -> dict[str, Any]:
    """POST a non-streaming chat completion; returns the parsed JSON object."""
    result = await _request(
        "POST", _url(base_url, "/chat/completions"), api_key, headers, timeout, body
    )
    if not isinstance(result, dict):
        raise APIStatusError(
            502, "The model server answered with something other than a JSON object."
        )
    return result


async def get_json(
    url: str, *, api_key: str, headers: Mapping[str, str] | None = None, timeout: float
) -> Any:
    return await _request("GET", url, api_key, headers, timeout, None)


async def _request(
    method: str,
    url: str,
    api_key: str,
    headers: Mapping[str, str] | None,
    timeout: float,
    body: dict[str, Any] | None,
) -> Any:
    import httpx

    client = _client()
    try:
        response = await client.request(
            method,
            url,
            json={**body, "stream": False} if body is not None else None,
            headers=_headers(api_key, headers),
            timeout=_timeout(timeout),
        )
    except httpx.TransportError as exc:
        raise TransportFailure(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
    if response.status_code >= 400:
        raise _error_from_body(response.status_code, response.content, response.headers)
    try:
        return response.json()
    except ValueError as exc:
        raise APIStatusError(
            502, f"The model server sent unreadable JSON: {response.text[:200]}"
        ) from exc


async def aclose_all() -> None:
    """Close this loop's client (sessions call it on shutdown; harmless if none)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    client = _clients.pop(loop, None)
    if client is not None:
        await client.aclose()

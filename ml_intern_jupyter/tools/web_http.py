"""HTTP for the tools that talk to services other than the Hub.

GitHub, Semantic Scholar, the web search backends and `fetch_url` use
httpx's async client on the intern loop: nothing blocks the loop (name
resolution runs in a worker thread), Stop cancels a request at once, and
every request has an overall deadline on top of httpx's own timeouts.

Our retry policy is the only one: the transport is made with `retries=0`
and nothing here retries. What fails comes back as a `WebFailure` whose
text is written for the model: "Cannot reach ...", "timed out", "rate
limited (429), the server asks to wait N s", "not found", and so on.
httpx is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ToolFailure
from .base import ToolContext, ToolResult

__all__ = [
    "Response",
    "Service",
    "WebFailure",
    "base_url",
    "guarded_web",
    "request",
]

_MAX_SERVER_MESSAGE = 300
USER_AGENT = "ml-intern-jupyter (+https://huggingface.co)"


class WebFailure(ToolFailure):
    """A failed request, described for the model (shown as the tool result)."""


@dataclass(frozen=True)
class Service:
    """A remote service as the messages name it."""

    name: str  # "GitHub", "Semantic Scholar"
    env_var: str | None = None  # the variable that overrides its base URL
    auth_hint: str = ""  # what to do on 401/403
    rate_hint: str = ""  # what helps against rate limits (e.g. set a token)


@dataclass
class Response:
    status: int
    url: str
    headers: dict[str, str]
    body: bytes
    truncated: bool = False  # the body was cut at max_bytes
    redirects: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip("\"'")
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise WebFailure(
                f"{self.url} answered with something that is not JSON ({exc})."
            ) from None


def base_url(env_var: str, default: str) -> str:
    """The service's base URL: the environment variable if set, else the default."""
    return (os.environ.get(env_var) or default).rstrip("/")


async def request(
    service: Service,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    json_body: Any = None,
    timeout_s: float = 30.0,
    max_bytes: int = 5_000_000,
    follow_redirects: bool = True,
    raise_for_status: bool = True,
    not_found: str | None = None,
) -> Response:
    """One request (no retries). Raises WebFailure with a readable message."""
    return await _bounded(
        _send(url, method, params, headers, json_body, timeout_s, max_bytes, follow_redirects),
        timeout_s + 5,
        service,
        url,
        raise_for_status,
        not_found,
    )


async def _bounded(
    coro: Any,
    deadline: float,
    service: Service,
    url: str,
    raise_for_status: bool,
    not_found: str | None,
) -> Response:
    import httpx

    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise WebFailure(_timed_out(service, url, deadline))
    try:
        response: Response = task.result()
    except httpx.TimeoutException:
        raise WebFailure(_timed_out(service, url, deadline)) from None
    except (httpx.TransportError, OSError) as exc:
        raise WebFailure(_unreachable(service, url, exc)) from None
    except httpx.InvalidURL as exc:
        raise WebFailure(f"Invalid URL {url!r}: {exc}.") from None
    if raise_for_status and response.status >= 400:
        raise WebFailure(status_message(service, response, not_found))
    return response


async def _send(
    url: str,
    method: str,
    params: dict[str, Any] | None,
    headers: dict[str, str] | None,
    json_body: Any,
    timeout_s: float,
    max_bytes: int,
    follow_redirects: bool,
) -> Response:
    import httpx

    clean = {k: v for k, v in (params or {}).items() if v is not None}
    transport = httpx.AsyncHTTPTransport(retries=0)
    async with httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=follow_redirects,
        headers={"User-Agent": USER_AGENT},
    ) as client:
        async with client.stream(
            method, url, params=clean, headers=headers, json=json_body
        ) as stream:
            chunks: list[bytes] = []
            size = 0
            truncated = False
            async for chunk in stream.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes:
                    truncated = True
                    break
            body = b"".join(chunks)[:max_bytes]
            return Response(
                status=stream.status_code,
                url=str(stream.url),
                headers={k.lower(): v for k, v in stream.headers.items()},
                body=body,
                truncated=truncated,
                redirects=[str(r.url) for r in stream.history],
            )


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def _timed_out(service: Service, url: str, deadline: float) -> str:
    return (
        f"{service.name} ({_host(url)}) timed out after {deadline:g} s. Try again in a moment, "
        "or ask for less."
    )


def _unreachable(service: Service, url: str, exc: BaseException) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    env = f" (and {service.env_var} if you set it)" if service.env_var else ""
    return (
        f"Cannot reach {service.name} at {_host(url)} ({_short(reason)}). Check the network "
        f"connection{env}, then retry."
    )


def status_message(service: Service, response: Response, not_found: str | None = None) -> str:
    """The readable text for an error answer."""
    status, server = response.status, _server_message(response)
    detail = f": {server}" if server else "."
    if status == 429 or (status == 403 and _rate_limited(response)):
        return f"{service.name} rate limit reached ({status}){_wait(response)}. " + (
            service.rate_hint or "Wait before calling again, and make fewer requests."
        )
    if status in (401, 403):
        return f"{service.name} refused the request ({status}){detail} {service.auth_hint}".strip()
    if status == 404:
        return f"Not found on {service.name} (404){detail} {not_found or ''}".strip()
    if status >= 500:
        return (
            f"{service.name} had an internal error ({status}){detail} This is on the server "
            "side: try again in a little while."
        )
    return f"{service.name} refused the request ({status}){detail} Check the arguments."


def _rate_limited(response: Response) -> bool:
    return response.headers.get("x-ratelimit-remaining") == "0" or (
        "rate limit" in _server_message(response).lower()
    )


def _wait(response: Response) -> str:
    retry_after = response.headers.get("retry-after")
    if retry_after:
        return f"; the server asks to wait {retry_after} s"
    reset = response.headers.get("x-ratelimit-reset")
    if reset and reset.isdigit():
        import time

        seconds = max(int(reset) - int(time.time()), 0)
        return f"; it resets in {seconds} s"
    return ""


def _server_message(response: Response) -> str:
    try:
        data = response.json()
    except Exception:
        text = response.text.strip()
        return _short(text) if text and "<" not in text[:1] else ""
    if isinstance(data, dict):
        msg = data.get("message") or data.get("error") or ""
        return _short(msg if isinstance(msg, str) else str(msg))
    return ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SERVER_MESSAGE else text[: _MAX_SERVER_MESSAGE - 3] + "..."


Body = Callable[[dict[str, Any], ToolContext], Any]


def guarded_web(tool: str, body: Body) -> Body:
    """Failures become failed results; a mistake in the arguments reads as one."""

    async def handler(args: dict[str, Any], ctx: ToolContext) -> ToolResult | str:
        try:
            out = await body(args, ctx)
            return out if isinstance(out, ToolResult) else ToolResult(str(out))
        except ToolFailure as exc:
            return ToolResult(str(exc), success=False)
        except (ValueError, TypeError) as exc:
            return ToolResult(f"Invalid request for {tool}: {_short(str(exc))}", success=False)

    return handler

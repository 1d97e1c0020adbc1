"""What the Hugging Face tools share: endpoint, token, client, calls off the loop.

huggingface_hub is imported inside the functions (never at module import) and
its blocking calls run in a worker thread under a deadline, because its HTTP
client has no timeout of its own. The endpoint is read from `HF_ENDPOINT` at
call time (huggingface_hub reads it once, at import) so a test's fake Hub, or
a mirror set after import, is honoured.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ToolFailure
from .base import ToolContext, ToolResult, human_size, object_schema
from .hub_errors import Where, error_result
from .hub_http import ours

__all__ = [
    "HubSettings",
    "arg",
    "clip",
    "datasets_server_url",
    "get_json",
    "guarded",
    "hub_endpoint",
    "human_count",
    "human_size",
    "in_thread",
    "make_api",
    "namespace_of",
    "obj",
    "resolve_token",
    "short_date",
]

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_DATASETS_SERVER = "https://datasets-server.huggingface.co"
LIBRARY_NAME = "ml-intern-jupyter"

T = TypeVar("T")
Body = Callable[[dict[str, Any], ToolContext], Awaitable["ToolResult | str"]]


@dataclass(frozen=True)
class HubSettings:
    """Deadlines for Hub calls (tests shorten them)."""

    request_timeout_s: float = 60.0
    upload_timeout_s: float = 600.0


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def datasets_server_url() -> str:
    return (os.environ.get("HF_DATASETS_SERVER_URL") or DEFAULT_DATASETS_SERVER).rstrip("/")


def resolve_token() -> str | None:
    """HF_TOKEN from the environment, else the cached login (`hf auth login`, notebook_login)."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token and token.strip():
        return token.strip()
    from huggingface_hub import get_token

    return get_token()


def make_api(token: str | None = None) -> Any:
    """An `HfApi` bound to the current endpoint and token."""
    from huggingface_hub import HfApi

    from .._version import __version__

    return HfApi(
        endpoint=hub_endpoint(),
        token=token,
        library_name=LIBRARY_NAME,
        library_version=__version__,
    )


async def in_thread(fn: Callable[..., T], *args: Any, deadline: float, **kwargs: Any) -> T:
    """Run a blocking call in a worker thread; asyncio.TimeoutError after `deadline` s.

    Its Hub requests follow our policy (`hub_http.ours`): a 429, a 5xx or a
    dead network comes back at once as an error, never as a hidden retry.

    On timeout the thread is left to finish on its own (it cannot be
    interrupted); its result is dropped. Not `asyncio.wait_for`: on Python
    3.10/3.11 it returns the result, swallowing the cancellation, when the
    call finishes in the same loop iteration as a cancel (the user's Stop
    would be lost and a job would be followed for ever).
    """
    call = functools.partial(_as_ours, functools.partial(fn, *args, **kwargs))
    loop = asyncio.get_running_loop()
    try:
        future = loop.run_in_executor(None, call)
    except RuntimeError:  # the executors are shut down: the interpreter is exiting
        future = _own_thread(loop, call)
    try:
        done, _ = await asyncio.wait({future}, timeout=deadline)
    except asyncio.CancelledError:
        future.cancel()
        raise
    if not done:
        future.cancel()
        raise asyncio.TimeoutError(f"no answer within {deadline:g} s")
    return future.result()


def _as_ours(call: Callable[[], T]) -> T:
    """`call` with our retry policy for its Hub requests (see hub_http)."""
    with ours():
        return call()


def _own_thread(loop: asyncio.AbstractEventLoop, call: Callable[[], T]) -> asyncio.Future[T]:
    """`call` in a new daemon thread. At exit (e.g. the trace uploader's last
    flush from an atexit handler) executors refuse work, threads do not."""
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            outcome(value)

    def run() -> None:
        try:
            outcome: tuple[Callable[[Any], None], Any] = (future.set_result, call())
        except BaseException as exc:  # handed to the awaiting task, not lost
            outcome = (future.set_exception, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop is closed: nobody waits for this any more
            pass

    threading.Thread(target=run, name="ml-intern-hub-call", daemon=True).start()
    return future


def get_json(
    url: str, *, params: dict[str, Any] | None, token: str | None, request_timeout: float
) -> Any:
    """GET a JSON document with huggingface_hub's HTTP session (blocking)."""
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    headers = build_hf_headers(token=token or False, library_name=LIBRARY_NAME)
    clean = {k: v for k, v in (params or {}).items() if v is not None}
    response = get_session().get(url, params=clean, headers=headers, timeout=request_timeout)
    hf_raise_for_status(response)
    return response.json()


# whoami is strictly rate limited on the Hub: ask once per endpoint and token.
_NAMESPACES: dict[tuple[str, str], str] = {}


def namespace_of(api: Any, token: str | None) -> str:
    """The user name of `token` (blocking, cached)."""
    from huggingface_hub.errors import LocalTokenNotFoundError

    if not token:
        raise LocalTokenNotFoundError("no token")
    key = (api.endpoint, token)
    name = _NAMESPACES.get(key)
    if name is None:
        name = api.whoami(token=token)["name"]
        _NAMESPACES[key] = name
    return name


def clear_namespace_cache() -> None:
    _NAMESPACES.clear()


# ------------------------------------------------------------------ handlers


def arg(args: dict[str, Any], key: str, operation: str | None = None, *, strip: bool = True) -> Any:
    """A required argument (strings stripped unless strip=False), or a ToolFailure naming it."""
    value = args.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        for_op = f" for operation={operation}" if operation else ""
        raise ToolFailure(f"Argument `{key}` is required{for_op}.")
    return value.strip() if isinstance(value, str) and strip else value


def where_from_args(tool: str, args: dict[str, Any], timeout_s: float) -> Where:
    op = args.get("operation")
    return Where(
        action=f"{tool} {op}" if op else tool,
        endpoint=hub_endpoint(),
        repo_id=args.get("repo_id"),
        repo_type=args.get("repo_type"),
        path=args.get("path"),
        revision=args.get("revision"),
        job_id=args.get("job_id"),
        timeout_s=timeout_s,
    )


def guarded(
    tool: str,
    body: Body,
    *,
    timeout_s: float,
    where: Callable[[dict[str, Any]], Where] | None = None,
) -> Body:
    """Any exception (but cancellation) becomes a failed result the model can act on."""

    async def handler(args: dict[str, Any], ctx: ToolContext) -> ToolResult | str:
        try:
            return await body(args, ctx)
        except Exception as exc:  # CancelledError is a BaseException: it propagates
            place = where(args) if where else where_from_args(tool, args, timeout_s)
            return error_result(exc, place)

    return handler


# ---------------------------------------------------------------- formatting


def human_count(n: int | float | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}".replace(".0" + unit, unit)
    return str(int(n))


def short_date(value: Any) -> str:
    """YYYY-MM-DD of a datetime or an ISO string; '' when absent."""
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def clip(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


obj = object_schema  # short name used by the Hub tool modules

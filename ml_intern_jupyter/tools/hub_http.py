"""Our retry policy is the only one for the tools' Hub calls.

huggingface_hub (1.x on httpx, 2.x on httpx2) retries 408/429/5xx answers and
connection errors by itself inside `http_backoff` (listings, paginated calls):
up to five tries, sleeping up to the server's `Retry-After` in between, out of
sight. In a notebook that looks hung. The library has no switch for it, so we
use its public client hook instead (`set_client_factory`): the clients it
builds are the library's usual ones (same redirects, no timeout, env proxies),
plus a policy that applies **only inside a call made by our tools**
(`ours()`, set by `hub_client.in_thread` in its worker thread):

* a 408/429/5xx answer is raised at once as the library's own `HfHubHTTPError`
  (`hf_raise_for_status`), which its retry loop does not catch, so the tool
  reports "rate limited, the server asks to wait N s" or "try again later";
* a connection failure is raised at once as `HubUnreachable` (a
  `ConnectionError`, also not caught there), so the tool reports "Cannot
  reach ..."; a read timeout likewise as `HubTimedOut` ("timed out"). With a proxy set in the environment the transport is httpx's
  own (so the proxy is honoured); then the library's first 1 s wait happens
  before its retry is refused by the request hook.

Calls made by the user's own code in the kernel (`from_pretrained`, ...) see
no difference: outside `ours()` the policy passes everything through.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import urllib.request
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = ["HubTimedOut", "HubUnreachable", "RETRIED_STATUSES", "http_module", "install", "ours"]

# What huggingface_hub's http_backoff retries by default.
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class HubUnreachable(ConnectionError):
    """The Hub could not be reached (raised instead of the library retrying)."""


class HubTimedOut(TimeoutError):
    """The Hub stopped answering mid-request (raised instead of the library retrying)."""


@dataclass
class _Call:
    """One tool call's requests. A request sent again before it was answered is
    the library retrying one that failed."""

    unanswered: set[tuple[str, str]] = field(default_factory=set)
    failed: dict[tuple[str, str], BaseException] = field(default_factory=dict)


_CALL: ContextVar[_Call | None] = ContextVar("ml_intern_hub_call", default=None)
_LOCK = threading.Lock()
_INSTALLED = False


@contextlib.contextmanager
def ours() -> Iterator[None]:
    """Mark the Hub requests made inside as our tools' (no hidden retries)."""
    install()
    token = _CALL.set(_Call())
    try:
        yield
    finally:
        _CALL.reset(token)


def http_module() -> ModuleType:
    """The HTTP library huggingface_hub is built on (httpx2 for 2.x, httpx before)."""
    import huggingface_hub

    major = int(huggingface_hub.__version__.split(".")[0])
    return importlib.import_module("httpx2" if major >= 2 else "httpx")


def install() -> None:
    """Give huggingface_hub clients with our policy (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    with _LOCK:
        if _INSTALLED:
            return
        from huggingface_hub.utils import set_client_factory

        set_client_factory(_client_factory)
        _INSTALLED = True


def _client_factory() -> Any:
    httpx = http_module()
    hooks: dict[str, list[Any]] = {"request": [_on_request], "response": [_on_response]}
    library_hook = _library_request_hook()
    if library_hook is not None:
        hooks["request"].insert(0, library_hook)
    kwargs: dict[str, Any] = {"event_hooks": hooks, "follow_redirects": True, "timeout": None}
    if not urllib.request.getproxies():
        kwargs["transport"] = _transport_class(httpx)(httpx.HTTPTransport())
    return httpx.Client(**kwargs)


def _library_request_hook() -> Any:
    """The library's own request hook (offline mode, request ids), if it has one."""
    try:
        from huggingface_hub.utils import _http
    except ImportError:  # pragma: no cover
        return None
    return getattr(_http, "hf_request_event_hook", None)


def _on_request(request: Any) -> None:
    call = _CALL.get()
    if call is None:
        return
    key = _key(request)
    if key in call.unanswered:  # the library is retrying a request that failed
        failed = call.failed.get(key)
        raise HubUnreachable(_reason(failed) if failed else "no answer") from failed
    call.unanswered.add(key)


def _on_response(response: Any) -> None:
    call = _CALL.get()
    if call is None:
        return
    call.unanswered.discard(_key(response.request))
    if response.status_code not in RETRIED_STATUSES:
        return
    from huggingface_hub.utils import hf_raise_for_status

    response.read()
    hf_raise_for_status(response)


_TRANSPORTS: dict[str, type] = {}


def _transport_class(httpx: ModuleType) -> type:
    """A transport that turns a connection failure into HubUnreachable inside `ours()`."""
    cls = _TRANSPORTS.get(httpx.__name__)
    if cls is not None:
        return cls

    class PolicyTransport(httpx.BaseTransport):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def handle_request(self, request: Any) -> Any:
            try:
                return self._inner.handle_request(request)
            except httpx.TransportError as exc:
                call = _CALL.get()
                if call is None:
                    raise
                call.failed[_key(request)] = exc
                if isinstance(exc, httpx.TimeoutException) and not isinstance(
                    exc, httpx.ConnectTimeout
                ):
                    raise HubTimedOut(_reason(exc)) from exc
                raise HubUnreachable(_reason(exc)) from exc

        def close(self) -> None:
            self._inner.close()

    _TRANSPORTS[httpx.__name__] = PolicyTransport
    return PolicyTransport


def _key(request: Any) -> tuple[str, str]:
    return (request.method, str(request.url))


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__

"""Who may call the ml-intern API: browsers as Jupyter users, kernels by secret.

* Browser calls (the sidebar) go through Jupyter's own authentication —
  token or login cookie, XSRF for writes, origin checks — and then the
  server's authorizer, for resource `ml_intern` (`read` for GET, `write`
  otherwise), exactly as for Jupyter's own REST API.
* Kernels have no Jupyter token. On start the extension makes a random
  per-server secret and puts it, with the server's URL, into `os.environ`;
  kernels the server starts inherit both. A request carrying the secret in
  `X-ML-Intern-Secret` is a kernel of this server: it needs no token and no
  XSRF cookie (it is not a browser, and a page cannot read the secret).
  A request with a *wrong* secret is refused outright (403), token or not.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.auth import User, authorized
from tornado import web

from ..store.http import SECRET_HEADER, SERVER_SECRET_ENV, SERVER_URL_ENV

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

__all__ = [
    "AUTH_RESOURCE",
    "KERNEL_USER",
    "EnvPublisher",
    "SecretAuthMixin",
    "guarded",
    "new_secret",
    "secret_matches",
    "server_url",
]

AUTH_RESOURCE = "ml_intern"
KERNEL_USER = User(username="ml-intern-kernel", name="ml-intern kernel")
HOME_ENV = "ML_INTERN_HOME"

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_matches(presented: str, secret: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8"), secret.encode("utf-8"))


class SecretAuthMixin:
    """Put first in a handler's bases; accepts the kernel secret, else Jupyter auth.

    After `prepare`, `secret_authenticated` says which path let the request in,
    and the request is authenticated either way (403 otherwise).
    """

    secret_authenticated = False

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        handler: Any = self
        presented = handler.request.headers.get(SECRET_HEADER)
        if presented is None:
            await super().prepare(*args, **kwargs)  # type: ignore[misc]
            if not handler.current_user:
                raise web.HTTPError(
                    403,
                    "Not authenticated: log in to Jupyter (token or cookie), or, from a "
                    f"kernel of this server, send the {SECRET_HEADER} header.",
                )
            return
        if not handler.check_host():
            raise web.HTTPError(403, "Requests to this Host are not allowed.")
        if not secret_matches(presented, handler.extensionapp.secret):
            raise web.HTTPError(
                403,
                f"The {SECRET_HEADER} header does not match this server's secret; "
                "was the kernel started by another Jupyter server?",
            )
        self.secret_authenticated = True
        handler.current_user = handler._jupyter_current_user = KERNEL_USER


def guarded(method: F) -> F:
    """Kernel (secret) calls go straight through; browser calls are
    `@web.authenticated` and `@authorized` as any Jupyter API call."""
    checked = web.authenticated(authorized(method))

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.secret_authenticated:
            return await method(self, *args, **kwargs)
        result = checked(self, *args, **kwargs)  # None only after a login redirect
        return await result if result is not None else None

    return wrapper  # type: ignore[return-value]


def server_url(serverapp: ServerApp) -> str | None:
    """The URL a kernel on this machine reaches the server at, or None.

    Loopback whenever the server listens there; None for a Unix socket or a
    port not chosen yet (kernels then use the SQLite file directly).
    """
    if serverapp.sock or not serverapp.port:
        return None
    ip = serverapp.ip or "localhost"
    if ip in ("localhost", "0.0.0.0"):
        host = "127.0.0.1"
    elif ip == "::":
        host = "[::1]"
    else:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            host = ip  # a host name
        else:
            host = f"[{ip}]" if addr.version == 6 else ip
    scheme = "https" if serverapp.certfile else "http"
    return f"{scheme}://{host}:{serverapp.port}{serverapp.base_url}"


class EnvPublisher:
    """Puts the URL and secret (and an explicit home) into `os.environ`, which
    kernels started later inherit; `withdraw` undoes only what is still ours.

    Without a URL (Unix socket) both are removed instead, so kernels do not
    talk to some other server whose values this process inherited.
    """

    def __init__(self) -> None:
        self._ours: dict[str, str | None] = {}
        self._before: dict[str, str | None] = {}

    def publish(self, url: str | None, secret: str, home: str | None = None) -> None:
        values: dict[str, str | None] = {
            SERVER_URL_ENV: url,
            SERVER_SECRET_ENV: secret if url is not None else None,
        }
        if home is not None:
            # The kernel's direct fallback must open the file this server uses.
            values[HOME_ENV] = home
        for name, value in values.items():
            if name not in self._ours:
                self._before[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
            self._ours[name] = value

    def withdraw(self) -> None:
        for name, value in self._ours.items():
            if os.environ.get(name) != value:
                continue  # changed since by someone else: leave it
            before = self._before.get(name)
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        self._ours.clear()
        self._before.clear()

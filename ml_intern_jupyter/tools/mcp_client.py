"""A session's MCP connections: connect, register their tools, call them, close.

Each server gets one task on the session's loop (the intern thread) that
opens the transport (a child process for stdio, streamable HTTP for a URL)
and the `mcp` client session, lists the tools, registers them in the
session's `ToolRouter`, then holds the connection until the server is
disabled or the session closes; the `mcp` package (anyio) needs the
contexts entered and left in one task. Importing `mcp` takes seconds, so it
happens in a worker thread. A server that fails (or does not connect within
its `connect_timeout_s`) leaves one line for the view (`new_failures`) and the
session goes on without it. Tools named like a built-in are skipped; of two
servers with a tool of the same name, the one configured first keeps it
(whichever connects first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import Config, McpServer
from .base import ToolContext, ToolResult, ToolSpec
from .mcp_content import tool_result
from .mcp_servers import (
    HF_DUPLICATES,
    HF_SERVER,
    TOOL_NAME,
    ResolvedServer,
    approval_rule,
    configured_servers,
    display_target,
    resolve,
)
from .router import ToolRouter

__all__ = ["McpConnections", "ServerState"]

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 5.0
_STDERR_TAIL = 400

McpState = Literal["connecting", "connected", "failed", "disabled", "closed"]


@dataclass
class ServerState:
    name: str
    spec: McpServer
    state: McpState = "connecting"
    target: str = ""
    error: str | None = None
    tools: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # tool -> why
    reported: bool = False
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    session: Any = None
    resolved: ResolvedServer | None = None
    timed_out: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "transport": self.spec.transport,
            "target": self.target,
            "state": self.state,
            "error": self.error,
            "tools": list(self.tools),
            "skipped": dict(self.skipped),
            "approval": self.spec.approval,
            "tool_approval": dict(self.spec.tool_approval),
        }


def _import_mcp() -> None:
    import mcp.client.session  # noqa: F401
    import mcp.client.stdio  # noqa: F401
    import mcp.client.streamable_http  # noqa: F401


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside anyio's exception groups."""
    inner = getattr(exc, "exceptions", None)  # BaseExceptionGroup (3.11+ or the backport)
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def _reason(exc: BaseException) -> str:
    exc = _leaf(exc)
    text = str(exc).strip()
    name = type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        return f"cannot start {exc.filename or 'the command'!r}: no such file or command"
    if "ConnectError" in name or "ConnectTimeout" in name:
        return f"cannot connect ({text or name})"
    if name == "HTTPStatusError":
        return text.splitlines()[0] if text else name
    return f"{name}: {text}" if text else name


class McpConnections:
    """Create on the loop that will run it; `start(router)` connects in the background."""

    def __init__(self, config: Config):
        self._config = config
        self.servers: dict[str, ServerState] = {}
        self._router: ToolRouter | None = None
        self._builtins: set[str] = set()
        self._owner: dict[str, str] = {}  # registered tool -> server
        self._closed = False
        self._imported: asyncio.Future[None] | None = None
        for name, spec in configured_servers(config).items():
            self.servers[name] = ServerState(name, spec, target=display_target(spec))

    # ----------------------------------------------------------- lifecycle

    def start(self, router: ToolRouter) -> None:
        self._router = router
        self._builtins = set(router.names)
        for st in self.servers.values():
            if st.name in self._config.mcp_disabled:
                st.state = "disabled"
                st.ready.set()
            else:
                self._connect(st)

    def apply(self, config: Config) -> None:
        """New settings: connect servers enabled again, close the ones disabled."""
        self._config = config
        if self._router is None or self._closed:
            return
        for st in self.servers.values():
            off = st.name in config.mcp_disabled
            if off and st.state != "disabled":
                self._disconnect(st)
                st.state = "disabled"
            elif not off and st.state == "disabled":
                self._connect(st)

    async def wait_ready(self) -> None:
        """Until every enabled server has connected or failed."""
        waits = [st.ready.wait() for st in self.servers.values()]
        if waits:
            await asyncio.gather(*waits)

    def new_failures(self) -> list[str]:
        """One line per server that failed since the last call."""
        lines = []
        for st in self.servers.values():
            if st.state == "failed" and not st.reported:
                st.reported = True
                lines.append(
                    f"MCP server '{st.name}' is not available: {st.error}. "
                    "The session goes on without its tools (`%intern mcp` shows the servers)."
                )
        return lines

    async def close(self) -> None:
        self._closed = True
        tasks = []
        for st in self.servers.values():
            if st.task is not None and not st.task.done():
                st.stop.set()
                tasks.append(st.task)
            if st.state in ("connecting", "connected"):
                st.state = "closed"
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    def describe(self) -> list[dict[str, Any]]:
        return [st.describe() for st in self.servers.values()]

    # --------------------------------------------------------- connecting

    def _connect(self, st: ServerState) -> None:
        st.state, st.error, st.reported, st.timed_out = "connecting", None, False, False
        st.stop = asyncio.Event()
        st.ready = asyncio.Event()
        st.task = asyncio.get_running_loop().create_task(self._hold(st), name=f"mcp-{st.name}")
        loop = asyncio.get_running_loop()
        handle = loop.call_later(st.spec.connect_timeout_s, self._timeout, st, st.task)
        st.task.add_done_callback(lambda _t: handle.cancel())

    def _timeout(self, st: ServerState, task: asyncio.Task[None]) -> None:
        if st.task is task and st.state == "connecting" and not task.done():
            st.timed_out = True
            task.cancel()

    def _disconnect(self, st: ServerState) -> None:
        st.stop.set()
        self._unregister(st)

    async def _hold(self, st: ServerState) -> None:
        # A server disabled and enabled again gets a new task: an older one
        # that is still winding down touches nothing but its own connection.
        task = asyncio.current_task()
        stop, ready = st.stop, st.ready

        def current() -> bool:
            return st.task is task

        errlog = None
        server: ResolvedServer | None = None
        try:
            if self._imported is None:
                self._imported = asyncio.ensure_future(
                    asyncio.get_running_loop().run_in_executor(None, _import_mcp)
                )
            await asyncio.shield(self._imported)
            from mcp.client.session import ClientSession

            server = resolve(st.name, st.spec)
            st.resolved = server
            async with contextlib.AsyncExitStack() as stack:
                if st.spec.transport == "stdio":
                    errlog = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
                    read, write = await stack.enter_async_context(_stdio(server, errlog))
                else:
                    read, write = await stack.enter_async_context(_http(server))
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                listed = await session.list_tools()
                if stop.is_set() or not current():
                    return  # disabled (or the session closed) while connecting
                st.session = session
                self._register(st, [_wire(t) for t in listed.tools])
                st.state = "connected"
                ready.set()
                await stop.wait()
        except asyncio.CancelledError:
            if not (st.timed_out and current()):
                raise
            st.state = "failed"
            st.error = f"it did not connect within {st.spec.connect_timeout_s:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure is one line for the user
            if current() and st.state != "disabled" and not self._closed:
                st.state = "failed"
                error = _reason(exc) + _stderr_tail(errlog)
                st.error = server.scrub(error) if server is not None else error
                log.info("MCP server %s failed", st.name, exc_info=True)
        finally:
            if current():
                st.session = None
                self._unregister(st)
                if st.state in ("connecting", "connected"):
                    st.state = "closed"
            ready.set()

    # ------------------------------------------------------------- tools

    def _register(self, st: ServerState, tools: Iterable[dict[str, Any]]) -> None:
        router = self._router
        assert router is not None
        st.tools, st.skipped = [], {}
        for tool in tools:
            name = str(tool.get("name", ""))
            if not TOOL_NAME.match(name):
                st.skipped[name] = "its name is not a valid tool name"
            elif name in self._builtins or (st.name == HF_SERVER and name in HF_DUPLICATES):
                st.skipped[name] = "a built-in tool does this"
            elif name in self._owner and not self._before(st.name, self._owner[name]):
                st.skipped[name] = f"server '{self._owner[name]}' has a tool of that name"
            else:
                if name in self._owner:  # a later server (in config order) had it
                    later = self.servers[self._owner[name]]
                    later.tools.remove(name)
                    later.skipped[name] = f"server '{st.name}' has a tool of that name"
                router.register(self._spec(st, name, tool))
                self._owner[name] = st.name
                st.tools.append(name)

    def _before(self, a: str, b: str) -> bool:
        order = list(self.servers)
        return order.index(a) < order.index(b)

    def _unregister(self, st: ServerState) -> None:
        if self._router is None:
            return
        for name in st.tools:
            if self._owner.get(name) == st.name:
                self._router.unregister(name)
                del self._owner[name]

    def _spec(self, st: ServerState, name: str, tool: dict[str, Any]) -> ToolSpec:
        async def handler(args: dict[str, Any], _ctx: ToolContext) -> ToolResult:
            session = st.session
            if session is None or st.state != "connected":
                return ToolResult(
                    f"ERROR: MCP server '{st.name}' is not connected ({st.state}).",
                    success=False,
                )
            try:
                result = await session.call_tool(name, args)
            except Exception as exc:  # the router reports it; without secrets
                scrub = st.resolved.scrub if st.resolved is not None else str
                raise RuntimeError(scrub(_reason(exc))) from None
            return tool_result(_wire(result))

        description = str(tool.get("description") or "").strip()
        return ToolSpec(
            name=name,
            description=f"[MCP server {st.name}] {description}".strip(),
            parameters=_schema(tool.get("inputSchema")),
            handler=handler,
            approval=approval_rule(st.spec, name),
            timeout=self._config.tool_timeout_s,
            always_allowable=True,
        )


def _wire(model: Any) -> dict[str, Any]:
    """An `mcp` pydantic model as its JSON wire form (camelCase in every version)."""
    if isinstance(model, dict):
        return model
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _schema(schema: Any) -> dict[str, Any]:
    """The tool's input schema if it is a usable object schema, else "any object"."""
    if isinstance(schema, dict) and schema.get("type", "object") == "object":
        try:
            from jsonschema import Draft202012Validator

            Draft202012Validator.check_schema(schema)
            return {"type": "object", **schema}
        except Exception:
            pass
    return {"type": "object"}


def _stderr_tail(errlog: Any) -> str:
    if errlog is None:
        return ""
    try:
        errlog.flush()
        errlog.seek(0)
        text = errlog.read().strip()
    except (OSError, ValueError):
        return ""
    if not text:
        return ""
    last = text.splitlines()[-1].strip()
    return f" (its last output: {last[:_STDERR_TAIL]})"


@contextlib.asynccontextmanager
async def _stdio(server: ResolvedServer, errlog: Any) -> Any:
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=server.command or "",
        args=server.args,
        env=server.env or None,
        cwd=server.cwd,
    )
    async with stdio_client(params, errlog=errlog) as streams:
        yield streams[0], streams[1]


@contextlib.asynccontextmanager
async def _http(server: ResolvedServer) -> Any:
    from mcp.client import streamable_http

    url = server.url or ""
    if hasattr(streamable_http, "streamable_http_client"):
        from mcp.shared._httpx_utils import create_mcp_http_client

        async with create_mcp_http_client(headers=server.headers) as client:
            async with streamable_http.streamable_http_client(url, http_client=client) as streams:
                yield streams[0], streams[1]
    else:  # mcp 1.x before streamable_http_client (1.24)
        legacy: Any = getattr(streamable_http, "streamablehttp_client")  # noqa: B009
        async with legacy(url, headers=server.headers) as streams:
            yield streams[0], streams[1]

"""A real MCP server for tests, written with the `mcp` package's server API.

Run it over stdio as a script (`python tests/fakes/mcp_server.py [NAME]`), or
serve it over streamable HTTP on loopback in this process with
`McpHttpServer().start()` (its `.url`; `.requests` records each request's
headers). Its tools: `echo`, `add`, `picture` (a PNG), `note` (an embedded
text resource and a link), `bash` (named like a built-in), `env_value` (an
environment variable of the server process), `pid`, `hf_whoami` (skipped when the server is the Hugging Face one),
`boom` (an error result).
"""

# (no `from __future__ import annotations`: the server reads the tools' annotations)

import base64
import os
import socket
import sys
import threading
import time
from typing import Any

# A 1x1 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)


def build(name: str = "fake", prefix: str = "") -> Any:
    """The server; its tools' names start with `prefix`."""
    try:  # mcp 2.x
        from mcp.server.mcpserver import Image, MCPServer
        from mcp_types import EmbeddedResource, ResourceLink, TextContent
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as MCPServer  # type: ignore[no-redef]
        from mcp.server.fastmcp import Image  # type: ignore[no-redef]
        from mcp.types import EmbeddedResource, ResourceLink, TextContent  # type: ignore[no-redef]

    server = MCPServer(name, log_level="WARNING")

    @server.tool(name=prefix + "echo")
    def echo(text: str) -> str:
        """Repeat the text."""
        return f"{name} says: {text}"

    @server.tool(name=prefix + "add")
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool(name=prefix + "picture")
    def picture() -> Image:
        """A tiny PNG."""
        return Image(data=PNG, format="png")

    @server.tool(name=prefix + "note")
    def note() -> list[Any]:
        """A note as an embedded resource, and a link to more."""
        return [
            TextContent(type="text", text="Here is the note."),
            EmbeddedResource.model_validate(
                {
                    "type": "resource",
                    "resource": {
                        "uri": "notes://one",
                        "mimeType": "text/plain",
                        "text": "Remember the milk.",
                    },
                }
            ),
            ResourceLink(type="resource_link", name="More notes", uri="https://example.org/notes"),
        ]

    @server.tool(name=prefix + "bash")
    def bash(command: str) -> str:
        """Named like a built-in tool: never registered."""
        return "should not run"

    @server.tool(name=prefix + "env_value")
    def env_value(var: str) -> str:
        """An environment variable of the server process."""
        return os.environ.get(var, "<unset>")

    @server.tool(name=prefix + "pid")
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    @server.tool(name="hf_whoami")
    def hf_whoami() -> str:
        """Named like a Hugging Face MCP tool our built-ins cover."""
        return "nobody"

    @server.tool(name=prefix + "boom")
    def boom() -> str:
        """Always fails."""
        raise RuntimeError("the fake tool failed on purpose")

    return server


class McpHttpServer:
    """The fake MCP server over streamable HTTP on 127.0.0.1, in a daemon thread."""

    def __init__(self, name: str = "fake-http", prefix: str = "") -> None:
        self.name = name
        self.prefix = prefix
        self.requests: list[dict[str, str]] = []  # headers of each request, lower-cased
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> "McpHttpServer":
        import uvicorn

        server = build(self.name, self.prefix)
        try:
            app = server.streamable_http_app(host="127.0.0.1")
        except TypeError:  # mcp 1.x: no host argument
            app = server.streamable_http_app()
        requests = self.requests

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                requests.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
            await app(scope, receive, send)

        config = uvicorn.Config(
            recording, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="mcp-http")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake MCP HTTP server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def stdio_entry(name: str = "fake-stdio", **extra: Any) -> dict[str, Any]:
    """A config entry that starts this script over stdio."""
    return {"command": sys.executable, "args": [os.path.abspath(__file__), name], **extra}


if __name__ == "__main__":
    args = sys.argv[1:]
    build(args[0] if args else "fake-stdio", args[1] if len(args) > 1 else "").run()

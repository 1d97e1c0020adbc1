"""Helpers for testing the Hugging Face tools against the fake Hub.

`serve_hub(monkeypatch)` starts a `FakeHub` and points the environment at
it (HF_ENDPOINT, HF_DATASETS_SERVER_URL, HF_TOKEN, telemetry off, offline
mode off); use it from a fixture::

    @pytest.fixture
    def hub(monkeypatch):
        yield from serve_hub(monkeypatch)

`Ctx` is a `ToolContext` that records `log` lines and `set_state` states.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.tools import pricing
from ml_intern_jupyter.tools.base import ToolContext, ToolResult, ToolSpec
from ml_intern_jupyter.tools.hub_client import HubSettings, clear_namespace_cache
from tests.fakes.hub_server import FakeHub

FAST = HubSettings(request_timeout_s=10.0, upload_timeout_s=10.0)


def serve_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    import huggingface_hub.constants

    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_DATASETS_SERVER_URL", hub.url)
    monkeypatch.setenv("HF_TOKEN", hub.token)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # huggingface_hub reads HF_HUB_OFFLINE and the telemetry switch once, at
    # import; with telemetry on, 2.x fetches a registry from huggingface.co on
    # its first request.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)
    pricing.clear_cache()
    clear_namespace_cache()
    try:
        yield hub
    finally:
        hub.stop()
        pricing.clear_cache()
        clear_namespace_cache()
        assert not hub.errors, f"the fake hub hit a bug: {hub.errors}"


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Ctx(ToolContext):
    """A ToolContext that records what the tool reported."""

    def __init__(self, workdir: Path | None = None) -> None:
        self.logs: list[str] = []
        self.states: list[str] = []
        super().__init__(
            session_id="s",
            tool_call_id="call-1",
            workdir=workdir or Path("."),
            log=self.logs.append,
            set_state=self.states.append,
        )


async def call(spec: ToolSpec, ctx: Ctx | None = None, **args: Any) -> ToolResult:
    """Run a tool's handler directly (no router), insisting on a ToolResult."""
    result = await spec.handler(args, ctx or Ctx())
    assert isinstance(result, ToolResult)
    return result

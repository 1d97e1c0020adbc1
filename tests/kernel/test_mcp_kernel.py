"""MCP servers in a real kernel: the cell returns at once, the MCP call runs after approval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.fakes.mcp_server import McpHttpServer, stdio_entry
from tests.kernel.helpers import KernelHarness, html_text, running_kernel


@pytest.fixture(scope="module")
def http_mcp() -> Iterator[McpHttpServer]:
    server = McpHttpServer(prefix="web_").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mcp_kernel(
    llm_server: FakeLLMServer, http_mcp: McpHttpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KernelHarness]:
    servers = {
        "local": stdio_entry(connect_timeout_s=120),
        "remote": {"url": http_mcp.url, "tool_approval": {"web_echo": "trusted"}},
        "gone": {"url": "http://127.0.0.1:9/mcp"},
    }
    tmp = Path(tmp_path_factory.mktemp("mcp-kernel"))
    env = {"ML_INTERN_MCP_SERVERS": json.dumps(servers), "ML_INTERN_MCP_WAIT_S": "90"}
    with running_kernel(tmp, llm_server.url, **env) as k:
        k.run_ok("%load_ext ml_intern_jupyter")
        k.run_ok(
            "from ml_intern_jupyter.runtime import get_runtime\nget_runtime().prewarm().result(120)"
        )
        yield k


def test_cell_returns_at_once_and_the_mcp_call_runs_after_approval(
    mcp_kernel: KernelHarness, fake: FakeLLMServer
) -> None:
    kernel = mcp_kernel
    fake.script(
        Reply(
            content="Looking.",
            tool_calls=[ToolCall("web_echo", {"text": "trusted one"}), ToolCall("picture", {})],
        ),
        Reply(content="Here is the picture."),
    )
    result = kernel.run_ok("%%intern -s m1\nShow me a picture.")
    assert result["elapsed"] < 1.0, result["elapsed"]
    display_id, root = kernel.view_of(result["msg_id"])
    # connecting (a child process importing `mcp`) happens after the cell returned
    approve = kernel.wait_button("Approve", root, timeout=150)
    view = html_text(kernel.view_html(root))
    assert "MCP server 'gone' is not available: cannot connect" in view
    assert "picture" in view
    # the trusted call ran without asking, before the approval
    assert "fake-http says: trusted one" in view
    kernel.click(approve)
    transcript = kernel.transcript(display_id, timeout=90)
    assert "Here is the picture." in transcript["text/plain"]
    assert 'src="data:image/png;base64,iVBOR' in transcript["text/html"]
    assert transcript["text/plain"].count("MCP server 'gone' is not available") == 1
    tools = {
        m["tool_call_id"]: m["content"]
        for m in fake.requests[-1].body["messages"]
        if m["role"] == "tool"
    }
    contents = sorted(tools.values())
    assert "fake-http says: trusted one" in contents
    assert any("image/png image" in c and "shown to the user" in c for c in contents)

    out = kernel.run_ok("%intern -s m1 mcp")
    text = kernel.text_of(out["msg_id"])
    assert "• local — stdio" in text and "connected" in text
    assert "• gone — http http://127.0.0.1:9/mcp — failed: cannot connect" in text

"""`%intern mcp` on a bare IPython shell, with a real stdio MCP server configured."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ml_intern_jupyter.notebook.commands.parse import parse_line
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.fakes.mcp_server import stdio_entry
from tests.unit.test_magics import fake  # noqa: F401 - fixture (ip, fresh_sessions: conftest)

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("line", ["mcp frob", "mcp enable", "mcp disable a b c"])
def test_bad_mcp_arguments_are_one_clear_line(line: str) -> None:
    with pytest.raises(UsageError, match="mcp|Too many arguments"):
        parse_line(line)


def test_mcp_lists_toggles_and_reports_failures(
    ip: InteractiveShell,
    capsys: Any,
    fake: FakeLLMServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ML_INTERN_MCP_WAIT_S", "90")  # the first turn reports the failure
    monkeypatch.setenv(
        "ML_INTERN_MCP_SERVERS",
        json.dumps(
            {
                "local": stdio_entry(connect_timeout_s=90, tool_approval={"echo": "trusted"}),
                "broken": {"command": "/nonexistent/mcp-binary"},
            }
        ),
    )
    ip.run_line_magic("intern", "mcp")
    out = capsys.readouterr().out
    assert "not connected yet" in out
    assert "• local — stdio " in out and "• broken — stdio /nonexistent/mcp-binary" in out

    fake.script(Reply(content="Hi."), Reply(content="Again."))
    ip.run_cell_magic("intern", "--wait", "Hello.")
    out = capsys.readouterr().out
    assert out.count("MCP server 'broken' is not available: cannot start") == 1
    assert "Hi." in out

    ip.run_line_magic("intern", "mcp")
    out = capsys.readouterr().out
    assert "MCP servers of session 'default':" in out
    assert "• local — stdio" in out and "— connected, asks before each call · 8 tools:" in out
    assert "echo, add, picture" in out and "per tool: echo trusted" in out
    assert "skipped: bash (a built-in tool does this)" in out
    assert "• broken — stdio /nonexistent/mcp-binary — failed: cannot start" in out

    ip.run_line_magic("intern", "mcp disable local")
    assert "MCP server 'local' is off in session 'default'" in capsys.readouterr().out
    ip.run_line_magic("intern", "mcp")
    assert "off in this session (`%intern mcp enable local`)" in capsys.readouterr().out
    ip.run_line_magic("intern", "mcp disable local")
    assert "already off" in capsys.readouterr().out
    with pytest.raises(
        UsageError, match="No MCP server 'nope' in session 'default'. Servers: local, broken"
    ):
        ip.run_line_magic("intern", "mcp enable nope")

    ip.run_line_magic("intern", "mcp enable local")
    assert "connects in the background" in capsys.readouterr().out
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ip.run_line_magic("intern", "mcp")
        out = capsys.readouterr().out
        if "— connected" in out:
            break
        time.sleep(0.5)
    assert "• local — stdio" in out and "— connected" in out

"""One failure type for the tools: a `ToolFailure`'s message reaches the model verbatim."""

from __future__ import annotations

from pathlib import Path

from ml_intern_jupyter.errors import InternError, ToolFailure
from ml_intern_jupyter.tools.base import ToolContext, ToolResult
from ml_intern_jupyter.tools.hub_client import guarded
from ml_intern_jupyter.tools.hub_errors import Where, describe
from ml_intern_jupyter.tools.local import local_tools
from ml_intern_jupyter.tools.web_http import WebFailure


def test_tool_failures_are_intern_errors() -> None:
    assert issubclass(ToolFailure, InternError)
    assert issubclass(WebFailure, ToolFailure)


def test_describe_passes_a_tool_failure_through_unchanged() -> None:
    where = Where(action="hf_repo_files read", endpoint="https://hub.example")
    assert describe(ToolFailure("Argument `repo_id` is required."), where) == (
        "Argument `repo_id` is required."
    )
    # Anything else is described, naming the action.
    assert describe(RuntimeError("boom"), where) == "hf_repo_files read failed: RuntimeError: boom"


async def test_a_hub_tool_body_raising_a_tool_failure_returns_its_message(tmp_path: Path) -> None:
    async def body(args: dict, ctx: ToolContext) -> ToolResult:
        raise ToolFailure("No split 'tset'. Available: train, test.")

    handler = guarded("hf_inspect_dataset", body, timeout_s=5)
    result = await handler({}, ToolContext(session_id="s", tool_call_id="c", workdir=tmp_path))
    assert isinstance(result, ToolResult)
    assert (result.output, result.success) == ("No split 'tset'. Available: train, test.", False)


async def test_a_local_tool_failure_returns_its_message(tmp_path: Path) -> None:
    read = next(spec for spec in local_tools(default_timeout=10) if spec.name == "read")
    ctx = ToolContext(session_id="s", tool_call_id="c", workdir=tmp_path)
    result = await read.handler({"path": "  "}, ctx)
    assert isinstance(result, ToolResult)
    assert (result.output, result.success) == ("Argument `path` is empty.", False)

"""The JupyterLab sidebar against real kernels: live status, approval from the
panel, a notification from a notebook not in view, a restart that expires a
session, Stop and Archive (issue 13's browser scenarios 1-5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall

PACKAGE = Path(__file__).resolve().parents[2] / "ml_intern_jupyter"


def _kernel_side_present() -> bool:
    return any("ml_intern_sidebar" in p.read_text() for p in PACKAGE.rglob("*.py"))


pytestmark = pytest.mark.skipif(
    not _kernel_side_present(),
    reason="the kernel side of the sidebar (comm target ml_intern_sidebar) is not in this tree",
)

STREAMED = " ".join(f"word{i}" for i in range(120))


@pytest.mark.timeout(300)
def test_sidebar_follows_sessions_approves_notifies_expires(lab, fake: FakeLLMServer, run_scenario):
    fake.script(
        # first notebook: streams, asks to run bash, then finishes
        Reply(
            content=STREAMED,
            tool_calls=[ToolCall("bash", {"command": "echo from-the-sidebar"})],
            chunk_size=8,
            delay=0.05,
        ),
        Reply(content="It printed from-the-sidebar."),
        # second notebook: asks after a while (time to switch notebooks)
        Reply(
            content=STREAMED,
            tool_calls=[ToolCall("bash", {"command": "echo second"})],
            chunk_size=8,
            delay=0.1,
        ),
    )
    first = lab.write_notebook(
        "first.ipynb", ["%load_ext ml_intern_jupyter", "%%intern\nRun echo for me.", "x = 1"]
    )
    second = lab.write_notebook(
        "second.ipynb", ["%load_ext ml_intern_jupyter", "%%intern\nAnd here."]
    )
    result = run_scenario("sidebar_flow", timeout=280, first=first, second=second)
    assert "error" not in result, result
    assert "%load_ext ml_intern_jupyter" in result["emptyText"], result
    assert "streaming" in result["firstStatuses"], result
    assert "waiting for approval (1)" in result["firstStatuses"], result
    assert result["pendingTool"] == "bash", result
    assert "from-the-sidebar" in result["cellText"], result  # the approved call ran
    meta = result["firstMeta"].split(" · ")  # model · turns · tokens · cost · ago
    assert re.fullmatch(r"[1-9][\d.]*k? tok", meta[2]), result
    assert meta[3].startswith(("$", "<$")), result
    assert "approval" in result["toastText"], result
    assert result["highlighted"] == result["second"], result
    assert result["final"]["first"] == "expired — needs a catch-up", result
    assert result["final"]["second"] == "archived", result
    assert result["expiredAfterMs"] < 5000, result

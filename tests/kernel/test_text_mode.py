"""Text mode under nbclient (as nbconvert and papermill run notebooks)."""

from __future__ import annotations

from pathlib import Path

import nbformat

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.kernel.helpers import output_text, run_notebook


def test_wait_renders_markdown_outputs_and_blocks(tmp_path: Path, server: FakeLLMServer) -> None:
    server.script(
        Reply(content="Hello from the **intern**.", chunk_size=3, delay=0.01),
        Reply(content="Second turn."),
    )
    outputs = run_notebook(
        tmp_path,
        server.url,
        "%load_ext ml_intern_jupyter",
        "%%intern --wait\nSay hello.",
        "%intern status",
    )
    cell = outputs[1]
    assert any(
        o.get("data", {}).get("text/markdown") == "Hello from the **intern**." for o in cell
    ), cell
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell)
    assert "*done ·" in output_text(cell)
    # The next cell ran after the turn ended: the session has one finished turn.
    assert "1 turn(s)" in output_text(outputs[2]) and "idle" in output_text(outputs[2])


def test_without_widgets_approvals_are_rejected_with_a_visible_reason(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "echo hi"})]),
        Reply(content="I could not run it."),
    )
    # No --wait: nbclient runs cells without stdin, so text mode is chosen by itself.
    outputs = run_notebook(
        tmp_path, server.url, "%load_ext ml_intern_jupyter", "%%intern\nRun echo."
    )
    shown = output_text(outputs[1])
    assert "**bash** `echo hi`" in shown and "nothing can be clicked" in shown
    assert "I could not run it." in shown
    tool = [m for m in server.requests[-1].body["messages"] if m["role"] == "tool"][-1]
    assert tool["content"].startswith("Job execution cancelled by user. User feedback: The user")
    assert "text mode" in tool["content"]


def test_yolo_runs_tools_in_text_mode_for_that_turn_only(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "echo yolo-ran"})]),
        Reply(content="Done."),
    )
    outputs = run_notebook(
        tmp_path,
        server.url,
        "%load_ext ml_intern_jupyter",
        "%%intern --wait --yolo\nRun echo.",
        "%intern yolo",
    )
    shown = output_text(outputs[1])
    assert "yolo-ran" in shown and "Done." in shown
    tool = [m for m in server.requests[-1].body["messages"] if m["role"] == "tool"][-1]
    assert "yolo-ran" in tool["content"]
    assert "off" in output_text(outputs[2])


def test_the_quickstart_notebook_is_valid_and_runs_headless(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    server.script(
        Reply(content="Mean 0.836, standard deviation 0.036: a small spread."),
        Reply(content="More validation data."),
    )
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    outputs = run_notebook(tmp_path, server.url, *sources)
    shown = "\n".join(output_text(o) for o in outputs)
    assert "Mean 0.836" in shown and "More validation data." in shown
    assert "Traceback" not in shown

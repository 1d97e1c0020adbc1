"""After a long turn, the transcript that replaces the live view leaves the
notebook showing cells (JupyterLab's windowed notebook once showed an empty
viewport until scrolled)."""

from __future__ import annotations

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall

LONG_TEXT = "\n\n".join(
    f"Paragraph {i}: " + " ".join(f"word{j}" for j in range(60)) for i in range(25)
)  # ~1,500 words


def test_the_notebook_shows_cells_after_a_long_turn_ends(lab, fake: FakeLLMServer, run_scenario):
    fake.script(
        Reply(
            content=LONG_TEXT,
            tool_calls=[ToolCall("bash", {"command": "echo approved-run"})],
            chunk_size=40,
            delay=0.002,
        ),
        Reply(content="It printed approved-run. " + LONG_TEXT[:2000], chunk_size=40, delay=0.002),
    )
    name = lab.write_notebook(
        "viewport.ipynb",
        [
            "%load_ext ml_intern_jupyter",
            "%%intern\nExplain at length, then run echo.",
            "x = 1",
        ],
    )
    result = run_scenario("transcript_viewport", notebook=name)
    after = result["after"]
    assert after["visibleCells"] >= 1, result
    assert after["transcriptEndVisible"], result  # the footer of the finished turn
    assert after["scrollTop"] <= max(0, after["scrollHeight"] - after["clientHeight"]) + 1, result

"""Research calls in a real kernel: nested cards stream, collapse, stop, and stay in the transcript."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.agent_harness import Conversations
from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.kernel.helpers import KernelHarness, html_text


@pytest.fixture
def scripted(fake: FakeLLMServer) -> Iterator[FakeLLMServer]:
    saved = fake.fallback
    yield fake
    fake.fallback = saved


def two_research_calls() -> Reply:
    return Reply(
        content="I will research both questions.",
        tool_calls=[
            ToolCall("research", {"task": "alpha"}, id="ra"),
            ToolCall("research", {"task": "beta"}, id="rb"),
        ],
    )


def tool_results(kernel: KernelHarness, name: str) -> dict[str, str]:
    out = kernel.run_ok(
        "import json\n"
        "from ml_intern_jupyter.notebook.conductor.sessions import notebook_sessions\n"
        f"_s = notebook_sessions().conductors[{name!r}].session\n"
        "print(json.dumps({m['tool_call_id']: m['content'] "
        "for m in _s.history.messages if m['role'] == 'tool'}))"
    )
    return json.loads(kernel.text_of(out["msg_id"]).strip().splitlines()[-1])


def test_two_research_cards_stream_and_stop_cancels_both(
    kernel: KernelHarness, scripted: FakeLLMServer, session_name: str
) -> None:
    scripted.fallback = Conversations(
        main=[two_research_calls()],
        alpha=[
            Reply(tool_calls=[ToolCall("bash", {"command": "ls"})]),
            Reply(content="alphaword " * 1500, chunk_size=5, delay=0.01),
        ],
        beta=[Reply(content="betaword " * 1500, chunk_size=5, delay=0.01)],
    )
    result = kernel.run_ok(f"%%intern -s {session_name}\nResearch alpha and beta.")
    display_id, root = kernel.view_of(result["msg_id"])

    def both_streaming() -> bool:
        text = " ".join(kernel.view_markdown(root))
        return "alphaword alphaword" in text and "betaword betaword" in text

    kernel.wait_for(both_streaming, 60, "both research cards streaming")
    html = kernel.view_html(root)
    assert html.count("mlij-research") >= 2
    assert "not available to research" in html_text(html)  # alpha's own (refused) tool card
    assert len(kernel.live_buttons("collapse", root)) == 2
    kernel.click(kernel.wait_button("Stop", root))
    transcript = kernel.transcript(display_id, timeout=30)
    plain = transcript["text/plain"]
    assert "interrupted" in plain
    assert "[research] alpha — cancelled" in plain and "[research] beta — cancelled" in plain
    assert "    | alphaword alphaword" in plain and "    | betaword betaword" in plain
    assert transcript["text/html"].count('mlij-research"><details>') == 2
    results = tool_results(kernel, session_name)
    assert set(results) == {"ra", "rb"}
    assert all(v == "Cancelled by user before it finished." for v in results.values())


def test_finished_research_card_collapses_and_the_transcript_keeps_it(
    kernel: KernelHarness, scripted: FakeLLMServer, session_name: str
) -> None:
    scripted.fallback = Conversations(
        main=[
            Reply(tool_calls=[ToolCall("research", {"task": "gamma"}, id="rg")]),
            Reply(content="Final: gamma uses lr 2e-5.", delay=0.5),
        ],
        gamma=[
            Reply(tool_calls=[ToolCall("write", {"path": "x.py", "content": "1"})]),
            Reply(content="## Answer\nGamma: **lr 2e-5**.", usage=(120, 30)),
        ],
    )
    result = kernel.run_ok(f"%%intern -s {session_name}\nResearch gamma.")
    display_id, root = kernel.view_of(result["msg_id"])
    kernel.wait_for(
        lambda: "Gamma:" in " ".join(kernel.view_markdown(root)), 60, "the research report"
    )
    (collapse,) = kernel.wait_for(lambda: kernel.live_buttons("collapse", root), 30, "collapse")
    kernel.click(collapse)
    kernel.wait_for(lambda: kernel.live_buttons("expand", root), 30, "the card collapsed")
    transcript = kernel.transcript(display_id, timeout=60)
    html = transcript["text/html"]
    assert html.count('mlij-research"><details>') == 1
    nested = html.split('mlij-research"><details>')[1]
    assert "write" in nested and "<strong>lr 2e-5</strong>" in nested
    assert "1 tool call" in html_text(html)
    md = transcript["text/markdown"]
    assert "> **research** `gamma` — done" in md and "> ## Answer" in md
    assert "Final: gamma uses lr 2e-5." in transcript["text/plain"]
    assert tool_results(kernel, session_name)["rg"].startswith("## Answer")

"""Research calls in the live view, the transcript and text mode, fed with the events of a
real session (two research calls in one message) run against the scripted model server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ml_intern_jupyter.notebook.render.text import TextRenderer
from ml_intern_jupyter.notebook.render.transcript import Transcript, TurnRecord
from ml_intern_jupyter.notebook.view.live import LiveView
from ml_intern_jupyter.notebook.view.parts import CardBlock, StreamBlock
from ml_intern_jupyter.notebook.view.research import ResearchBlock
from tests.agent_harness import Conversations, make_session, run_input
from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.fakes.web_server import FakeWeb

PRICES = {"vllm/test-model": {"input_per_mtok": 1000, "output_per_mtok": 2000}}
REPORT_A = "## Answer\nAlpha uses **beta 0.1**."
REPORT_B = "## Answer\nBeta needs 2 epochs."


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeb]:
    fake = FakeWeb().start()
    fake.results = [("DPO paper", "https://arxiv.org/abs/2305.18290", "alpha beta dpo")]
    monkeypatch.setenv("ML_INTERN_SEARCH_URL", fake.url + "/html/")
    yield fake
    fake.stop()


async def research_events(server: FakeLLMServer, tmp_path: Any) -> list[Any]:
    server.fallback = Conversations(
        main=[
            Reply(
                content="Let me research both.",
                tool_calls=[
                    ToolCall("research", {"task": "alpha"}, id="ra"),
                    ToolCall("research", {"task": "beta"}, id="rb"),
                ],
            ),
            Reply(content="Both answered."),
        ],
        alpha=[
            Reply(content="Searching.", tool_calls=[ToolCall("web_search", {"query": "alpha"})]),
            Reply(content=REPORT_A, usage=(300, 40)),
        ],
        beta=[
            Reply(tool_calls=[ToolCall("bash", {"command": "pip list"})]),
            Reply(content=REPORT_B, usage=(200, 30)),
        ],
    )
    session, rec = make_session(server, tmp_path, model_prices=PRICES)
    await run_input(session, "research alpha and beta")
    return [e for e in rec.events if not e.type.startswith("op_") and e.type != "ready"]


def new_record() -> TurnRecord:
    return TurnRecord("default", "abc", "vllm/test-model")


async def test_live_view_nests_each_research_call_in_a_collapsible_card(
    server, web, tmp_path
) -> None:
    events = await research_events(server, tmp_path)
    view = LiveView(new_record())
    view.started()
    half = next(i for i, e in enumerate(events) if e.parent_call_id) + 3
    for e in events[:half]:
        view.event(e)
    view._flush(final=True)  # a card made mid-research catches up later
    for e in events[half:]:
        view.event(e)
    view._flush(final=True)

    blocks = [b for b in view._blocks if isinstance(b, ResearchBlock)]
    assert [b.card.tool_call_id for b in blocks] == ["ra", "rb"]
    assert not any(isinstance(b, CardBlock) for b in view._blocks)  # no flat research card
    alpha, beta = blocks
    # each card holds its own sub-agent's tool cards and text
    assert [b.card.tool for b in alpha.blocks if isinstance(b, CardBlock)] == ["web_search"]
    assert [b.card.tool for b in beta.blocks if isinstance(b, CardBlock)] == ["bash"]
    alpha_html = "".join(
        s.value for b in alpha.blocks if isinstance(b, StreamBlock) for s in b.segments
    )
    assert "Searching." in alpha_html and "<strong>beta 0.1</strong>" in alpha_html
    assert "Beta needs 2 epochs." not in alpha_html
    assert "failed" in beta.blocks[0].title.value  # the refused bash call
    # title: what was asked, its state, its own tool calls, tokens and cost
    title = alpha.title.value
    assert "research" in title and "alpha" in title and "· done" in title
    sub_tokens = alpha.card.sub.tokens
    assert sub_tokens == 10 + 5 + 300 + 40
    assert f"1 tool call · {sub_tokens:,} tokens · $" in title
    # the turn's footer counts every model call, the research ones included
    record = view.record
    assert record.tokens == sum(
        e.prompt_tokens + e.completion_tokens for e in events if e.type == "llm_call"
    )
    assert record.tokens > alpha.card.sub.tokens + beta.card.sub.tokens
    # the main conversation's text is not mixed into the cards
    top_text = record.text()
    assert "Let me research both." in top_text and "Both answered." in top_text
    assert "Searching." not in top_text and REPORT_A not in top_text

    assert alpha.widget.children == (alpha.head, alpha.inner, alpha.failure)
    alpha._on_toggle(alpha.toggle)
    assert alpha.widget.children == (alpha.head, alpha.failure)
    assert alpha.toggle.description == "expand"
    alpha._on_toggle(alpha.toggle)
    assert alpha.inner in alpha.widget.children
    # everything it made is closed with the view
    ids = {id(w) for w in view._all_widgets()}
    assert all(id(w) in ids for b in blocks for w in b.all_widgets())
    view.finished("done")


async def test_transcript_keeps_the_nested_research(server, web, tmp_path) -> None:
    events = await research_events(server, tmp_path)
    record = new_record()
    record.start(events[0].timestamp)
    for e in events:
        record.apply(e)
    t = Transcript(record)
    html = t.html()
    assert html.count('mlij-research"><details><summary>') == 2
    inner = html.split('mlij-research"><details>')
    assert "web_search" in inner[1] and "Searching." in inner[1] and "beta 0.1" in inner[1]
    assert "bash" in inner[2] and "Beta needs 2 epochs." in inner[2]
    md = t.markdown()
    assert "> **research** `alpha` — done\n> *1 tool call · 355 tokens · $0.4000 · " in md
    assert "> > **web_search** `alpha` — done" in md
    assert "> ## Answer\n> Alpha uses **beta 0.1**." in md
    plain = t.plain()
    assert "[research] beta — done\n    1 tool call · 245 tokens · $0.2800 · " in plain
    assert "    | [bash] pip list — failed" in plain
    assert "    | ## Answer\n    | Beta needs 2 epochs." in plain


async def test_text_mode_shows_research_steps_as_indented_lines(server, web, tmp_path) -> None:
    events = await research_events(server, tmp_path)
    shown: list[str] = []
    renderer = TextRenderer(new_record(), live=False, show=shown.append, show_image=lambda b: None)
    renderer.handle("started", None)
    for e in events:
        renderer.handle("event", e)
    renderer.handle("finished", "done")
    text = "\n".join(shown)
    assert "↳ *research #1* → **web_search** `alpha`" in text
    assert "↳ *research #2* → **bash** `pip list`" in text
    assert "↳ *research #2* ← **bash** failed" in text
    assert "↳ *research #1*: Searching." in text
    out = next(s for s in shown if s.startswith("← **research** done"))
    assert "1 tool call" in out and "tokens" in out and "Alpha uses" in out
    # sub-agent text never goes through the top-level stream
    assert not any(s == "Searching." for s in shown)

"""Reasoning in the live view (collapsed, opens on a click) and in the static
transcript; prompt-cache tokens in the footer. Real Session, in-process widgets."""

from __future__ import annotations

from ml_intern_jupyter.notebook.render.transcript import Reasoning, Transcript, TurnRecord
from ml_intern_jupyter.notebook.view.live import LiveView
from ml_intern_jupyter.notebook.view.parts import ReasoningBlock
from tests.agent_harness import make_session, run_input
from tests.fakes.llm_server import FakeLLMServer, Reply

THOUGHT = "The user wants a greeting. I will say hello politely."


async def _run(tmp_path, reply):
    with FakeLLMServer() as server:
        server.script(reply)
        session, rec = make_session(server, tmp_path)
        record = TurnRecord(session_name="work", session_id=session.id, model="m")
        view = LiveView(record)
        session.subscribe(view.event)
        await run_input(session, "greet me")
        view._flush(final=True)
        return view, record, rec


async def test_streamed_reasoning_shows_collapsed_and_opens_on_a_click(tmp_path):
    view, record, rec = await _run(
        tmp_path, Reply(content="Hello!", reasoning=THOUGHT, chunk_size=7)
    )
    assert len(rec.of("assistant_reasoning")) > 1  # it streamed in pieces
    reasoning = [i for i in record.items if isinstance(i, Reasoning)]
    assert [r.text for r in reasoning] == [THOUGHT] and not reasoning[0].streaming
    block = next(b for b in view._blocks if isinstance(b, ReasoningBlock))
    assert block.toggle.description == "▸ Reasoning (10 words)"
    assert block.body.value == ""  # collapsed: the text is not sent until opened
    block.toggle.click()
    assert "politely" in block.body.value and block.toggle.description.startswith("▾")
    block.toggle.click()
    assert block.body.value == ""
    # The answer is still shown as text after the reasoning.
    assert record.text() == "Hello!"


async def test_the_saved_transcript_keeps_reasoning_folded(tmp_path):
    _view, record, _rec = await _run(tmp_path, Reply(content="Hello!", reasoning=THOUGHT))
    html = Transcript(record).html()
    assert "<details" in html and "Reasoning (10 words)</summary>" in html and "politely" in html
    assert "[Reasoning (10 words)]" in Transcript(record).plain()


async def test_footer_shows_cached_prompt_tokens(tmp_path):
    reply = Reply(
        content="Hi",
        usage=(1000, 20),
        usage_extra={"prompt_tokens_details": {"cached_tokens": 800}},
    )
    view, record, rec = await _run(tmp_path, reply)
    assert rec.of("llm_call")[0].cache_read_tokens == 800
    assert "1,020 tokens (800 cached)" in view.footer.value
    assert "(800 cached)" in record.footer()


async def test_reasoning_of_a_dropped_attempt_is_not_merged_into_the_retry(tmp_path):
    with FakeLLMServer() as server:
        server.script(
            Reply(
                reasoning="first try thoughts",
                content="x" * 40,
                chunk_size=4,
                disconnect_after_chunks=2,
            ),
            Reply(reasoning="second try", content="Done."),
        )
        session, rec = make_session(server, tmp_path)
        record = TurnRecord(session_name="work", session_id=session.id, model="m")
        session.subscribe(record.apply)
        await run_input(session, "go")
    texts = [i.text for i in record.items if isinstance(i, Reasoning)]
    assert texts[-1] == "second try" and all("second" not in t for t in texts[:-1])
    assert rec.of("turn_complete")[0].final_response == "Done."

"""What other threads see of a session: frozen snapshots published by the session,
the commands that print them, and the restart seed handled in the session's queue."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.persistence import Recorder as StoreRecorder
from ml_intern_jupyter.agent.restore import RESTART_NOTE
from ml_intern_jupyter.notebook.commands import run as commands
from ml_intern_jupyter.notebook.conductor.gate import CATCH_UP, Offer, Previous, seed_gate
from ml_intern_jupyter.notebook.conductor.turns import Conductor, Request
from ml_intern_jupyter.notebook.view import model_picker as picker
from ml_intern_jupyter.store import SessionRecord, SqliteStore
from tests.agent_harness import make_session, run_input
from tests.fakes.llm_server import ErrorReply, FakeLLMServer, Reply
from tests.unit.test_turns import LoopRuntime, Sink, until


async def test_a_snapshot_never_changes_and_the_next_one_shows_the_operation(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(content="hello", usage=(120, 7)))
    session, _rec = make_session(fake_llm, tmp_path)
    before = session.describe()
    assert before.state == "idle" and before.totals.tokens == 0 and before.messages == 1
    await run_input(session, "hi")
    after = session.describe()
    # the earlier snapshot is untouched by the turn, and cannot be changed
    assert before.totals.tokens == 0 and before.totals.turns == 0 and before.messages == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.totals.prompt_tokens = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        after.totals.by_day["2000-01-01"] = 1.0  # type: ignore[index]
    assert after is not before and after.seq > before.seq
    assert after.totals.tokens == 127 and after.totals.turns == 1 and after.messages == 3
    assert after.title == "hi" and after.state == "idle"
    # a change the session has not published yet is not seen
    session.totals.prompt_tokens += 1000
    assert session.describe() is after
    session.submit(ev.Configure(settings={"reasoning_effort": "low", "yolo_mode": True}))
    await session.wait_idle()
    changed = session.describe()
    assert changed.effort == "low" and changed.yolo and not after.yolo
    assert changed.totals.prompt_tokens == 1120  # published with the operation's end


def _sessions(conductor: Any) -> Any:
    return SimpleNamespace(
        get=lambda name: conductor,
        items=lambda: [("work", conductor)],
        saving=SimpleNamespace(get=lambda config: None, why_not=lambda config: "no store here"),
        notebook=lambda: "nb.ipynb",
        shell=None,
    )


async def test_the_commands_print_the_snapshot(
    fake_llm: FakeLLMServer, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    fake_llm.script(Reply(content="ok", usage=(1000, 10)))
    session, _rec = make_session(fake_llm, tmp_path, spend_pause_usd=3.0)
    await run_input(session, "hi")
    session.submit(ev.Configure(settings={"yolo_mode": True, "reasoning_effort": "medium"}))
    await session.wait_idle()
    # live state the session has not published: the commands must not show it
    session.totals.prompt_tokens = 99_999
    session.policy.yolo = False
    sessions = _sessions(SimpleNamespace(session=session, queued=0))
    monkeypatch.setattr(picker, "load", lambda _s: (None, "offline"))

    commands._cost(sessions, "work", [])
    commands._model(sessions, "work", [])
    commands._yolo(sessions, "work", [])
    commands._effort(sessions, "work", [])
    print(commands._describe("work", SimpleNamespace(session=session, queued=0)))
    out = capsys.readouterr().out
    assert "Session 'work': 1,010 tokens (prompt 1,000, completion 10) in 1 model call(s)" in out
    assert "Next spend pause at $3.00 of session spend." in out
    assert "Model: vllm/test-model\n" in out
    assert "Yolo (auto-approve tool calls): on" in out
    assert "Reasoning effort: medium" in out
    assert f"session work ({session.id}) · model vllm/test-model · effort medium · yolo on" in out
    assert "99,999" not in out


OLD = [
    {"role": "system", "content": "old prompt"},
    {"role": "user", "content": "train a classifier", "_ts": 1.0},
    {"role": "assistant", "content": "Trained: 91% accuracy."},
]


async def test_a_request_sent_right_after_the_choice_runs_after_the_seed(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(
        Reply(content="I trained a classifier to 91%.", delay=0.2),  # the summary
        Reply(content="Carrying on."),
    )
    store = SqliteStore.open(tmp_path / "home")
    store.create_session(SessionRecord(id="old1", title="Classifier"))
    store.append_messages("old1", 0, 0, OLD)
    session, rec = make_session(fake_llm, tmp_path)
    session.recorder = StoreRecorder(store, notebook="nb.ipynb")
    conductor = Conductor(LoopRuntime(session), session, "default").attach()
    offer = Offer(Previous(store.get_session("old1"), OLD, store))  # type: ignore[arg-type]
    gate_sink = SeedSink()
    conductor.enqueue(seed_gate(conductor, offer, gate_sink))
    await until(lambda: "session_expired" in gate_sink.log)
    offer.choose(CATCH_UP)
    request = Request("turn", ev.UserInput(text="carry on"), Sink())
    conductor.enqueue(request)  # at once: it waits behind the gate, then the session's queue
    await asyncio.wait_for(request.sink.done.wait(), 10)
    assert request.sink.outcome == "done"
    started = [e.op_id for e in rec.of("op_started")]
    seeds = [e.op_id for e in rec.of("op_queued") if e.op_type == "seed"]
    assert len(seeds) == 1 and started == [seeds[0], request.op.id]
    # the turn's model call already had the summary in its history
    sent = fake_llm.requests[1].body["messages"]
    assert "I trained a classifier to 91%." in sent[1]["content"]
    assert RESTART_NOTE in sent[1]["content"] and sent[-1]["content"] == "carry on"
    assert gate_sink.outcome == "done" and any("Caught up" in p for p in gate_sink.progressed)
    # the session recorded where it came from (the notebook wrote nothing into it)
    await session.flush_events()
    record = store.get_session(session.id)
    assert record is not None and record.parent_id == "old1" and record.title == "Classifier"


async def test_a_failed_catch_up_saves_nothing_and_fails_the_waiting_request(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(ErrorReply(status=404, message="no such model"))
    store = SqliteStore.open(tmp_path / "home")
    store.create_session(SessionRecord(id="old1", title="Classifier"))
    session, _rec = make_session(fake_llm, tmp_path)
    session.recorder = StoreRecorder(store, notebook="nb.ipynb")
    conductor = Conductor(LoopRuntime(session), session, "default").attach()
    offer = Offer(Previous(store.get_session("old1"), OLD, store), CATCH_UP)  # type: ignore[arg-type]
    gate_sink = SeedSink()
    conductor.enqueue(seed_gate(conductor, offer, gate_sink))
    request = Request("turn", ev.UserInput(text="carry on"), Sink())
    conductor.enqueue(request)
    await asyncio.wait_for(request.sink.done.wait(), 10)
    assert gate_sink.outcome == "error" and request.sink.outcome == "error"
    assert any(p.startswith("Could not catch up on") for p in gate_sink.progressed)
    await session.wait_idle()
    assert session.state == "ended" and store.get_session(session.id) is None


class SeedSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.progressed: list[str] = []

    def progress(self, text: str, kind: str = "info") -> None:
        self.progressed.append(text)

    def working(self, state: str) -> None:
        pass


def test_frozen_totals_mirror_every_field_of_the_live_totals() -> None:
    import dataclasses

    from ml_intern_jupyter.agent.session import Totals
    from ml_intern_jupyter.agent.snapshot import FrozenTotals

    live = Totals(llm_calls=3, prompt_tokens=10, cost_usd=0.5, by_day={"2026-12-03": 0.5})
    assert [f.name for f in dataclasses.fields(FrozenTotals)] == [
        f.name for f in dataclasses.fields(Totals)
    ]
    frozen = FrozenTotals.of(live)
    live.by_day["2026-12-03"] = 9.0
    live.llm_calls = 4
    assert frozen.llm_calls == 3 and frozen.by_day == {"2026-12-03": 0.5}
    assert frozen.tokens == 10

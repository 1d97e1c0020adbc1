"""The conductor routes a real session's events to requests by operation id:
queueing in the session, abandon on new input, approvals, stop, text-mode
rejects, per-turn overrides, settings that wait for the turn's end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.session import Session
from ml_intern_jupyter.notebook.conductor.turns import Conductor, Request
from ml_intern_jupyter.tools.base import Approval
from tests.agent_harness import make_session, tool
from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall


class LoopRuntime:
    """What the conductor needs of `Runtime`, on the test's own loop."""

    def __init__(self, session: Session):
        self.session = session

    def subscribe(self, _session_id: str, callback: Any) -> Any:
        return self.session.subscribe(callback)


class Sink:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.done = asyncio.Event()

    def queued(self) -> None:
        self.log.append("queued")

    def started(self) -> None:
        self.log.append("started")

    def event(self, e: Any) -> None:
        self.log.append(e.type)

    def finished(self, outcome: str) -> None:
        self.log.append(f"finished:{outcome}")
        self.done.set()

    @property
    def outcome(self) -> str | None:
        ends = [x for x in self.log if x.startswith("finished:")]
        return ends[-1].split(":", 1)[1] if ends else None


def asks(name: str = "risky") -> Any:
    return tool(name, lambda a: f"{name} ran", approval=Approval.ASK)


def setup(server: FakeLLMServer, tmp_path: Path, **kw: Any) -> tuple[Conductor, Session]:
    session, _rec = make_session(server, tmp_path, tools=[asks()], **kw)
    return Conductor(LoopRuntime(session), session, "default").attach(), session


def turn(text: str, **kw: Any) -> Request:
    return Request("turn", ev.UserInput(text=text), Sink(), **kw)


async def until(predicate: Any, timeout: float = 10) -> None:
    async def wait() -> None:
        while not predicate():  # noqa: ASYNC110 - polls state no event announces
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), timeout)


async def test_a_second_turn_queues_in_the_session_and_each_sink_gets_its_own_events(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(content="first", delay=0.05), Reply(content="second"))
    c, session = setup(fake_llm, tmp_path)
    a, b = turn("a"), turn("b")
    c.enqueue(a)
    c.enqueue(b)
    assert b.sink.log == ["queued"] and c.busy and c.queued == 1
    await asyncio.wait_for(b.sink.done.wait(), 10)
    assert a.sink.log[0] == "started" and a.sink.outcome == "done"
    assert b.sink.log[:2] == ["queued", "started"] and b.sink.outcome == "done"
    # every assistant chunk went to the request whose operation produced it
    assert "turn_complete" in a.sink.log and "turn_complete" in b.sink.log
    assert not c.busy and c.routes == {} and c.live == []


async def test_new_input_abandons_a_paused_turn_and_its_late_notices_are_dropped(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(tool_calls=[ToolCall("risky", {})]), Reply(content="moved on"))
    c, session = setup(fake_llm, tmp_path)
    a = turn("a")
    c.enqueue(a)
    await until(lambda: c.paused)
    assert not c.busy and "approval_required" in a.sink.log
    b = turn("b")
    c.enqueue(b)
    assert a.sink.outcome == "abandoned"
    await asyncio.wait_for(b.sink.done.wait(), 10)
    # The session closed the pending call under the paused turn's operation id:
    # b's sink never sees it.
    assert "tool_state_change" not in b.sink.log and "tool_output" not in b.sink.log
    assert b.sink.outcome == "done"
    assert session.history.messages[-1]["content"] == "moved on"


async def test_a_turn_queued_before_the_pause_waits_for_the_decision(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(
        Reply(tool_calls=[ToolCall("risky", {})], delay=0.05),
        Reply(content="approved and done"),
        Reply(content="second turn"),
    )
    c, session = setup(fake_llm, tmp_path)
    a, b = turn("a"), turn("b")
    c.enqueue(a)
    c.enqueue(b)  # submitted while a runs, before it pauses
    await until(lambda: c.paused)
    await asyncio.sleep(0.05)
    assert b.sink.log == ["queued"], "b must not abandon a's pending call"
    assert session.pending
    decision = ev.ApprovalDecision(tool_call_id=session.pending[0].tool_call_id, approved=True)
    assert c.decide(a, [decision])
    assert not c.decide(a, [decision]), "a second click does nothing"
    await asyncio.wait_for(b.sink.done.wait(), 10)
    assert a.sink.outcome == "done" and b.sink.outcome == "done"
    outputs = [m for m in session.history.messages if m.get("role") == "tool"]
    assert outputs and outputs[0]["content"] == "risky ran"


async def test_stop_withdraws_a_queued_turn_and_interrupts_the_running_one(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(content="slow " * 200, chunk_size=2, delay=0.01), Reply(content="b"))
    c, session = setup(fake_llm, tmp_path)
    a, b = turn("a"), turn("b")
    c.enqueue(a)
    c.enqueue(b)
    c.stop(b)
    await asyncio.wait_for(b.sink.done.wait(), 5)
    assert b.sink.log == ["queued", "finished:interrupted"]
    await until(lambda: "assistant_chunk" in a.sink.log)
    c.stop(a)
    await asyncio.wait_for(a.sink.done.wait(), 5)
    assert a.sink.outcome == "interrupted"
    await session.wait_idle()
    assert len(fake_llm.requests) == 1, "the withdrawn turn never reached the model"
    assert not c.busy


async def test_stop_while_paused_ends_the_turn(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.script(Reply(tool_calls=[ToolCall("risky", {})]))
    c, session = setup(fake_llm, tmp_path)
    a = turn("a")
    c.enqueue(a)
    await until(lambda: c.paused)
    c.stop(a)
    await asyncio.wait_for(a.sink.done.wait(), 5)
    assert a.sink.outcome == "interrupted" and not session.pending


async def test_text_mode_rejects_every_approval_with_feedback(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(tool_calls=[ToolCall("risky", {})]), Reply(content="ok, not run"))
    c, session = setup(fake_llm, tmp_path)
    a = turn("a", auto_reject="cannot click")
    c.enqueue(a)
    await asyncio.wait_for(a.sink.done.wait(), 10)
    assert a.sink.outcome == "done"
    result = next(m for m in session.history.messages if m.get("role") == "tool")
    assert "cannot click" in result["content"]


async def test_model_and_yolo_overrides_apply_at_the_turn_start_and_yolo_is_restored(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(tool_calls=[ToolCall("risky", {})]), Reply(content="done"))
    c, session = setup(fake_llm, tmp_path)
    a = Request("turn", ev.UserInput(text="a", model="vllm/other-model", yolo=True), Sink())
    c.enqueue(a)
    await asyncio.wait_for(a.sink.done.wait(), 10)
    assert "approval_required" not in a.sink.log, "yolo ran the call without asking"
    assert fake_llm.requests[0].body["model"] == "other-model"
    assert session.config.model_name == "vllm/other-model", "the model stays"
    assert not session.policy.yolo, "yolo was for that turn only"


async def test_a_model_change_during_a_turn_takes_effect_at_the_next_turn(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(
        Reply(tool_calls=[ToolCall("risky", {})]),
        Reply(content="still the first model"),
        Reply(content="the second model"),
    )
    c, session = setup(fake_llm, tmp_path)
    a = turn("a")
    c.enqueue(a)
    await until(lambda: c.paused)
    # `%intern model X` while the turn waits for approval: a configure operation
    session.submit(ev.Configure(settings={"model_name": "vllm/next-model"}))
    await asyncio.sleep(0.05)
    assert session.config.model_name == "vllm/test-model", "not mid-turn"
    decision = ev.ApprovalDecision(tool_call_id=session.pending[0].tool_call_id, approved=True)
    c.decide(a, [decision])
    await asyncio.wait_for(a.sink.done.wait(), 10)
    b = turn("b")
    c.enqueue(b)
    await asyncio.wait_for(b.sink.done.wait(), 10)
    models = [r.body["model"] for r in fake_llm.requests]
    assert models == ["test-model", "test-model", "next-model"]


async def test_an_invalid_setting_is_reported_and_changes_nothing(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    c, session = setup(fake_llm, tmp_path)
    seen: list[ev.Event] = []
    session.subscribe(seen.append)
    op = ev.Configure(settings={"max_iterations": "many"})
    session.submit(op)
    await session.wait_idle()
    await session.flush_events()
    errors = [e for e in seen if e.type == "error" and e.op_id == op.id]
    assert errors and "max_iterations" in errors[0].error
    done = [e for e in seen if e.type == "op_done" and e.op_id == op.id]
    assert done and done[0].outcome == "error"


async def test_every_event_carries_its_operation_id(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(content="hello"))
    _c, session = setup(fake_llm, tmp_path)
    seen: list[ev.Event] = []
    session.subscribe(seen.append)
    op = ev.UserInput(text="hi")
    session.submit(op)
    await session.wait_idle()
    await session.flush_events()
    types = [e.type for e in seen if e.op_id == op.id]
    assert types[0] == "op_queued" and types[1] == "op_started" and types[-1] == "op_done"
    assert "assistant_chunk" in types and "turn_complete" in types
    assert all(e.op_id == op.id for e in seen if e.type != "ready")


async def test_shutdown_ends_everything_and_closes(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.script(Reply(content="slow " * 100, chunk_size=2, delay=0.01))
    c, session = setup(fake_llm, tmp_path)
    a, b = turn("a"), turn("b")
    c.enqueue(a)
    c.enqueue(b)
    await until(lambda: "assistant_chunk" in a.sink.log)
    session.submit(ev.Shutdown())
    await asyncio.wait_for(b.sink.done.wait(), 5)
    await asyncio.wait_for(a.sink.done.wait(), 5)
    assert a.sink.outcome == "interrupted"
    assert b.sink.outcome == "done", "queued before the shutdown: it still runs, in order"
    assert c.closed
    late = turn("c")
    c.enqueue(late)
    assert late.sink.log == ["error", "finished:error"]


async def test_a_request_on_its_way_to_the_loop_already_counts_as_busy(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    # The cell hands its request to the intern loop and returns; a `%intern wait`
    # in the next cell must wait for it even if the loop has not run the hand-over.
    fake_llm.script(Reply(content="done"))
    c, _session = setup(fake_llm, tmp_path)
    assert not c.busy
    request = turn("a")
    c.expect()  # the cell's side, before the loop's `enqueue`
    assert c.busy and not c.wait_idle(0.05)
    await asyncio.sleep(0.05)
    assert c.busy, "idle before the request even reached the conductor"
    c.enqueue(request)
    await asyncio.wait_for(request.sink.done.wait(), 10)
    await until(lambda: not c.busy)
    assert request.sink.outcome == "done"

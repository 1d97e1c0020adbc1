"""The conductor: one request in flight, queueing, abandon on new input, stop, text-mode rejects."""

from __future__ import annotations

from typing import Any

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.config import Config
from ml_intern_jupyter.notebook.turns import Conductor, Job


class FakeSession:
    def __init__(self) -> None:
        self.id = "s1"
        self.submitted: list[Any] = []
        self.config = Config(model_name="vllm/a")

        class Policy:
            yolo = False

        self.policy = Policy()

    def submit(self, op: Any) -> None:
        self.submitted.append(op)

    def update_config(self, **kw: Any) -> None:
        self.config = self.config.with_overrides(**kw)
        self.policy.yolo = self.config.yolo_mode


class FakeRuntime:
    def subscribe(self, _session_id: str, callback: Any) -> Any:
        self.callback = callback
        return lambda: None


class Sink:
    def __init__(self) -> None:
        self.log: list[str] = []

    def queued(self) -> None:
        self.log.append("queued")

    def started(self) -> None:
        self.log.append("started")

    def event(self, e: Any) -> None:
        self.log.append(e.type)

    def finished(self, outcome: str) -> None:
        self.log.append(f"finished:{outcome}")


def setup() -> tuple[Conductor, FakeSession]:
    session = FakeSession()
    return Conductor(FakeRuntime(), session, "default").attach(), session


def turn(text: str, **kw: Any) -> Job:
    return Job("turn", ev.UserInput(text=text), Sink(), **kw)


def pending(call_id: str = "c1") -> ev.ApprovalRequired:
    return ev.ApprovalRequired(
        tools=[ev.PendingCall(tool="bash", arguments={}, tool_call_id=call_id)], count=1
    )


def test_one_turn_at_a_time_the_next_is_queued() -> None:
    c, s = setup()
    a, b = turn("a"), turn("b")
    c.enqueue(a)
    c.enqueue(b)
    assert [op.text for op in s.submitted] == ["a"]
    assert b.sink.log == ["queued"] and c.busy
    c._on_event(ev.AssistantChunk(content="hi"))
    c._on_event(ev.TurnComplete(final_response="hi"))
    assert a.sink.log == ["started", "assistant_chunk", "turn_complete", "finished:done"]
    assert [op.text for op in s.submitted] == ["a", "b"]
    assert b.sink.log == ["queued", "started"]
    c._on_event(ev.Error(error="boom"))
    assert b.sink.log[-1] == "finished:error" and not c.busy


def test_new_input_abandons_a_paused_turn_and_drops_its_late_notices() -> None:
    c, s = setup()
    a, b = turn("a"), turn("b")
    c.enqueue(a)
    c._on_event(ev.ToolCallEvent(tool="bash", arguments={}, tool_call_id="c1"))
    c._on_event(pending("c1"))
    assert c.paused and not c.busy
    c.enqueue(b)
    assert a.sink.log[-1] == "finished:abandoned"
    assert [op.text for op in s.submitted] == ["a", "b"]
    # The session then reports the abandoned call: not b's business.
    c._on_event(ev.ToolStateChange(tool_call_id="c1", tool="bash", state="abandoned"))
    c._on_event(ev.Processing())
    assert b.sink.log == ["started", "processing"]


def test_approval_decisions_resume_only_the_paused_turn() -> None:
    c, s = setup()
    a = turn("a")
    c.enqueue(a)
    c._on_event(pending())
    decision = ev.ApprovalDecision(tool_call_id="c1", approved=True)
    assert c.decide(a, [decision])
    assert isinstance(s.submitted[-1], ev.ExecApproval)
    assert not c.decide(a, [decision]), "a second click does nothing"
    assert c.busy


def test_stop_drops_a_queued_turn_and_interrupts_the_running_one() -> None:
    c, s = setup()
    a, b = turn("a"), turn("b")
    c.enqueue(a)
    c.enqueue(b)
    c.stop(b)
    assert b.sink.log == ["queued", "finished:cancelled"]
    c.stop(a)
    assert isinstance(s.submitted[-1], ev.Interrupt)
    c._on_event(ev.Interrupted())
    assert a.sink.log[-1] == "finished:interrupted"
    assert len(s.submitted) == 2 and not c.busy


def test_text_mode_rejects_every_approval_with_feedback() -> None:
    c, s = setup()
    a = turn("a", auto_reject="cannot click")
    c.enqueue(a)
    c._on_event(pending("c9"))
    op = s.submitted[-1]
    assert isinstance(op, ev.ExecApproval)
    assert op.approvals[0].tool_call_id == "c9"
    assert not op.approvals[0].approved and op.approvals[0].feedback == "cannot click"


def test_model_and_yolo_flags_apply_when_the_turn_starts_and_yolo_is_restored() -> None:
    c, s = setup()
    a = turn("a", model="vllm/b", yolo=True)
    c.enqueue(a)
    assert s.config.model_name == "vllm/b" and s.policy.yolo
    c._on_event(ev.TurnComplete(final_response=""))
    assert s.config.model_name == "vllm/b", "the model stays"
    assert not s.policy.yolo, "yolo was for that turn only"


def test_shutdown_ends_everything_and_closes() -> None:
    c, _s = setup()
    a, b = turn("a"), turn("b")
    c.enqueue(a)
    c.enqueue(b)
    c._on_event(ev.Interrupted())
    c._on_event(ev.ShutdownEvent())
    assert b.sink.log[-1] == "finished:interrupted"
    assert c.closed
    late = turn("c")
    c.enqueue(late)
    assert late.sink.log == ["error", "finished:error"]

"""The vocabulary between a session and the outside world.

Operations go in (cell -> session); events come out (session -> subscribers).
Every operation has an `id`. Every event carries `session_id`, a per-session
increasing `seq`, a `timestamp`, and `op_id`: the id of the operation the
session was handling when it emitted the event (as a Jupyter reply carries
its request's id in `parent_header`); "" for events outside any operation.
Around each operation the session emits `op_queued`, `op_started` and
`op_done{outcome}`.

Events of a `research` sub-agent reach the same subscribers, emitted under
the parent's operation, with `parent_call_id` set to the id of the
`research` tool call they belong to ("" for the session's own events), so a
view can nest them under that call's card.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .states import ErrorKind, LLMCallKind, PendingKind

# ---------------------------------------------------------------- operations

# How an operation ended. "paused": a turn waits for an approval decision
# (an exec_approval operation continues it); "refused": the session had shut
# down, or the operation does not apply.
Outcome = Literal["done", "error", "interrupted", "paused", "refused"]


def _new_op_id() -> str:
    return uuid.uuid4().hex


class _Op(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=_new_op_id)


class UserInput(_Op):
    type: Literal["user_input"] = "user_input"
    text: str
    # Per-turn overrides, applied in queue order when the turn starts:
    # `model` and `reasoning_effort` switch the session's setting from this
    # turn on; `yolo` holds for this turn only.
    model: str | None = None
    reasoning_effort: str | None = None
    yolo: bool | None = None


class ApprovalDecision(BaseModel):
    tool_call_id: str
    approved: bool
    feedback: str | None = None
    edited_args: dict[str, Any] | None = None
    # "Always allow this tool in this session" was ticked.
    always_allow: bool = False


class ExecApproval(_Op):
    type: Literal["exec_approval"] = "exec_approval"
    approvals: list[ApprovalDecision]


class Interrupt(_Op):
    type: Literal["interrupt"] = "interrupt"


class Undo(_Op):
    type: Literal["undo"] = "undo"


class Compact(_Op):
    type: Literal["compact"] = "compact"


class New(_Op):
    type: Literal["new"] = "new"


class Shutdown(_Op):
    type: Literal["shutdown"] = "shutdown"
    # False: the session drops its recorder when it receives this, so nothing
    # more of it is saved (a session that was never seeded after a restart).
    save: bool = True


class Configure(_Op):
    """Change per-session settings (validated config fields), in queue order.

    They take effect at the next turn: never in the middle of one (a turn
    paused for approval counts as running; the change waits for its end)."""

    type: Literal["configure"] = "configure"
    settings: dict[str, Any]


class Seed(_Op):
    """Continue a saved session in this new one (after a kernel restart), in queue order.

    `mode` "full" loads `messages` verbatim; "catch_up" seeds the session with
    the model's summary of them. The session records `parent_id` and `title`
    in its recorder. A catch-up that fails or is interrupted leaves the session
    unsaved (it drops its recorder); `seeded` reports success."""

    type: Literal["seed"] = "seed"
    mode: Literal["full", "catch_up"]
    messages: list[dict[str, Any]]
    parent_id: str = ""
    title: str = ""


Operation = Annotated[
    UserInput | ExecApproval | Interrupt | Undo | Compact | New | Shutdown | Configure | Seed,
    Field(discriminator="type"),
]
operation_adapter: TypeAdapter[Operation] = TypeAdapter(Operation)

# -------------------------------------------------------------------- events


class Event(BaseModel):
    type: str
    session_id: str = ""
    seq: int = 0
    timestamp: float = Field(default_factory=time.time)
    op_id: str = ""
    # The `research` tool call whose sub-agent emitted this event ("": the session's own).
    parent_call_id: str = ""


class OpQueued(Event):
    type: Literal["op_queued"] = "op_queued"
    op_type: str


class OpStarted(Event):
    type: Literal["op_started"] = "op_started"
    op_type: str


class OpDone(Event):
    type: Literal["op_done"] = "op_done"
    op_type: str
    outcome: Outcome


class Ready(Event):
    type: Literal["ready"] = "ready"


class Processing(Event):
    type: Literal["processing"] = "processing"


class AssistantChunk(Event):
    type: Literal["assistant_chunk"] = "assistant_chunk"
    content: str


class AssistantReasoning(Event):
    """A piece of the model's reasoning, streamed before (or between) its text."""

    type: Literal["assistant_reasoning"] = "assistant_reasoning"
    content: str


class AssistantStreamEnd(Event):
    type: Literal["assistant_stream_end"] = "assistant_stream_end"


class AssistantMessage(Event):
    type: Literal["assistant_message"] = "assistant_message"
    content: str


class ToolCallEvent(Event):
    type: Literal["tool_call"] = "tool_call"
    tool: str
    arguments: dict[str, Any]
    tool_call_id: str


class ToolOutput(Event):
    type: Literal["tool_output"] = "tool_output"
    tool: str
    tool_call_id: str
    output: str
    success: bool
    display: dict[str, Any] | None = None


class ToolLog(Event):
    type: Literal["tool_log"] = "tool_log"
    tool: str
    log: str
    tool_call_id: str | None = None


class ToolStateChange(Event):
    type: Literal["tool_state_change"] = "tool_state_change"
    tool_call_id: str
    tool: str
    # a ToolCallState, or (for a job tool) its job's stage.
    state: str


# The `tool` of a spend pause's pending entry (no tool of that name exists).
SPEND_PAUSE_TOOL = "spend_pause"


class PendingCall(BaseModel):
    tool: str
    arguments: dict[str, Any]
    tool_call_id: str
    reason: str | None = None
    estimated_cost_usd: float | None = None
    always_allowable: bool = False
    # "tool", or "spend": a spend pause (arguments: spent_usd, inference_usd,
    # jobs_usd, threshold_usd, next_pause_usd); approving it goes on, rejecting
    # it ends the turn.
    kind: PendingKind = "tool"


class ApprovalRequired(Event):
    type: Literal["approval_required"] = "approval_required"
    tools: list[PendingCall]
    count: int


class PlanUpdate(Event):
    type: Literal["plan_update"] = "plan_update"
    plan: list[dict[str, Any]]


class LLMCall(Event):
    type: Literal["llm_call"] = "llm_call"
    model: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    kind: LLMCallKind = "turn"
    cache_read_tokens: int = 0  # of prompt_tokens
    cache_write_tokens: int = 0


class Compacted(Event):
    type: Literal["compacted"] = "compacted"
    old_tokens: int
    new_tokens: int


class TurnComplete(Event):
    type: Literal["turn_complete"] = "turn_complete"
    final_response: str


class Interrupted(Event):
    type: Literal["interrupted"] = "interrupted"


class Error(Event):
    type: Literal["error"] = "error"
    error: str
    kind: ErrorKind = "internal"
    login_required: bool = False
    # True when the session cannot continue (e.g. compaction failed).
    fatal: bool = False


class UndoComplete(Event):
    type: Literal["undo_complete"] = "undo_complete"
    removed: int = 0


class SessionExpired(Event):
    type: Literal["session_expired"] = "session_expired"
    previous_session_id: str


class Seeded(Event):
    type: Literal["seeded"] = "seeded"
    mode: str  # "full" | "catch_up"
    messages: int  # in the history after seeding, the system prompt left out


class ShutdownEvent(Event):
    type: Literal["shutdown"] = "shutdown"


AnyEvent = Annotated[
    OpQueued
    | OpStarted
    | OpDone
    | Ready
    | Processing
    | AssistantChunk
    | AssistantReasoning
    | AssistantStreamEnd
    | AssistantMessage
    | ToolCallEvent
    | ToolOutput
    | ToolLog
    | ToolStateChange
    | ApprovalRequired
    | PlanUpdate
    | LLMCall
    | Compacted
    | TurnComplete
    | Interrupted
    | Error
    | UndoComplete
    | SessionExpired
    | Seeded
    | ShutdownEvent,
    Field(discriminator="type"),
]
event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)

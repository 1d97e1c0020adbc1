"""One conversation with the intern: its state, its events and its submission loop.

Operations are processed one at a time in submission order, so user inputs
sent while a turn runs are queued; this queue is the only one. Every event
emitted while an operation is handled carries its id (`op_id`), and the
session emits `op_queued`, `op_started` and `op_done{outcome}` around it, so
a subscriber can tell whose events are whose.

Two operations do not wait in the queue: `interrupt` cancels the running
turn at once, and anything submitted after `shutdown` is refused. A turn
paused for approval holds back the user inputs that were queued before it
paused (they wait for the decision, as the user expects); input submitted
after the pause abandons the pending calls. Settings (`configure`, and the
per-turn overrides of `user_input`) apply in queue order and never in the
middle of a turn. Events go to subscribers through one small queue each,
so a slow or failing subscriber never stalls the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..tools.base import ToolContext
from ..tools.mcp_client import McpConnections
from ..tools.router import ToolRouter
from . import messages as ev
from . import messaging
from .approvals import ApprovalPolicy
from .context import History
from .effort import EffortMemo
from .guards import DoomLoopGuard, MalformedStreak
from .llm import LLMClient
from .messaging import Notifier
from .persistence import Recorder
from .snapshot import STREAMING, SessionSnapshot, snapshot_of
from .states import RunState

__all__ = ["ParkedCall", "Session", "Subscriber", "Totals"]

log = logging.getLogger(__name__)

# Seconds after a session starts without a turn before its MCP servers connect anyway.
MCP_IDLE_START_S = 3.0

Subscriber = Callable[[ev.Event], "None | Awaitable[None]"]


@dataclass
class Totals:
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    turns: int = 0
    # `cost_usd` split by what spent it, and by local day ("YYYY-MM-DD").
    inference_usd: float = 0.0
    jobs_usd: float = 0.0
    by_day: dict[str, float] = field(default_factory=dict)
    cache_read_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens, written to it

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_cost(self, usd: float | None, *, inference: bool) -> None:
        """Count money spent by a model call (`inference`) or a tool (jobs)."""
        if not usd:
            return
        self.cost_usd += usd
        if inference:
            self.inference_usd += usd
        else:
            self.jobs_usd += usd
        day = time.strftime("%Y-%m-%d")
        self.by_day[day] = self.by_day.get(day, 0.0) + usd


@dataclass
class ParkedCall:
    """A parsed tool call (or a spend pause) parked until the user decides; the event
    carries it as `messages.PendingCall`."""

    tool_call_id: str
    tool: str
    arguments: dict[str, Any]
    reason: str | None = None
    estimated_cost_usd: float | None = None
    # "tool": a model's tool call; "spend": a spend pause (no tool call behind it,
    # so nothing of it goes into the history).
    kind: str = "tool"


# Events that decide how the operation emitting them ended (when no pause follows).
_OUTCOMES = {
    "turn_complete": "done",
    "error": "error",
    "interrupted": "interrupted",
}


@dataclass
class _Subscription:
    callback: Subscriber
    queue: asyncio.Queue[ev.Event | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    failures: int = 0


class Session:
    """Create on the loop that will run it, then `start()` it."""

    def __init__(
        self,
        config: Config,
        tools: ToolRouter,
        *,
        system_prompt: str,
        session_id: str | None = None,
        workdir: Path | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        llm_env: dict[str, str] | None = None,
    ):
        self.id = session_id or uuid.uuid4().hex[:12]
        self.config = config
        self.tools = tools
        self.workdir = Path(workdir or config.workdir or Path.cwd())
        self.history = History(system_prompt)
        self.totals = Totals()
        self.policy = ApprovalPolicy(
            yolo=config.yolo_mode,
            budget_usd=config.yolo_budget_usd,
            spend_pause_usd=config.spend_pause_usd or None,
        )
        self.plan: list[dict[str, Any]] = []
        self.pending: list[ParkedCall] = []
        self.read_files: dict[str, float] = {}
        self.state: RunState = "idle"
        self.doom = DoomLoopGuard()
        self.malformed = MalformedStreak()
        self.recorder: Recorder | None = None  # set to save the session to a store
        self.created = time.time()
        self._sleep = sleep
        self._llm_env = llm_env
        self.mcp = McpConnections(config)  # connects in the background: see start_mcp
        self._mcp_started = False
        self._mcp_timer: asyncio.TimerHandle | None = None
        # Outlives model switches; reads and writes the store once one is attached.
        self.effort_memo = EffortMemo(lambda: self.recorder.store if self.recorder else None)
        self.llm = LLMClient(
            config, self.id, sleep=sleep, env=llm_env, effort_memo=self.effort_memo
        )
        self.notifier: Notifier | None = None  # Slack / webhook notifications, if configured
        if messaging.active(config.messaging):
            self.notifier = Notifier(config.messaging, session_id=self.id)
            if self.notifier.tool_destinations() and tools.get("notify") is None:
                tools.register(messaging.notify_tool(self.notifier))
        self._seq = 0
        self._subs: list[_Subscription] = []
        self._queue: asyncio.Queue[ev.Operation] = asyncio.Queue()
        self._unfinished = 0  # operations submitted and not yet fully handled
        self._submitted = 0  # operations ever submitted (their order)
        self._order: dict[str, int] = {}  # op id -> submission order, while queued
        self._held: deque[ev.Operation] = deque()  # inputs waiting for a decision
        self._withdrawn: set[str] = set()  # queued, then taken back (until dequeued)
        self._paused_at = 0  # submission order of the pause, while one is pending
        self.paused_op_id = ""  # the operation whose turn waits for approval
        self._op: ev.Operation | None = None  # the operation being handled
        self._op_id = ""
        self._outcome: str | None = None
        self._deferred: dict[str, Any] = {}  # settings waiting for the turn to end
        self._turn_yolo = False  # yolo was switched on for the current turn only
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner: asyncio.Task[None] | None = None
        self._turn: asyncio.Task[None] | None = None
        self._interrupting = False
        self._closed = False
        self._first_title = ""  # from the first request, for snapshots
        # What other threads read (see snapshot.py); replaced after each change.
        self.snapshot: SessionSnapshot = self._snapshot()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"session-{self.id}"
            )
            if self.config.mcp_wait_s > 0:
                self.start_mcp()
            elif self.mcp.servers:
                self._mcp_timer = asyncio.get_running_loop().call_later(
                    MCP_IDLE_START_S, self.start_mcp
                )
            if self.notifier is not None:
                self.subscribe(self.notifier.on_event)
            self.emit(ev.Ready())

    @property
    def busy(self) -> bool:
        return self._unfinished > 0

    async def wait_idle(self) -> None:
        """Wait until every submitted operation has been handled."""
        await self._idle.wait()

    def update_config(self, **overrides: Any) -> None:
        """Change per-session settings (model, effort, yolo...); validated.

        Only between turns: from outside the session's loop, submit
        `Configure` instead, which applies in queue order."""
        previous = self.config
        self.config = self.config.with_overrides(**overrides)
        self.llm = LLMClient(
            self.config,
            self.id,
            sleep=self._sleep,
            env=self._llm_env,
            effort_memo=self.effort_memo,
        )
        self.policy.yolo = self.config.yolo_mode
        self.policy.budget_usd = self.config.yolo_budget_usd
        self.mcp.apply(self.config)
        if self.config.spend_pause_usd != previous.spend_pause_usd:
            self.policy.spend_pause_usd = self.config.spend_pause_usd or None
        self.snapshot = self._snapshot()

    # --------------------------------------------------------------- events

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        sub = _Subscription(callback)
        sub.task = asyncio.get_running_loop().create_task(self._deliver(sub))
        self._subs.append(sub)

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)
                sub.queue.put_nowait(None)

        return unsubscribe

    def emit(self, event: ev.Event) -> ev.Event:
        self._seq += 1
        if not event.op_id:
            event.op_id = self._op_id
        if event.type in ("assistant_chunk", "llm_call") and not event.parent_call_id:
            if not self._mcp_started:
                self.start_mcp()  # the first reply streams: MCP may connect now
            elif event.type == "llm_call" and self.mcp.servers:
                self._report_mcp_failures()  # failed since the last call: say so now
        if event.op_id == self._op_id and event.type in _OUTCOMES and not event.parent_call_id:
            self._outcome = _OUTCOMES[event.type]
        event.session_id = self.id
        event.seq = self._seq
        event.timestamp = time.time()
        if event.type not in STREAMING:
            self.snapshot = self._snapshot()
        for sub in self._subs:
            sub.queue.put_nowait(event)
        return event

    async def _deliver(self, sub: _Subscription) -> None:
        while True:
            event = await sub.queue.get()
            try:
                if event is None:
                    return
                result = sub.callback(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                sub.failures += 1
                if sub.failures <= 3:
                    log.exception(
                        "event subscriber %r failed on %s",
                        sub.callback,
                        getattr(event, "type", "?"),
                    )
            finally:
                sub.queue.task_done()

    async def flush_events(self) -> None:
        """Wait until every subscriber has received everything emitted so far."""
        await asyncio.gather(*(s.queue.join() for s in self._subs))

    # ----------------------------------------------------------- operations

    def submit(self, op: ev.Operation) -> None:
        """Queue an operation (call on the session's loop)."""
        self.emit(ev.OpQueued(op_id=op.id, op_type=op.type))
        if self._closed:
            self.emit(
                ev.Error(
                    error="This session has shut down; start a new one.",
                    kind="session",
                    op_id=op.id,
                )
            )
            self.emit(ev.OpDone(op_id=op.id, op_type=op.type, outcome="refused"))
            return
        if isinstance(op, ev.Interrupt) and self._turn is not None and not self._turn.done():
            # Not queued: the running turn is cancelled now, and reports it
            # under its own operation id.
            self.emit(ev.OpStarted(op_id=op.id, op_type=op.type))
            self._interrupting = True
            self._turn.cancel()
            self.emit(ev.OpDone(op_id=op.id, op_type=op.type, outcome="done"))
            return
        if isinstance(op, ev.Shutdown):
            self._closed = True
            if not op.save:
                self.recorder = None  # from now on nothing of this session is saved
            if self._turn is not None and not self._turn.done():
                self._interrupting = True
                self._turn.cancel()
        self._unfinished += 1
        self._submitted += 1
        self._order[op.id] = self._submitted
        self._idle.clear()
        self._queue.put_nowait(op)

    def withdraw(self, op_id: str) -> bool:
        """Take back a queued operation that has not started; False if it has."""
        held = next((op for op in self._held if op.id == op_id), None)
        if held is not None:
            self._held.remove(held)
        elif op_id not in self._order:
            return False
        self._order.pop(op_id, None)
        self._withdrawn.add(op_id)
        op_type = held.type if held is not None else "operation"
        self.emit(ev.OpDone(op_id=op_id, op_type=op_type, outcome="interrupted"))
        if held is not None:
            self._withdrawn.discard(op_id)
            self._unfinished -= 1
            self._update_idle()
        return True

    def _next_ready(self) -> ev.Operation | None:
        """An input held behind a pause, once the pause is over."""
        if self._held and not self.pending:
            return self._held.popleft()
        return None

    def _holds(self, op: ev.Operation) -> bool:
        """Input queued before the turn paused waits for the user's decision."""
        return (
            isinstance(op, ev.UserInput)
            and bool(self.pending)
            and self._order.get(op.id, 0) < self._paused_at
        )

    async def _run(self) -> None:
        while True:
            op = self._next_ready() or await self._queue.get()
            if op.id in self._withdrawn:
                self._withdrawn.discard(op.id)
                self._unfinished -= 1
                self._update_idle()
                continue
            if self._holds(op):
                self._held.append(op)
                self._update_idle()
                continue
            self._order.pop(op.id, None)
            self._op, self._op_id, self._outcome = op, op.id, None
            self.emit(ev.OpStarted(op_type=op.type))
            try:
                if isinstance(op, ev.Shutdown):
                    await self._shutdown()
                    return
                await self._handle(op)
            except Exception as exc:  # our bug: report it, keep the session alive
                log.exception("session %s failed handling %s", self.id, op.type)
                self.emit(
                    ev.Error(error=f"Internal error: {type(exc).__name__}: {exc}", kind="internal")
                )
            finally:
                if not (isinstance(op, ev.Shutdown) and self.state == "ended"):
                    await self._end_op(op)

    async def _end_op(self, op: ev.Operation) -> None:
        outcome = self._outcome or "done"
        if self.pending and self.state == "waiting_approval":
            outcome = "paused"
            if self.paused_op_id != op.id:
                self.paused_op_id = op.id
                self._paused_at = self._submitted + 1  # inputs submitted from now on abandon
        else:
            self.paused_op_id = ""
            self._turn_ended()
        await self.persist(meta=True)
        self.emit(ev.OpDone(op_type=op.type, outcome=outcome))  # type: ignore[arg-type]
        self._op, self._op_id = None, ""
        self._unfinished -= 1
        self._update_idle()

    def _update_idle(self) -> None:
        # Inputs held behind a pause wait for a person, not for the session.
        if self._unfinished - len(self._held) <= 0:
            self._idle.set()
        else:
            self._idle.clear()

    def _turn_ended(self) -> None:
        """No turn runs or waits: undo per-turn yolo, apply deferred settings."""
        overrides = dict(self._deferred)
        self._deferred.clear()
        if self._turn_yolo:
            self._turn_yolo = False
            overrides.setdefault("yolo_mode", False)
        if overrides:
            self._apply_settings(overrides)

    def _apply_settings(self, settings: dict[str, Any]) -> bool:
        from ..errors import InternError

        try:
            self.update_config(**settings)
        except (InternError, ValueError) as exc:
            self.emit(ev.Error(error=str(exc), kind="config"))
            return False
        return True

    @contextmanager
    def acting_for(self, op_id: str) -> Iterator[None]:
        """Emit the events inside as part of operation `op_id` (e.g. closing the
        calls of a turn that paused under an earlier operation)."""
        saved = self._op_id
        self._op_id = op_id or saved
        try:
            yield
        finally:
            self._op_id = saved

    def _start_turn(self, op: ev.UserInput) -> bool:
        """Apply a user input's per-turn overrides; False if they are invalid."""
        if self._turn_yolo and not self.pending:
            self._turn_ended()
        settings: dict[str, Any] = {}
        if op.model and op.model != self.config.model_name:
            settings["model_name"] = op.model
        if op.reasoning_effort and op.reasoning_effort != self.config.reasoning_effort:
            settings["reasoning_effort"] = op.reasoning_effort
        if op.yolo and not self.policy.yolo:
            settings["yolo_mode"] = True
        if settings and not self._apply_settings(settings):
            return False
        if settings.get("yolo_mode"):
            self._turn_yolo = True
        return True

    async def _handle(self, op: ev.Operation) -> None:
        from .loop import TurnRunner  # loop imports session types

        if isinstance(op, ev.Configure):
            if self.pending:  # a turn waits for approval: it ends first
                self._deferred.update(op.settings)
            else:
                self._apply_settings(dict(op.settings))
            return
        if isinstance(op, ev.Seed):
            await self._seed(op)
            return
        if self.state == "ended" and not isinstance(op, ev.New):
            self.emit(
                ev.Error(
                    error="This session has ended (its history no longer fits the model). "
                    "Start a new one with `%intern new`.",
                    kind="session",
                    fatal=True,
                )
            )
            return
        if isinstance(op, ev.UserInput) and not self._start_turn(op):
            return
        if isinstance(op, ev.UserInput):
            await self._mcp_ready()
        runner = TurnRunner(self)
        if isinstance(op, ev.UserInput):
            await self._in_turn(runner.user_input(op.text))
        elif isinstance(op, ev.ExecApproval):
            await self._in_turn(runner.approvals(op.approvals))
        elif isinstance(op, ev.Interrupt):
            if self.pending:
                runner.cancel_pending()
                self.state = "idle"
                self.emit(ev.Interrupted())
        elif isinstance(op, ev.Undo):
            self._drop_pending()
            removed = self.history.undo()
            self.emit(ev.UndoComplete(removed=removed))
        elif isinstance(op, ev.Compact):
            await self._in_turn(runner.compact_now())
        elif isinstance(op, ev.New):
            self._drop_pending()
            self.history.reset()
            self.doom.reset()
            self.plan = []
            self.read_files.clear()
            self.state = "idle"
            self.emit(ev.PlanUpdate(plan=[]))
            self.emit(ev.Ready())

    async def _seed(self, op: ev.Seed) -> None:
        """Continue a saved session (see `messages.Seed`)."""
        from .restore import catch_up, restore_full

        if self.recorder is not None:
            self.recorder.parent_id = op.parent_id or None
            self.recorder.title = op.title
        if op.mode == "full":
            count = restore_full(self, op.messages)
            self.emit(ev.Seeded(mode=op.mode, messages=count))
            return

        async def catch_up_or_drop() -> None:
            try:
                await catch_up(self, op.messages)
            except asyncio.CancelledError:
                self.recorder = None  # an unseeded session is not saved
                self.emit(ev.Interrupted())
                return
            except Exception as exc:
                self.recorder = None
                self.emit(ev.Error(error=str(exc), kind="session"))
                return
            self.emit(ev.Seeded(mode=op.mode, messages=len(self.history.messages) - 1))

        await self._in_turn(catch_up_or_drop())

    async def _in_turn(self, coro: Awaitable[None]) -> None:
        """Run one turn as its own task so `interrupt` can cancel it anywhere."""
        self._interrupting = False
        self._turn = asyncio.ensure_future(coro)
        try:
            await asyncio.shield(self._turn)
        except asyncio.CancelledError:
            if self._turn.done():
                return  # the turn itself handled the interrupt and finished
            raise
        finally:
            self._turn = None

    def _drop_pending(self) -> None:
        self.pending = []
        if self.state == "waiting_approval":
            self.state = "idle"

    def start_mcp(self) -> None:
        """Connect the MCP servers (once; on the session's loop).

        With `mcp_wait_s` 0 this happens when the first reply starts streaming
        (or after `MCP_IDLE_START_S` without a turn), so importing `mcp` (~1–4 s
        of GIL time) and a remote handshake never delay the first words."""
        if self._mcp_timer is not None:
            self._mcp_timer.cancel()
            self._mcp_timer = None
        if self._mcp_started or self.state == "ended":
            return
        self._mcp_started = True
        self.mcp.start(self.tools)

    async def _mcp_ready(self) -> None:
        """Before a turn: wait up to `mcp_wait_s` for the MCP servers; report failures."""
        if self.config.mcp_wait_s > 0 and self.mcp.servers:
            self.start_mcp()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.mcp.wait_ready(), self.config.mcp_wait_s)
        self._report_mcp_failures()

    def _report_mcp_failures(self) -> None:
        for line in self.mcp.new_failures():
            self.emit(ev.ToolLog(tool="mcp", log=line))

    async def _shutdown(self) -> None:
        self.state = "ended"
        await self.mcp.close()
        self.emit(ev.ShutdownEvent())
        await self.persist(meta=True)
        self.emit(ev.OpDone(op_type="shutdown", outcome="done"))
        self._unfinished -= 1
        self._update_idle()
        await self.flush_events()
        for sub in self._subs:
            sub.queue.put_nowait(None)
        self._subs = []

    # -------------------------------------------------------------- helpers

    async def persist(self, *, meta: bool = False) -> None:
        """Save completed messages (and with `meta` the totals) if a store is attached."""
        if self.recorder is not None:
            await self.recorder.sync(self, meta=meta)

    def tool_context(self, tool: str, tool_call_id: str) -> ToolContext:
        def set_plan(plan: list[dict[str, Any]]) -> None:
            self.plan = plan
            self.emit(ev.PlanUpdate(plan=plan))

        return ToolContext.emitting(
            self,
            tool,
            tool_call_id,
            plan=self.plan,
            set_plan=set_plan,
            extras={"session": self},  # the research tool runs its sub-agent on it
        )

    def describe(self) -> SessionSnapshot:
        """The latest snapshot: safe to read from any thread (see snapshot.py)."""
        return self.snapshot

    def _snapshot(self) -> SessionSnapshot:
        title = self.recorder.title if self.recorder is not None else ""
        if not title and not self._first_title:
            from ..store.base import title_from_prompt
            from .context import is_real_user

            first = next((m for m in self.history.messages if is_real_user(m)), None)
            if first is not None:
                self._first_title = title_from_prompt(str(first.get("content") or ""))
        return snapshot_of(self, title or self._first_title)

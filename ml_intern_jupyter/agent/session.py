"""One conversation with the intern: its state, its events and its submission loop.

Operations are processed one at a time in submission order, so user inputs
sent while a turn runs are queued. Two operations do not wait in the queue:
`interrupt` cancels the running turn at once, and anything submitted after
`shutdown` is refused. Events go to subscribers through one small queue
each, so a slow or failing subscriber never stalls the session.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..tools.base import ToolContext
from ..tools.router import ToolRouter
from . import messages as ev
from .approvals import ApprovalPolicy
from .context import History
from .guards import DoomLoopGuard, MalformedStreak
from .llm import LLMClient
from .persistence import Recorder

__all__ = ["PendingCall", "Session", "Subscriber", "Totals"]

log = logging.getLogger(__name__)

Subscriber = Callable[[ev.Event], "None | Awaitable[None]"]


@dataclass
class Totals:
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    turns: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class PendingCall:
    """A parsed tool call waiting for the user's decision."""

    tool_call_id: str
    tool: str
    arguments: dict[str, Any]
    reason: str | None = None
    estimated_cost_usd: float | None = None


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
        self.policy = ApprovalPolicy(yolo=config.yolo_mode, budget_usd=config.yolo_budget_usd)
        self.plan: list[dict[str, Any]] = []
        self.pending: list[PendingCall] = []
        self.read_files: dict[str, float] = {}
        self.state = "idle"  # idle | processing | waiting_approval | ended
        self.doom = DoomLoopGuard()
        self.malformed = MalformedStreak()
        self.recorder: Recorder | None = None  # set to save the session to a store
        self.created = time.time()
        self._sleep = sleep
        self._llm_env = llm_env
        self.llm = LLMClient(config, self.id, sleep=sleep, env=llm_env)
        self._seq = 0
        self._subs: list[_Subscription] = []
        self._queue: asyncio.Queue[ev.Operation] = asyncio.Queue()
        self._unfinished = 0  # operations submitted and not yet fully handled
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner: asyncio.Task[None] | None = None
        self._turn: asyncio.Task[None] | None = None
        self._interrupting = False
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"session-{self.id}"
            )
            self.emit(ev.Ready())

    @property
    def busy(self) -> bool:
        return self._unfinished > 0

    async def wait_idle(self) -> None:
        """Wait until every submitted operation has been handled."""
        await self._idle.wait()

    def update_config(self, **overrides: Any) -> None:
        """Change per-session settings (model, effort, yolo...); validated."""
        self.config = self.config.with_overrides(**overrides)
        self.llm = LLMClient(self.config, self.id, sleep=self._sleep, env=self._llm_env)
        self.policy.yolo = self.config.yolo_mode
        self.policy.budget_usd = self.config.yolo_budget_usd

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
        event.session_id = self.id
        event.seq = self._seq
        event.timestamp = time.time()
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
        if self._closed:
            self.emit(
                ev.Error(error="This session has shut down; start a new one.", kind="session")
            )
            return
        if isinstance(op, ev.Interrupt) and self._turn is not None and not self._turn.done():
            self._interrupting = True
            self._turn.cancel()
            return
        if isinstance(op, ev.Shutdown):
            self._closed = True
            if self._turn is not None and not self._turn.done():
                self._interrupting = True
                self._turn.cancel()
        self._unfinished += 1
        self._idle.clear()
        self._queue.put_nowait(op)

    async def _run(self) -> None:
        while True:
            op = await self._queue.get()
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
                await self.persist(meta=True)
                self._unfinished -= 1
                if self._unfinished == 0:
                    self._idle.set()

    async def _handle(self, op: ev.Operation) -> None:
        from .loop import TurnRunner  # loop imports session types

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

    async def _shutdown(self) -> None:
        self.state = "ended"
        self.emit(ev.ShutdownEvent())
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

        return ToolContext(
            session_id=self.id,
            tool_call_id=tool_call_id,
            workdir=self.workdir,
            read_files=self.read_files,
            log=lambda line: self.emit(ev.ToolLog(tool=tool, log=line, tool_call_id=tool_call_id)),
            set_state=lambda state: self.emit(
                ev.ToolStateChange(tool_call_id=tool_call_id, tool=tool, state=state)
            ),
            plan=self.plan,
            set_plan=set_plan,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "model": self.config.model_name,
            "state": self.state,
            "messages": len(self.history.messages),
            "prompt_tokens": self.totals.prompt_tokens,
            "completion_tokens": self.totals.completion_tokens,
            "cost_usd": self.totals.cost_usd,
            "turns": self.totals.turns,
            "yolo": self.policy.yolo,
            "pending": [p.tool for p in self.pending],
        }

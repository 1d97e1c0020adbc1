"""Helpers for driving a real `Session` against the scripted model server."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.session import Session
from ml_intern_jupyter.config import Config
from ml_intern_jupyter.tools.base import Approval, ToolContext, ToolResult, ToolSpec
from ml_intern_jupyter.tools.registry import default_router
from ml_intern_jupyter.tools.router import ToolRouter
from tests.fakes.llm_server import FakeLLMServer, RecordedRequest, Reply

RESEARCH_SYSTEM = "You are the research assistant"  # how the research prompt starts


class EventLog:
    """Collects a session's events; `wait_for` waits until one of a type arrives."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, type_: str) -> list[Any]:
        return [e for e in self.events if e.type == type_]

    def types(self, *, ops: bool = False) -> list[str]:
        """Event types in order; the op_queued/op_started/op_done bookkeeping only with `ops`."""
        return [e.type for e in self.events if ops or not e.type.startswith("op_")]

    async def wait_for(self, type_: str, count: int = 1, timeout: float = 20) -> Any:
        async def wait() -> Any:
            while len(self.of(type_)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.of(type_)[count - 1]

        return await asyncio.wait_for(wait(), timeout)

    def text(self) -> str:
        return "".join(e.content for e in self.of("assistant_chunk"))


class SleepLog:
    """An injectable `sleep` that records waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def make_config(**overrides: Any) -> Config:
    base: dict[str, Any] = {
        "model_name": "vllm/test-model",
        "retry_rate_limit_waits_s": [0.01, 0.02],
        "retry_transient_waits_s": [0.01, 0.02, 0.03],
        "context_window": 100_000,
        # No effort unless a test asks: with one, a router or litellm id's first
        # call is preceded by a probe, which would take a scripted reply.
        "reasoning_effort": None,
    }
    base.update(overrides)
    return Config(**base)


def make_session(
    server: FakeLLMServer,
    workdir: Path,
    *,
    tools: list[ToolSpec] | None = None,
    sleep: Any = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> tuple[Session, EventLog]:
    """A started session on the running loop, subscribed by an EventLog."""
    config = make_config(workdir=workdir, **overrides)
    router = default_router(config)
    for spec in tools or []:
        router.register(spec)
    session = Session(
        config,
        router,
        system_prompt="You are a test agent.",
        workdir=workdir,
        sleep=sleep or SleepLog(),
        llm_env=env if env is not None else {"VLLM_BASE_URL": server.url},
    )
    session.start()
    rec = EventLog()
    session.subscribe(rec)
    return session, rec


async def run_input(session: Session, text: str) -> None:
    session.submit(ev.UserInput(text=text))
    await session.wait_idle()
    await session.flush_events()


def tool(
    name: str,
    fn: Any,
    *,
    approval: Approval = Approval.NO,
    estimate: Any = None,
    timeout: float | None = 30,
    params: dict[str, Any] | None = None,
) -> ToolSpec:
    """A test tool whose handler is `fn(args) -> str | ToolResult` (sync or async)."""

    async def handler(args: dict[str, Any], ctx: ToolContext) -> ToolResult | str:
        out = fn(args)
        if asyncio.iscoroutine(out):
            out = await out
        return out

    return ToolSpec(
        name=name,
        description=f"test tool {name}",
        parameters=params or {"type": "object", "properties": {}, "additionalProperties": True},
        handler=handler,
        approval=lambda _a: approval,
        timeout=timeout,
        estimate_cost=estimate,
        always_allowable=approval is Approval.ASK,
    )


def sent_messages(server: FakeLLMServer, n: int = -1) -> list[dict[str, Any]]:
    return server.requests[n].body["messages"]


class Conversations:
    """Answers each conversation (the main one, or a research task) from its own script.

    Concurrent research calls reach the server in no fixed order, so one FIFO
    script cannot serve them; each request is matched by who is asking."""

    def __init__(self, main: list[Any], **subs: list[Any]):
        self.main = list(main)
        self.subs = {k: list(v) for k, v in subs.items()}
        self.log: list[tuple[str, float, RecordedRequest]] = []
        self._lock = threading.Lock()

    def key(self, req: RecordedRequest) -> str:
        msgs = req.body["messages"]
        if not msgs[0]["content"].startswith(RESEARCH_SYSTEM):
            return "main"
        task = msgs[1]["content"]
        return next(k for k in self.subs if f"task:\n{k}" in task)

    def __call__(self, req: RecordedRequest) -> Any:
        key = self.key(req)
        with self._lock:
            self.log.append((key, time.monotonic(), req))
            queue = self.main if key == "main" else self.subs[key]
            return queue.pop(0) if queue else Reply(content=f"(script of {key} is empty)")

    def requests(self, key: str) -> list[RecordedRequest]:
        return [r for k, _t, r in self.log if k == key]

    def times(self, key: str) -> list[float]:
        return [t for k, t, _r in self.log if k == key]


__all__ = [
    "RESEARCH_SYSTEM",
    "Conversations",
    "EventLog",
    "SleepLog",
    "ToolRouter",
    "make_config",
    "make_session",
    "run_input",
    "sent_messages",
    "tool",
]

"""The `research` tool: a read-only sub-agent with its own history.

A `research` call runs the ordinary turn loop (`TurnRunner`) on a
`ResearchSession`: its own history and research prompt, its own model
(`research_model`, else the session's), and only the tools that read
(`READ_ONLY`). It runs on the intern thread inside the parent's tool call,
so several `research` calls of one assistant message run concurrently
(the loop gathers a message's calls), and the user's Stop cancels it with
the parent's turn. Limits: `research_max_iterations` model calls, a warning
to the model at `CONTEXT_WARN` of the context window and a forced final
report (no tools) at `CONTEXT_FINAL` or when the iterations run out.

Its events go to the parent session's subscribers, emitted under the
parent's operation and tagged with `parent_call_id` (this call's id), so
views nest them under the research card. Its model calls count in the
session's totals and the yolo budget. What it may not do (run code, write,
change the Hub) is refused with a result that says so; nothing a research
sub-agent asks for ever waits for approval.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tools.base import Approval, ToolContext, ToolResult, ToolSpec, object_schema
from ..tools.router import ToolRouter
from . import messages as ev
from .approvals import Decision
from .context import History
from .guards import DoomLoopGuard, MalformedStreak
from .llm import LLMClient
from .loop import TurnRunner, _call_facts
from .states import RunState

if TYPE_CHECKING:
    from .session import Session

__all__ = [
    "CONTEXT_FINAL",
    "CONTEXT_WARN",
    "READ_ONLY",
    "ResearchRunner",
    "ResearchSession",
    "research_prompt",
    "research_tool",
]

# Upstream warned at ~170k and forced the report at ~190k of a 200k window.
CONTEXT_WARN = 0.85
CONTEXT_FINAL = 0.95
# Tool -> the operations research may use (None: all of them).
READ_ONLY: dict[str, frozenset[str] | None] = {
    "hf_search": None,
    "hf_inspect_dataset": None,
    "hf_papers": None,
    "hf_docs": None,
    "hf_repo_files": frozenset({"list", "read"}),
    "hf_repo_git": frozenset({"list_refs", "list_prs"}),
    "github_find_examples": None,
    "github_list_repos": None,
    "github_read_file": None,
    "web_search": None,
    "fetch_url": None,
}
CONTEXT_NOTE = (
    "[SYSTEM: You have used about {used:,} of {window:,} context tokens. Make only the "
    "lookups you need most, then write your report.]"
)
FINAL_NOTE = (
    "[SYSTEM: {why} Do not call any more tools. Write your final report now, in markdown, "
    "from what you have found so far, and say what you could not check.]"
)
WHY_CONTEXT = "Your context is nearly full."
WHY_ITERATIONS = "You have used all {n} of your model calls."
NOT_AVAILABLE = (
    "ERROR: '{name}' is not available to research: research only reads (the Hub, papers, "
    "docs, datasets, GitHub, the web) and cannot run code, write files or change anything. "
    "Put what you would run or change in your report instead. Available tools: {names}."
)
NOT_READ_ONLY = (
    "ERROR: operation '{op}' of '{name}' changes something, and research only reads, so it "
    "was NOT run. Allowed operations here: {ops}. Put it in your report as a suggestion."
)
NEEDS_APPROVAL = (
    "ERROR: this '{name}' call would need the user's approval, and research runs without "
    "asking, so it was NOT run. Put it in your report as a suggestion."
)
_TEMPLATE = Path(__file__).with_name("research_prompt.md")


def research_prompt(
    tool_names: list[str], *, max_iterations: int, today: _dt.date | None = None
) -> str:
    return (
        _TEMPLATE.read_text(encoding="utf-8")
        .format(
            date=(today or _dt.date.today()).isoformat(),
            n_tools=len(tool_names),
            tools=", ".join(tool_names),
            max_iterations=max_iterations,
        )
        .strip()
    )


class ReadOnlyRouter(ToolRouter):
    """The parent's read-only tools; everything else is refused with a reason."""

    def __init__(self, parent: ToolRouter):
        specs = [spec for name in READ_ONLY if (spec := parent.get(name)) is not None]
        super().__init__(specs, output_limit=parent.output_limit)

    async def run(self, name: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        spec = self.get(name)
        if spec is None:
            names = ", ".join(self.names) or "none"
            return ToolResult(NOT_AVAILABLE.format(name=name, names=names), success=False)
        ops = READ_ONLY.get(name)
        op = args.get("operation")
        if ops is not None and op is not None and op not in ops:
            allowed = ", ".join(sorted(ops))
            return ToolResult(NOT_READ_ONLY.format(op=op, name=name, ops=allowed), success=False)
        if self.validate(name, args) is None and spec.approval(args) is not Approval.NO:
            return ToolResult(NEEDS_APPROVAL.format(name=name), success=False)
        return await super().run(name, args, ctx)


class _ResearchPolicy:
    """Nothing research runs waits for approval (the router refuses what would);
    what it spends counts against the parent's yolo budget."""

    def __init__(self, parent: Any):
        self.parent = parent
        self.always_allow: set[str] = set()
        self.reservations: dict[str, float] = {}

    def decide(self, spec: ToolSpec, args: dict[str, Any], tool_call_id: str) -> Decision:
        return Decision(False)

    def settle(self, tool_call_id: str, *, success: bool, actual_usd: float | None) -> None:
        self.parent.add_spend(actual_usd)

    def add_spend(self, usd: float | None) -> None:
        self.parent.add_spend(usd)


class ResearchSession:
    """What `TurnRunner` needs of a session, for one research call.

    Its history, guards and tools are its own; its totals are the parent's
    (so the header and the yolo budget see every token), and it also keeps
    its own (`own_*`) for its card and its result."""

    def __init__(self, parent: Session, call_id: str):
        self.parent = parent
        self.call_id = call_id
        self.id = parent.id
        cfg = parent.config
        self.config = cfg.with_overrides(
            model_name=cfg.research_model or cfg.model_name,
            max_iterations=cfg.research_max_iterations,
            continuation_nudges=0,
        )
        self.tools = ReadOnlyRouter(parent.tools)
        self.history = History(
            research_prompt(self.tools.names, max_iterations=self.config.max_iterations)
        )
        self.totals = parent.totals
        self.policy = _ResearchPolicy(parent.policy)
        self.llm = LLMClient(self.config, parent.id, sleep=parent._sleep, env=parent._llm_env)
        self.workdir = parent.workdir
        self.plan: list[dict[str, Any]] = []
        self.pending: list[Any] = []
        self.read_files: dict[str, float] = {}
        self.state: RunState = "processing"
        self.paused_op_id = ""
        self._interrupting = True
        self.doom = DoomLoopGuard()
        self.malformed = MalformedStreak()
        self.report: str | None = None
        self.error: str | None = None
        self.llm_calls = 0
        self.tool_calls = 0
        self.own_tokens = 0
        self.own_cost_usd = 0.0
        self.own_cost_known = True

    def emit(self, event: ev.Event) -> ev.Event:
        event.parent_call_id = self.call_id
        if isinstance(event, ev.LLMCall):
            self.llm_calls += 1
            self.own_tokens += event.prompt_tokens + event.completion_tokens
            if event.cost_usd is None:
                self.own_cost_known = False
            else:
                self.own_cost_usd += event.cost_usd
        elif isinstance(event, ev.ToolCallEvent):
            self.tool_calls += 1
        elif isinstance(event, ev.TurnComplete):
            self.report = event.final_response
        elif isinstance(event, ev.Error):
            self.error = event.error
        return self.parent.emit(event)

    async def persist(self, *, meta: bool = False) -> None:
        """A research history is not saved: its report is, as the call's result."""

    @contextmanager
    def acting_for(self, op_id: str) -> Iterator[None]:
        yield

    def tool_context(self, tool: str, tool_call_id: str) -> ToolContext:
        return ToolContext.emitting(self, tool, tool_call_id)

    def findings(self) -> str:
        """The assistant text so far (for a report that never came)."""
        texts = [
            m["content"]
            for m in self.history.messages
            if m.get("role") == "assistant" and isinstance(m.get("content"), str) and m["content"]
        ]
        return "\n\n".join(texts[-5:])

    def stats(self) -> dict[str, Any]:
        return {
            "model": self.config.model_name,
            "llm_calls": self.llm_calls,
            "tool_calls": self.tool_calls,
            "tokens": self.own_tokens,
            "cost_usd": self.own_cost_usd,
            "cost_known": self.own_cost_known,
        }


class ResearchRunner(TurnRunner):
    """The turn loop with research's limits: a context warning, then a forced report."""

    s: ResearchSession  # type: ignore[assignment]

    def __init__(self, session: ResearchSession):
        super().__init__(session)  # type: ignore[arg-type]
        self.warned = False
        self.overflowed = False

    def _spend_pause(self) -> bool:
        # Research runs inside one of the parent's tool calls, which cannot pause
        # again; the parent's loop pauses before its next model call instead.
        return False

    async def run(self, prompt: str) -> None:
        s = self.s
        s.history.add_user(prompt)
        try:
            await self._loop()
        except asyncio.CancelledError:
            self._on_interrupt()  # close its open calls, tell the views; then stop the parent
            raise
        if s.report is None and self.overflowed:
            s.emit(
                ev.Error(
                    error="The research no longer fits the model's context.",
                    kind="context_overflow",
                )
            )

    async def _fit_context(self) -> bool:
        s = self.s
        window = s.llm.context_window()
        used = s.history.token_estimate()
        if used >= CONTEXT_FINAL * window:
            await self._final_report(WHY_CONTEXT)
            return False
        if used >= CONTEXT_WARN * window and not self.warned:
            self.warned = True
            s.history.add_user(CONTEXT_NOTE.format(used=used, window=window))
        return True

    async def _out_of_iterations(self) -> None:
        await self._final_report(WHY_ITERATIONS.format(n=self.s.config.max_iterations))

    async def _compact(self, *, forced: bool) -> bool:
        # A research history is never summarised: it reports instead.
        self.overflowed = True
        return False

    async def _final_report(self, why: str) -> None:
        s = self.s
        s.history.patch_dangling()
        s.history.add_user(FINAL_NOTE.format(why=why))
        response = await self._call_llm(tool_choice="none")
        if response is None:
            return  # the error is reported
        # Tool calls in this reply (a model ignoring tool_choice) are dropped unrun.
        s.history.add_assistant(response.content, **_call_facts(response))
        text = response.content.strip()
        if not text:
            s.emit(ev.Error(error="The model returned an empty report.", kind="bad_response"))
            return
        s.emit(ev.AssistantMessage(content=response.content))
        s.state = "idle"
        s.emit(ev.TurnComplete(final_response=response.content))


async def _research(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    parent = ctx.extras.get("session")
    if parent is None:
        return ToolResult("ERROR: research can only run inside a session.", success=False)
    task = str(args.get("task") or "").strip()
    if not task:
        return ToolResult(
            "ERROR: 'task' is empty. Say what to find out, e.g. 'the best-known recipe to "
            "fine-tune Qwen2.5-0.5B with DPO on UltraFeedback'.",
            success=False,
        )
    context = str(args.get("context") or "").strip()
    sub = ResearchSession(parent, ctx.tool_call_id)
    prompt = f"Research task:\n{task}"
    if context:
        prompt += f"\n\nContext from the intern:\n{context}"
    await ResearchRunner(sub).run(prompt)
    stats = sub.stats()
    if sub.report and sub.report.strip():
        return ToolResult(sub.report.strip(), display={"research": stats})
    found = sub.findings()
    text = f"ERROR: the research stopped before its report: {sub.error or 'no report'}."
    if found:
        text += f"\n\nWhat it found so far:\n\n{found}"
    return ToolResult(text, success=False, display={"research": stats})


def research_tool() -> ToolSpec:
    return ToolSpec(
        name="research",
        description=(
            "Hand a research question to a read-only research assistant with its own "
            "context. It reads papers (anchor paper, citation graph, method sections), the "
            "Hub (models, datasets), the docs, GitHub examples and the web, and returns a "
            "markdown report: a direct answer, a recipe table (dataset, model, "
            "hyperparameters, result per source), working example code, data formats, "
            "pitfalls and sources. Use it before writing training code for a method you "
            "have not verified, and to keep long reading out of your own context. It "
            "cannot run code or change anything. Several research calls in one message run "
            "in parallel: give each a distinct, focused task."
        ),
        parameters=object_schema(
            {
                "task": {
                    "type": "string",
                    "description": "What to find out, specifically (method, model, data, goal).",
                },
                "context": {
                    "type": "string",
                    "description": "What you already know: the user's goal and constraints, "
                    "their dataset and model, versions installed, what to avoid.",
                },
            },
            ["task"],
        ),
        handler=_research,
        timeout=None,  # bounded by its iterations; Stop cancels it
    )

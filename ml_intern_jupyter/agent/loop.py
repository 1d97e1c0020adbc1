"""One turn: LLM call -> tool calls -> approvals -> repeat.

A `TurnRunner` works on one `Session` for one operation (new user text, an
approval decision, or a forced compaction). Cancellation (the user pressed
Stop) can land at any await: the handler below closes every open tool call
with a result and a `cancelled` state, keeps any text already streamed, and
emits `interrupted`, so the history never dangles.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from ..errors import LLMError
from ..tools.base import ToolResult
from ..tools.plan import unfinished
from . import messages as ev
from .context import RESTORE_PROMPT, transcript_for_summary
from .llm import LLMResponse
from .states import LLMCallKind, ToolCallState

if TYPE_CHECKING:
    from .session import ParkedCall, Session

__all__ = ["TurnRunner"]

ABANDONED = "Task abandoned — user continued the conversation without approving."
REJECTED = "Job execution cancelled by user"
CANCELLED = "Cancelled by user before it finished."
CANCELLED_PENDING = "Not executed: the user stopped the turn before approving it."
SPEND_PAUSE_TOOL = ev.SPEND_PAUSE_TOOL
SPEND_STOPPED = "Stopped at the spend pause: the turn ended here. Send a message to go on."
EDITED_NOTE = "[Note: the user edited the arguments of this call before approving it.]\n"
LENGTH_NOTE = (
    "[SYSTEM: Your last response hit the output token limit, so its tool calls were cut off "
    "and NOT executed. Write large files in smaller pieces (several write/edit calls) and "
    "keep each tool call's arguments short.]"
)
CONTINUE_NOTE = (
    "[SYSTEM: Your plan still has unfinished items: {items}. Continue with them, or update "
    "the plan if they are done or no longer needed, before you finish.]"
)
COMPACT_SYSTEM = (
    "You summarise conversations between a user and an ML engineering agent so the summary "
    "can replace them. Write a concise summary: key decisions and why, problems solved and "
    "how, files and artefacts produced, results that still matter, and what remains to do. "
    "Be specific: names, paths, numbers."
)


def _call_facts(response: LLMResponse) -> dict[str, Any]:
    """What the history keeps about the model call behind an assistant message."""
    return {
        "usage": (
            (response.prompt_tokens, response.completion_tokens) if response.usage_known else None
        ),
        "finish_reason": response.finish_reason,
        "reasoning": response.reasoning,
        "thinking_blocks": response.thinking_blocks,
    }


def _strip_controls(text: str) -> str:
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())


def parse_arguments(name: str, raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """(args, None) or (None, error text for the model)."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        return None, (
            f"ERROR: Tool call to '{name}' had malformed JSON arguments and was NOT executed. "
            f"JSON error: {exc}. Send the call again with valid JSON arguments."
        )
    if not isinstance(value, dict):
        return None, (
            f"ERROR: Tool call to '{name}' had arguments that are not a JSON object "
            f"(got {type(value).__name__}) and was NOT executed. Arguments must be an object."
        )
    return value, None


class TurnRunner:
    def __init__(self, session: Session):
        self.s = session
        self.running: dict[str, str] = {}  # tool_call_id -> tool, while executing
        self.finished: dict[str, tuple[str, ToolResult]] = {}  # done, not yet in history
        self.streamed: list[str] = []  # text streamed by the current LLM call
        self.doom = session.doom
        self.malformed = session.malformed

    # ----------------------------------------------------------- entry points

    async def user_input(self, text: str) -> None:
        s = self.s
        if s.pending:
            # These notices belong to the turn that paused, not to this input.
            with s.acting_for(s.paused_op_id):
                self._close_pending(ABANDONED, "abandoned")
        s.history.add_user(text)
        s.totals.turns += 1
        await self._guarded(self._loop())

    async def approvals(self, decisions: list[ev.ApprovalDecision]) -> None:
        s = self.s
        if not s.pending:
            s.emit(ev.Error(error="There is no tool call waiting for approval.", kind="session"))
            return
        by_id = {d.tool_call_id: d for d in decisions}
        pending, s.pending = s.pending, []
        s.state = "processing"
        s.emit(ev.Processing())
        if any(call.kind == "spend" for call in pending):
            await self._guarded(self._after_spend_pause(pending, by_id))
            return

        async def body() -> None:
            approved: list[tuple[ParkedCall, bool]] = []
            rejected: dict[str, str] = {}
            for call in pending:
                d = by_id.get(call.tool_call_id)
                if d is None or not d.approved:
                    text = REJECTED
                    if d is not None and d.feedback and d.feedback.strip():
                        text += f". User feedback: {_strip_controls(d.feedback.strip())}"
                    rejected[call.tool_call_id] = text
                    self._state(call.tool_call_id, call.tool, "rejected")
                    continue
                edited = d.edited_args is not None and d.edited_args != call.arguments
                if edited:
                    call.arguments = dict(d.edited_args or {})
                if d.always_allow:
                    s.policy.always_allow.add(call.tool)
                self._state(call.tool_call_id, call.tool, "approved")
                approved.append((call, edited))
            results = await self._execute(
                [(c.tool_call_id, c.tool, c.arguments) for c, _ in approved]
            )
            edited_ids = {c.tool_call_id for c, e in approved if e}
            for call in pending:
                if call.tool_call_id in rejected:
                    text = rejected[call.tool_call_id]
                    s.history.add_tool_result(call.tool_call_id, call.tool, text, success=False)
                    s.emit(
                        ev.ToolOutput(
                            tool=call.tool,
                            tool_call_id=call.tool_call_id,
                            output=text,
                            success=False,
                        )
                    )
                else:
                    result = results[call.tool_call_id]
                    if call.tool_call_id in edited_ids:
                        result.output = EDITED_NOTE + result.output
                    self._record_result(call.tool_call_id, call.tool, result)
            await self._loop(emit_processing=False)

        await self._guarded(body())

    async def compact_now(self) -> None:
        async def body() -> None:
            if not await self._compact(forced=True):
                self.s.emit(
                    ev.Error(
                        error="Nothing to compact yet: the conversation is short.", kind="session"
                    )
                )

        await self._guarded(body())

    def cancel_pending(self) -> None:
        self._close_pending(CANCELLED_PENDING, "cancelled")

    # ---------------------------------------------------------------- the loop

    async def _loop(self, emit_processing: bool = True) -> None:
        s = self.s
        s.state = "processing"
        if emit_processing:
            s.emit(ev.Processing())
        cfg = s.config
        iterations = 0
        nudges = 0
        final = ""
        while cfg.max_iterations < 0 or iterations < cfg.max_iterations:
            iterations += 1
            if self._spend_pause():
                return  # paused until the user says whether to go on
            if not await self._fit_context():
                return
            note = self.doom.check(s.history.messages)
            if note:
                s.history.add_user(note)
            s.history.patch_dangling()
            await s.persist()  # completed messages are stored before the next model call
            response = await self._call_llm()
            if response is None:
                return  # error already reported
            calls = response.tool_calls
            if response.finish_reason == "length" and calls:
                s.history.add_assistant(response.content, **_call_facts(response))
                if response.content:
                    s.emit(ev.AssistantMessage(content=response.content))
                s.history.add_user(LENGTH_NOTE)
                continue
            if not calls:
                if not response.content.strip():
                    s.emit(
                        ev.Error(
                            error="The model returned an empty response. Send your message "
                            "again, or try another model with `%intern model ID`.",
                            kind="bad_response",
                        )
                    )
                    s.state = "idle"
                    return
                s.history.add_assistant(response.content, **_call_facts(response))
                s.emit(ev.AssistantMessage(content=response.content))
                todo = unfinished(s.plan)
                if todo and nudges < cfg.continuation_nudges:
                    nudges += 1
                    items = "; ".join(str(i.get("content")) for i in todo[:10])
                    s.history.add_user(CONTINUE_NOTE.format(items=items))
                    continue
                final = response.content
                break
            if await self._handle_calls(response):
                return  # paused for approval
        else:
            await self._out_of_iterations()
            return
        s.state = "idle"
        await s.persist(meta=True)
        s.emit(ev.TurnComplete(final_response=final))

    async def _fit_context(self) -> bool:
        """Before each model call: compact past the threshold. False ends the turn."""
        s = self.s
        if s.history.token_estimate() > s.config.compaction_threshold * s.llm.context_window():
            return await self._compact(forced=False)
        return True

    async def _out_of_iterations(self) -> None:
        s = self.s
        s.emit(
            ev.Error(
                error=f"Stopped after {s.config.max_iterations} iterations (max_iterations). "
                "Send a message to let the intern continue.",
                kind="max_iterations",
            )
        )
        s.state = "idle"

    async def _call_llm(self, tool_choice: str = "auto") -> LLMResponse | None:
        s = self.s
        overflowed = False
        while True:
            self.streamed = []

            def on_chunk(text: str) -> None:
                self.streamed.append(text)
                s.emit(ev.AssistantChunk(content=text))

            reasoned = False

            def on_reasoning(text: str) -> None:
                nonlocal reasoned
                reasoned = True
                s.emit(ev.AssistantReasoning(content=text))

            def on_retry(message: str) -> None:
                nonlocal reasoned
                if self.streamed or reasoned:
                    # Closes the void attempt's text and reasoning: the retry starts anew.
                    s.emit(ev.AssistantStreamEnd())
                    self.streamed = []
                    reasoned = False
                s.emit(ev.ToolLog(tool="llm", log=message))

            try:
                response = await s.llm.stream(
                    s.history.for_llm(),
                    s.tools.schemas(),
                    on_chunk=on_chunk,
                    on_retry=on_retry,
                    tool_choice=tool_choice,
                    on_reasoning=on_reasoning,
                )
            except LLMError as err:
                if self.streamed:
                    s.emit(ev.AssistantStreamEnd())
                for probe in getattr(err, "probes", ()):
                    self._account(probe, "probe")
                if err.kind == "context_overflow" and not overflowed:
                    overflowed = True
                    if await self._compact(forced=True):
                        continue
                    return None
                s.state = "idle"
                s.emit(ev.Error(error=str(err), kind=err.kind, login_required=err.login_required))
                return None
            if self.streamed:
                s.emit(ev.AssistantStreamEnd())
            self.streamed = []
            self._account(response, "turn")
            return response

    def _account(self, response: LLMResponse, kind: LLMCallKind) -> None:
        s = self.s
        for probe in response.probes:  # the effort probe that preceded this call
            self._account(probe, "probe")
        response.probes = []
        t = s.totals
        t.llm_calls += 1
        t.prompt_tokens += response.prompt_tokens
        t.completion_tokens += response.completion_tokens
        t.cache_read_tokens += response.cache_read_tokens
        t.cache_write_tokens += response.cache_write_tokens
        if response.cost_usd is None:
            t.cost_known = t.cost_known and not response.usage_known
        else:
            t.add_cost(response.cost_usd, inference=True)
        s.policy.add_spend(response.cost_usd)
        if kind == "turn" and response.usage_known:
            s.history.record_usage(response.prompt_tokens, response.completion_tokens)
        s.emit(
            ev.LLMCall(
                model=s.config.model_name,
                latency_ms=round(response.latency_ms, 1),
                prompt_tokens=response.prompt_tokens,
                completion_tokens=response.completion_tokens,
                cost_usd=response.cost_usd,
                kind=kind,
                cache_read_tokens=response.cache_read_tokens,
                cache_write_tokens=response.cache_write_tokens,
            )
        )

    # ------------------------------------------------------------- tool calls

    async def _handle_calls(self, response: LLMResponse) -> bool:
        """Run auto calls, queue the rest for approval. True when paused."""
        s = self.s
        s.history.add_assistant(response.content, response.tool_calls, **_call_facts(response))
        if response.content:
            s.emit(ev.AssistantMessage(content=response.content))
        from .session import ParkedCall

        results: dict[str, ToolResult] = {}
        auto: list[tuple[str, str, dict[str, Any]]] = []
        asks: list[ParkedCall] = []
        notes: list[str] = []
        for call in response.tool_calls:
            cid, name = call["id"], call["name"]
            args, problem = parse_arguments(name, call["arguments"])
            note = self.malformed.record(name, args is None)
            if note:
                notes.append(note)
            s.emit(ev.ToolCallEvent(tool=name, arguments=args or {}, tool_call_id=cid))
            if args is None:
                results[cid] = ToolResult(problem or "", success=False)
                continue
            spec = s.tools.get(name)
            if spec is None:
                auto.append((cid, name, args))  # the router answers with the valid names
                continue
            decision = s.policy.decide(spec, args, cid)
            if decision.needs_approval:
                asks.append(
                    ParkedCall(cid, name, args, decision.reason, decision.estimated_cost_usd)
                )
            else:
                auto.append((cid, name, args))
        results.update(await self._execute(auto))
        for call in response.tool_calls:
            if call["id"] in results:
                self._record_result(call["id"], call["name"], results[call["id"]])
        for note in notes:
            s.history.add_user(note)
        if not asks:
            return False
        s.pending = asks
        s.state = "waiting_approval"
        s.emit(
            ev.ApprovalRequired(
                tools=[
                    ev.PendingCall(
                        tool=p.tool,
                        arguments=p.arguments,
                        tool_call_id=p.tool_call_id,
                        reason=p.reason,
                        estimated_cost_usd=p.estimated_cost_usd,
                        always_allowable=bool(
                            (spec := s.tools.get(p.tool)) and spec.always_allowable
                        ),
                    )
                    for p in asks
                ],
                count=len(asks),
            )
        )
        return True

    async def _execute(self, calls: list[tuple[str, str, dict[str, Any]]]) -> dict[str, ToolResult]:
        s = self.s

        async def one(cid: str, name: str, args: dict[str, Any]) -> ToolResult:
            self.running[cid] = name
            self._state(cid, name, "running")
            # Left in `running` if cancelled, so the interrupt handler can close it.
            result = await s.tools.run(name, args, s.tool_context(name, cid))
            self.running.pop(cid, None)
            self.finished[cid] = (name, result)
            s.policy.settle(cid, success=result.success, actual_usd=result.cost_usd)
            s.totals.add_cost(result.cost_usd, inference=False)
            return result

        outputs = await asyncio.gather(*(one(*c) for c in calls))
        return {c[0]: r for c, r in zip(calls, outputs, strict=True)}

    def _record_result(self, cid: str, name: str, result: ToolResult) -> None:
        self.finished.pop(cid, None)
        self.s.history.add_tool_result(cid, name, result.output, success=result.success)
        self.s.emit(
            ev.ToolOutput(
                tool=name,
                tool_call_id=cid,
                output=result.output,
                success=result.success,
                display=result.display,
            )
        )

    def _state(self, cid: str, tool: str, state: ToolCallState) -> None:
        self.s.emit(ev.ToolStateChange(tool_call_id=cid, tool=tool, state=state))

    def _close_pending(self, text: str, state: ToolCallState) -> None:
        s = self.s
        for call in s.pending:
            if call.kind == "tool":  # a spend pause has no tool call in the history
                s.history.add_tool_result(call.tool_call_id, call.tool, text, success=False)
            self._state(call.tool_call_id, call.tool, state)
            s.emit(
                ev.ToolOutput(
                    tool=call.tool, tool_call_id=call.tool_call_id, output=text, success=False
                )
            )
        s.pending = []
        if s.state == "waiting_approval":
            s.state = "idle"

    # ----------------------------------------------------------- spend pauses

    def _spend_pause(self) -> bool:
        """Pause before the next model call once the session's spend reached the
        threshold (yolo or not): an approval showing the spend. True when paused."""
        s = self.s
        t = s.totals
        threshold = s.policy.spend_pause_due(t.cost_usd)
        if threshold is None:
            return False
        from .session import ParkedCall

        following = s.policy.next_spend_pause(t.cost_usd)
        args = {
            "spent_usd": round(t.cost_usd, 4),
            "inference_usd": round(t.inference_usd, 4),
            "jobs_usd": round(t.jobs_usd, 4),
            "threshold_usd": threshold,
            "next_pause_usd": following,
        }
        reason = (
            f"This session has spent ${t.cost_usd:.2f} (inference ${t.inference_usd:.2f}, "
            f"jobs ${t.jobs_usd:.2f}), past the ${threshold:.2f} spend pause. Approve to go on "
            f"(next pause at ${following:.2f}); reject to end this turn."
        )
        call = ParkedCall(
            f"spend_pause_{threshold:g}_{s.totals.llm_calls}",
            SPEND_PAUSE_TOOL,
            args,
            reason,
            kind="spend",
        )
        s.pending = [call]
        s.state = "waiting_approval"
        s.emit(
            ev.ApprovalRequired(
                tools=[
                    ev.PendingCall(
                        tool=call.tool,
                        arguments=call.arguments,
                        tool_call_id=call.tool_call_id,
                        reason=reason,
                        kind="spend",
                    )
                ],
                count=1,
            )
        )
        return True

    async def _after_spend_pause(
        self, pending: list[ParkedCall], by_id: dict[str, ev.ApprovalDecision]
    ) -> None:
        s = self.s
        s.policy.acknowledge_spend(s.totals.cost_usd)
        go_on = all((d := by_id.get(c.tool_call_id)) is not None and d.approved for c in pending)
        for call in pending:
            self._state(call.tool_call_id, call.tool, "approved" if go_on else "rejected")
            s.emit(
                ev.ToolOutput(
                    tool=call.tool,
                    tool_call_id=call.tool_call_id,
                    output=(
                        f"Going on past ${s.totals.cost_usd:.2f} of spend."
                        if go_on
                        else SPEND_STOPPED
                    ),
                    success=go_on,
                )
            )
        if go_on:
            await self._loop(emit_processing=False)
            return
        s.state = "idle"
        await s.persist(meta=True)
        s.emit(ev.TurnComplete(final_response=""))

    # ------------------------------------------------------------- compaction

    async def _compact(self, *, forced: bool) -> bool:
        """Summarise the middle of the history. False (and the session ends) on failure."""
        s = self.s
        split = s.history.compaction_split()
        window = s.llm.context_window()
        threshold = s.config.compaction_threshold * window
        if split is None:
            if forced and s.history.token_estimate() <= threshold:
                return False
            return self._end_session(
                "The conversation no longer fits the model's context and cannot be compacted further."
            )
        _head, middle, _tail = split
        old = s.history.token_estimate()
        prompt = [
            {"role": "system", "content": COMPACT_SYSTEM},
            {"role": "user", "content": transcript_for_summary(middle)},
        ]
        try:
            response = await s.llm.complete(
                prompt,
                max_tokens=max(window // 10, 256),
                on_retry=lambda m: s.emit(ev.ToolLog(tool="llm", log=m)),
            )
        except LLMError as err:
            return self._end_session(f"Compaction failed: {err}")
        self._account(response, "compaction")
        if not response.content.strip():
            return self._end_session("Compaction failed: the model returned an empty summary.")
        s.history.apply_compaction(response.content.strip())
        new = s.history.token_estimate()
        s.emit(ev.Compacted(old_tokens=old, new_tokens=new))
        if new > threshold:
            return self._end_session(
                f"Even after compaction the conversation needs about {new:,} tokens, more than "
                f"{threshold:,.0f} allowed."
            )
        return True

    def _end_session(self, why: str) -> bool:
        s = self.s
        s.state = "ended"
        s.emit(
            ev.Error(
                error=f"{why} This session has ended; start a new one with `%intern new`.",
                kind="context_overflow",
                fatal=True,
            )
        )
        return False

    async def summarise_for_restore(self, messages: list[dict[str, Any]]) -> str:
        """A first-person 'note to your future self' of `messages` (used by catch-up)."""
        s = self.s
        prompt = [
            {"role": "system", "content": RESTORE_PROMPT},
            {"role": "user", "content": transcript_for_summary(messages)},
        ]
        response = await s.llm.complete(
            prompt, max_tokens=4000, on_retry=lambda m: s.emit(ev.ToolLog(tool="llm", log=m))
        )
        self._account(response, "summary")
        return response.content.strip()

    # ---------------------------------------------------------- interruption

    async def _guarded(self, coro: Any) -> None:
        s = self.s
        try:
            await coro
        except asyncio.CancelledError:
            if not s._interrupting:
                raise
            self._on_interrupt()

    def _on_interrupt(self) -> None:
        s = self.s
        if self.streamed:
            # Keep what the user already saw; the tool calls being streamed are dropped.
            s.history.add_assistant("".join(self.streamed))
            s.emit(ev.AssistantStreamEnd())
            self.streamed = []
        for cid, (name, result) in list(self.finished.items()):
            self._record_result(cid, name, result)  # calls that finished keep their results
        for cid, tool in list(self.running.items()):
            self._state(cid, tool, "cancelled")
        s.history.patch_dangling(CANCELLED)
        for msg in s.history.messages:
            if (
                msg.get("role") == "tool"
                and msg.get("content") == CANCELLED
                and msg.get("tool_call_id") in self.running
            ):
                s.emit(
                    ev.ToolOutput(
                        tool=msg.get("name", ""),
                        tool_call_id=msg["tool_call_id"],
                        output=CANCELLED,
                        success=False,
                    )
                )
        self.running.clear()
        if s.pending:
            self.cancel_pending()
        for cid in list(s.policy.reservations):
            s.policy.settle(cid, success=False, actual_usd=None)
        s.state = "idle"
        s.emit(ev.Interrupted())

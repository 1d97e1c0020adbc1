"""One turn as data (`TurnRecord`, built from events) and its static renderings.

The live view and the text renderer both feed events into a `TurnRecord`;
when the turn ends, `Transcript(record)` gives the HTML, markdown and plain
text that replace the live view, so a saved notebook reads well on GitHub
or nbviewer and after a restart.

Events of a `research` sub-agent (`parent_call_id` set) go to a nested
`TurnRecord` on that call's card (`ToolCard.sub`): its own text, tool
cards, tokens and cost; its tokens and cost also count in the turn's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .markup import CSS, ROOT_CLASS, compact_args, escape, markdown_html
from .tool_display import (
    LOGS_KEPT,
    display_html,
    display_markdown,
    display_plain,
    job_link_html,
    job_url_in_log,
    logs_preview,
    proposed_code_of,
    safe_url,
    trackio_url_of,
)

if TYPE_CHECKING:
    from ml_intern_jupyter.agent import messages as ev

__all__ = [
    "STATE_LABELS",
    "Note",
    "TextBlock",
    "ToolCard",
    "Transcript",
    "TurnRecord",
    "plan_html",
    "plan_markdown",
    "research_stats",
]

# Header states, as the user reads them.
STATE_LABELS = {
    "queued": "queued",
    "thinking": "thinking",
    "tool": "running a tool",
    "approval": "waiting for approval",
    "done": "done",
    "error": "error",
    "interrupted": "interrupted",
}
FINAL_STATES = ("done", "error", "interrupted")
OUTPUT_PREVIEW_LINES = 8
OUTPUT_PREVIEW_CHARS = 600
OUTPUT_FULL_CHARS = 20_000
_PLAN_MARK = {"completed": "☑", "in_progress": "◐", "pending": "☐"}
_PLAN_MD = {"completed": "[x]", "in_progress": "[~]", "pending": "[ ]"}
_CARD_STATE = {
    "called": "called",
    "waiting": "waiting for approval",
    "approved": "approved",
    "rejected": "rejected",
    "running": "running",
    "done": "done",
    "failed": "failed",
    "cancelled": "cancelled",
    "abandoned": "not run (you continued without approving)",
    "canceled": "cancelled",  # an HF Job's own state
}
# JupyterLab's windowed notebook keeps its scroll offset when this (much
# shorter) transcript replaces the live view, which can leave the viewport
# past the last cell, showing nothing until the user scrolls. Run once where
# the frontend runs trusted output scripts (JupyterLab, Notebook 7): if no
# cell is in view, bring the end of the transcript into view. Elsewhere
# (GitHub, nbviewer, VS Code, Colab) it is stripped or finds no notebook.
KEEP_IN_VIEW = (
    "<script>(function(){var s=document.currentScript;if(!s)return;"
    "var root=s.previousElementSibling;if(!root||!root.closest)return;"
    "function fix(){var sc=root.closest('.jp-WindowedPanel-outer');if(!sc)return;"
    "var b=sc.getBoundingClientRect();var cells=sc.querySelectorAll('.jp-Cell');"
    "for(var i=0;i<cells.length;i++){var r=cells[i].getBoundingClientRect();"
    "if(r.height>0&&r.bottom>b.top&&r.top<b.bottom)return;}"
    "root.scrollIntoView({block:'end'});}"
    "requestAnimationFrame(function(){requestAnimationFrame(fix);});"
    "setTimeout(fix,300);})();</script>"
)
_FAIL_STATES = ("rejected", "cancelled", "abandoned", "failed", "error", "canceled", "deleted")


@dataclass
class TextBlock:
    text: str = ""
    streaming: bool = False


@dataclass
class Reasoning:
    """The model's reasoning before an answer; shown collapsed."""

    text: str = ""
    streaming: bool = False

    @property
    def summary(self) -> str:
        words = len(self.text.split())
        return f"Reasoning ({words:,} word{'s' if words != 1 else ''})"


@dataclass
class Note:
    text: str
    kind: str = "info"  # info | log | warn


@dataclass
class ToolCard:
    tool_call_id: str
    tool: str
    arguments: dict[str, Any]
    state: str = "called"
    output: str | None = None
    success: bool | None = None
    logs: list[str] = field(default_factory=list)
    reason: str | None = None
    estimated_cost_usd: float | None = None
    always_allowable: bool = False
    logs_dropped: int = 0  # log lines no longer kept (only the last LOGS_KEPT are)
    display: dict[str, Any] | None = None  # the tool's rich payload (images, cell, job)
    job_url: str | None = None
    trackio_url: str | None = None  # a trackio dashboard its job or code logs to
    sub: TurnRecord | None = None  # a research call's sub-agent, as it ran

    @property
    def state_label(self) -> str:
        return _CARD_STATE.get(self.state, self.state)

    @property
    def proposed_code(self) -> str | None:
        return proposed_code_of(self.display)

    def add_log(self, line: str) -> None:
        self.logs.append(line)
        if len(self.logs) > LOGS_KEPT:
            extra = len(self.logs) - LOGS_KEPT
            del self.logs[:extra]
            self.logs_dropped += extra
        if self.job_url is None:
            self.job_url = job_url_in_log(line)
        if self.trackio_url is None and line.startswith("Trackio dashboard: "):
            self.trackio_url = safe_url(line.removeprefix("Trackio dashboard: ").strip())

    def preview(self) -> tuple[str, bool]:
        """(short output or recent logs, whether there is more to show)."""
        if self.output is None:
            return logs_preview(self.logs, self.logs_dropped), False
        if self.proposed_code is not None:
            return "", False  # the cell itself is shown; the output is the model's note
        text = self.output
        lines = text.splitlines()
        short = "\n".join(lines[:OUTPUT_PREVIEW_LINES])
        if len(short) > OUTPUT_PREVIEW_CHARS:
            short = short[:OUTPUT_PREVIEW_CHARS]
        more = self.output is not None and len(short) < len(text.rstrip("\n"))
        return short + ("\n…" if more else ""), more

    def full_output(self) -> str:
        text = self.output or ""
        if len(text) > OUTPUT_FULL_CHARS:
            cut = len(text) - OUTPUT_FULL_CHARS
            text = text[:OUTPUT_FULL_CHARS] + f"\n… ({cut:,} more characters)"
        return text


Item = TextBlock | ToolCard | Note | Reasoning


@dataclass
class TurnRecord:
    """Everything one turn showed, in order. Feed it events with `apply`."""

    session_name: str
    session_id: str
    model: str
    items: list[Item] = field(default_factory=list)
    cards: dict[str, ToolCard] = field(default_factory=dict)
    plan: list[dict[str, Any]] = field(default_factory=list)
    state: str = "thinking"
    error: str | None = None
    login_required: bool = False
    started: float | None = None
    ended: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    cache_read_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cache_write_tokens: int = 0
    traces: str = ""  # where the session's traces go ("Traces: private dataset <url>"), once known
    # Asked at the end of the turn when `traces` is still empty (it may have
    # become known meanwhile: the first turn of a kernel learns it while it runs).
    traces_source: Callable[[], str | None] | None = field(default=None, repr=False, compare=False)
    _message_done: bool = True  # the last assistant_message closed the current text

    # ---------------------------------------------------------------- events

    def start(self, when: float | None = None) -> None:
        if self.started is None:
            self.started = when or time.time()
        self.state = "thinking"

    def apply(self, e: Any) -> None:
        parent = getattr(e, "parent_call_id", "")
        if parent:
            self._nested(parent, e)
            return
        handler = getattr(self, "_on_" + e.type, None)
        if handler is not None:
            handler(e)

    def _nested(self, parent: str, e: Any) -> None:
        card = self.cards.get(parent)
        if card is None:
            return  # a research call this record never saw start
        sub = card.sub
        if sub is None:
            sub = card.sub = TurnRecord(self.session_name, self.session_id, self.model)
            sub.start(e.timestamp)
        if e.type == "llm_call":
            sub.model = e.model
            self._on_llm_call(e)  # the turn's totals include its research
        handler = getattr(sub, "_on_" + e.type, None)
        if handler is not None:
            handler(e)

    def _on_processing(self, e: ev.Processing) -> None:
        self.start(e.timestamp)

    def _on_assistant_reasoning(self, e: ev.AssistantReasoning) -> None:
        last = self.items[-1] if self.items else None
        if isinstance(last, Reasoning) and last.streaming:
            last.text += e.content
        else:
            self.items.append(Reasoning(e.content, streaming=True))
        self.state = "thinking"

    def _close_reasoning(self) -> None:
        last = self.items[-1] if self.items else None
        if isinstance(last, Reasoning):
            last.streaming = False

    def _on_assistant_chunk(self, e: ev.AssistantChunk) -> None:
        self._close_reasoning()
        last = self.items[-1] if self.items else None
        if isinstance(last, TextBlock) and last.streaming:
            last.text += e.content
        else:
            self.items.append(TextBlock(e.content, streaming=True))
        self._message_done = False
        self.state = "thinking"

    def _on_assistant_stream_end(self, _e: ev.AssistantStreamEnd) -> None:
        self._close_reasoning()
        for item in reversed(self.items):
            if isinstance(item, TextBlock):
                item.streaming = False
                break

    def _on_assistant_message(self, e: ev.AssistantMessage) -> None:
        if not self._message_done:
            # The text was streamed; keep the model's final wording for the transcript.
            for item in reversed(self.items):
                if isinstance(item, TextBlock):
                    item.text = e.content
                    item.streaming = False
                    break
        elif e.content:
            self.items.append(TextBlock(e.content))
        self._message_done = True

    def _on_tool_call(self, e: ev.ToolCallEvent) -> None:
        card = ToolCard(e.tool_call_id, e.tool, dict(e.arguments))
        self.cards[e.tool_call_id] = card
        self.items.append(card)

    def _on_tool_state_change(self, e: ev.ToolStateChange) -> None:
        card = self.cards.get(e.tool_call_id)
        if card is not None:
            card.state = e.state
        if e.state == "running":
            self.state = "tool"

    def _on_tool_log(self, e: ev.ToolLog) -> None:
        card = self.cards.get(e.tool_call_id or "")
        if card is not None:
            card.add_log(e.log)
        elif e.tool == "llm":
            self.items.append(Note(e.log, kind="log"))
        elif e.tool == "mcp":  # a server that could not connect
            self.items.append(Note(e.log, kind="warn"))

    def _on_tool_output(self, e: ev.ToolOutput) -> None:
        card = self.cards.get(e.tool_call_id)
        if card is None:
            card = ToolCard(e.tool_call_id, e.tool, {})
            self.cards[e.tool_call_id] = card
            self.items.append(card)
        card.output = e.output
        card.success = e.success
        card.display = getattr(e, "display", None)
        card.job_url = safe_url((card.display or {}).get("job_url")) or card.job_url
        card.trackio_url = trackio_url_of(card.display, e.output) or card.trackio_url
        if card.state not in ("rejected", "cancelled", "abandoned"):
            card.state = "done" if e.success else "failed"
        if card.sub is not None and not card.sub.finished:
            card.sub.finish("done" if e.success else "interrupted", e.timestamp)
        if not any(c.state == "running" for c in self.cards.values()):
            self.state = "thinking"

    def _on_approval_required(self, e: ev.ApprovalRequired) -> None:
        for pending in e.tools:
            card = self.cards.get(pending.tool_call_id)
            if card is None:
                card = ToolCard(pending.tool_call_id, pending.tool, dict(pending.arguments))
                self.cards[pending.tool_call_id] = card
                self.items.append(card)
            card.state = "waiting"
            card.reason = pending.reason
            card.estimated_cost_usd = pending.estimated_cost_usd
            card.always_allowable = pending.always_allowable
        self.state = "approval"

    def _on_plan_update(self, e: ev.PlanUpdate) -> None:
        self.plan = [dict(item) for item in e.plan]

    def _on_llm_call(self, e: ev.LLMCall) -> None:
        self.prompt_tokens += e.prompt_tokens
        self.completion_tokens += e.completion_tokens
        self.cache_read_tokens += getattr(e, "cache_read_tokens", 0) or 0
        self.cache_write_tokens += getattr(e, "cache_write_tokens", 0) or 0
        if e.cost_usd is None:
            self.cost_known = False
        else:
            self.cost_usd += e.cost_usd

    def _on_compacted(self, e: ev.Compacted) -> None:
        self.items.append(
            Note(f"Compacted the conversation: {e.old_tokens:,} → {e.new_tokens:,} tokens.")
        )

    def _on_turn_complete(self, e: ev.TurnComplete) -> None:
        self.finish("done", e.timestamp)

    def _on_interrupted(self, e: ev.Interrupted) -> None:
        self.finish("interrupted", e.timestamp)

    def _on_error(self, e: ev.Error) -> None:
        self.error = e.error
        self.login_required = bool(e.login_required)
        self.finish("error", e.timestamp)

    def _on_shutdown(self, e: ev.ShutdownEvent) -> None:
        if self.state not in FINAL_STATES:
            self.items.append(Note("The session shut down.", kind="warn"))
            self.finish("interrupted", e.timestamp)

    def finish(self, outcome: str, when: float | None = None) -> None:
        """End the turn: done, error, interrupted, or abandoned/cancelled (shown as interrupted)."""
        if outcome == "abandoned":
            for card in self.cards.values():
                if card.state == "waiting":
                    card.state = "abandoned"
            outcome = "interrupted"
        elif outcome == "cancelled":
            self.items.append(Note("Stopped before it started.", kind="warn"))
            outcome = "interrupted"
        self.state = outcome
        if not self.traces and self.traces_source is not None:
            try:
                self.traces = self.traces_source() or ""
            except Exception:  # a footer detail must never break the end of a turn
                self.traces = ""
        for item in self.items:
            if isinstance(item, TextBlock | Reasoning):
                item.streaming = False
        self.ended = when or time.time()
        if self.started is None:
            self.started = self.ended

    # --------------------------------------------------------------- summary

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def duration(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.time()) - self.started

    def text(self) -> str:
        """All assistant text of the turn."""
        return "\n\n".join(i.text for i in self.items if isinstance(i, TextBlock) and i.text)

    def footer(self) -> str:
        return (
            f"{STATE_LABELS.get(self.state, self.state)} · {self.duration:.1f} s · "
            + usage_text(
                self.tokens,
                self.cost_usd,
                self.cost_known,
                cached=self.cache_read_tokens,
                cache_written=self.cache_write_tokens,
            )
            + (f" · {self.traces}" if self.traces else "")
        )


def research_stats(card: ToolCard, model: str = "") -> str:
    """'3 tool calls · 4,210 tokens · $0.0123 · 8.1 s' of a research card's sub-agent
    (and its model, when it is not `model`, the session's)."""
    sub = card.sub
    if sub is None:
        return "starting"
    n = sum(1 for item in sub.items if isinstance(item, ToolCard))
    text = f"{n} tool call{'s' if n != 1 else ''} · "
    text += usage_text(sub.tokens, sub.cost_usd, sub.cost_known)
    text += f" · {sub.duration:.1f} s"
    if sub.model and sub.model != model:
        text += f" · {sub.model}"
    return text


def usage_text(
    tokens: int,
    cost_usd: float,
    cost_known: bool = True,
    *,
    cached: int = 0,
    cache_written: int = 0,
) -> str:
    """`1,234 tokens (800 cached, 200 to cache) · $0.0012`; the cache parts only when non-zero."""
    cost = f"${cost_usd:.4f}" if cost_known else f"≥ ${cost_usd:.4f}"
    cache = [f"{cached:,} cached"] if cached else []
    if cache_written:
        cache.append(f"{cache_written:,} to cache")
    detail = f" ({', '.join(cache)})" if cache else ""
    return f"{tokens:,} tokens{detail} · {cost}"


# ------------------------------------------------------------ HTML fragments


def plan_html(plan: list[dict[str, Any]]) -> str:
    if not plan:
        return ""
    rows = "".join(
        f"<li>{_PLAN_MARK.get(str(i.get('status')), '☐')} {escape(str(i.get('content', '')))}</li>"
        for i in plan
    )
    return f'<ul class="mlij-plan">{rows}</ul>'


def plan_markdown(plan: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"- {_PLAN_MD.get(str(i.get('status')), '[ ]')} {i.get('content', '')}" for i in plan
    )


def card_class(card: ToolCard) -> str:
    if card.state == "waiting":
        return "mlij-card mlij-ask"
    if card.success is False or card.state in _FAIL_STATES:
        return "mlij-card mlij-fail"
    if card.success:
        return "mlij-card mlij-ok"
    return "mlij-card"


def card_title_html(card: ToolCard) -> str:
    args = compact_args(card.arguments)
    arg_html = f" <code>{escape(args)}</code>" if args else ""
    return (
        f"<b>{escape(card.tool)}</b>{arg_html} <span class='mlij-dim'>· "
        f"{escape(card.state_label)}{job_link_html(card.job_url)}"
        f"{job_link_html(card.trackio_url, 'dashboard')}</span>"
    )


def card_detail_html(card: ToolCard) -> str:
    """Reason and cost lines under a card's title (for approvals)."""
    parts = []
    if card.reason:
        parts.append(escape(card.reason))
    if card.estimated_cost_usd is not None:
        parts.append(f"estimated cost ${card.estimated_cost_usd:.2f}")
    return f"<div class='mlij-dim'>{' · '.join(parts)}</div>" if parts else ""


def args_html(arguments: dict[str, Any]) -> str:
    text = json.dumps(arguments, indent=2, ensure_ascii=False, default=str)
    return f"<pre>{escape(text)}</pre>"


# ---------------------------------------------------------------- transcript


class Transcript:
    """The static rendering of a finished turn (HTML, markdown and plain text)."""

    def __init__(self, record: TurnRecord):
        self.record = record

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {
            "text/html": self.html(),
            "text/markdown": self.markdown(),
            "text/plain": self.plain(),
        }

    def header(self) -> str:
        r = self.record
        return f"ml-intern · session {r.session_name} ({r.session_id}) · {r.model}"

    # -- html

    def html(self) -> str:
        r = self.record
        parts = [CSS, f'<div class="{ROOT_CLASS}">']
        parts.append(f'<div class="mlij-head">{escape(self.header())}</div>')
        parts += self._items_html(r.items)
        if r.plan:
            parts.append(f"<div><b>Plan</b>{plan_html(r.plan)}</div>")
        if r.error:
            parts.append(f'<div class="mlij-err">{escape(r.error)}</div>')
        parts.append(f'<div class="mlij-dim">{escape(r.footer())}</div>')
        parts.append("</div>")
        parts.append(KEEP_IN_VIEW)
        return "\n".join(parts)

    def _items_html(self, items: list[Item]) -> list[str]:
        parts = []
        for item in items:
            if isinstance(item, TextBlock):
                parts.append(f'<div class="mlij-md">{markdown_html(item.text)}</div>')
            elif isinstance(item, ToolCard):
                parts.append(self._card_html(item))
            elif isinstance(item, Reasoning):
                parts.append(reasoning_html(item))
            else:
                cls = "mlij-err" if item.kind == "warn" else "mlij-dim"
                parts.append(f'<div class="{cls}">{escape(item.text)}</div>')
        return parts

    def _card_html(self, card: ToolCard) -> str:
        if card.tool == "research":
            return self._research_html(card)
        title = card_title_html(card) + card_detail_html(card)
        extra = display_html(card.display)
        output = "" if card.proposed_code is not None else card.full_output()
        if not output:
            return f'<div class="{card_class(card)}">{title}{extra}</div>'
        body = f"<pre>{escape(output)}</pre>"
        return (
            f'<div class="{card_class(card)}"><details><summary>{title}</summary>'
            f"{body}</details>{extra}</div>"
        )

    def _research_html(self, card: ToolCard) -> str:
        """A research call: collapsed, its sub-agent's text and tool cards inside."""
        stats = research_stats(card, self.record.model)
        title = f"{card_title_html(card)} <span class='mlij-dim'>· {escape(stats)}</span>"
        inner = self._items_html(card.sub.items) if card.sub is not None else []
        if card.sub is not None and card.sub.error:
            inner.append(f'<div class="mlij-err">{escape(card.sub.error)}</div>')
        if card.success is False and card.output:
            inner.append(f"<pre>{escape(card.full_output())}</pre>")
        return (
            f'<div class="{card_class(card)} mlij-research"><details><summary>{title}</summary>'
            + "\n".join(inner)
            + "</details></div>"
        )

    # -- markdown

    def markdown(self) -> str:
        r = self.record
        out = [f"*{self.header()}*", ""]
        out += self._items_markdown(r.items)
        if r.plan:
            out += ["**Plan**", "", plan_markdown(r.plan), ""]
        if r.error:
            out += [f"**Error:** {r.error}", ""]
        out.append(f"*{r.footer()}*")
        return "\n".join(out)

    def _items_markdown(self, items: list[Item]) -> list[str]:
        out: list[str] = []
        for item in items:
            if isinstance(item, TextBlock):
                out += [item.text, ""]
            elif isinstance(item, Reasoning):
                out += [
                    f"<details><summary>{item.summary}</summary>",
                    "",
                    item.text,
                    "</details>",
                    "",
                ]
            elif isinstance(item, ToolCard):
                args = compact_args(item.arguments)
                line = f"> **{item.tool}**" + (f" `{_md_code(args)}`" if args else "")
                if item.job_url:
                    line += f" ([job page](<{item.job_url}>))"
                if item.trackio_url:
                    line += f" ([dashboard](<{item.trackio_url}>))"
                out.append(f"{line} — {item.state_label}")
                if item.tool == "research":
                    out += self._research_markdown(item)
                    continue
                preview, more = item.preview()
                if preview.strip():
                    out += [">", *(f">     {line}" for line in preview.splitlines())]
                extra = display_markdown(item.display)
                if extra:
                    out += ["", *extra]
                out.append("")
            else:
                out += [f"*{item.text}*", ""]
        return out

    def _research_markdown(self, card: ToolCard) -> list[str]:
        """The sub-agent's part, quoted under its card."""
        out = [f"> *{research_stats(card, self.record.model)}*", ">"]
        inner = self._items_markdown(card.sub.items) if card.sub is not None else []
        if card.sub is not None and card.sub.error:
            inner += [f"**Error:** {card.sub.error}", ""]
        lines = [line for entry in inner for line in entry.split("\n")]
        out += [f"> {line}" if line else ">" for line in lines]
        out.append("")
        return out

    # -- plain

    def plain(self) -> str:
        r = self.record
        out = [self.header(), ""]
        out += self._items_plain(r.items)
        if r.plan:
            out += ["Plan:", plan_markdown(r.plan), ""]
        if r.error:
            out += [f"Error: {r.error}", ""]
        out.append(r.footer())
        return "\n".join(out)

    def _items_plain(self, items: list[Item]) -> list[str]:
        out: list[str] = []
        for item in items:
            if isinstance(item, TextBlock):
                out += [item.text, ""]
            elif isinstance(item, Reasoning):
                out += [f"[{item.summary}]", ""]
            elif isinstance(item, ToolCard):
                args = compact_args(item.arguments)
                out.append(f"[{item.tool}] {args} — {item.state_label}".replace("]  —", "] —"))
                if item.job_url:
                    out.append(f"    job page: {item.job_url}")
                if item.trackio_url:
                    out.append(f"    dashboard: {item.trackio_url}")
                if item.tool == "research":
                    out.append(f"    {research_stats(item, self.record.model)}")
                    inner = self._items_plain(item.sub.items) if item.sub is not None else []
                    if item.sub is not None and item.sub.error:
                        inner += [f"Error: {item.sub.error}", ""]
                    lines = [line for entry in inner for line in entry.split("\n")]
                    out += [f"    | {line}".rstrip() for line in lines]
                    out.append("")
                    continue
                preview, _more = item.preview()
                out += [f"    {line}" for line in preview.splitlines()]
                out += [f"    {line}" for line in display_plain(item.display)]
                out.append("")
            else:
                out += [item.text, ""]
        return out


def reasoning_html(item: Reasoning, *, open_: bool = False) -> str:
    """Collapsed reasoning: a summary line that opens onto the text."""
    attr = " open" if open_ else ""
    return (
        f'<details class="mlij-dim"{attr}><summary>{escape(item.summary)}</summary>'
        f'<div class="mlij-md">{markdown_html(item.text)}</div></details>'
    )


def _md_code(text: str) -> str:
    return text.replace("`", "'")

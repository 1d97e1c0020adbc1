"""Text mode: a turn rendered as markdown/text outputs while the cell blocks.

Used with `--wait`, in terminal IPython and where no widget frontend is
listening (nbconvert, papermill). The intern thread only puts events on a
queue (`QueueSink`); the cell's own (main) thread prints them, which is
safe because the cell is still running. Approvals cannot be clicked here,
so the conductor rejects them with `AUTO_REJECT_FEEDBACK` and the renderer
says so.
"""

from __future__ import annotations

import queue
import sys
import time
from typing import Any

from .markup import compact_args
from .tool_display import CELL_HINT, code_fence, image_items, links_of
from .transcript import ToolCard, TurnRecord, plan_markdown, research_stats

__all__ = ["AUTO_REJECT_FEEDBACK", "QueueSink", "TextRenderer", "run_blocking"]

AUTO_REJECT_FEEDBACK = (
    "The user could not approve this call: the notebook cell ran without buttons (text "
    "mode), so it was not run. Do not retry it in this turn; tell the user what you wanted "
    "to run and why."
)
VISIBLE_REASON = (
    "not run: it needs approval, and this cell runs in text mode (--wait, a terminal or "
    "nbconvert) where nothing can be clicked. Re-run without --wait to approve it, or with "
    "--yolo to allow it."
)


class QueueSink:
    """A `Sink` that hands everything to the blocking cell through a queue."""

    def __init__(self) -> None:
        self.q: queue.Queue[tuple[str, Any]] = queue.Queue()

    def queued(self) -> None:
        self.q.put(("queued", None))

    def started(self) -> None:
        self.q.put(("started", None))

    def event(self, event: Any) -> None:
        self.q.put(("event", event))

    def finished(self, outcome: str) -> None:
        self.q.put(("finished", outcome))


class TextRenderer:
    """Turns a job's progress into outputs.

    `live=True` (terminal): streamed text is written as it arrives. Otherwise
    (a notebook with no widgets) each finished block is shown as markdown.
    """

    def __init__(self, record: TurnRecord, *, live: bool, show: Any = None, show_image: Any = None):
        self.record = record
        self.live = live
        self.show = show or (_print if live else _markdown)
        # Called with each image (base64 PNG) a tool displayed.
        self.show_image = show_image or (_image_line if live else _image)
        self._block: Any = None  # the text block being streamed

    def handle(self, kind: str, payload: Any) -> bool:
        """Render one queue entry; True when the job is over."""
        r = self.record
        if kind == "queued":
            self.show("*queued: starts when the current turn ends*")
        elif kind == "started":
            r.start()
        elif kind == "finished":
            self._end_stream()
            if not r.finished:
                r.finish(payload)
            self.show(f"*{r.footer()}*")
            return True
        else:
            self._event(payload)
        return False

    def _event(self, e: Any) -> None:
        r = self.record
        before = len(r.items)
        r.apply(e)
        if getattr(e, "parent_call_id", ""):
            self._nested(e)
            return
        kind = e.type
        if kind == "assistant_chunk":
            self._block = r.items[-1]
            if self.live:
                sys.stdout.write(e.content)
                sys.stdout.flush()
            return
        if kind == "assistant_reasoning":
            return  # kept collapsed in the transcript; not printed as it streams
        if kind == "assistant_stream_end":
            self._end_stream()
            return
        if kind == "assistant_message":
            if len(r.items) > before:  # not streamed: show it now
                self.show(e.content)
            return
        self._end_stream()
        if kind == "tool_call":
            args = compact_args(e.arguments)
            self.show(f"→ **{e.tool}**" + (f" `{_code(args)}`" if args else ""))
        elif kind == "tool_output":
            card = r.cards.get(e.tool_call_id)
            if card is not None and card.state in ("rejected", "abandoned", "cancelled"):
                return
            self.show(self._output_md(card, e))
            self._display(card)
        elif kind == "tool_log" and e.tool in ("llm", "mcp") and not e.tool_call_id:
            self.show(f"*{e.log}*")
        elif kind == "approval_required":
            for p in e.tools:
                args = compact_args(p.arguments)
                reason = f" ({p.reason})" if p.reason else ""
                self.show(
                    f"⚠ **{p.tool}**"
                    + (f" `{_code(args)}`" if args else "")
                    + f"{reason} — "
                    + VISIBLE_REASON
                )
        elif kind == "plan_update" and e.plan:
            self.show("**Plan**\n\n" + plan_markdown(e.plan))
        elif kind == "compacted":
            self.show(f"*Compacted the conversation: {e.old_tokens:,} → {e.new_tokens:,} tokens.*")
        elif kind == "error":
            hint = "\n\nRun `%intern login` to log in." if e.login_required else ""
            self.show(f"**Error:** {e.error}{hint}")
        elif kind == "interrupted":
            self.show("*Interrupted.*")

    def _nested(self, e: Any) -> None:
        """A research sub-agent's step, as one indented line (its text is not streamed:
        several may run at once; its report is the research call's output)."""
        kind = e.type
        tag = f"↳ *research {self._research_label(e.parent_call_id)}*"
        if kind == "tool_call":
            args = compact_args(e.arguments)
            self.show(f"{tag} → **{e.tool}**" + (f" `{_code(args)}`" if args else ""))
        elif kind == "tool_output":
            first = next((ln for ln in e.output.splitlines() if ln.strip()), "")[:160]
            status = "done" if e.success else "failed"
            self.show(f"{tag} ← **{e.tool}** {status}" + (f": `{_code(first)}`" if first else ""))
        elif kind == "assistant_message" and e.content.strip():
            lines = [ln for ln in e.content.strip().splitlines() if ln.strip()]
            text = " ".join(lines[:2])[:240] + (" …" if len(lines) > 2 else "")
            self.show(f"{tag}: {text}")
        elif kind == "tool_log" and e.tool == "llm":
            self.show(f"{tag}: *{e.log}*")
        elif kind == "error":
            self.show(f"{tag} **Error:** {e.error}")

    def _research_label(self, call_id: str) -> str:
        """'#n' by the order the research calls of this turn started."""
        ids = [c.tool_call_id for c in self.record.cards.values() if c.tool == "research"]
        return f"#{ids.index(call_id) + 1}" if call_id in ids else ""

    def _end_stream(self) -> None:
        block, self._block = self._block, None
        if block is None:
            return
        if self.live:
            sys.stdout.write("\n")
            sys.stdout.flush()
        elif block.text:
            self.show(block.text)

    def _display(self, card: ToolCard | None) -> None:
        """A tool's images and proposed cell, after its output."""
        if card is None or not card.display:
            return
        for mime, b64 in image_items(card.display):
            if mime == "image/png":
                self.show_image(b64)
            else:
                self.show_image(b64, mime)
        for url, label in links_of(card.display):
            self.show(f"[{label}]({url})" if label != url else url)
        code = card.proposed_code
        if code is not None:
            fence = code_fence(code)
            self.show(
                f"**Proposed cell** (not run; {CELL_HINT}):\n\n{fence}python\n"
                f"{code.rstrip()}\n{fence}"
            )

    def _output_md(self, card: ToolCard | None, e: Any) -> str:
        status = "done" if e.success else "failed"
        head = f"← **{e.tool}** {status}"
        if card is not None and card.tool == "research":
            head += f" · {research_stats(card, self.record.model)}"
        text = card.preview()[0] if card is not None else e.output[:600]
        if not text.strip():
            return head
        body = "\n".join("    " + line for line in text.splitlines())
        return f"{head}\n\n{body}"


def _code(text: str) -> str:
    return text.replace("`", "'")


def _print(text: str) -> None:
    print(text)


def _markdown(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


def _image(b64: str, mime: str = "image/png") -> None:
    import base64

    from IPython.display import Image, display

    try:
        image = Image(data=base64.b64decode(b64), format=mime.split("/")[-1])
    except ValueError:  # a format this IPython cannot embed (WebP on IPython 7)
        print(f"[{mime} image]")
        return
    display(image)


def _image_line(_b64: str, _mime: str = "image/png") -> None:
    print("[image]")


def run_blocking(
    sink: QueueSink,
    renderer: TextRenderer,
    stop: Any,
    *,
    idle: Any = None,
    grace: float = 10.0,
) -> str:
    """Render until the job ends; Ctrl-C / kernel interrupt calls `stop()` once.

    `idle()` runs whenever nothing arrived for a moment: it runs work that
    needs the main thread this cell is holding (kernel tools).
    Returns the record's final state.
    """
    stopping_since: float | None = None
    while True:
        try:
            try:
                kind, payload = sink.q.get(timeout=0.05)
            except queue.Empty:
                if idle is not None:
                    idle()
                if stopping_since is not None and time.monotonic() - stopping_since > grace:
                    renderer.show("*Stopped waiting; the turn may still be ending.*")
                    return renderer.record.state
                continue
        except KeyboardInterrupt:
            if stopping_since is None:
                stopping_since = time.monotonic()
                stop()
                renderer.show("*Stopping…*")
            continue
        if renderer.handle(kind, payload):
            return renderer.record.state

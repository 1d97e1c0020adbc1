"""The live view of one `%%intern` turn (core ipywidgets only).

Built and displayed on the main thread; afterwards updated only from the
intern thread by a per-view flusher, and only through widget traits (no
`print`, no `with output:` from background code). Every change is applied
to a `TurnRecord` first; the flusher then syncs the widgets at most once
per `FRAME` seconds and within `MAX_MESSAGES_PER_S` comm messages per
second, sending only what changed: streamed text goes into append-only
segments (`stream.SegmentBuffer`), so no update carries the whole message.
When the turn ends the view is replaced, through its display handle, by
the static `Transcript`.

Works with ipywidgets 7 (Colab) and 8: only HTML, Button, Checkbox, Text,
VBox, HBox, Output and Layout are used, with APIs common to both.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
from typing import Any, Protocol

from ..render.markup import CSS, ROOT_CLASS, escape
from ..render.transcript import (
    STATE_LABELS,
    Note,
    Reasoning,
    TextBlock,
    ToolCard,
    Transcript,
    TurnRecord,
    plan_html,
    usage_text,
)
from .login import login
from .parts import (
    AppendBox,
    ApprovalPanel,
    CardBlock,
    Counter,
    ReasoningBlock,
    StreamBlock,
    note_block,
)
from .research import ResearchBlock

__all__ = ["FRAME", "MAX_MESSAGES_PER_S", "LiveView"]

log = logging.getLogger(__name__)

FRAME = 0.05  # seconds between flushes: at most 20 updates per second
MAX_MESSAGES_PER_S = 20  # comm messages in any one-second window, per view
FRAME_RESERVE = 4  # room kept for the next frame's messages
# Wire-byte budget: about BYTE_RATIO x the text received, plus a small floor
# per second and some slack. Over budget, frames wait (but never over MAX_GAP).
BYTE_RATIO = 1.5
BYTE_FLOOR_PER_S = 4000
BYTE_SLACK = 6000
MAX_GAP = 0.35
# Above this rate (~750 tokens/s) segments are shown once, when complete,
# instead of being re-sent as they grow.
FAST_CHARS_PER_S = 3000
NOT_SHOWN = "The cell does not show this approval yet; try again."
PLACEHOLDER = "ml-intern is working (live view); its transcript replaces this when the turn ends."

_colab_checked = False


def _widgets() -> Any:
    import ipywidgets

    return ipywidgets


def enable_colab_widgets() -> None:
    """Colab needs its custom widget manager for ipywidgets 8 (7.x works as is)."""
    global _colab_checked
    if _colab_checked:
        return
    _colab_checked = True
    if "google.colab" not in sys.modules:
        return
    try:
        w = _widgets()
        if int(w.__version__.split(".")[0]) >= 8:
            from google.colab import output  # type: ignore[import-not-found]

            output.enable_custom_widget_manager()
    except Exception:  # not fatal: widgets may still render
        log.debug("could not enable Colab's custom widget manager", exc_info=True)


class TurnControls(Protocol):
    """All the live view may do to its request (`turns.RequestControls`)."""

    def stop(self) -> None: ...
    def decide(self, approvals: list[Any]) -> None: ...


class LiveView:
    """A turn's live view; also the `Sink` the conductor feeds (intern thread)."""

    def __init__(self, record: TurnRecord, totals: Any = None):
        w = _widgets()
        self.w = w
        self.record = record
        self._totals = totals  # callable -> (tokens, cost_usd, cost_known) for the session
        self.controls: TurnControls | None = None  # set once the request exists
        self.stop_requested = False
        self.layout = w.Layout()
        self.css = w.HTML(value=CSS, layout=self.layout)
        self.style = self.css.style
        self.header = w.HTML(value=self._header_html(), layout=self.layout, style=self.style)
        self.stop = w.Button(description="Stop", button_style="danger", tooltip="Stop this turn")
        self.stop.on_click(self._on_stop)
        self.body = AppendBox(w, self.layout)
        self.plan = w.HTML(value="", layout=self.layout, style=self.style)
        self.footer = w.HTML(value="", layout=self.layout, style=self.style)
        self.root = w.VBox(
            [self.css, w.HBox([self.header, self.stop]), self.body.widget, self.plan, self.footer]
        )
        self.root.add_class(ROOT_CLASS)
        self._base_children = tuple(self.root.children)
        self._blocks: list[Any] = []  # parallel to record.items
        self._streams: dict[int, StreamBlock] = {}
        self._dirty: set[int] = set()
        self._meta = True  # header/footer/plan/panel/error need a look
        self._panel: ApprovalPanel | None = None
        self._panel_for: tuple[str, ...] = ()
        self._error_box: Any = None
        self._login_out: Any = None
        self._extra: list[Any] = []
        self.handle: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._next_at = 0.0
        self._closed = False
        self.messages = 0  # comm messages sent by flushes (for benchmarks)
        self.frames = 0
        self.bytes_sent = 0  # estimated
        self.chars_in = 0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._sent: collections.deque[tuple[float, int]] = collections.deque()
        self._t0: float | None = None
        self._last_frame = 0.0

    # ----------------------------------------------------------- main thread

    def display(self) -> Any:
        from IPython.display import display

        enable_colab_widgets()
        # The widget's own repr would carry every child's repr as text/plain.
        bundle = {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.root.model_id,
            },
            "text/plain": PLACEHOLDER,
        }
        self.handle = display(bundle, raw=True, display_id=True)
        return self.handle

    def bind(self, controls: TurnControls) -> None:
        self.controls = controls

    def set_totals(self, totals: Any) -> None:
        self._totals = totals
        self._meta = True

    def _on_stop(self, _button: Any) -> None:
        self.request_stop()

    def request_stop(self) -> None:
        """What the Stop button does (also used by the sidebar's Stop)."""
        self.stop.disabled = True
        self.stop_requested = True  # before the session exists, the start sees this
        if self.controls is not None:
            self.controls.stop()

    def decide_call(self, call_id: str, approved: bool, feedback: str | None = None) -> str | None:
        """Decide one call as its Approve/Reject button does (the sidebar's decide).

        Main thread, like a click. Returns None when decided, else why not:
        "already decided", or `NOT_SHOWN` while the panel is not up yet."""
        panel = self._panel
        if panel is not None and call_id in panel.rows:
            return panel.decide_with(call_id, approved, feedback)
        card = self.record.cards.get(call_id)
        if card is not None and card.state != "waiting":
            return "already decided"
        return NOT_SHOWN

    def submit_decisions(self, decisions: list[Any]) -> None:
        if self.controls is not None:
            self.controls.decide(decisions)

    def _on_login(self, _button: Any) -> None:
        with self._login_out:
            login()

    # ------------------------------------------------- sink (intern thread)

    def queued(self) -> None:
        self.record.state = "queued"
        self._meta = True
        self._schedule()

    def started(self) -> None:
        self.record.start()
        self._meta = True
        self._schedule()

    def event(self, e: Any) -> None:
        if self._closed:
            return
        items_before = len(self.record.items)
        self.record.apply(e)
        if getattr(e, "parent_call_id", ""):  # a research sub-agent's: its card shows it
            if e.type == "assistant_chunk":
                if self._t0 is None:
                    self._t0 = asyncio.get_running_loop().time()
                self.chars_in += len(e.content)
                self._recent.append((asyncio.get_running_loop().time(), len(e.content)))
            else:
                self._meta = True  # the footer's tokens and cost
            self._mark_card(e.parent_call_id)
            self._schedule()
            return
        if e.type == "assistant_chunk":
            if self._t0 is None:
                self._t0 = asyncio.get_running_loop().time()
            self.chars_in += len(e.content)
            self._recent.append((asyncio.get_running_loop().time(), len(e.content)))
            index = len(self.record.items) - 1
            self._stream(index).buffer.append(e.content)
        elif e.type == "assistant_message" and len(self.record.items) > items_before:
            self._stream(items_before).buffer.append(e.content)
        elif e.type == "assistant_reasoning":
            self._dirty.add(len(self.record.items) - 1)
        elif e.type in ("tool_call", "tool_state_change", "tool_output", "tool_log"):
            self._mark_card(getattr(e, "tool_call_id", None))
        elif e.type == "approval_required":
            for p in e.tools:
                self._mark_card(p.tool_call_id)
        if e.type not in ("assistant_chunk", "assistant_reasoning"):
            self._meta = True  # header, footer, plan, approvals, error
        self._schedule()

    def finished(self, outcome: str) -> None:
        if self._closed:
            return
        if not self.record.finished:
            self.record.finish(outcome)
        self._meta = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush(final=True)
        if self.record.login_required:
            return  # keep the live view: it has the Log in button
        self.replace_with_transcript()

    def replace_with_transcript(self) -> None:
        self._closed = True
        if self.handle is not None:
            try:
                self.handle.update(Transcript(self.record))
            except Exception:
                log.exception("could not replace the live view with its transcript")
        for widget in self._all_widgets():
            try:
                widget.close()
            except Exception:
                pass

    # ------------------------------------- extras (intern thread; banner.py)

    def note(self, text: str, kind: str = "info") -> None:
        """Add a line to the turn (shown here and kept in the transcript)."""
        if self._closed:
            return
        self.record.items.append(Note(text, kind=kind))
        self._meta = True
        self._schedule()

    def set_state(self, state: str) -> None:
        """Show `state` in the header until the turn starts."""
        if self._closed or self.record.finished:
            return
        self.record.state = state
        self._meta = True
        self._schedule()

    def show_extra(self, widget: Any) -> None:
        """Show `widget` under the turn (above the footer) until `hide_extra`."""
        if self._closed:
            return
        c = Counter()
        self._set_extra(c, [*self._extra, widget])
        self.messages += c.n

    def hide_extra(self, widget: Any) -> None:
        if self._closed or widget not in self._extra:
            return
        c = Counter()
        self._set_extra(c, [x for x in self._extra if x is not widget])
        self.messages += c.n

    # ------------------------------------------------------------- flushing

    def _stream(self, index: int) -> StreamBlock:
        block = self._streams.get(index)
        if block is None:
            block = self._streams[index] = StreamBlock(self)
        self._dirty.add(index)
        return block

    def _mark_card(self, call_id: str | None) -> None:
        card = self.record.cards.get(call_id or "")
        if card is not None:
            for i, item in enumerate(self.record.items):
                if item is card:
                    self._dirty.add(i)

    def _schedule(self) -> None:
        if self._timer is not None or self._closed:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._next_at - loop.time())
        self._timer = loop.call_later(delay, self._flush)

    def _window_wait(self, now: float) -> float:
        """Seconds until the last second's messages leave room for a frame (0: go)."""
        sent = self._sent
        while sent and sent[0][0] <= now - 1.0:
            sent.popleft()
        if sum(n for _t, n in sent) + FRAME_RESERVE <= MAX_MESSAGES_PER_S:
            return 0.0
        return sent[0][0] + 1.0 - now

    def _over_budget(self, now: float) -> bool:
        if self._t0 is None:
            return False
        allowance = BYTE_RATIO * self.chars_in + BYTE_FLOOR_PER_S * (now - self._t0) + BYTE_SLACK
        return self.bytes_sent > allowance and now - self._last_frame < MAX_GAP

    def _flush(self, final: bool = False) -> None:
        self._timer = None
        if self._closed:
            return
        if not final:
            loop = asyncio.get_running_loop()
            now = loop.time()
            wait = self._window_wait(now)
            if wait > 0 or self._over_budget(now):
                self._timer = loop.call_later(max(wait, FRAME), self._flush)
                return
        c = Counter()
        try:
            self._sync(c, final)
            while final and self._dirty:  # the last frame shows everything
                self._sync(c, final)
        except Exception:
            self._dirty.clear()
            log.exception("live view update failed")
        self.messages += c.n
        self.bytes_sent += c.bytes
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return
        if c.n:
            self.frames += 1
            self._last_frame = now
            self._sent.append((now, c.n))
        # Spend the message budget: a flush that sent n messages waits n frames.
        per_message = 1.0 / MAX_MESSAGES_PER_S
        self._next_at = now + max(FRAME, per_message * c.n)
        if self._dirty and not final:
            self._schedule()  # segments left over from a burst

    def _fast(self) -> bool:
        """Is text arriving faster than FAST_CHARS_PER_S (over the last second)?"""
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return False
        recent = self._recent
        while recent and recent[0][0] < now - 1.0:
            recent.popleft()
        return sum(n for _t, n in recent) >= FAST_CHARS_PER_S

    def _sync(self, c: Counter, final: bool = False) -> None:
        r = self.record
        # New items get widgets, in order; then dirty ones are brought up to date.
        new = []
        for i in range(len(self._blocks), len(r.items)):
            block = self._make_block(i, r.items[i], c)
            self._blocks.append(block)
            new.append(block.widget)
            self._dirty.add(i)
        more = set()
        fast = not final and self._fast()
        for i in sorted(self._dirty):
            block = self._blocks[i]
            if isinstance(block, StreamBlock):
                item = r.items[i]
                hold = fast and isinstance(item, TextBlock) and item.streaming
                if block.sync(c, hold_tail=hold):
                    more.add(i)
            elif isinstance(block, ResearchBlock):
                if block.sync(c, fast):
                    more.add(i)
            elif isinstance(block, CardBlock | ReasoningBlock):
                block.sync(c)
        self._dirty = more
        self.body.extend(new, c)
        if not self._meta:
            return
        self._meta = False
        c.set(self.header, value=self._header_html())
        if r.finished or r.state == "queued":
            c.set(self.stop, disabled=r.finished)
        c.set(self.plan, value=f"<b>Plan</b>{plan_html(r.plan)}" if r.plan else "")
        c.set(self.footer, value=f"<div class='mlij-dim'>{escape(self._footer_text())}</div>")
        self._sync_panel(c)
        self._sync_error(c)

    def _make_block(self, index: int, item: Any, c: Counter) -> Any:
        if isinstance(item, TextBlock):
            block = self._stream(index)
            block.ensure(c)
            return block
        if isinstance(item, ToolCard):
            if item.tool == "research":
                return ResearchBlock(self, item, c)
            return CardBlock(self, item, c)
        if isinstance(item, Reasoning):
            return ReasoningBlock(self, item, c)
        assert isinstance(item, Note)
        return note_block(self, item, c)

    def _sync_panel(self, c: Counter) -> None:
        waiting = [x for x in self.record.items if isinstance(x, ToolCard) and x.state == "waiting"]
        key = tuple(x.tool_call_id for x in waiting)
        if key == self._panel_for:
            return
        if self._panel is not None:
            old = self._panel
            self._panel = None
            self._set_extra(c, [x for x in self._extra if x is not old.widget])
            for widget in old.widgets:
                widget.close()
        self._panel_for = key
        if waiting and not self.record.finished:
            self._panel = ApprovalPanel(self, waiting, c)
            self._set_extra(c, [*self._extra, self._panel.widget])

    def _sync_error(self, c: Counter) -> None:
        r = self.record
        if not r.error or self._error_box is not None:
            return
        w = self.w
        message = c.new(
            w.HTML,
            value=f'<div class="mlij-err">{escape(r.error)}</div>',
            layout=self.layout,
            style=self.style,
        )
        parts = [message]
        if r.login_required:
            button = c.new(w.Button, description="Log in", button_style="primary", cost=3)
            button.on_click(self._on_login)
            self._login_out = c.new(w.Output, cost=2)
            parts += [button, self._login_out]
        self._error_box = c.new(w.VBox, parts, layout=self.layout)
        self._set_extra(c, [*self._extra, self._error_box])

    def _set_extra(self, c: Counter, extra: list[Any]) -> None:
        self._extra = extra
        base = self._base_children
        c.set(self.root, children=(*base[:-1], *extra, base[-1]))

    # ---------------------------------------------------------------- texts

    def _header_html(self) -> str:
        r = self.record
        state = STATE_LABELS.get(r.state, r.state)
        usage = ""
        if self._totals is not None:
            try:
                usage = " · " + usage_text(*self._totals())
            except Exception:
                usage = ""
        return (
            f'<div class="mlij-head"><b>ml-intern</b> · session {escape(r.session_name)} '
            f"· {escape(r.model)} · <b>{escape(state)}</b>{escape(usage)}</div>"
        )

    def _footer_text(self) -> str:
        r = self.record
        if r.started is None:
            return ""
        traces = f" · {r.traces}" if r.traces else ""
        usage = usage_text(
            r.tokens,
            r.cost_usd,
            r.cost_known,
            cached=r.cache_read_tokens,
            cache_written=r.cache_write_tokens,
        )
        return f"{r.duration:.1f} s · {usage}{traces}"

    def _all_widgets(self) -> list[Any]:
        out = [self.root, self.css, self.header, self.stop, self.plan, self.footer]
        out += self.root.children
        for block in self._blocks:
            out += block.all_widgets()
        if self._panel is not None:
            out += self._panel.widgets
        if self._error_box is not None:
            out += [self._error_box, *self._error_box.children]
        out += [
            x
            for widget in list(out)
            for x in (getattr(widget, "layout", None), getattr(widget, "style", None))
        ]
        seen: set[int] = set()
        unique = []
        for widget in out:
            if widget is not None and id(widget) not in seen:
                seen.add(id(widget))
                unique.append(widget)
        return unique

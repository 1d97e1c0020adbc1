"""The pieces of the live view: append-only boxes, streamed text, tool cards, approvals.

Each piece creates and updates its widgets through a `Counter`, which
counts the comm messages (and roughly the bytes) a flush sends so the view
can keep to its budget. `view` is the `LiveView` that owns the piece (its
shared layout and style, and where approval decisions go).
"""

from __future__ import annotations

from typing import Any

from ...agent.messages import SPEND_PAUSE_TOOL
from ..render.markup import escape, markdown_html
from ..render.tool_display import display_html, trackio_embed_html
from ..render.transcript import (
    Reasoning,
    ToolCard,
    args_html,
    card_class,
    card_detail_html,
    card_title_html,
)
from .stream import SegmentBuffer

__all__ = [
    "AppendBox",
    "ApprovalPanel",
    "CardBlock",
    "Counter",
    "ReasoningBlock",
    "Static",
    "StreamBlock",
]

GROUP_SIZE = 8  # children per box in an append-only tree
MAX_NEW_SEGMENTS = 2  # per frame: a burst of text is shown over several frames
FAST_SEGMENT_CHARS = 3000  # segment size when text arrives fast (see LiveView)
_REF_BYTES = 47  # '"IPY_MODEL_<32 hex>", ' in a children list
_MSG_BYTES = 100  # a comm message's content around its state


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value) + 4
    if isinstance(value, (tuple, list)):
        return _REF_BYTES * len(value)
    return 8


class Counter:
    """Counts the comm messages (one per changed or new widget) and about the bytes a flush sends."""

    def __init__(self) -> None:
        self.n = 0
        self.bytes = 0

    def set(self, widget: Any, **traits: Any) -> None:
        changed = {k: v for k, v in traits.items() if getattr(widget, k) != v}
        if not changed:
            return
        self.n += 1
        self.bytes += _MSG_BYTES + sum(len(k) + _size(v) for k, v in changed.items())
        if len(changed) == 1:
            ((k, v),) = changed.items()
            setattr(widget, k, v)
            return
        with widget.hold_sync():
            for k, v in changed.items():
                setattr(widget, k, v)

    def new(self, factory: Any, *args: Any, cost: int = 1, **kw: Any) -> Any:
        self.n += cost
        self.bytes += 600 * cost + sum(_size(v) for v in (*args, *kw.values()))
        return factory(*args, **kw)


class AppendBox:
    """A VBox that only grows, as a tree of small boxes so no `children` update is large."""

    def __init__(self, w: Any, layout: Any, c: Counter | None = None):
        self._w = w
        self._layout = layout
        self.widget = c.new(w.VBox, layout=layout) if c else w.VBox(layout=layout)
        self._groups: list[Any] = []
        self.items: list[Any] = []

    def extend(self, widgets: list[Any], c: Counter) -> None:
        if not widgets:
            return
        pending = list(widgets)
        self.items.extend(pending)
        if self._groups:
            last = self._groups[-1]
            room = GROUP_SIZE - len(last.children)
            if room > 0:
                take, pending = pending[:room], pending[room:]
                c.set(last, children=tuple(last.children) + tuple(take))
        new_groups = []
        while pending:
            take, pending = pending[:GROUP_SIZE], pending[GROUP_SIZE:]
            # Children given at creation travel in the comm_open: no extra update.
            new_groups.append(c.new(self._w.VBox, take, layout=self._layout))
        self._groups += new_groups
        if new_groups:
            c.set(self.widget, children=tuple(self.widget.children) + tuple(new_groups))

    def all_widgets(self) -> list[Any]:
        return [self.widget, *self._groups, *self.items]


class StreamBlock:
    """One streamed assistant message: a SegmentBuffer mirrored into HTML segments."""

    def __init__(self, view: Any):
        self.view = view
        self.buffer = SegmentBuffer()
        self.box: AppendBox | None = None  # widgets are made by the flusher
        self.segments: list[Any] = []
        self._dirty: set[int] = set()  # segment indices not yet shown as they are

    def ensure(self, c: Counter) -> None:
        if self.box is None:
            self.box = AppendBox(self.view.w, self.view.layout, c)

    @property
    def widget(self) -> Any:
        assert self.box is not None
        return self.box.widget

    def sync(self, c: Counter, hold_tail: bool = False) -> bool:
        """Bring the segments up to date; True when some are left for the next frame.

        `hold_tail`: do not show the last, still growing segment yet (text is
        arriving so fast that re-sending it every frame would cost more
        bytes than the text itself; it is shown, once, when complete).
        """
        self.ensure(c)
        assert self.box is not None
        changed = self.buffer.flush(FAST_SEGMENT_CHARS if hold_tail else 0)
        self._dirty.update(seg.index for seg in changed)
        last = len(self.buffer.segments) - 1
        new: list[Any] = []
        for index in sorted(self._dirty):
            if index >= len(self.segments) and len(new) >= MAX_NEW_SEGMENTS:
                break  # a burst of text: show it over several frames
            if hold_tail and index == last:
                break
            seg = self.buffer.segments[index]
            html = f'<div class="mlij-md">{markdown_html(seg.markdown)}</div>'
            if index < len(self.segments):
                c.set(self.segments[index], value=html)
            else:
                widget = c.new(
                    self.view.w.HTML, value=html, layout=self.view.layout, style=self.view.style
                )
                self.segments.append(widget)
                new.append(widget)
            self._dirty.discard(index)
        self.box.extend(new, c)
        return bool(self._dirty)

    def all_widgets(self) -> list[Any]:
        return self.box.all_widgets() if self.box is not None else []


class CardBlock:
    """One tool call: title (name, compact arguments, state, job link), an output
    preview (or the latest log lines while it runs), and its images or proposed cell."""

    def __init__(self, view: Any, card: ToolCard, c: Counter):
        self.view = view
        self.card = card
        self.expanded = False
        self.title = c.new(view.w.HTML, value="", layout=view.layout, style=view.style)
        self.preview = c.new(view.w.HTML, value="", layout=view.layout, style=view.style)
        self.more: Any = None
        self.extra: Any = None  # images / proposed cell, made once the output arrives
        self.widget = c.new(view.w.VBox, [self.title, self.preview], layout=view.layout)

    def sync(self, c: Counter) -> None:
        card = self.card
        c.set(
            self.title,
            value=f'<div class="{card_class(card)}">{card_title_html(card)}{card_detail_html(card)}</div>',
        )
        html = display_html(card.display) + trackio_embed_html(card.trackio_url)
        if html and self.extra is None:
            view = self.view
            self.extra = c.new(view.w.HTML, value=html, layout=view.layout, style=view.style)
            self._set_children(c)
        elif html and self.extra is not None:
            c.set(self.extra, value=html)  # unchanged values send nothing
        if self.expanded:
            return
        text, more = card.preview()
        c.set(self.preview, value=f"<pre>{escape(text)}</pre>" if text.strip() else "")
        if more and self.more is None:
            self.more = c.new(self.view.w.Button, description="show more", cost=3)
            self.more.on_click(self._toggle)
            self._set_children(c)

    def _set_children(self, c: Counter) -> None:
        parts = (self.title, self.preview, self.more, self.extra)
        c.set(self.widget, children=tuple(w for w in parts if w is not None))

    def _toggle(self, _button: Any) -> None:  # main thread (a click)
        self.expanded = not self.expanded
        if self.expanded:
            self.preview.value = f"<pre>{escape(self.card.full_output())}</pre>"
            self.more.description = "show less"
        else:
            text, _more = self.card.preview()
            self.preview.value = f"<pre>{escape(text)}</pre>"
            self.more.description = "show more"

    def all_widgets(self) -> list[Any]:
        parts = (self.widget, self.title, self.preview, self.more, self.extra)
        return [w for w in parts if w is not None]


class ReasoningBlock:
    """The model's reasoning, collapsed: a toggle naming its length; the text
    only while opened (so streaming it costs one small update per frame)."""

    def __init__(self, view: Any, item: Reasoning, c: Counter):
        self.view = view
        self.item = item
        self.expanded = False
        self.toggle = c.new(view.w.Button, description=self._label(), cost=3)
        self.toggle.on_click(self._toggle)
        self.body = c.new(view.w.HTML, value="", layout=view.layout, style=view.style)
        self.widget = c.new(view.w.VBox, [self.toggle, self.body], layout=view.layout)

    def _label(self) -> str:
        return ("▾ " if self.expanded else "▸ ") + self.item.summary

    def _html(self) -> str:
        return f'<div class="mlij-dim mlij-md">{markdown_html(self.item.text)}</div>'

    def sync(self, c: Counter) -> None:
        c.set(self.toggle, description=self._label())
        if self.expanded:
            c.set(self.body, value=self._html())

    def _toggle(self, _button: Any) -> None:  # main thread (a click)
        self.expanded = not self.expanded
        self.body.value = self._html() if self.expanded else ""
        self.toggle.description = self._label()

    def all_widgets(self) -> list[Any]:
        return [self.widget, self.toggle, self.body]


class ApprovalPanel:
    """Approve / Reject per pending call, Approve all, feedback text, always-allow choice."""

    def __init__(self, view: Any, cards: list[ToolCard], c: Counter):
        self.view = view
        w = view.w
        self.cards = cards
        self.decisions: dict[str, Any] = {}
        self.rows: dict[str, dict[str, Any]] = {}
        self.widgets: list[Any] = []
        spend = all(card.tool == SPEND_PAUSE_TOOL for card in cards)
        title = (
            "The session's spend reached a pause: go on?"
            if spend
            else f"{len(cards)} call(s) need your approval"
        )
        children = [self._new(c, w.HTML, value=f"<b>{title}</b>", light=True)]
        for card in cards:
            row: dict[str, Any] = {}
            row["info"] = self._new(
                c,
                w.HTML,
                value=(
                    f'<div class="mlij-card mlij-ask">{card_title_html(card)}'
                    f"{card_detail_html(card)}{args_html(card.arguments)}</div>"
                ),
                light=True,
            )
            parts = [row["info"]]
            if card.always_allowable:
                row["always"] = self._new(
                    c,
                    w.Checkbox,
                    value=False,
                    description=f"always allow {card.tool} in this session",
                    indent=False,
                )
                parts.append(row["always"])
            row["feedback"] = self._new(
                c,
                w.Text,
                value="",
                placeholder="Feedback for the intern (sent if you reject)",
                layout=w.Layout(width="80%"),
            )
            row["approve"] = self._new(c, w.Button, description="Approve", button_style="success")
            row["reject"] = self._new(c, w.Button, description="Reject", button_style="danger")
            if card.tool == SPEND_PAUSE_TOOL:  # no call behind it: nothing to tell the model
                row["feedback"].layout.display = "none"
            row["approve"].on_click(lambda _b, cid=card.tool_call_id: self.decide(cid, True))
            row["reject"].on_click(lambda _b, cid=card.tool_call_id: self.decide(cid, False))
            parts.append(row["feedback"])
            parts.append(self._new(c, w.HBox, [row["approve"], row["reject"]]))
            self.rows[card.tool_call_id] = row
            children.append(self._new(c, w.VBox, parts, layout=view.layout))
        self.approve_all = self._new(c, w.Button, description="Approve all")
        self.approve_all.on_click(lambda _b: self.decide_all())
        children.append(self.approve_all)
        self.widget = self._new(c, w.VBox, children, layout=view.layout)

    def _new(self, c: Counter, factory: Any, *args: Any, light: bool = False, **kw: Any) -> Any:
        if light:
            kw.setdefault("layout", self.view.layout)
            kw.setdefault("style", self.view.style)
        widget = c.new(factory, *args, cost=1 if light else 3, **kw)
        self.widgets.append(widget)
        return widget

    # -- clicks (main thread)

    def decide(self, call_id: str, approved: bool) -> None:
        from ...agent.messages import ApprovalDecision

        if call_id in self.decisions:
            return
        row = self.rows[call_id]
        feedback = row["feedback"].value.strip() or None
        always = bool(row["always"].value) if "always" in row else False
        self.decisions[call_id] = ApprovalDecision(
            tool_call_id=call_id,
            approved=approved,
            feedback=None if approved else feedback,
            always_allow=approved and always,
        )
        for key in ("approve", "reject", "feedback", "always"):
            if key in row:
                row[key].disabled = True
        row["approve" if approved else "reject"].description = (
            "Approved" if approved else "Rejected"
        )
        self._maybe_submit()

    def decide_with(self, call_id: str, approved: bool, feedback: str | None) -> str | None:
        """Decide from outside the cell (the sidebar): the feedback goes into the
        call's text box, then it is the button's click. None when decided, else why not."""
        if call_id in self.decisions:
            return "already decided"
        if feedback and not approved:
            self.rows[call_id]["feedback"].value = feedback
        self.decide(call_id, approved)
        return None

    def decide_all(self) -> None:
        for card in self.cards:
            if card.tool_call_id not in self.decisions:
                self.decide(card.tool_call_id, True)

    def _maybe_submit(self) -> None:
        if len(self.decisions) < len(self.cards):
            return
        self.approve_all.disabled = True
        decisions = [self.decisions[c.tool_call_id] for c in self.cards]
        self.view.submit_decisions(decisions)


class Static:
    def __init__(self, widget: Any):
        self.widget = widget

    def sync(self, c: Counter) -> None:
        pass

    def all_widgets(self) -> list[Any]:
        return [self.widget]


def note_block(view: Any, note: Any, c: Counter) -> Static:
    """A view's note line (`transcript.Note`): dim, or red for a warning."""
    cls = "mlij-err" if note.kind == "warn" else "mlij-dim"
    html = c.new(
        view.w.HTML,
        value=f'<div class="{cls}">{escape(note.text)}</div>',
        layout=view.layout,
        style=view.style,
    )
    return Static(html)

"""A `research` call in the live view: a nested, collapsible card.

The card's title says what was asked, its state, and the sub-agent's tool
calls, tokens, cost and time; under it, the sub-agent's own streamed text
and tool cards, built from `ToolCard.sub` (a nested `TurnRecord`) with the
same pieces as the turn itself. The text is fed to its segments from the
record at each flush, so the block can be created at any point of the
research and catch up. **collapse** / **expand** hides or shows the
inside; it is a click, so it runs on the main thread.
"""

from __future__ import annotations

from typing import Any

from ..render.markup import escape
from ..render.transcript import (
    Note,
    TextBlock,
    ToolCard,
    card_class,
    card_title_html,
    research_stats,
)
from .parts import AppendBox, CardBlock, Counter, StreamBlock, note_block

__all__ = ["ResearchBlock"]


class ResearchBlock:
    def __init__(self, view: Any, card: ToolCard, c: Counter):
        w = view.w
        self.view = view
        self.card = card
        self.open = True
        self.title = c.new(w.HTML, value="", layout=view.layout, style=view.style)
        self.toggle = c.new(w.Button, description="collapse", tooltip="Hide its steps", cost=3)
        self.toggle.on_click(self._on_toggle)
        self.head = c.new(w.HBox, [self.title, self.toggle], layout=view.layout)
        self.body = AppendBox(w, view.layout, c)
        self.inner = c.new(
            w.VBox, [self.body.widget], layout=view.layout, _dom_classes=["mlij-nested"]
        )
        self.failure = c.new(w.HTML, value="", layout=view.layout, style=view.style)
        self.widget = c.new(w.VBox, self._children(), layout=view.layout)
        self.blocks: list[Any] = []  # parallel to card.sub.items
        self.fed: dict[int, int] = {}  # text block index -> characters given to its segments

    def _children(self) -> tuple[Any, ...]:
        return (self.head, self.inner, self.failure) if self.open else (self.head, self.failure)

    def sync(self, c: Counter, fast: bool = False) -> bool:
        """Bring the card up to date; True when text is left for the next frame."""
        card = self.card
        stats = research_stats(card, self.view.record.model)
        c.set(
            self.title,
            value=(
                f'<div class="{card_class(card)} mlij-research">{card_title_html(card)}'
                f"<div class='mlij-dim'>{escape(stats)}</div></div>"
            ),
        )
        sub = card.sub
        problem = ""
        if sub is not None and sub.error:
            problem = sub.error
        elif card.success is False and card.output:
            problem = card.preview()[0]
        c.set(
            self.failure, value=f'<div class="mlij-err">{escape(problem)}</div>' if problem else ""
        )
        if sub is None:
            return False
        new = []
        for i in range(len(self.blocks), len(sub.items)):
            block = self._make(sub.items[i], c)
            self.blocks.append(block)
            new.append(block.widget)
        more = False
        for i, (item, block) in enumerate(zip(sub.items, self.blocks, strict=True)):
            if isinstance(block, StreamBlock) and isinstance(item, TextBlock):
                fed = self.fed.get(i, 0)
                if len(item.text) > fed:
                    block.buffer.append(item.text[fed:])
                    self.fed[i] = len(item.text)
                hold = fast and item.streaming
                more = block.sync(c, hold_tail=hold) or more
            elif isinstance(block, CardBlock):
                block.sync(c)
        self.body.extend(new, c)
        return more

    def _make(self, item: Any, c: Counter) -> Any:
        view = self.view
        if isinstance(item, TextBlock):
            block = StreamBlock(view)
            block.ensure(c)
            return block
        if isinstance(item, ToolCard):
            return CardBlock(view, item, c)
        assert isinstance(item, Note)
        return note_block(view, item, c)

    def _on_toggle(self, _button: Any) -> None:  # main thread (a click)
        self.open = not self.open
        self.toggle.description = "collapse" if self.open else "expand"
        self.toggle.tooltip = "Hide its steps" if self.open else "Show its steps"
        self.widget.children = self._children()

    def all_widgets(self) -> list[Any]:
        out = [self.widget, self.head, self.title, self.toggle, self.inner, self.failure]
        out += self.body.all_widgets()
        for block in self.blocks:
            out += block.all_widgets()
        return out

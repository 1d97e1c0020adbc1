"""The "Where were we?" banner of a live view, after a kernel restart.

A `Banner` is the sink of the seed job (`restore.py`): when the new session
emits `session_expired` it shows, under the cell's view, which earlier
session this notebook had and three buttons: **Catch me up**, **Restore
full history** (only when that history fits the model's context) and
**Start fresh**. A click (main thread) records the choice; the seed job on
the intern thread carries it out and reports progress as notes of the turn,
which stay in its transcript. Stop before choosing drops the request.

Widgets are built and changed on the intern thread (traits only), except the
buttons' `disabled`, set by the click callbacks on the main thread.
"""

from __future__ import annotations

from typing import Any

from ..conductor.gate import CANCEL, CATCH_UP, FRESH, RESTORE, TITLE, Offer
from ..render.markup import escape

__all__ = ["BUTTONS", "Banner", "banner_html"]

# Button label -> choice, in display order.
BUTTONS = {"Catch me up": CATCH_UP, "Restore full history": RESTORE, "Start fresh": FRESH}
WAITING = "waiting for your choice"


def banner_html(offer: Offer) -> str:
    previous = offer.previous
    restore = " <b>Restore full history</b> reloads every message." if offer.fits else ""
    return (
        '<div style="border-left: 3px solid #e90; padding: 2px 8px; margin: 4px 0;">'
        f"<b>{TITLE}</b> This notebook's last session, {escape(previous.describe())}, is not "
        "in this kernel any more (the kernel restarted). "
        "<b>Catch me up</b> continues it from a summary;"
        f"{restore} <b>Start fresh</b> archives it and starts a new one. "
        "Your request runs once you choose.</div>"
    )


class Banner:
    """The seed job's sink for a live view (intern thread unless noted)."""

    def __init__(self, view: Any, offer: Offer):
        self.view = view
        self.offer = offer
        self.box: Any = None
        self.buttons: list[Any] = []
        self._widgets: list[Any] = []

    # --------------------------------------------------------------- sink

    def queued(self) -> None:
        pass

    def started(self) -> None:
        pass

    def event(self, e: Any) -> None:
        if e.type == "session_expired":
            self._show()
        elif e.type == "llm_call" or (e.type == "tool_log" and e.tool == "llm"):
            self.view.event(e)  # the summary's tokens and retry notices

    def finished(self, outcome: str) -> None:
        self._hide()

    def progress(self, text: str, kind: str = "info") -> None:
        self._hide()
        if kind != "error":  # errors are shown by the requests they fail
            self.view.note(text, "warn" if kind == "warn" else "info")

    def working(self, state: str) -> None:
        self.view.set_state(state)

    # ------------------------------------------------------------ widgets

    def _show(self) -> None:
        if self.offer.decided or self.box is not None:
            return  # a flag chose already
        w = self.view.w
        html = w.HTML(value=banner_html(self.offer), layout=self.view.layout)
        for label, choice in BUTTONS.items():
            if choice == RESTORE and not self.offer.fits:
                continue
            button = w.Button(
                description=label,
                button_style="primary" if choice == CATCH_UP else "",
                tooltip=label,
            )
            button.on_click(lambda _b, c=choice: self.choose(c))
            self.buttons.append(button)
        row = w.HBox(self.buttons)
        self.box = w.VBox([html, row])
        self._widgets = [html, row, self.box, *self.buttons]
        self.view.stop.on_click(self._on_stop)
        self.view.show_extra(self.box)
        self.view.set_state(WAITING)

    def _hide(self) -> None:
        if self.box is None:
            return
        box, self.box = self.box, None
        self.view.hide_extra(box)
        for widget in self._widgets:
            try:
                widget.close()
            except Exception:
                pass

    # ------------------------------------------------------- main thread

    def choose(self, choice: str) -> None:
        if self.offer.choose(choice):
            for button in self.buttons:
                button.disabled = True

    def _on_stop(self, _button: Any) -> None:
        self.offer.choose(CANCEL)

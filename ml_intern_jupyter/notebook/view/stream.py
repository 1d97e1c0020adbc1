"""Coalesce streamed text into append-only segments (pure: no widgets, no clock).

A widget whose value is the whole growing message would resend everything
on every update (O(n^2) bytes on the wire). Instead the text is cut into
segments; an update only ever carries the newest segment, and a segment,
once the stream has moved past it, never changes again.

Segments end where cutting cannot change how the markdown renders: at a
blank line outside a code fence, or at any line inside a fence (the next
segment then renders with the fence's opening line as a `prefix`). A
paragraph that grows past `max_chars` without such a place is cut at a
line break or a space. Concatenating `Segment.text` always gives back
exactly the text that was streamed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Segment", "SegmentBuffer"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


@dataclass
class Segment:
    index: int
    text: str = ""
    # Markdown put before `text` when rendering: a reopened code fence.
    prefix: str = ""
    # Fence state where this segment starts: (marker, opening line) or None.
    fence: tuple[str, str] | None = None

    @property
    def markdown(self) -> str:
        return self.prefix + self.text


@dataclass
class _Cut:
    at: int  # offset in the segment text
    fence: tuple[str, str] | None  # fence state after the cut
    clean: bool  # outside any fence, after a blank line


@dataclass
class SegmentBuffer:
    """Append chunks with `append`; `flush` says which segments to (re)render.

    `min_chars`: a segment is not cut before it holds this much text.
    `frames_per_segment`: when text arrives fast, a segment is cut once it
    holds about this many flushes' worth, so each segment is resent only a
    few times while it grows (bytes on the wire stay near the text size).
    `max_target`: never aim for segments longer than this (bursts of text).
    `max_chars`: hard cap for text with no markdown-safe place to cut.
    """

    min_chars: int = 400
    frames_per_segment: int = 2
    max_target: int = 4000
    max_chars: int = 6000
    segments: list[Segment] = field(default_factory=list)
    _pending: list[str] = field(default_factory=list)

    def append(self, text: str) -> None:
        if text:
            self._pending.append(text)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    @property
    def text(self) -> str:
        """Everything appended so far (flushed or not)."""
        return "".join(s.text for s in self.segments) + "".join(self._pending)

    def flush(self, min_target: int = 0) -> list[Segment]:
        """Move pending text into segments; returns the segments that changed, in order.

        The first returned segment may be one already shown (it grew); every
        later one is new. Segments before the first returned one are final.
        `min_target` asks for segments of at least that size (fast streams).
        """
        if not self._pending:
            return []
        incoming = "".join(self._pending)
        self._pending.clear()
        if not self.segments:
            self.segments.append(Segment(0))
        current = self.segments[-1]
        changed = [current]
        current.text += incoming
        target = max(self.min_chars, self.frames_per_segment * len(incoming), min_target)
        target = min(target, self.max_target)
        while len(current.text) >= target:
            cut = self._choose_cut(current, target)
            if cut is None:
                break
            rest = current.text[cut.at :]
            current.text = current.text[: cut.at]
            current = Segment(
                len(self.segments),
                rest,
                prefix=(cut.fence[1] + "\n") if cut.fence else "",
                fence=cut.fence,
            )
            self.segments.append(current)
            changed.append(current)
        return changed

    # ---------------------------------------------------------------- cutting

    def _choose_cut(self, seg: Segment, target: int) -> _Cut | None:
        """The last cut within `max_target`, preferring block ends (so the new
        segment starts small), else the first one past it."""
        floor = min(self.min_chars, target) // 2
        cuts = [c for c in _cuts(seg) if floor <= c.at < len(seg.text)]
        clean = [c for c in cuts if c.clean]
        for group in (clean, cuts):
            within = [c for c in group if c.at <= self.max_target]
            if within:
                return within[-1]
        for group in (clean, cuts):
            if group:
                return group[0]
        if len(seg.text) < self.max_chars:
            return None
        return _hard_cut(seg, floor)


def _line_ends(seg: Segment) -> list[_Cut]:
    """After every complete line of `seg`: the fence state there, and whether a
    cut there is markdown-safe (`clean`: outside fences at a block end)."""
    out: list[_Cut] = []
    fence = seg.fence
    pos = 0
    text = seg.text
    while (nl := text.find("\n", pos)) >= 0:
        line = text[pos:nl]
        pos = nl + 1
        match = _FENCE.match(line)
        if fence is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                fence = (match.group(1), line)
                out.append(_Cut(pos, fence, clean=False))
            else:
                out.append(_Cut(pos, None, clean=not line.strip()))
        elif (
            match
            and match.group(1)[0] == fence[0][0]
            and len(match.group(1)) >= len(fence[0])
            and not match.group(2).strip()
        ):
            fence = None
            out.append(_Cut(pos, None, clean=True))
        else:
            out.append(_Cut(pos, fence, clean=False))
    return out


def _cuts(seg: Segment) -> list[_Cut]:
    """Every markdown-safe place to cut `seg`: block ends, or any line inside a fence."""
    return [c for c in _line_ends(seg) if c.clean or c.fence is not None]


def _hard_cut(seg: Segment, floor: int) -> _Cut | None:
    """Cut an over-long run at its last line break or space (rendering may differ slightly)."""
    text = seg.text
    states = {0: seg.fence, **{c.at: c.fence for c in _line_ends(seg)}}
    for sep in ("\n", " "):
        at = text.rfind(sep, floor, len(text) - 1)
        if at >= 0:
            break
    else:
        if len(text) < 2:
            return None
        at = len(text) - 2
    cut = at + 1
    line_start = text.rfind("\n", 0, cut) + 1
    return _Cut(cut, states.get(line_start, seg.fence), clean=False)

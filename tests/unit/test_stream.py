"""The segment buffer: exact text, markdown-safe cuts, bounded segments."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ml_intern_jupyter.notebook.render.markup import markdown_html
from ml_intern_jupyter.notebook.view.stream import SegmentBuffer

PROSE = "A paragraph of prose that keeps going for a while. " * 8
CODE = "```python\n" + "".join(f"x{i} = {i}\n" for i in range(200)) + "```\n"


def stream(buffer: SegmentBuffer, text: str, chunk: int, per_flush: int) -> list[list[int]]:
    """Feed `text` in chunks, flushing every `per_flush` chunks; changed indices per flush."""
    changes = []
    pieces = [text[i : i + chunk] for i in range(0, len(text), chunk)]
    for n, piece in enumerate(pieces, start=1):
        buffer.append(piece)
        if n % per_flush == 0:
            changes.append([s.index for s in buffer.flush()])
    changes.append([s.index for s in buffer.flush()])
    return changes


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from([*"ab `~#*-\n", "```", "\n\n", "```py\n", "~~~~\n"])).map(
        lambda parts: "".join(parts) * 3
    ),
    chunk=st.integers(1, 50),
    per_flush=st.integers(1, 20),
    min_chars=st.integers(1, 500),
)
def test_segments_always_add_up_to_the_streamed_text(
    text: str, chunk: int, per_flush: int, min_chars: int
) -> None:
    buffer = SegmentBuffer(min_chars=min_chars, max_chars=max(min_chars * 2, 50))
    changes = stream(buffer, text, chunk, per_flush)
    assert "".join(s.text for s in buffer.segments) == text
    assert buffer.text == text
    # Only the newest segments change: each flush touches a suffix, in order.
    last = 0
    for changed in changes:
        if changed:
            assert changed == list(range(changed[0], changed[0] + len(changed)))
            assert changed[0] >= last
            last = changed[-1]


def test_prose_is_cut_at_paragraph_boundaries() -> None:
    text = "\n\n".join(f"Paragraph {i}. {PROSE}" for i in range(20))
    buffer = SegmentBuffer(min_chars=400)
    stream(buffer, text, chunk=40, per_flush=10)
    assert len(buffer.segments) > 3
    for seg in buffer.segments[:-1]:
        assert seg.text.endswith("\n\n") and not seg.prefix
    # Rendering the segments one by one gives the same HTML as rendering it all.
    assert "".join(markdown_html(s.markdown) for s in buffer.segments) == markdown_html(text)


def test_long_code_blocks_are_cut_between_lines_and_reopened() -> None:
    text = "Here is the code:\n\n" + CODE + "\nThat was it.\n"
    buffer = SegmentBuffer(min_chars=200, max_target=600)
    stream(buffer, text, chunk=30, per_flush=5)
    inside = [s for s in buffer.segments if s.prefix]
    assert inside, "the fence spans several segments"
    for seg in inside:
        assert seg.prefix == "```python\n"
    html = "".join(markdown_html(s.markdown) for s in buffer.segments)
    assert html.count("<pre>") == len(inside) + 1
    visible = re.sub(r"<[^>]+>", "", html)
    assert "x199 = 199" in visible and "That was it." in visible
    assert all(f"x{i} = {i}\n" in visible for i in range(200))


def test_segments_grow_with_the_text_rate_but_stay_bounded() -> None:
    text = "\n\n".join(f"P{i} {PROSE}" for i in range(200))
    slow, fast = SegmentBuffer(), SegmentBuffer()
    stream(slow, text, chunk=20, per_flush=1)
    stream(fast, text, chunk=400, per_flush=5)  # 2,000 characters per flush
    slow_avg = sum(len(s.text) for s in slow.segments) / len(slow.segments)
    fast_avg = sum(len(s.text) for s in fast.segments) / len(fast.segments)
    assert slow_avg < fast_avg
    assert max(len(s.text) for s in fast.segments) <= fast.max_target + len(PROSE) + 10


def test_a_paragraph_with_no_place_to_cut_is_cut_at_a_space_past_max_chars() -> None:
    text = "word " * 3000
    buffer = SegmentBuffer(min_chars=100, max_chars=1000, max_target=500)
    stream(buffer, text, chunk=100, per_flush=1)
    assert "".join(s.text for s in buffer.segments) == text
    assert max(len(s.text) for s in buffer.segments) <= 1100
    assert all(s.text.endswith(" ") for s in buffer.segments[:-1])


def test_burst_of_text_becomes_several_segments() -> None:
    text = "\n\n".join(f"P{i} {PROSE}" for i in range(100))
    buffer = SegmentBuffer()
    buffer.append(text)
    changed = buffer.flush()
    assert len(changed) == len(buffer.segments) > 5
    assert max(len(s.text) for s in buffer.segments) <= buffer.max_target + len(PROSE) + 10

"""The pieces that render tool payloads: image caps, URLs, fences, log tails."""

from __future__ import annotations

import base64

from ml_intern_jupyter.notebook.render.tool_display import (
    MAX_IMAGE_B64,
    code_fence,
    display_markdown,
    images_html,
    job_url_in_log,
    logs_preview,
    safe_url,
)


def b64_of(size: int) -> str:
    return base64.b64encode(b"\x89PNG" + b"\0" * size).decode()


def test_big_and_extra_images_are_counted_not_embedded() -> None:
    small, big = b64_of(300_000), b64_of(MAX_IMAGE_B64)
    html = images_html([big, small, small, small])
    assert html.count("<img") == 3, "the first three that fit; the big one is not embedded"
    assert "[image of 1.0 MB not embedded]" in html
    html = images_html([small] * 6)
    assert html.count("<img") == 3 and html.count("not embedded") == 3, "per-card byte budget"
    html = images_html([b64_of(10)] * 10)
    assert html.count("<img") == 8 and "[2 more images]" in html


def test_urls_must_be_plain_http() -> None:
    assert safe_url("https://huggingface.co/jobs/a/b") == "https://huggingface.co/jobs/a/b"
    for bad in ("javascript:alert(1)", 'https://x.co/"onclick="x', "https://x.co/a b", None, 3):
        assert safe_url(bad) is None
    assert job_url_in_log("Job j1 submitted on cpu-basic: https://hf.co/jobs/u/j1") == (
        "https://hf.co/jobs/u/j1"
    )
    assert job_url_in_log("step 3: see https://hf.co/jobs/u/j1") is None


def test_markdown_fence_outlasts_backticks_in_the_code() -> None:
    code = 'print("```")\n'
    assert code_fence(code) == "````"
    lines = display_markdown({"proposed_cell": code})
    assert lines[:3] == ["````python", 'print("```")', "````"]


def test_logs_preview_keeps_the_tail_and_counts_the_rest() -> None:
    assert logs_preview([], 0) == ""
    assert logs_preview(["a", "b"], 0) == "a\nb"
    assert logs_preview(["a", "b", "c"], 5, shown=2) == "… 6 earlier log lines not shown\nb\nc"
    assert logs_preview(["a", "b"], 0, shown=1) == "… 1 earlier log line not shown\nb"

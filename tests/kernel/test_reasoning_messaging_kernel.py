"""In a real kernel: streamed reasoning shows collapsed in the live view (its text
reaches the frontend only when opened) and folded in the transcript; prompt-cache
tokens in the footer and `%intern cost`; a turn that waits for approval posts
`approval_required` to a configured webhook without holding up the session."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.fakes.notify_server import NotifyServer
from tests.kernel.helpers import KernelHarness

THOUGHT = "First I check the data types, then I answer the question briefly."
MESSAGING = {
    "enabled": True,
    "auto_event_types": ["approval_required"],
    "destinations": {"hook": {"provider": "webhook", "url_env": "MLIJ_HOOK_URL"}},
}


@pytest.fixture
def hook() -> Iterator[NotifyServer]:
    with NotifyServer() as server:
        yield server


@pytest.fixture
def noted_kernel(
    llm_server: FakeLLMServer, hook: NotifyServer, tmp_path: Path
) -> Iterator[KernelHarness]:
    harness = KernelHarness(
        tmp_path,
        llm_server.url,
        ML_INTERN_MESSAGING=json.dumps(MESSAGING),
        MLIJ_HOOK_URL=f"{hook.url}/hook",
    ).start()
    try:
        harness.run_ok("%load_ext ml_intern_jupyter")
        yield harness
    finally:
        harness.stop()


def test_reasoning_is_collapsed_live_and_folded_in_the_transcript(
    noted_kernel: KernelHarness, llm_server: FakeLLMServer
) -> None:
    kernel = noted_kernel
    # Slow enough that the live view is still up (not yet the transcript) for the click.
    answer = "They are floats. " * 60
    llm_server.script(Reply(content=answer, reasoning=THOUGHT, chunk_size=9, delay=0.05))
    result = kernel.run_ok("%%intern\nWhat types are the columns?")
    display_id, root = kernel.view_of(result["msg_id"])
    toggle = kernel.wait_button("▸ Reasoning (12 words)", root, timeout=30)
    assert "data types" not in kernel.view_html(root)  # collapsed: the text is not sent
    kernel.click(toggle)
    kernel.wait_for(lambda: "data types" in kernel.view_html(root), 10, "opened reasoning")
    transcript = kernel.transcript(display_id, timeout=30)
    assert "They are floats." in transcript["text/plain"]
    html = transcript["text/html"]
    assert "<details" in html and "Reasoning (12 words)</summary>" in html and "data types" in html


def test_a_turn_waiting_for_approval_posts_to_the_webhook(
    noted_kernel: KernelHarness, llm_server: FakeLLMServer, hook: NotifyServer
) -> None:
    kernel = noted_kernel
    llm_server.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "echo hooked"})]),
        Reply(content="Ran it."),
    )
    result = kernel.run_ok("%%intern\nRun echo.")
    display_id, root = kernel.view_of(result["msg_id"])
    approve = kernel.wait_button("Approve", root)
    deadline = time.monotonic() + 30
    while not hook.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hook.requests, "the webhook got nothing"
    posted = hook.requests[0]
    assert posted.path == "/hook" and posted.json["event"] == "approval_required"
    assert "bash" in posted.json["text"]
    kernel.click(approve)
    assert "Ran it." in kernel.transcript(display_id, timeout=60)["text/plain"]


def test_cached_prompt_tokens_show_in_the_footer_and_the_cost(
    noted_kernel: KernelHarness, llm_server: FakeLLMServer
) -> None:
    kernel = noted_kernel
    llm_server.script(
        Reply(
            content="Cached.",
            usage=(1000, 20),
            usage_extra={"prompt_tokens_details": {"cached_tokens": 800}},
        )
    )
    result = kernel.run_ok("%%intern -s cache\nHello again.")
    display_id, _root = kernel.view_of(result["msg_id"])
    transcript = kernel.transcript(display_id, timeout=30)
    assert "1,020 tokens (800 cached)" in transcript["text/plain"]
    cost = kernel.text_of(kernel.run_ok("%intern -s cache cost")["msg_id"])
    assert "Prompt cache: 800 prompt tokens read from it" in cost

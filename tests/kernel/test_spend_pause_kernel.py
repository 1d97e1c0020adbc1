"""A spend pause in a real kernel's live view: in yolo, the turn stops at $5
with the spend in the approval panel; **Approve** goes on to the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.kernel.helpers import KernelHarness

PRICES = {"vllm/test-model": {"input_per_mtok": 3000, "output_per_mtok": 0}}


@pytest.fixture
def priced_kernel(llm_server: FakeLLMServer, tmp_path: Path) -> Iterator[KernelHarness]:
    harness = KernelHarness(
        tmp_path, llm_server.url, ML_INTERN_MODEL_PRICES=json.dumps(PRICES)
    ).start()
    try:
        harness.run_ok("%load_ext ml_intern_jupyter")
        yield harness
    finally:
        harness.stop()


def test_yolo_turn_pauses_at_the_threshold_and_approve_goes_on(
    priced_kernel: KernelHarness, llm_server: FakeLLMServer
) -> None:
    kernel = priced_kernel
    llm_server.script(  # $3 a call: the pause comes before the third
        Reply(tool_calls=[ToolCall("bash", {"command": "echo one"})], usage=(1000, 0)),
        Reply(tool_calls=[ToolCall("bash", {"command": "echo two"})], usage=(1000, 0)),
        Reply(content="All done after the pause.", usage=(10, 0)),
    )
    result = kernel.run_ok("%%intern --yolo\nRun two commands.")
    display_id, root = kernel.view_of(result["msg_id"])
    approve = kernel.wait_button("Approve", root)
    html = kernel.view_html(root)
    assert "spend reached a pause" in html
    assert "spent $6.00 (inference $6.00, jobs $0.00)" in html
    assert len(llm_server.requests) == 2
    kernel.click(approve)
    transcript = kernel.transcript(display_id, timeout=60)
    assert "All done after the pause." in transcript["text/plain"]
    cost = kernel.run_ok("%intern cost")
    text = kernel.text_of(cost["msg_id"])
    assert "Next spend pause at $10.00" in text and "This notebook: $6.0300" in text

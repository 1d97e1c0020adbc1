"""An HF Job from a real kernel, against the fake Hub: approval, then the live job card."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.hub_server import FakeHub, JobStep
from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.kernel.helpers import TEST_CONFIG, KernelHarness, html_text


@pytest.fixture(scope="module")
def job_kernel(
    llm_server: FakeLLMServer, hub: FakeHub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KernelHarness]:
    tmp = Path(tmp_path_factory.mktemp("jobs"))
    config = tmp / "jobs-config.json"
    config.write_text(json.dumps({**TEST_CONFIG, "job_poll_interval_s": 0.05}))
    harness = KernelHarness(
        tmp,
        llm_server.url,
        ML_INTERN_CONFIG=str(config),
        HF_ENDPOINT=hub.url,
        HF_TOKEN=hub.token,
        HF_HUB_OFFLINE="0",
        HF_HUB_DISABLE_TELEMETRY="1",
    ).start()
    try:
        harness.run_ok("%load_ext ml_intern_jupyter")
        yield harness
    finally:
        harness.stop()


def test_approved_gpu_job_shows_its_link_states_logs_and_cost(
    job_kernel: KernelHarness, hub: FakeHub, fake: FakeLLMServer
) -> None:
    # Each poll of the job advances it one step: ~40 polls of 50 ms keep it
    # running for ~2 s after its first log lines, long enough to look at the card.
    hub.script_job(
        JobStep("SCHEDULING"),
        JobStep("RUNNING", ["Starting training", "epoch 1/2 loss=0.9"]),
        *[JobStep("RUNNING") for _ in range(40)],
        JobStep("RUNNING", ["epoch 2/2 loss=0.4"]),
        JobStep("COMPLETED", ["Training done"], running_secs=180),
    )
    fake.script(
        Reply(
            content="Launching the fine-tune on a T4.",
            tool_calls=[
                ToolCall(
                    "hf_jobs",
                    {
                        "operation": "run",
                        "image": "pytorch/pytorch:2.6.0",
                        "command": ["python", "train.py"],
                        "flavor": "t4-small",
                        "timeout": "1h",
                    },
                )
            ],
        ),
        Reply(content="The job finished: loss 0.4."),
    )
    result = job_kernel.run_ok("%%intern -s jobs\nFine-tune it on a GPU.")
    display_id, root = job_kernel.view_of(result["msg_id"])
    approve = job_kernel.wait_button("Approve", root)
    assert "t4-small" in html_text(job_kernel.view_html(root))  # the hardware asked for
    job_kernel.click(approve)

    # While the job runs: the card links the job's page and shows its latest log lines.
    job_kernel.wait_for(
        lambda: "epoch 1/2 loss=0.9" in job_kernel.view_html(root), what="the live log tail"
    )
    live = job_kernel.view_html(root)
    assert len(hub.jobs) == 1
    job = next(iter(hub.jobs.values()))
    url = f"{hub.url}/jobs/test-user/{job.id}"
    assert url in live
    assert "Training done" not in live
    assert (
        not [  # the view is still live: no transcript has replaced it
            m
            for m in job_kernel.display_updates()
            if m["content"].get("transient", {}).get("display_id") == display_id
        ]
    )

    transcript = job_kernel.transcript(display_id, timeout=60)
    assert url in transcript["text/html"]  # still linked from the static transcript
    text = transcript["text/plain"]
    assert "The job finished: loss 0.4." in text and "Training done" in text
    # The model got the job's outcome, URL and cost.
    tool = [m for m in fake.requests[-1].body["messages"] if m["role"] == "tool"][-1]
    assert tool["content"].startswith(f"Job {job.id} COMPLETED on t4-small after 3m 00s")
    assert f"URL: {url}" in tool["content"]

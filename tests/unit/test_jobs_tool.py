"""The `hf_jobs` tool against the fake Hub: runs, streaming, cost, cancellation, schedules."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.tools import pricing
from ml_intern_jupyter.tools.base import ToolSpec
from ml_intern_jupyter.tools.hub_client import in_thread
from ml_intern_jupyter.tools.jobs import (
    DEFAULT_UV_IMAGE,
    JobsSettings,
    estimate_job_cost,
    jobs_tool,
    parse_timeout,
)
from tests.fakes.hub_server import FakeHub, JobStep
from tests.hub_harness import FAST, Ctx, call

FAST_JOBS = JobsSettings(poll_interval_s=0.005, follow_grace_s=5.0)


@pytest.fixture
def jobs() -> ToolSpec:
    return jobs_tool(settings=FAST, jobs=FAST_JOBS)


def _only_job(hub: FakeHub) -> Any:
    assert len(hub.jobs) == 1
    return next(iter(hub.jobs.values()))


# ------------------------------------------------------------------- run / uv


async def test_run_streams_states_and_logs_and_returns_url_and_cost(
    hub: FakeHub, jobs: ToolSpec
) -> None:
    ctx = Ctx()
    result = await call(
        jobs,
        ctx,
        operation="run",
        image="pytorch/pytorch:2.6.0",
        command=["python", "train.py"],
        flavor="t4-small",
        timeout="1h",
        env={"EPOCHS": "2"},
    )
    job = _only_job(hub)
    assert result.success, result.output
    assert ctx.states == ["scheduling", "running", "completed"]
    assert ctx.logs[0] == f"Job {job.id} submitted on t4-small: {hub.url}/jobs/test-user/{job.id}"
    assert ctx.logs[1:] == [
        "Starting training",
        "epoch 1/2 loss=0.9",
        "epoch 2/2 loss=0.4",
        "Training done",
    ]
    url = f"{hub.url}/jobs/test-user/{job.id}"
    assert f"URL: {url}" in result.output
    assert result.output.startswith(f"Job {job.id} COMPLETED on t4-small after 3m 00s")
    assert "Training done" in result.output.split("Logs (last 4 of 4 lines):", 1)[1]
    # The Hub's live listing prices t4-small at $0.48/h (the packaged table says 0.40):
    # 180 s of running is 0.48 * 180 / 3600.
    assert result.cost_usd == pytest.approx(0.024)
    assert result.display == {"job_url": url, "job_id": job.id, "stage": "COMPLETED"}
    sent = hub.calls("POST", "/api/jobs/test-user")[0].json()
    assert sent["dockerImage"] == "pytorch/pytorch:2.6.0"
    assert sent["command"] == ["python", "train.py"]
    assert sent["flavor"] == "t4-small"
    assert sent["timeoutSeconds"] == 3600
    assert sent["environment"] == {"EPOCHS": "2"}


async def test_run_command_string_goes_through_sh(hub: FakeHub, jobs: ToolSpec) -> None:
    await call(jobs, operation="run", image="ubuntu", command="echo hi && nproc", detach=True)
    assert hub.calls("POST", "/api/jobs/")[0].json()["command"] == [
        "/bin/sh",
        "-c",
        "echo hi && nproc",
    ]


async def test_failed_job_is_a_failed_result_with_its_cost(hub: FakeHub, jobs: ToolSpec) -> None:
    hub.script_job(
        JobStep("RUNNING", ["loading data"]),
        JobStep("ERROR", ["Traceback: CUDA out of memory"], message="exit code 1", running_secs=60),
    )
    result = await call(jobs, operation="run", image="x", command=["y"], flavor="a10g-large")
    assert not result.success
    assert "ERROR" in result.output and "Message: exit code 1" in result.output
    assert "CUDA out of memory" in result.output and "fix the cause" in result.output
    assert result.cost_usd == pytest.approx(1.8 * 60 / 3600)


async def test_unknown_flavor_price_leaves_cost_unknown(hub: FakeHub, jobs: ToolSpec) -> None:
    result = await call(jobs, operation="run", image="x", command=["y"], flavor="mystery-gpu")
    assert result.success
    assert result.cost_usd is None and "≈ $" not in result.output


async def test_detach_returns_after_submission_without_polling(
    hub: FakeHub, jobs: ToolSpec
) -> None:
    result = await call(jobs, operation="run", image="x", command=["y"], detach=True)
    job = _only_job(hub)
    assert result.success and f"Job {job.id} submitted (SCHEDULING)" in result.output
    assert result.display is not None and result.display["job_url"].endswith(job.id)
    assert job.reads == 0


async def test_uv_inline_script_is_shipped_base64(hub: FakeHub, jobs: ToolSpec) -> None:
    script = "import torch\nprint('it\\'s fine', torch.__version__)\n"
    await call(
        jobs,
        operation="uv",
        script=script,
        dependencies=["torch", "trl>=0.9"],
        script_args=["--epochs", "2"],
        python="3.12",
        detach=True,
    )
    sent = hub.calls("POST", "/api/jobs/")[0].json()
    assert sent["dockerImage"] == DEFAULT_UV_IMAGE
    shell, flag, line = sent["command"]
    assert (shell, flag) == ("/bin/sh", "-c")
    encoded = re.match(r"echo (\S+) \| base64 -d > /tmp/script.py && exec ", line)
    assert encoded is not None
    assert base64.b64decode(encoded.group(1)).decode() == script
    assert line.endswith(
        "uv run --with torch --with 'trl>=0.9' --python 3.12 /tmp/script.py --epochs 2"
    )


async def test_uv_url_script_runs_directly(hub: FakeHub, jobs: ToolSpec) -> None:
    url = "https://huggingface.co/u/scripts/resolve/main/sft.py"
    await call(jobs, operation="uv", script=url, dependencies=["trl"], detach=True)
    assert hub.calls("POST", "/api/jobs/")[0].json()["command"] == [
        "uv",
        "run",
        "--with",
        "trl",
        url,
    ]


async def test_uv_script_file_from_the_workdir(
    hub: FakeHub, jobs: ToolSpec, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text("print('from file')\n")
    await call(jobs, Ctx(tmp_path), operation="uv", script="train.py", detach=True)
    line = hub.calls("POST", "/api/jobs/")[0].json()["command"][2]
    encoded = line.split()[1]
    assert base64.b64decode(encoded).decode() == "print('from file')\n"


async def test_uv_missing_script_file_is_refused(
    hub: FakeHub, jobs: ToolSpec, tmp_path: Path
) -> None:
    result = await call(jobs, Ctx(tmp_path), operation="uv", script="nope.py")
    assert not result.success and "Script file not found" in result.output
    assert not hub.calls("POST", "/api/jobs/")


async def test_hf_token_secret_is_filled_in(hub: FakeHub, jobs: ToolSpec) -> None:
    await call(
        jobs,
        operation="run",
        image="x",
        command=["y"],
        secrets={"HF_TOKEN": "$HF_TOKEN", "OTHER": "plain"},
        detach=True,
    )
    sent = hub.calls("POST", "/api/jobs/")[0].json()
    assert sent["secrets"] == {"HF_TOKEN": hub.token, "OTHER": "plain"}


async def test_run_needs_image_and_command(hub: FakeHub, jobs: ToolSpec) -> None:
    result = await call(jobs, operation="run", command=["y"])
    assert not result.success
    assert result.output == "Argument `image` is required for operation=run."


async def test_a_failed_status_check_is_retried(hub: FakeHub, jobs: ToolSpec) -> None:
    hub.inject(503, match="/api/jobs/test-user/0", method="GET", times=1)
    ctx = Ctx()
    result = await call(jobs, ctx, operation="run", image="x", command=["y"])
    assert result.success and ctx.states[-1] == "completed"
    assert any(line.startswith("[status check failed:") for line in ctx.logs)


async def test_losing_the_job_says_it_may_still_run(hub: FakeHub, jobs: ToolSpec) -> None:
    hub.inject(503, match="/api/jobs/test-user/0", method="GET", times=None)
    result = await call(jobs, operation="run", image="x", command=["y"])
    job = _only_job(hub)
    assert not result.success
    assert result.output.startswith(f"Lost track of job {job.id}")
    assert "may still be running" in result.output and job.id in result.output


# --------------------------------------------------------------- cancellation


async def test_stop_cancels_the_remote_job_and_reraises(hub: FakeHub, jobs: ToolSpec) -> None:
    hub.script_job(JobStep("SCHEDULING"), JobStep("RUNNING", ["step 1", "step 2"]))  # never ends
    ctx = Ctx()
    task = asyncio.create_task(
        jobs.handler(
            {"operation": "run", "image": "x", "command": ["y"], "flavor": "t4-small"}, ctx
        )
    )
    for _ in range(500):
        if "running" in ctx.states:
            break
        await asyncio.sleep(0.01)
    assert "running" in ctx.states
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    job = _only_job(hub)
    assert [r.path for r in hub.calls("POST", "/cancel")] == [
        f"/api/jobs/test-user/{job.id}/cancel"
    ]
    assert job.cancelled
    assert ctx.logs[-1] == f"Cancelled job {job.id}."


async def test_stop_during_submission_still_cancels_the_created_job(
    hub: FakeHub, jobs: ToolSpec
) -> None:
    hub.slow("/api/jobs/test-user", seconds=0.3, times=1)  # the POST that creates the job
    task = asyncio.create_task(
        jobs.handler({"operation": "run", "image": "x", "command": ["y"]}, Ctx())
    )
    for _ in range(300):
        if hub.calls("POST", "/api/jobs/test-user"):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _only_job(hub).cancelled


@pytest.mark.parametrize("depth", range(6))
async def test_in_thread_never_swallows_a_stop(depth: int) -> None:
    # Cancel a few loop iterations after the worker returns: on Python 3.11
    # `asyncio.wait_for` drops a cancel that lands while it collects the result,
    # so a Stop during a status poll would be lost and the job followed for ever.
    loop = asyncio.get_running_loop()
    accepted: list[bool] = []

    def cancel_later(n: int) -> None:
        if n:
            loop.call_soon(cancel_later, n - 1)
        else:
            accepted.append(task.cancel())

    def work() -> str:
        loop.call_soon_threadsafe(cancel_later, depth)
        return "done"

    task = asyncio.create_task(in_thread(work, deadline=5))
    try:
        await task
        cancelled = False
    except asyncio.CancelledError:
        cancelled = True
    for _ in range(depth + 2):
        await asyncio.sleep(0)
    assert accepted, "the cancel never ran"
    assert cancelled == accepted[0]  # an accepted cancel always ends the call


# ------------------------------------------------------------- ps/logs/inspect


async def test_ps_lists_running_jobs_then_all(hub: FakeHub, jobs: ToolSpec) -> None:
    hub.script_job(JobStep("RUNNING"))
    await call(jobs, operation="run", image="busy", command=["sleep", "1000"], detach=True)
    await call(jobs, operation="run", image="quick", command=["true"])  # completes
    running = await call(jobs, operation="ps")
    assert "busy: sleep 1000" in running.output and "quick" not in running.output
    every = await call(jobs, operation="ps", all=True)
    assert "busy" in every.output and "quick: true" in every.output and "COMPLETED" in every.output


async def test_logs_inspect_and_cancel(hub: FakeHub, jobs: ToolSpec) -> None:
    hub.script_job(JobStep("RUNNING", [f"line {i}" for i in range(80)]))
    started = await call(
        jobs,
        operation="run",
        image="python:3.12",
        command=["python", "-c", "1"],
        flavor="cpu-upgrade",
        env={"A": "1"},
        secrets={"KEY": "s3cret"},
        detach=True,
    )
    job_id = started.display["job_id"]  # type: ignore[index]
    logs = await call(jobs, operation="logs", job_id=job_id, tail=5)
    assert logs.output.splitlines() == [
        f"Logs of job {job_id} (last 5 of 80 lines):",
        *[f"line {i}" for i in range(75, 80)],
    ]
    inspected = await call(jobs, operation="inspect", job_id=job_id)
    assert inspected.output.startswith(f"Job {job_id}: RUNNING")
    assert "Flavor: cpu-upgrade · python:3.12: python -c 1" in inspected.output
    assert "Env: A=1" in inspected.output and "Secrets: KEY (values hidden)" in inspected.output
    assert "s3cret" not in inspected.output
    cancelled = await call(jobs, operation="cancel", job_id=job_id)
    assert cancelled.success and hub.jobs[job_id].cancelled


async def test_unknown_job_says_list_with_ps(hub: FakeHub, jobs: ToolSpec) -> None:
    result = await call(jobs, operation="inspect", job_id="deadbeef")
    assert not result.success
    assert "Job 'deadbeef' not found" in result.output and "operation=ps" in result.output


async def test_not_logged_in_says_how_to_log_in(
    hub: FakeHub, jobs: ToolSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    result = await call(jobs, operation="ps")
    assert not result.success
    assert result.output.startswith("Not logged in to Hugging Face: log in with `%intern login`")


async def test_payment_required_is_explained(hub: FakeHub, jobs: ToolSpec) -> None:
    hub.inject(402, match="/api/jobs/test-user", method="POST", message="Jobs need a PRO plan")
    result = await call(jobs, operation="run", image="x", command=["y"])
    assert not result.success and "Payment required (402)" in result.output


# ------------------------------------------------------------------ schedules


async def test_scheduled_jobs_lifecycle(hub: FakeHub, jobs: ToolSpec) -> None:
    made = await call(
        jobs,
        operation="scheduled run",
        image="python:3.12",
        command=["python", "report.py"],
        schedule="@daily",
        flavor="a10g-large",
    )
    assert made.success, made.output
    sid = next(iter(hub.scheduled))
    assert f"Scheduled job {sid} created: '@daily' on a10g-large." in made.output
    assert "≈ $0.75" in made.output  # 1.50/h (packaged) x 0.5 h default timeout
    body = hub.calls("POST", "/api/scheduled-jobs/test-user")[0].json()
    assert body["schedule"] == "@daily" and body["jobSpec"]["command"] == ["python", "report.py"]

    listed = await call(jobs, operation="scheduled ps")
    assert f"{sid}  @daily  active  a10g-large" in listed.output
    await call(jobs, operation="scheduled suspend", job_id=sid)
    assert hub.scheduled[sid]["suspend"] is True
    inspected = await call(jobs, operation="scheduled inspect", job_id=sid)
    assert "suspended" in inspected.output
    await call(jobs, operation="scheduled resume", job_id=sid)
    assert hub.scheduled[sid]["suspend"] is False
    deleted = await call(jobs, operation="scheduled delete", job_id=sid)
    assert deleted.output == f"Scheduled job {sid} deleted." and not hub.scheduled


async def test_scheduled_uv_creates_a_uv_schedule(hub: FakeHub, jobs: ToolSpec) -> None:
    url = "https://huggingface.co/u/s/resolve/main/eval.py"
    made = await call(jobs, operation="scheduled uv", script=url, schedule="0 9 * * 1")
    assert made.success, made.output
    body = hub.calls("POST", "/api/scheduled-jobs/test-user")[0].json()
    assert body["schedule"] == "0 9 * * 1"
    assert body["jobSpec"]["dockerImage"] == DEFAULT_UV_IMAGE
    assert body["jobSpec"]["command"] == ["uv", "run", url]
    assert body["jobSpec"]["timeoutSeconds"] == 1800


async def test_scheduled_uv_needs_a_schedule(hub: FakeHub, jobs: ToolSpec) -> None:
    result = await call(jobs, operation="scheduled uv", script="print(1)")
    assert result.output == "Argument `schedule` is required for operation=scheduled uv."


# ------------------------------------------------------------------ estimates


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 1800), (90, 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("45", 45)],
)
def test_parse_timeout(value: Any, seconds: int) -> None:
    assert parse_timeout(value) == seconds


@pytest.mark.parametrize("value", ["soon", "-5m", 0, True])
def test_parse_timeout_rejects_nonsense(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_timeout(value)


def test_estimate_is_price_times_timeout() -> None:
    pricing.clear_cache()
    assert estimate_job_cost({"operation": "run", "flavor": "h100", "timeout": "2h"}) == 9.0
    assert estimate_job_cost({"operation": "uv", "flavor": "a100-large"}) == 1.25
    assert estimate_job_cost({"operation": "run", "flavor": "mystery"}) is None
    assert estimate_job_cost({"operation": "run", "flavor": "t4-small", "timeout": "x"}) is None
    assert estimate_job_cost({"operation": "ps"}) == 0.0


def test_live_prices_replace_the_packaged_table() -> None:
    class Hw:
        def __init__(self, name: str, per_minute: float) -> None:
            self.name, self.unit_cost_usd, self.unit_label = name, per_minute, "minute"

    class Api:
        calls = 0

        def list_jobs_hardware(self) -> list[Hw]:
            Api.calls += 1
            return [Hw("t4-small", 0.01), Hw("brand-new", 0.5)]

    pricing.clear_cache()
    try:
        assert pricing.refresh(Api(), now=1000.0) is True
        assert pricing.hourly_price("t4-small") == 0.6
        assert pricing.hourly_price("brand-new") == 30.0
        assert pricing.hourly_price("h100") == 4.5  # still from the table
        assert pricing.refresh(Api(), now=1001.0) is False  # cached for an hour
        assert Api.calls == 1
    finally:
        pricing.clear_cache()

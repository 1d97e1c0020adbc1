"""Trackio for HF Jobs (against the fake Hub) and the dashboard on tool cards."""

from __future__ import annotations

from types import SimpleNamespace

import ipywidgets
import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.notebook.render.transcript import Transcript, TurnRecord
from ml_intern_jupyter.notebook.view.parts import CardBlock, Counter
from ml_intern_jupyter.tools.base import ToolSpec
from ml_intern_jupyter.tools.jobs import JobsSettings, jobs_tool
from tests.fakes.hub_server import FakeHub
from tests.hub_harness import FAST, Ctx, call

BOARD = "https://huggingface.co/spaces/test-user/dash"


@pytest.fixture
def jobs() -> ToolSpec:
    return jobs_tool(settings=FAST, jobs=JobsSettings(poll_interval_s=0.005, follow_grace_s=5.0))


async def test_a_job_gets_the_space_the_project_and_a_token(hub: FakeHub, jobs: ToolSpec) -> None:
    ctx = Ctx()
    result = await call(
        jobs,
        ctx,
        operation="run",
        image="python:3.12",
        command=["python", "train.py"],
        env={"EPOCHS": "2"},
        trackio_space_id="dash",
        trackio_project="sft-run",
    )
    assert result.success, result.output
    sent = hub.calls("POST", "/api/jobs/")[0].json()
    assert sent["environment"] == {
        "EPOCHS": "2",
        "TRACKIO_SPACE_ID": "test-user/dash",
        "TRACKIO_PROJECT": "sft-run",
    }
    assert sent["secrets"] == {"HF_TOKEN": hub.token}  # trackio writes to the Space
    assert f"Trackio dashboard: {BOARD} (project sft-run" in result.output
    assert result.display is not None and result.display["trackio_url"] == BOARD
    assert result.display["job_url"]  # the job's own page stays
    assert f"Trackio dashboard: {BOARD}" in ctx.logs  # known while the job runs


async def test_uv_jobs_get_the_trackio_package_once(hub: FakeHub, jobs: ToolSpec) -> None:
    await call(
        jobs,
        operation="uv",
        script="import trackio\n",
        trackio_space_id="alice/board",
        detach=True,
    )
    await call(
        jobs,
        operation="uv",
        script="import trackio\n",
        dependencies=["trackio==0.5"],
        secrets={"HF_TOKEN": "$HF_TOKEN"},
        trackio_space_id="alice/board",
        detach=True,
    )
    first, second = (c.json() for c in hub.calls("POST", "/api/jobs/"))
    assert first["command"][2].endswith("uv run --with trackio /tmp/script.py")
    assert first["environment"]["TRACKIO_PROJECT"] == "board"  # default: the Space's name
    assert second["command"][2].endswith("uv run --with trackio==0.5 /tmp/script.py")
    assert second["secrets"] == {"HF_TOKEN": hub.token}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"trackio_space_id": "a/b/c"}, "is not a Space id"),
        ({"trackio_space_id": "bad name"}, "is not a Space id"),
        ({"trackio_project": "p"}, "trackio_project needs trackio_space_id"),
    ],
)
async def test_bad_trackio_arguments_are_explained(
    hub: FakeHub, jobs: ToolSpec, args: dict[str, str], message: str
) -> None:
    result = await call(jobs, operation="run", image="x", command=["y"], **args)
    assert not result.success and message in result.output
    assert hub.calls("POST", "/api/jobs/") == []  # nothing was started


@pytest.fixture
def view() -> SimpleNamespace:
    return SimpleNamespace(w=ipywidgets, layout=ipywidgets.Layout(), style=ipywidgets.HTML().style)


def test_the_job_card_links_and_embeds_the_dashboard(view: SimpleNamespace) -> None:
    record = TurnRecord("default", "abc", "m")
    record.apply(ev.ToolCallEvent(tool="hf_jobs", arguments={"operation": "run"}, tool_call_id="j"))
    block = CardBlock(view, record.cards["j"], Counter())
    record.apply(ev.ToolLog(tool="hf_jobs", log=f"Trackio dashboard: {BOARD}", tool_call_id="j"))
    block.sync(Counter())
    assert f'href="{BOARD}"' in block.title.value and ">dashboard</a>" in block.title.value
    assert block.extra is not None  # embedded while the job runs
    assert '<iframe src="https://test-user-dash.hf.space/"' in block.extra.value
    record.apply(
        ev.ToolOutput(
            tool="hf_jobs",
            tool_call_id="j",
            output="Job 1 COMPLETED.",
            success=True,
            display={"job_url": "https://huggingface.co/jobs/test-user/1", "trackio_url": BOARD},
        )
    )
    again = Counter()
    block.sync(again)
    assert "<iframe" in block.extra.value
    html = Transcript(record).html()
    assert f'href="{BOARD}"' in html and "<iframe" not in html  # a saved notebook links it
    assert f"([dashboard](<{BOARD}>))" in Transcript(record).markdown()
    assert f"dashboard: {BOARD}" in Transcript(record).plain()


def test_kernel_training_that_prints_its_dashboard_gets_the_link() -> None:
    record = TurnRecord("default", "abc", "m")
    record.apply(ev.ToolCallEvent(tool="python", arguments={"code": "..."}, tool_call_id="p"))
    printed = f"* Trackio project initialized: sft\n* View dashboard by going to: {BOARD}\n"
    record.apply(ev.ToolOutput(tool="python", tool_call_id="p", output=printed, success=True))
    assert record.cards["p"].trackio_url == BOARD
    record.apply(ev.ToolCallEvent(tool="python", arguments={"code": "..."}, tool_call_id="q"))
    other = f"see {BOARD}"  # a Space address that has nothing to do with trackio
    record.apply(ev.ToolOutput(tool="python", tool_call_id="q", output=other, success=True))
    assert record.cards["q"].trackio_url is None

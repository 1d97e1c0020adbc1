"""A live tool card (ipywidgets in-process, no kernel): job link, bounded logs, rich output."""

from __future__ import annotations

from types import SimpleNamespace

import ipywidgets
import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.notebook.render.transcript import TurnRecord
from ml_intern_jupyter.notebook.view.parts import CardBlock, Counter

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR4nGNgYGD4z8DAwMAAAA0KAQE+1V6FAAAAAElFTkSuQmCC"
URL = "https://huggingface.co/jobs/alice/abc123"


@pytest.fixture
def view() -> SimpleNamespace:
    layout = ipywidgets.Layout()
    return SimpleNamespace(w=ipywidgets, layout=layout, style=ipywidgets.HTML().style)


def test_job_card_streams_bounded_logs_then_shows_its_result(view: SimpleNamespace) -> None:
    record = TurnRecord("default", "abc", "m")
    record.apply(ev.ToolCallEvent(tool="hf_jobs", arguments={"operation": "run"}, tool_call_id="j"))
    block = CardBlock(view, record.cards["j"], Counter())
    record.apply(
        ev.ToolLog(tool="hf_jobs", log=f"Job abc123 submitted on a10g: {URL}", tool_call_id="j")
    )
    record.apply(ev.ToolStateChange(tool_call_id="j", tool="hf_jobs", state="running"))
    for i in range(1000):
        record.apply(ev.ToolLog(tool="hf_jobs", log=f"epoch {i}", tool_call_id="j"))
    c = Counter()
    block.sync(c)
    assert f'href="{URL}"' in block.title.value and "· running" in block.title.value
    preview = block.preview.value
    assert "… 989 earlier log lines not shown" in preview
    assert "epoch 999" in preview and "epoch 987" not in preview
    assert len(preview) < 2_000
    assert block.widget.children == (block.title, block.preview)

    record.apply(
        ev.ToolOutput(
            tool="hf_jobs",
            tool_call_id="j",
            output="Job abc123 COMPLETED.",
            success=True,
            display={"job_url": URL, "images": [PNG_B64]},
        )
    )
    block.sync(Counter())
    assert "· done" in block.title.value and "Job abc123 COMPLETED." in block.preview.value
    assert block.extra is not None and block.widget.children[-1] is block.extra
    assert f'<img src="data:image/png;base64,{PNG_B64}"' in block.extra.value
    # Nothing changed: a second sync sends nothing.
    again = Counter()
    block.sync(again)
    assert again.n == 0


def test_proposed_cell_card_shows_the_cell_not_the_models_note(view: SimpleNamespace) -> None:
    record = TurnRecord("default", "abc", "m")
    code = "df.plot()\n"
    record.apply(ev.ToolCallEvent(tool="propose_cell", arguments={"code": code}, tool_call_id="p"))
    record.apply(
        ev.ToolOutput(
            tool="propose_cell",
            tool_call_id="p",
            output="The cell was shown to the user.",
            success=True,
            display={"proposed_cell": code},
        )
    )
    block = CardBlock(view, record.cards["p"], Counter())
    block.sync(Counter())
    assert block.preview.value == ""
    assert ">Copy</button>" in block.extra.value and "%intern cell" in block.extra.value
    assert block.more is None


def test_a_spend_pause_panel_shows_the_spend_and_sends_the_decision(view: SimpleNamespace) -> None:
    from ml_intern_jupyter.notebook.view.parts import ApprovalPanel

    record = TurnRecord("default", "abc", "m")
    reason = "This session has spent $6.00 (inference $5.00, jobs $1.00), past the $5.00 pause."
    record.apply(
        ev.ApprovalRequired(
            tools=[
                ev.PendingCall(
                    tool=ev.SPEND_PAUSE_TOOL,
                    arguments={"spent_usd": 6.0, "inference_usd": 5.0, "jobs_usd": 1.0},
                    tool_call_id="spend_pause_5_2",
                    reason=reason,
                    kind="spend",
                )
            ],
            count=1,
        )
    )
    sent: list[list[ev.ApprovalDecision]] = []
    view.submit_decisions = sent.append
    panel = ApprovalPanel(view, [record.cards["spend_pause_5_2"]], Counter())
    html = "".join(w.value for w in panel.widgets if isinstance(w, ipywidgets.HTML))
    assert "spend reached a pause" in html and "inference $5.00, jobs $1.00" in html
    assert panel.rows["spend_pause_5_2"]["feedback"].layout.display == "none"
    panel.rows["spend_pause_5_2"]["approve"].click()
    assert sent and sent[0][0].tool_call_id == "spend_pause_5_2" and sent[0][0].approved

"""TurnRecord from events, and the static transcript a finished turn leaves behind."""

from __future__ import annotations

import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.notebook.render.markup import code_html, compact_args, markdown_html
from ml_intern_jupyter.notebook.render.text import TextRenderer
from ml_intern_jupyter.notebook.render.transcript import (
    KEEP_IN_VIEW,
    Transcript,
    TurnRecord,
    card_class,
    card_title_html,
)


def record_of(*events: ev.Event) -> TurnRecord:
    record = TurnRecord("default", "abc123", "vllm/test-model")
    for e in events:
        record.apply(e)
    return record


def test_a_turn_with_text_tools_and_plan() -> None:
    r = record_of(
        ev.Processing(),
        ev.AssistantChunk(content="Let me "),
        ev.AssistantChunk(content="look."),
        ev.AssistantStreamEnd(),
        ev.AssistantMessage(content="Let me look."),
        ev.ToolCallEvent(tool="bash", arguments={"command": "ls"}, tool_call_id="c1"),
        ev.ToolStateChange(tool_call_id="c1", tool="bash", state="running"),
        ev.ToolLog(tool="bash", log="a.txt", tool_call_id="c1"),
        ev.ToolOutput(tool="bash", tool_call_id="c1", output="a.txt\nb.txt", success=True),
        ev.PlanUpdate(plan=[{"id": "1", "content": "List files", "status": "completed"}]),
        ev.LLMCall(model="m", latency_ms=1, prompt_tokens=100, completion_tokens=20, cost_usd=0.01),
        ev.AssistantMessage(content="Two files."),
        ev.TurnComplete(final_response="Two files."),
    )
    assert r.state == "done" and r.tokens == 120 and r.cost_usd == 0.01
    assert r.text() == "Let me look.\n\nTwo files."
    t = Transcript(r)
    bundle = t._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/markdown", "text/plain"}
    assert "<details><summary><b>bash</b> <code>ls</code>" in bundle["text/html"]
    assert "☑ List files" in bundle["text/html"]
    assert "> **bash** `ls` — done" in bundle["text/markdown"]
    assert "- [x] List files" in bundle["text/markdown"]
    assert "[bash] ls — done" in bundle["text/plain"]
    assert "120 tokens · $0.0100" in bundle["text/plain"]


def test_model_text_is_never_trusted_as_html() -> None:
    r = record_of(
        ev.AssistantMessage(content="<script>alert(1)</script> **bold**"),
        ev.ToolCallEvent(tool="bash", arguments={"command": "<img src=x>"}, tool_call_id="c1"),
        ev.ToolOutput(tool="bash", tool_call_id="c1", output="<b>out</b>", success=True),
        ev.TurnComplete(final_response=""),
    )
    html = Transcript(r).html()
    assert (
        "<script>" not in html.replace(KEEP_IN_VIEW, "")
        and "<img" not in html
        and "<b>out</b>" not in html
    )
    assert "&lt;script&gt;" in html and "<strong>bold</strong>" in html


def test_error_with_login_and_interrupted_and_abandoned() -> None:
    r = record_of(ev.Error(error="No Hugging Face token found.", login_required=True))
    assert r.state == "error" and r.login_required
    assert "No Hugging Face token found." in Transcript(r).plain()

    r = record_of(ev.AssistantChunk(content="partial"), ev.Interrupted())
    assert r.state == "interrupted" and r.text() == "partial"

    r = record_of(
        ev.ToolCallEvent(tool="bash", arguments={"command": "rm x"}, tool_call_id="c1"),
        ev.ApprovalRequired(
            tools=[
                ev.PendingCall(
                    tool="bash",
                    arguments={"command": "rm x"},
                    tool_call_id="c1",
                    always_allowable=True,
                )
            ],
            count=1,
        ),
    )
    assert r.state == "approval" and r.cards["c1"].state == "waiting"
    r.finish("abandoned")
    assert r.state == "interrupted"
    assert "not run (you continued without approving)" in Transcript(r).plain()


def test_long_tool_output_is_previewed_and_capped() -> None:
    output = "\n".join(f"line {i}" for i in range(10_000))
    r = record_of(
        ev.ToolCallEvent(tool="read", arguments={"path": "big.txt"}, tool_call_id="c1"),
        ev.ToolOutput(tool="read", tool_call_id="c1", output=output, success=True),
    )
    preview, more = r.cards["c1"].preview()
    assert more and preview.count("\n") <= 9
    assert len(r.cards["c1"].full_output()) < 21_000


def test_render_helpers() -> None:
    assert compact_args({"command": "ls   -la\n"}) == "ls -la"
    assert compact_args({"a": 1, "b": "x" * 300}).endswith("…")
    assert 'class="k"' in code_html("def f(): pass", "python")
    assert code_html("<x>", "no-such-language") == "&lt;x&gt;"
    assert "<table>" in markdown_html("| a |\n|---|\n| 1 |\n")


# ------------------------------------------------------- rich tool results

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR4nGNgYGD4z8DAwMAAAA0KAQE+1V6FAAAAAElFTkSuQmCC"
PROPOSED = 'def f(x):\n    return "</pre><script>x</script>" + x\n'


def rich_turn() -> TurnRecord:
    return record_of(
        ev.ToolCallEvent(tool="python", arguments={"code": "show()"}, tool_call_id="c1"),
        ev.ToolOutput(
            tool="python",
            tool_call_id="c1",
            output="[image/png 2x3 displayed to the user]",
            success=True,
            display={"images": [PNG_B64, '"><script>alert(1)</script>']},
        ),
        ev.ToolCallEvent(tool="propose_cell", arguments={"code": PROPOSED}, tool_call_id="c2"),
        ev.ToolOutput(
            tool="propose_cell",
            tool_call_id="c2",
            output="The cell was shown to the user, who can insert it with `%intern cell`.",
            success=True,
            display={"proposed_cell": PROPOSED},
        ),
        ev.TurnComplete(final_response=""),
    )


def test_transcript_html_shows_images_and_the_proposed_cell_with_copy() -> None:
    html = Transcript(rich_turn()).html()
    assert f'<img src="data:image/png;base64,{PNG_B64}"' in html
    assert html.count("<img") == 1, "a payload that is not base64 is dropped"
    assert "<script>" not in html.replace(KEEP_IN_VIEW, "")
    # The proposed cell: highlighted, escaped, with a Copy button carrying the exact code.
    assert '<span class="k">def </span><span class="f">f</span>' in html
    assert "&lt;/pre&gt;&lt;script&gt;" in html
    assert ">Copy</button>" in html and "navigator.clipboard.writeText" in html
    assert (
        'data-code="def f(x):&#10;    return &quot;&lt;/pre&gt;&lt;script&gt;x&lt;/script&gt;'
        '&quot; + x&#10;"' in html
    )
    assert "<code>%intern cell</code>" in html
    assert "The cell was shown to the user" not in html


def test_transcript_markdown_and_plain_describe_images_and_show_the_cell() -> None:
    t = Transcript(rich_turn())
    markdown, plain = t.markdown(), t.plain()
    assert markdown.count("[image]") == 1 and plain.count("[image]") == 1
    assert f"```python\n{PROPOSED}```" in markdown
    assert "run `%intern cell` to put it in a new cell" in markdown
    assert "Proposed cell (not run):" in plain and '    return "</pre>' in plain
    assert "base64" not in markdown and "base64" not in plain


def test_job_card_links_its_page_follows_job_states_and_bounds_its_logs() -> None:
    url = "https://huggingface.co/jobs/alice/abc123"
    r = record_of(
        ev.ToolCallEvent(tool="hf_jobs", arguments={"operation": "run"}, tool_call_id="j1"),
        ev.ToolStateChange(tool_call_id="j1", tool="hf_jobs", state="running"),
        ev.ToolLog(
            tool="hf_jobs", log=f"Job abc123 submitted on cpu-basic: {url}", tool_call_id="j1"
        ),
        ev.ToolStateChange(tool_call_id="j1", tool="hf_jobs", state="scheduling"),
    )
    card = r.cards["j1"]
    assert card.job_url == url and card.state_label == "scheduling"
    assert f'<a href="{url}" target="_blank"' in card_title_html(card)
    for i in range(500):
        r.apply(ev.ToolLog(tool="hf_jobs", log=f"step {i} " + "x" * 400, tool_call_id="j1"))
    assert len(card.logs) == 200 and card.logs_dropped == 301
    preview, more = card.preview()
    lines = preview.splitlines()
    assert lines[0] == "… 489 earlier log lines not shown" and not more
    assert lines[-1].startswith("step 499 ") and lines[-1].endswith(" …")
    assert len(lines) == 13 and all(len(line) < 310 for line in lines)
    r.apply(ev.ToolStateChange(tool_call_id="j1", tool="hf_jobs", state="error"))
    assert "mlij-fail" in card_class(card)
    r.apply(
        ev.ToolOutput(
            tool="hf_jobs",
            tool_call_id="j1",
            output="Job abc123 ERROR on cpu-basic.",
            success=False,
            display={"job_url": "javascript:alert(1)"},
        )
    )
    assert card.job_url == url, "an unsafe URL never replaces the known one"
    assert f"([job page](<{url}>))" in Transcript(r).markdown()


def test_text_mode_shows_images_and_the_proposed_cell() -> None:
    shown: list[str] = []
    images: list[str] = []
    renderer = TextRenderer(
        TurnRecord("default", "abc123", "m"),
        live=False,
        show=shown.append,
        show_image=images.append,
    )
    for e in rich_turn_events():
        renderer.handle("event", e)
    assert images == [PNG_B64]
    (cell,) = [s for s in shown if s.startswith("**Proposed cell**")]
    assert f"```python\n{PROPOSED.rstrip()}\n```" in cell and "%intern cell" in cell
    assert not any("The cell was shown to the user" in s for s in shown)


def test_text_mode_in_a_terminal_prints_an_image_line(capsys: pytest.CaptureFixture[str]) -> None:
    renderer = TextRenderer(TurnRecord("default", "abc123", "m"), live=True)
    for e in rich_turn_events()[:2]:
        renderer.handle("event", e)
    out = capsys.readouterr().out
    assert "[image]\n" in out and PNG_B64 not in out


def rich_turn_events() -> list[ev.Event]:
    """The events of `rich_turn`, for renderers that consume them one by one."""
    return [
        ev.ToolCallEvent(tool="python", arguments={"code": "show()"}, tool_call_id="c1"),
        ev.ToolOutput(
            tool="python",
            tool_call_id="c1",
            output="[image/png 2x3 displayed to the user]",
            success=True,
            display={"images": [PNG_B64]},
        ),
        ev.ToolCallEvent(tool="propose_cell", arguments={"code": PROPOSED}, tool_call_id="c2"),
        ev.ToolOutput(
            tool="propose_cell",
            tool_call_id="c2",
            output="The cell was shown to the user.",
            success=True,
            display={"proposed_cell": PROPOSED},
        ),
    ]


def test_the_transcript_carries_one_keep_in_view_script_after_its_root() -> None:
    r = TurnRecord(session_name="main", session_id="s1", model="m")
    r.apply(ev.AssistantMessage(content="hello"))
    r.finish("done")
    html = Transcript(r).html()
    assert html.count("<script>") == 1
    # the script finds the transcript as its previous sibling
    assert html.rstrip().endswith("</div>\n" + KEEP_IN_VIEW)
    # markdown and plain renderings (GitHub, nbviewer, terminals) carry no script
    assert "<script" not in Transcript(r).markdown() + Transcript(r).plain()

"""TurnRecord from events, and the static transcript a finished turn leaves behind."""

from __future__ import annotations

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.notebook.render import code_html, compact_args, markdown_html
from ml_intern_jupyter.notebook.transcript import Transcript, TurnRecord


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
    assert "<script>" not in html and "<img" not in html and "<b>out</b>" not in html
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

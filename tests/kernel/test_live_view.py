"""The live view in a real kernel: streaming, buttons, Stop, queueing, transcript."""

from __future__ import annotations

import time

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.kernel.helpers import KernelHarness, html_text, words

PARAGRAPH = (
    "The intern streams this paragraph in small pieces so the view has to coalesce "
    "them into segments without ever resending the whole message. "
)


def long_answer(paragraphs: int) -> tuple[str, str]:
    """(markdown, its visible text) with prose and a code block."""
    parts = [f"Paragraph {i}: {PARAGRAPH * 2}" for i in range(paragraphs)]
    code = "def add(a, b):\n    return a + b  # simple\n"
    markdown = "\n\n".join(parts[: paragraphs // 2]) + f"\n\n```python\n{code}```\n\n"
    markdown += "\n\n".join(parts[paragraphs // 2 :])
    visible = (
        " ".join(parts[: paragraphs // 2]) + " " + code + " " + " ".join(parts[paragraphs // 2 :])
    )
    return markdown, words(visible)


def comm_updates_between(kernel: KernelHarness, start: float, end: float) -> list[float]:
    return [
        t
        for t, m in kernel.messages()
        if start <= t <= end
        and m["header"]["msg_type"] in ("comm_msg", "comm_open")
        and m["content"].get("data", {}).get("method", "update") == "update"
    ]


def test_cell_returns_at_once_and_view_shows_exactly_the_streamed_text(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    markdown, visible = long_answer(16)
    fake.script(Reply(content=markdown, chunk_size=6, delay=0.004))
    result = kernel.run_ok(f"%%intern -s {session_name}\nExplain addition at length.")
    assert result["elapsed"] < 1.0, result["elapsed"]
    display_id, root = kernel.view_of(result["msg_id"])
    # The cell is done while the turn is still streaming.
    assert not kernel.display_updates() or all(
        m["content"]["transient"]["display_id"] != display_id for m in kernel.display_updates()
    )

    transcript = kernel.transcript(display_id, timeout=60)
    segments = kernel.view_markdown(root)
    assert words(html_text("".join(segments))) == visible
    assert len(segments) > 1, "a long answer is cut into several segments"
    # No update carried the whole message: every value sent is a fraction of it.
    biggest = max(
        len(delta.get("value", ""))
        for w in kernel.widgets.widgets.values()
        for _t, delta in w.updates
    )
    assert biggest < len(markdown) / 2
    # The static transcript replaced the view, in three formats.
    assert set(transcript) >= {"text/html", "text/markdown", "text/plain"}
    assert markdown.split("\n\n")[0] in transcript["text/plain"]
    assert "done" in transcript["text/plain"]
    assert "add" in html_text(transcript["text/html"])


def test_widget_updates_are_rate_limited(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    markdown, _visible = long_answer(40)
    # ~ 2,000 tokens/s: 4-character chunks every 2 ms.
    fake.script(Reply(content=markdown, chunk_size=4, delay=0.002))
    result = kernel.run_ok(f"%%intern -s {session_name}\nGo fast.")
    display_id, root = kernel.view_of(result["msg_id"])
    kernel.wait_for(lambda: kernel.view_markdown(root), 30, "first streamed text")
    start = time.time()
    kernel.transcript(display_id, timeout=60)
    end = time.time()
    updates = comm_updates_between(kernel, start, end - 0.2)
    seconds = max(end - start - 0.2, 0.5)
    assert len(updates) / seconds <= 25, (len(updates), seconds)


def test_approve_runs_the_tool_and_the_turn_completes(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(
        Reply(
            content="Let me check.",
            tool_calls=[ToolCall("bash", {"command": "echo approved-$((40 + 2))"})],
        ),
        Reply(content="It printed approved-42."),
    )
    result = kernel.run_ok(f"%%intern -s {session_name}\nRun echo.")
    display_id, root = kernel.view_of(result["msg_id"])
    approve = kernel.wait_button("Approve", root)
    assert "waiting for approval" in kernel.view_html(root)
    assert kernel.live_buttons("Reject", root) and kernel.live_buttons("Approve all", root)
    kernel.click(approve)
    transcript = kernel.transcript(display_id, timeout=60)
    assert "It printed approved-42." in transcript["text/plain"]
    tool_messages = [m for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]
    assert "approved-42" in tool_messages[-1]["content"]


def test_always_allow_skips_the_next_approval_and_show_more_expands_output(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "seq 1 40"})]),
        Reply(tool_calls=[ToolCall("bash", {"command": "echo second-call"})]),
        Reply(content="Both ran. " + "More words. " * 40, chunk_size=4, delay=0.03),
    )
    result = kernel.run_ok(f"%%intern -s {session_name}\nCount.")
    display_id, root = kernel.view_of(result["msg_id"])
    approve = kernel.wait_button("Approve", root)
    (always,) = kernel.live(root, "CheckboxModel", description="always allow bash in this session")
    kernel.set_value(always, value=True)
    kernel.click(approve)
    more = kernel.wait_button("show more", root)
    kernel.click(more)
    kernel.wait_for(lambda: "\n39\n40" in kernel.view_html(root), 10, "the full output")
    transcript = kernel.transcript(display_id, timeout=60)
    assert "Both ran." in transcript["text/plain"]
    assert not kernel.live_buttons("Approve", root)
    tool_messages = [m for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]
    assert "second-call" in tool_messages[-1]["content"]


def test_reject_with_feedback_reaches_the_model(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "rm -rf build"})]),
        Reply(content="Understood, I will not delete it."),
    )
    result = kernel.run_ok(f"%%intern -s {session_name}\nClean up.")
    display_id, root = kernel.view_of(result["msg_id"])
    reject = kernel.wait_button("Reject", root)
    (feedback,) = [
        w for w in kernel.live(root, "TextModel") if "sent if you reject" in w.state["placeholder"]
    ]
    kernel.set_value(feedback, value="keep the build folder")
    kernel.click(reject)
    transcript = kernel.transcript(display_id, timeout=60)
    assert "Understood" in transcript["text/plain"]
    tool_messages = [m for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]
    assert tool_messages[-1]["content"] == (
        "Job execution cancelled by user. User feedback: keep the build folder"
    )
    assert "rejected" in transcript["text/plain"]


def test_stop_mid_stream_ends_the_turn_as_interrupted(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(Reply(content="word " * 2000, chunk_size=5, delay=0.01))
    result = kernel.run_ok(f"%%intern -s {session_name}\nTalk for a long time.")
    display_id, root = kernel.view_of(result["msg_id"])
    kernel.wait_for(
        lambda: "word word" in " ".join(kernel.view_markdown(root)), 30, "streamed text"
    )
    stop = kernel.wait_button("Stop", root)
    kernel.click(stop)
    transcript = kernel.transcript(display_id, timeout=30)
    assert "interrupted" in transcript["text/plain"]
    assert "word word" in transcript["text/plain"]  # what streamed before Stop stays
    assert len(fake.requests) == 1


def test_view_keeps_updating_while_a_cell_blocks(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(Reply(content="tick " * 1200, chunk_size=5, delay=0.01))
    result = kernel.run_ok(f"%%intern -s {session_name}\nKeep talking.")
    display_id, root = kernel.view_of(result["msg_id"])
    kernel.wait_for(lambda: kernel.view_markdown(root), 30, "streamed text")
    sleeping = kernel.execute("import time; time.sleep(2)")
    busy = [
        t
        for t, m in kernel.messages()
        if m["parent_header"].get("msg_id") == sleeping["msg_id"]
        and m["header"]["msg_type"] == "execute_input"
    ][0]
    done = busy + sleeping["elapsed"]
    inside = comm_updates_between(kernel, busy + 0.1, busy + 1.9)
    assert sleeping["elapsed"] >= 2.0
    assert len(inside) >= 10, f"only {len(inside)} widget updates during the 2 s sleep"
    assert done > busy
    kernel.transcript(display_id, timeout=60)


def test_second_cell_is_queued_until_the_first_turn_ends(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(
        Reply(content="first answer " * 100, chunk_size=10, delay=0.01),
        Reply(content="second answer"),
    )
    first = kernel.run_ok(f"%%intern -s {session_name}\nFirst question.")
    second = kernel.run_ok(f"%%intern -s {session_name}\nSecond question.")
    first_id, _ = kernel.view_of(first["msg_id"])
    second_id, second_root = kernel.view_of(second["msg_id"])
    kernel.wait_for(lambda: "queued" in kernel.view_html(second_root), 10, "queued header")
    assert len(fake.requests) <= 1
    kernel.transcript(first_id, timeout=60)
    transcript = kernel.transcript(second_id, timeout=60)
    assert "second answer" in transcript["text/plain"]
    history = fake.requests[-1].body["messages"]
    assert [m["content"] for m in history if m["role"] == "user"][-2:] == [
        "First question.",
        "Second question.",
    ]


def test_new_text_abandons_a_pending_approval(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "echo never"})]),
        Reply(content="Moving on."),
    )
    first = kernel.run_ok(f"%%intern -s {session_name}\nDo the risky thing.")
    first_id, first_root = kernel.view_of(first["msg_id"])
    kernel.wait_button("Approve", first_root)
    second = kernel.run_ok(f"%%intern -s {session_name}\nActually, never mind.")
    second_id, _ = kernel.view_of(second["msg_id"])
    abandoned = kernel.transcript(first_id, timeout=30)
    assert "not run" in abandoned["text/plain"]
    assert "Moving on." in kernel.transcript(second_id, timeout=60)["text/plain"]
    tool_messages = [m for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]
    assert tool_messages[-1]["content"].startswith("Task abandoned")


def test_plan_shows_as_a_checklist(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    plan = [
        {"content": "Load data", "status": "completed"},
        {"content": "Train", "status": "in_progress"},
    ]
    fake.script(
        Reply(tool_calls=[ToolCall("plan", {"todos": plan})]),
        Reply(content="Training now."),
    )
    result = kernel.run_ok(f"%%intern -s {session_name}\nTrain a model.")
    display_id, _root = kernel.view_of(result["msg_id"])
    transcript = kernel.transcript(display_id, timeout=60)
    assert "☑ Load data" in html_text(transcript["text/html"])
    assert "[x] Load data" in transcript["text/markdown"]


def test_missing_token_shows_a_friendly_message_and_a_login_button(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    result = kernel.run_ok(f"%%intern -s {session_name} -m moonshotai/Kimi-K2.6:novita\nHello?")
    _display_id, root = kernel.view_of(result["msg_id"])
    kernel.wait_button("Log in", root)
    html = kernel.wait_for(
        lambda: (
            "No Hugging Face token" in html_text(kernel.view_html(root)) and kernel.view_html(root)
        ),
        10,
        "the friendly message",
    )
    assert "Traceback" not in html
    assert not fake.requests
    assert not [m for m in kernel.outputs(result["msg_id"]) if m["header"]["msg_type"] == "error"]


def test_wait_command_blocks_until_the_turn_ends(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(Reply(content="slow " * 100, chunk_size=5, delay=0.01))
    result = kernel.run_ok(f"%%intern -s {session_name}\nTake your time.")
    display_id, _ = kernel.view_of(result["msg_id"])
    waited = kernel.run_ok(f"%intern -s {session_name} wait")
    assert waited["elapsed"] > 0.3
    assert "ended" in kernel.text_of(waited["msg_id"])
    kernel.transcript(display_id, timeout=5)


def test_bad_input_is_one_clear_line(kernel: KernelHarness) -> None:
    empty = kernel.execute("%%intern\n   \n")
    content = empty["reply"]["content"]
    assert content["status"] == "error" and content["ename"] == "UsageError"
    assert "empty" in content["evalue"] and "%intern help" in content["evalue"]
    bad = kernel.execute("%%intern --fast\nhello")
    assert "Valid options: -s/--session NAME" in bad["reply"]["content"]["evalue"]
    unknown = kernel.execute("%intern frobnicate")
    assert "Valid commands: help, status" in unknown["reply"]["content"]["evalue"]
    again = kernel.run_ok("%load_ext ml_intern_jupyter")
    assert not [m for m in again["outputs"] if m["header"]["msg_type"] == "error"]

"""Sessions that survive kernel restarts, in real kernels sharing one store.

Every kernel here has `ML_INTERN_HOME` in the test's tmp dir and a
`JPY_SESSION_NAME`, as Jupyter Server gives it, so its sessions are saved
under that notebook. The store is checked by opening the same SQLite file.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from ml_intern_jupyter.agent.context import RESTORE_PROMPT
from ml_intern_jupyter.agent.restore import RESTART_NOTE
from ml_intern_jupyter.store import SessionRecord, SqliteStore
from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.kernel.helpers import (
    KernelHarness,
    html_text,
    output_text,
    run_notebook,
)

NOTEBOOK = "work/restart.ipynb"
OLD_MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "old system prompt"},
    {"role": "user", "content": "train a classifier on df"},
    {"role": "assistant", "content": "Trained it: accuracy 0.91."},
]


def open_store(tmp: Path) -> SqliteStore:
    return SqliteStore.open(tmp / "home")


def seed(tmp: Path, session_id: str) -> None:
    (tmp / "home").mkdir(parents=True, exist_ok=True)
    with open_store(tmp) as store:
        store.create_session(
            SessionRecord(
                id=session_id,
                notebook=NOTEBOOK,
                title="train a classifier on df",
                status="idle",
                metadata={"name": "default"},
            )
        )
        store.append_messages(session_id, 0, 0, OLD_MESSAGES)


def harness(tmp: Path, url: str, **env: str) -> KernelHarness:
    return KernelHarness(tmp, url, JPY_SESSION_NAME=NOTEBOOK, **env)


def stop_quietly(kernel: KernelHarness) -> None:
    try:
        kernel.stop()
    except Exception:
        pass  # a killed kernel may not shut down cleanly


def banner_text(kernel: KernelHarness, root: Any) -> str:
    found = kernel.wait_for(
        lambda: [
            w
            for w in kernel.live(root, "HTMLModel")
            if "Where were we?" in w.state.get("value", "")
        ],
        30,
        "the banner",
    )
    return html_text(found[-1].state["value"])


def test_a_kernel_killed_mid_turn_loses_nothing_and_catch_me_up_continues(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("the learning rate was 3e-4\n")
    fake.script(
        Reply(content="Reading.", tool_calls=[ToolCall("read", {"path": "notes.txt"})]),
        Reply(content="word " * 500, chunk_size=4, delay=0.05),  # ~30 s: killed long before
    )
    first = harness(tmp_path, fake.url).start()
    try:
        pid = first.run_ok("import os; print(os.getpid())")
        pid = int(first.text_of(pid["msg_id"]).strip())
        first.run_ok("%load_ext ml_intern_jupyter")
        result = first.run_ok("%%intern\nRead notes.txt and tell me the learning rate.")
        _display_id, root = first.view_of(result["msg_id"])
        first.wait_for(lambda: "word word" in first.view_html(root), 60, "the second reply")
        assert len(fake.requests) == 2
        os.kill(pid, signal.SIGKILL)
    finally:
        stop_quietly(first)

    with open_store(tmp_path) as store:
        (old,) = store.list_sessions(notebook=NOTEBOOK)
        stored = store.load_messages(old.id)
    assert [m["role"] for m in stored] == ["system", "user", "assistant", "tool"]
    assert stored[1]["content"] == "Read notes.txt and tell me the learning rate."
    assert stored[2]["tool_calls"][0]["function"]["name"] == "read"
    assert "3e-4" in stored[3]["content"]
    assert old.title == "Read notes.txt and tell me the learning rate."

    fake.reset()
    fake.script(
        Reply(content="I read notes.txt for the user: the learning rate was 3e-4."),
        Reply(content="It was 3e-4."),
    )
    second = harness(tmp_path, fake.url).start()
    try:
        second.run_ok("%load_ext ml_intern_jupyter")
        result = second.run_ok("%%intern\nSo what was it?")
        assert result["elapsed"] < 1.5, result["elapsed"]
        display_id, root = second.view_of(result["msg_id"])
        catch_up = second.wait_button("Catch me up", root)
        text = banner_text(second, root)
        assert text.startswith("Where were we?")
        assert f"“Read notes.txt and tell me the learning rate.” ({old.id})" in text
        assert "3 messages" in text and "last active" in text
        assert second.live_buttons("Start fresh", root)
        assert second.live_buttons("Restore full history", root)  # 4 short messages fit
        assert not fake.requests  # nothing runs before the choice
        second.click(catch_up)
        transcript = second.transcript(display_id, timeout=60)
    finally:
        second.stop()

    assert len(fake.requests) == 2, transcript["text/plain"]  # what the view showed instead
    summary, turn = fake.requests
    assert not summary.body.get("stream")
    assert summary.body["messages"][0] == {"role": "system", "content": RESTORE_PROMPT}
    assert "notes.txt" in summary.body["messages"][1]["content"]
    messages = turn.body["messages"]
    note = messages[1]["content"]
    assert note.startswith("[SYSTEM: Your prior memory of this conversation")
    assert "the learning rate was 3e-4" in note and RESTART_NOTE in note
    assert messages[-1] == {"role": "user", "content": "So what was it?"}
    plain = transcript["text/plain"]
    assert "Catching up on" in plain and "It was 3e-4." in plain and "done" in plain
    with open_store(tmp_path) as store:
        new = store.list_sessions(notebook=NOTEBOOK)[0]
    assert new.id != old.id and new.parent_id == old.id


def test_restore_full_history_then_stop_then_start_fresh(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    kernel = harness(tmp_path, fake.url)
    seed(tmp_path, "old1")
    kernel.start()
    try:
        kernel.run_ok("%load_ext ml_intern_jupyter")
        fake.script(Reply(content="Restored and ready."), Reply(content="Fresh start."))
        result = kernel.run_ok("%%intern\nWhere did we leave off?")
        display_id, root = kernel.view_of(result["msg_id"])
        kernel.click(kernel.wait_button("Restore full history", root))
        plain = kernel.transcript(display_id, timeout=60)["text/plain"]
        assert "Restored the full history of “train a classifier on df” (old1)" in plain
        assert [m["content"] for m in fake.requests[0].body["messages"][1:]] == [
            "train a classifier on df",
            "Trained it: accuracy 0.91.",
            RESTART_NOTE,
            "Where did we leave off?",
        ]
        with open_store(tmp_path) as store:
            restored = store.list_sessions(notebook=NOTEBOOK)[0]
        assert restored.parent_id == "old1"

        # As after a restart: this kernel no longer knows the restored session.
        kernel.run_ok(
            "from ml_intern_jupyter.notebook.conductor import sessions\nsessions._sessions = None"
        )
        result = kernel.run_ok("%%intern\nNever mind.")
        display_id, root = kernel.view_of(result["msg_id"])
        kernel.wait_button("Catch me up", root)
        waited = kernel.run_ok("%intern wait", timeout=10)  # does not block on the choice
        assert "waiting for your choice" in kernel.text_of(waited["msg_id"])
        kernel.click(kernel.wait_button("Stop", root))
        plain = kernel.transcript(display_id, timeout=30)["text/plain"]
        assert "Stopped before it started" in plain and len(fake.requests) == 1

        result = kernel.run_ok("%%intern\nLet us start over.")
        display_id, root = kernel.view_of(result["msg_id"])
        assert f"({restored.id})" in banner_text(kernel, root)  # asked again
        kernel.click(kernel.wait_button("Start fresh", root))
        plain = kernel.transcript(display_id, timeout=60)["text/plain"]
    finally:
        kernel.stop()
    assert "Started fresh" in plain and "Fresh start." in plain
    assert [m["role"] for m in fake.requests[1].body["messages"]] == ["system", "user"]
    with open_store(tmp_path) as store:
        assert store.get_session(restored.id).status == "archived"  # type: ignore[union-attr]
        newest = store.list_sessions(notebook=NOTEBOOK)[0]
    assert newest.parent_id is None and newest.title == "Let us start over."


# ---------------------------------------------------------------- text mode


def test_text_mode_fresh_then_catch_up_by_default(tmp_path: Path, fake: FakeLLMServer) -> None:
    seed(tmp_path, "old1")
    fake.script(Reply(content="Fresh answer."))
    outputs = run_notebook(
        tmp_path,
        fake.url,
        "%load_ext ml_intern_jupyter",
        "%%intern --fresh\nStart over.",
        JPY_SESSION_NAME=NOTEBOOK,
    )
    text = output_text(outputs[1])
    assert text.startswith("**Where were we?** This notebook's last session, “train a classifier")
    assert "Starting fresh, as asked" in text and "Fresh answer." in text
    with open_store(tmp_path) as store:
        assert store.get_session("old1").status == "archived"  # type: ignore[union-attr]
        fresh = store.list_sessions(notebook=NOTEBOOK)[0]
    assert fresh.id != "old1" and fresh.parent_id is None

    fake.reset()
    fake.script(Reply(content="The user asked me to start over."), Reply(content="Caught up."))
    outputs = run_notebook(
        tmp_path,
        fake.url,
        "%load_ext ml_intern_jupyter",
        "%%intern\nAnd now?",
        JPY_SESSION_NAME=NOTEBOOK,
    )
    text = output_text(outputs[1])
    assert "**Where were we?**" in text and f"({fresh.id})" in text
    assert "Catching up on “Start over.”" in text and "Caught up." in text
    summary, turn = fake.requests
    assert summary.body["messages"][0]["content"] == RESTORE_PROMPT
    assert not summary.body.get("stream")
    assert "The user asked me to start over." in turn.body["messages"][1]["content"]
    assert turn.body["messages"][-1]["content"] == "And now?"


# -------------------------------------------------------------- concurrency


def test_two_kernels_writing_to_one_store_at_once_lose_nothing(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    turns = 5
    home = str(tmp_path / "home")
    previous = fake.fallback
    fake.fallback = Reply(content="ok " * 40, chunk_size=3, delay=0.002)
    kernels = [
        KernelHarness(
            tmp_path / name, fake.url, JPY_SESSION_NAME=f"{name}.ipynb", ML_INTERN_HOME=home
        )
        for name in ("a", "b")
    ]
    try:
        for kernel in kernels:
            kernel.start()
            kernel.run_ok("%load_ext ml_intern_jupyter")
        for i in range(turns):
            for kernel in kernels:
                kernel.run_ok(f"%%intern\nTurn {i}.")

        def wait(kernel: KernelHarness) -> None:
            kernel.run_ok("%intern wait", timeout=120)

        waiters = [threading.Thread(target=wait, args=(k,)) for k in kernels]
        for t in waiters:
            t.start()
        for t in waiters:
            t.join(150)
    finally:
        fake.fallback = previous
        for kernel in kernels:
            kernel.stop()
    with SqliteStore.open(home) as store:
        for name in ("a", "b"):
            (record,) = store.list_sessions(notebook=f"{name}.ipynb")
            messages = store.load_messages(record.id)
            assert len(messages) == 1 + 2 * turns, (name, [m["role"] for m in messages])
            users = [m["content"] for m in messages if m["role"] == "user"]
            assert users == [f"Turn {i}." for i in range(turns)]
            assert record.turns == turns

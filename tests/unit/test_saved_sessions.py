"""Saved sessions on a bare IPython shell with a SQLite store in a tmp dir.

`%intern sessions`, `resume ID`, `export PATH`, and what a blocking (text
mode) `%%intern` does when this notebook's latest saved session is not
alive in this kernel. A "restart" here is a fresh session map
(`sessions._sessions = None`); the real restart is in tests/kernel.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ml_intern_jupyter.agent.context import RESTORE_PROMPT
from ml_intern_jupyter.agent.restore import RESTART_NOTE
from ml_intern_jupyter.notebook.conductor import sessions as sessions_module
from ml_intern_jupyter.notebook.conductor.gate import ago
from ml_intern_jupyter.notebook.conductor.kernel_store import notebook_id
from ml_intern_jupyter.store import SessionRecord, SqliteStore
from tests.fakes.llm_server import ErrorReply, FakeLLMServer, Reply
from tests.unit.conftest import shutdown_sessions

FAKE_MODEL = "vllm/test-model"
NOTEBOOK = "saved.ipynb"
OLD_MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "old system prompt"},
    {"role": "user", "content": "train a classifier on df"},
    {"role": "assistant", "content": "Trained it: accuracy 0.91."},
]


@pytest.fixture
def fake(
    llm_env: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, fresh_sessions: None
) -> FakeLLMServer:
    monkeypatch.setenv("ML_INTERN_MODEL", FAKE_MODEL)
    monkeypatch.setenv("ML_INTERN_LLM_ATTEMPTS", "1")
    monkeypatch.setenv("JPY_SESSION_NAME", NOTEBOOK)
    return llm_env


@pytest.fixture
def store(fake: FakeLLMServer) -> Iterator[SqliteStore]:
    s = SqliteStore.open(os.environ["ML_INTERN_HOME"])
    yield s
    s.close()


def seed(
    store: SqliteStore,
    session_id: str,
    *,
    notebook: str = NOTEBOOK,
    title: str = "train a classifier on df",
    messages: list[dict[str, Any]] = OLD_MESSAGES,
    name: str = "default",
    updated: float | None = None,
) -> None:
    store.create_session(
        SessionRecord(
            id=session_id,
            notebook=notebook,
            title=title,
            model=FAKE_MODEL,
            status="idle",
            metadata={"name": name},
        )
    )
    store.append_messages(session_id, 0, 0, messages)
    if updated is not None:
        store.update_session(session_id, updated=updated)


def restart() -> None:
    shutdown_sessions()
    sessions_module._sessions = None


def live_id(name: str = "default") -> str:
    conductor = sessions_module.notebook_sessions().get(name)
    assert conductor is not None
    return conductor.session.id


def sent(fake: FakeLLMServer, index: int = -1) -> list[dict[str, Any]]:
    return fake.requests[index].body["messages"]


# ------------------------------------------------------------- association


def test_notebook_id_prefers_the_server_then_vscode_then_the_directory(tmp_path: Path) -> None:
    class Shell:
        user_ns = {"__vsc_ipynb_file__": "/home/u/vs.ipynb"}

    assert notebook_id(Shell(), env={"JPY_SESSION_NAME": "lab.ipynb"}) == "lab.ipynb"
    assert notebook_id(Shell(), env={}) == "/home/u/vs.ipynb"
    assert notebook_id(None, env={}) == f"dir:{os.getcwd()}"


def test_ago_reads_like_a_person_would_say_it() -> None:
    now = 1_700_000_000.0
    assert ago(now - 5, now) == "just now"
    assert ago(now - 60, now) == "1 minute ago"
    assert ago(now - 2 * 3600 - 5, now) == "2 hours ago"
    assert ago(now - 3 * 86400, now) == "3 days ago"
    assert ago(now - 30 * 86400, now).startswith("on 2023-10-")


def test_every_session_is_saved_with_its_notebook_and_name(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer, store: SqliteStore
) -> None:
    fake.script(Reply(content="Hello."))
    ip.run_cell_magic("intern", "-s work", "Say hello.")
    record = store.get_session(live_id("work"))
    assert record is not None
    assert (record.notebook, record.metadata, record.title) == (
        NOTEBOOK,
        {"name": "work", "cwd": os.getcwd()},  # cwd: for the trace's Claude Code lines
        "Say hello.",
    )
    roles = [m["role"] for m in store.load_messages(record.id)]
    assert roles == ["system", "user", "assistant"]


def test_nothing_is_saved_when_save_sessions_is_off(
    ip: InteractiveShell,
    capsys: Any,
    fake: FakeLLMServer,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ML_INTERN_SAVE_SESSIONS", "false")
    seed(store, "old1")  # would be offered if saving were on
    fake.script(Reply(content="Hello."))
    ip.run_cell_magic("intern", "", "Say hello.")
    ip.run_line_magic("intern", "sessions")
    out = capsys.readouterr().out
    assert "Where were we?" not in out and "Hello." in out
    assert "Saving sessions is off" in out
    assert [r.id for r in store.list_sessions()] == ["old1"]
    with pytest.raises(UsageError, match="Saving sessions is off"):
        ip.run_line_magic("intern", "resume old1")


def test_a_store_that_cannot_be_opened_is_one_note_and_the_turn_still_runs(
    ip: InteractiveShell,
    capsys: Any,
    fake: FakeLLMServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("ML_INTERN_HOME", str(blocker / "home"))
    fake.script(Reply(content="Still here."), Reply(content="Again."))
    ip.run_cell_magic("intern", "", "Hello?")
    ip.run_cell_magic("intern", "--new", "Hello again?")
    out = capsys.readouterr().out
    assert out.count("Sessions are not being saved: the session store could not be opened") == 1
    assert "Still here." in out and "Again." in out and "Traceback" not in out


# ----------------------------------------------------------------- sessions


def test_sessions_lists_this_notebooks_then_all_and_marks_the_live_one(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer, store: SqliteStore
) -> None:
    seed(store, "old1", updated=1_700_000_000)
    seed(store, "elsewhere1", notebook="other.ipynb", title="other work")
    fake.script(Reply(content="Hello."))
    ip.run_cell_magic("intern", "-s work", "Say hello.")  # another name: no catch-up
    capsys.readouterr()
    ip.run_line_magic("intern", "sessions")
    out = capsys.readouterr().out
    live = live_id("work")
    mine, _, others = out.partition("Saved sessions of other notebooks:")
    assert f"Saved sessions of this notebook ({NOTEBOOK}):" in mine
    (live_row,) = [line for line in mine.splitlines() if live in line and "msgs" in line]
    assert live_row.startswith("* ") and "← live here as 'work'" in live_row
    assert "3 msgs · 1 turn(s)" in live_row and "“Say hello.”" in live_row
    (old_row,) = [line for line in mine.splitlines() if "old1" in line]
    assert old_row.startswith("  old1") and "idle" in old_row and "3 msgs" in old_row
    assert "2023-11-14" in old_row and "“train a classifier on df”" in old_row
    assert "elsewhere1" in others and "[other.ipynb]" in others and "elsewhere1" not in mine
    assert mine.index(live) < mine.index("old1")  # most recent first


# ------------------------------------------------------------------- resume


def test_resume_restores_a_saved_session_that_fits(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer, store: SqliteStore
) -> None:
    seed(store, "a1b2c3d4e5f6", notebook="other.ipynb")
    ip.run_line_magic("intern", "resume a1b2")  # a unique prefix is enough
    out = capsys.readouterr().out
    assert "Restored the full history of “train a classifier on df” (a1b2c3d4e5f6)" in out
    assert "Resumed “train a classifier on df” (a1b2c3d4e5f6) as session 'default'" in out
    fake.script(Reply(content="Picking up."))
    ip.run_cell_magic("intern", "", "Continue.")
    messages = sent(fake)
    assert [m["content"] for m in messages[1:]] == [
        "train a classifier on df",
        "Trained it: accuracy 0.91.",
        RESTART_NOTE,
        "Continue.",
    ]
    assert len(fake.requests) == 1  # no summary was needed
    record = store.get_session(live_id())
    assert record is not None and record.parent_id == "a1b2c3d4e5f6"
    assert record.notebook == NOTEBOOK and record.title == "train a classifier on df"


def test_resume_catches_up_when_the_history_does_not_fit(
    ip: InteractiveShell,
    capsys: Any,
    fake: FakeLLMServer,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ML_INTERN_CONTEXT_WINDOW", "3000")
    big = [*OLD_MESSAGES, {"role": "user", "content": "x " * 6000}]
    seed(store, "big1", messages=big)
    fake.script(Reply(content="I trained a classifier."), Reply(content="Next step."))
    ip.run_line_magic("intern", "resume big1")
    out = capsys.readouterr().out
    assert "Catching up on “train a classifier on df” (big1)" in out and "Resumed" in out
    summary = fake.requests[0]
    assert not summary.body.get("stream")
    assert summary.body["messages"][0]["content"] == RESTORE_PROMPT
    ip.run_cell_magic("intern", "", "Go on.")
    messages = sent(fake)
    assert messages[1]["content"].startswith("[SYSTEM: Your prior memory of this conversation")
    assert "I trained a classifier." in messages[1]["content"]
    assert messages[-1]["content"] == "Go on."


def test_resume_of_an_unknown_or_ambiguous_id_is_one_clear_line(
    ip: InteractiveShell, fake: FakeLLMServer, store: SqliteStore
) -> None:
    seed(store, "abc111")
    seed(store, "abc222")
    with pytest.raises(UsageError) as err:
        ip.run_line_magic("intern", "resume nope")
    assert str(err.value) == (
        "No saved session with id 'nope'. `%intern sessions` lists the saved sessions and "
        "their ids."
    )
    with pytest.raises(UsageError, match="'abc' matches several saved sessions"):
        ip.run_line_magic("intern", "resume abc")


def test_resume_of_a_live_session_just_makes_it_current(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer
) -> None:
    fake.script(Reply(content="Hello."))
    ip.run_cell_magic("intern", "-s work", "Say hello.")
    work = live_id("work")
    ip.run_line_magic("intern", "-s other status")  # `-s` makes 'other' current
    capsys.readouterr()
    ip.run_line_magic("intern", f"resume {work}")
    assert "it is now the current one" in capsys.readouterr().out
    assert sessions_module.notebook_sessions().current == "work"


# ------------------------------------------------------------------- export


def test_export_the_current_session_and_a_saved_one(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer, store: SqliteStore, tmp_path: Path
) -> None:
    seed(store, "old1", notebook="other.ipynb")
    fake.script(Reply(content="Hello there."))
    ip.run_cell_magic("intern", "", "Say hello.")
    capsys.readouterr()
    ip.run_line_magic("intern", f"export {tmp_path / 'now.md'}")
    assert "as markdown to" in capsys.readouterr().out
    text = (tmp_path / "now.md").read_text()
    assert "Say hello." in text and "Hello there." in text
    ip.run_line_magic("intern", f"export {tmp_path / 'old'} --format json -s old1")
    data = json.loads((tmp_path / "old").read_text())
    assert "old1" in json.dumps(data) and "accuracy 0.91" in json.dumps(data)
    ip.run_line_magic("intern", f"export {tmp_path} -s old1")  # a directory: <id>.jsonl in it
    lines = (tmp_path / "old1.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["user", "assistant"]
    ip.run_line_magic("intern", f"export {tmp_path / 'hub.jsonl'} --format hf_session")
    assert "as hf_session to" in capsys.readouterr().out
    hub = [json.loads(line) for line in (tmp_path / "hub.jsonl").read_text().splitlines()]
    assert hub[0]["type"] == "session" and hub[0]["harness"] == "ml-intern-jupyter"
    assert [(line["message"]["role"], line["message"]["content"]) for line in hub[1:]] == [
        ("user", "Say hello."),
        ("assistant", "Hello there."),
    ]


def test_export_errors_are_one_clear_line(
    ip: InteractiveShell, fake: FakeLLMServer, store: SqliteStore, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="There is no current session to export yet"):
        ip.run_line_magic("intern", f"export {tmp_path / 'x.md'}")
    with pytest.raises(UsageError, match="No saved session with id 'nope'"):
        ip.run_line_magic("intern", f"export {tmp_path / 'x.md'} -s nope")
    seed(store, "old1")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="Cannot write the export to") as err:
        ip.run_line_magic("intern", f"export {tmp_path / 'file' / 'x.md'} -s old1")
    assert "\n" not in str(err.value)


# ------------------------------------------------- text mode after a restart


def test_blocking_cell_after_a_restart_restores_then_starts_fresh(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer, store: SqliteStore
) -> None:
    seed(store, "old1")
    fake.script(Reply(content="Back to it."), Reply(content="A clean slate."))
    ip.run_cell_magic("intern", "--restore", "Where were we?")
    out = capsys.readouterr().out
    assert out.startswith("**Where were we?** This notebook's last session, “train a classifier")
    assert "Restoring its full history" in out and "Back to it." in out
    assert [m["content"] for m in sent(fake)][1:3] == [
        "train a classifier on df",
        "Trained it: accuracy 0.91.",
    ]
    restored = live_id()
    assert store.get_session(restored).parent_id == "old1"  # type: ignore[union-attr]

    restart()
    ip.run_cell_magic("intern", "--fresh", "Something new.")
    out = capsys.readouterr().out
    assert "Started fresh. The earlier session" in out and "A clean slate." in out
    assert store.get_session(restored).status == "archived"  # type: ignore[union-attr]
    assert [m["role"] for m in sent(fake)] == ["system", "user"]
    assert store.get_session(live_id()).parent_id is None  # type: ignore[union-attr]


def test_a_failed_catch_up_says_so_and_asks_again_next_time(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer, store: SqliteStore
) -> None:
    seed(store, "old1")
    fake.script(ErrorReply.auth())
    ip.run_cell_magic("intern", "", "Carry on.")
    out = capsys.readouterr().out
    assert "Catching up on" in out and "**Could not catch up on" in out
    assert "Run the cell again to retry" in out
    assert len(fake.requests) == 1  # the request itself did not run
    assert [r.id for r in store.list_sessions()] == ["old1"]  # nothing half-made was saved
    fake.script(Reply(content="Summary."), Reply(content="Carrying on."))
    ip.run_cell_magic("intern", "", "Carry on.")
    out = capsys.readouterr().out
    assert "Where were we?" in out and "Carrying on." in out

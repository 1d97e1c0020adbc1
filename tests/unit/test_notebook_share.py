"""Trace sharing from the notebook: an upload after each turn, and `%intern share-traces`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ml_intern_jupyter.config import Config
from ml_intern_jupyter.notebook.conductor.share import NotebookTraces
from ml_intern_jupyter.store.base import SessionRecord
from ml_intern_jupyter.store.sqlite import SqliteStore
from tests.fakes.hub_server import FakeHub


class OneStore:
    """Stands in for the kernel's `KernelStore`."""

    def __init__(self, store: SqliteStore):
        self.store = store

    def get(self, config: Config) -> SqliteStore:
        return self.store


def test_a_finished_turn_uploads_its_trace_in_the_background(
    hub: FakeHub, store: SqliteStore
) -> None:
    config = Config(model_name="vllm/test-model", share_traces=True)
    store.create_session(SessionRecord(id="s1", model="vllm/test-model", created=1_700_000_000))
    store.append_messages(
        "s1", 0, 0, [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    )
    traces = NotebookTraces(OneStore(store))  # type: ignore[arg-type]
    started = time.monotonic()
    traces.after_turn(config, "s1")
    assert time.monotonic() - started < 0.5  # never on the caller's path
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = store.get_session("s1").trace_status or {}
        if status.get("state") in ("uploaded", "failed"):
            break
        time.sleep(0.05)
    assert status["state"] == "uploaded", status
    files = hub.repo("test-user/ml-intern-sessions", "dataset").files()
    assert "sessions/2023-11-14/s1.jsonl" in files
    assert b'"content":"hello"' in files["sessions/2023-11-14/s1.jsonl"]
    assert traces.status("s1") is not None


def test_turns_with_sharing_off_upload_nothing(hub: FakeHub, store: SqliteStore) -> None:
    config = Config(model_name="vllm/test-model", share_traces=False)
    store.create_session(SessionRecord(id="s2"))
    traces = NotebookTraces(OneStore(store))  # type: ignore[arg-type]
    traces.after_turn(config, "s2")
    time.sleep(0.3)
    assert traces.uploader(config) is None and not hub.calls("POST", "commit")


def test_share_traces_command_flips_visibility(hub: FakeHub, store: SqliteStore) -> None:
    config = Config(model_name="vllm/test-model", share_traces=True)
    traces = NotebookTraces(OneStore(store))  # type: ignore[arg-type]
    out = traces.command(config, "public")
    assert "The dataset is now public." in out and "test-user/ml-intern-sessions" in out
    assert traces.footer is not None and traces.footer.startswith("Traces: public")
    assert traces.command(config, "").startswith("Traces: public")
    assert "The dataset is now private." in traces.command(config, "private")


def test_the_turn_footer_says_where_traces_go() -> None:
    from ml_intern_jupyter.notebook.render.transcript import TurnRecord

    record = TurnRecord(
        "default",
        "s1",
        "vllm/test-model",
        traces="Traces: private dataset https://hf.co/datasets/u/ml-intern-sessions",
    )
    record.started, record.ended = 0.0, 1.0
    assert record.footer().endswith(
        "· Traces: private dataset https://hf.co/datasets/u/ml-intern-sessions"
    )
    assert "Traces" not in TurnRecord("default", "s1", "m").footer()


def test_the_first_session_starts_the_uploader_which_retries_and_learns_the_footer(
    hub: FakeHub, store: SqliteStore
) -> None:
    config = Config(model_name="vllm/test-model", share_traces=True)
    store.create_session(SessionRecord(id="left", model="vllm/test-model", created=1_700_000_000))
    store.append_messages("left", 0, 0, [{"role": "user", "content": "from last time"}])
    store.update_session("left", trace_status={"state": "failed", "error": "500", "attempts": 1})
    traces = NotebookTraces(OneStore(store))  # type: ignore[arg-type]
    started = time.monotonic()
    traces.start(config)
    assert time.monotonic() - started < 0.5  # never on the caller's path
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = (store.get_session("left").trace_status or {}).get("state")
        if state == "uploaded" and traces.footer:
            break
        time.sleep(0.05)
    assert state == "uploaded"
    assert traces.footer is not None and traces.footer.startswith("Traces: private")
    assert "test-user/ml-intern-sessions" in traces.footer
    assert hub.calls("GET", "/api/whoami-v2")


def test_starting_with_sharing_off_starts_nothing(hub: FakeHub, store: SqliteStore) -> None:
    traces = NotebookTraces(OneStore(store))  # type: ignore[arg-type]
    traces.start(Config(model_name="vllm/test-model", share_traces=False))
    time.sleep(0.3)
    assert traces._uploader is None and not hub.calls("GET", "/api/whoami-v2")


def test_a_footer_learnt_during_the_turn_is_shown_at_its_end() -> None:
    from ml_intern_jupyter.notebook.render.transcript import TurnRecord

    known: list[str | None] = [None]
    record = TurnRecord("default", "s1", "m", traces_source=lambda: known[0])
    record.start(0.0)
    known[0] = "Traces: private dataset https://hf.co/datasets/u/ml-intern-sessions"
    record.finish("done", 1.0)
    assert record.footer().endswith(
        "· Traces: private dataset https://hf.co/datasets/u/ml-intern-sessions"
    )

    def broken() -> str:
        raise RuntimeError("no")

    other = TurnRecord("default", "s1", "m", traces_source=broken)
    other.start(0.0)
    other.finish("done", 1.0)  # a failing source leaves the footer without traces
    assert "Traces" not in other.footer()


def test_a_footer_saying_log_in_is_looked_at_again_after_the_next_turn(
    hub: FakeHub, store: SqliteStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub.constants

    home = tmp_path / "hf_home"
    home.mkdir()
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(home / "token"))
    config = Config(model_name="vllm/test-model", share_traces=True)
    store.create_session(SessionRecord(id="s1", model="vllm/test-model", created=1_700_000_000))
    store.append_messages("s1", 0, 0, [{"role": "user", "content": "hello"}])
    traces = NotebookTraces(OneStore(store))  # type: ignore[arg-type]
    traces.refresh_footer(config)
    assert traces.footer == "Traces: not shared — log in to share"

    (home / "token").write_text(hub.token)  # `%intern login`
    traces.after_turn(config, "s1")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "log in" in (traces.footer or ""):
        time.sleep(0.05)
    assert traces.footer is not None
    assert traces.footer.startswith("Traces: private dataset")
    assert traces._uploader is not None and traces._uploader.close(10)
    assert (store.get_session("s1").trace_status or {}).get("state") == "uploaded"

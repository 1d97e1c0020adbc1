"""Trace uploads to the user's dataset, against the fake Hub and a real SQLite store.

Each test points HF_ENDPOINT/HF_TOKEN at a loopback `FakeHub`; nothing
reaches the network. Uploads run on the uploader's own thread; tests wait for
them with `flush()` (or a short poll where the debounce itself is tested).
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.config import Config
from ml_intern_jupyter.errors import TraceShareError
from ml_intern_jupyter.store import SessionRecord, SqliteStore
from ml_intern_jupyter.tools.hub_client import HubSettings
from ml_intern_jupyter.traces.claude_code import to_claude_code_jsonl
from ml_intern_jupyter.traces.upload import (
    TraceUploader,
    describe_share_status,
    set_visibility,
    share_traces_info,
    trace_path,
    trace_repo_id,
)
from tests.fakes.hub_server import FakeHub
from tests.hub_harness import FAST

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO = "test-user/ml-intern-sessions"
SECRET = "hf_" + "Zy9XwVuTsRqPoNmLkJiHgFeDcBa876543"  # hf_ + 33 characters
STARTED = datetime.datetime(2023, 5, 17, 23, 59, tzinfo=datetime.timezone.utc).timestamp()


@pytest.fixture
def config() -> Config:
    return Config(model_name="vllm/test-model")


@pytest.fixture
def make_uploader(store: SqliteStore, config: Config) -> Iterator[Callable[..., TraceUploader]]:
    made: list[TraceUploader] = []

    def make(**kw: Any) -> TraceUploader:
        kw.setdefault("debounce_s", 0.0)
        kw.setdefault("settings", FAST)
        up = TraceUploader(store, kw.pop("config", config), **kw)
        made.append(up)
        return up

    yield make
    for up in made:
        up.close(10)


def no_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No HF_TOKEN and an empty HF home, so neither the env nor a cached login has a token."""
    import huggingface_hub.constants

    home = tmp_path / "hf_home"
    home.mkdir(exist_ok=True)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(home))
    # huggingface_hub derives the token file from HF_HOME once, at import.
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(home / "token"))


def add_session(
    store: SqliteStore, sid: str = "sess-1", *, started: float = STARTED, model: str = "m1"
) -> list[dict[str, Any]]:
    messages = [
        {"role": "system", "content": "You are the intern."},
        {"role": "user", "content": f"train it; my key is HF_TOKEN={SECRET}", "_ts": started + 1},
        {
            "role": "assistant",
            "content": "On it.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "bash", "arguments": f'{{"cmd": "echo {SECRET}"}}'},
                }
            ],
            "_ts": started + 2,
        },
        {"role": "tool", "tool_call_id": "c1", "content": f"token {SECRET}", "_ts": started + 3},
        {"role": "assistant", "content": "Done.", "_ts": started + 4},
    ]
    store.create_session(SessionRecord(id=sid, model=model, created=started))
    store.append_messages(sid, 0, 0, messages)
    return messages


def expected_trace(store: SqliteStore, sid: str) -> bytes:
    record = store.get_session(sid)
    assert record is not None
    return to_claude_code_jsonl(
        type(store).load_messages(store, sid),  # not through a test's spy
        session_id=sid,
        model=record.model,
        session_start=record.created,
    ).encode()


def status(store: SqliteStore, sid: str = "sess-1") -> dict[str, Any]:
    record = store.get_session(sid)
    assert record is not None and record.trace_status is not None
    return record.trace_status


def state_of(store: SqliteStore, sid: str = "sess-1") -> str | None:
    record = store.get_session(sid)
    return None if record is None else (record.trace_status or {}).get("state")


def record_statuses(store: SqliteStore) -> list[dict[str, Any]]:
    """Every trace_status written to `store` from now on, in order."""
    seen: list[dict[str, Any]] = []
    original = store.update_session

    def update_session(session_id: str, **fields: Any) -> None:
        if "trace_status" in fields:
            seen.append(dict(fields["trace_status"]))
        original(session_id, **fields)

    store.update_session = update_session  # type: ignore[method-assign]
    return seen


def trace_commits(hub: FakeHub) -> list[Any]:
    return hub.calls("POST", f"/api/datasets/{REPO}/commit/")


def upload_now(up: TraceUploader, sid: str = "sess-1") -> None:
    """Ask for `sid`'s upload and wait until it has finished."""
    up.schedule(sid)
    assert up.flush(10)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.01)


# ----------------------------------------------------------------- names


def test_repo_id_and_path(config: Config) -> None:
    assert trace_repo_id(config, "alice") == "alice/ml-intern-sessions"
    other = config.with_overrides(personal_trace_repo_template="my-org/{hf_user}-traces")
    assert trace_repo_id(other, "alice") == "my-org/alice-traces"
    bare = config.with_overrides(personal_trace_repo_template="traces")
    assert trace_repo_id(bare, "alice") == "alice/traces"
    # The UTC date of the start, not the local one: 23:59 UTC on the 17th.
    assert trace_path("abc", STARTED) == "sessions/2023-05-17/abc.jsonl"
    assert trace_path("../x/y", STARTED) == "sessions/2023-05-17/_x_y.jsonl"


def test_importing_uploader_and_export_does_not_import_huggingface_hub() -> None:
    code = (
        "import sys, ml_intern_jupyter.traces.upload, ml_intern_jupyter.traces.export; "
        "print('huggingface_hub' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------- uploads


def test_first_upload_creates_a_private_dataset_with_card_and_trace(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    up = make_uploader()
    upload_now(up)

    repo = hub.repo(REPO, "dataset")
    assert repo.private is True
    create = hub.calls("POST", "/api/repos/create")[0].json()
    assert create["visibility"] == "private" and create["type"] == "dataset"
    files = repo.files()
    card = files["README.md"].decode()
    assert "scrubbed automatically" in card and "not comprehensive" in card
    assert "%intern share-traces public" in card and "%intern share-traces private" in card
    path = "sessions/2023-05-17/sess-1.jsonl"
    assert files[path] == expected_trace(store, "sess-1")
    assert SECRET not in files[path].decode() and "[REDACTED]" in files[path].decode()

    st = status(store)
    assert st["state"] == "uploaded"
    assert st["repo"] == REPO and st["path"] == path and st["messages"] == 5
    assert st["url"] == f"{hub.url}/datasets/{REPO}/blob/main/{path}"
    assert isinstance(st["uploaded_at"], float)
    assert up.status_note("sess-1") == f"Trace uploaded: {st['url']}"


def test_existing_public_repo_stays_public_and_keeps_its_card(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    hub.add_repo(REPO, "dataset", files={"README.md": "# my own card"}, private=False)
    add_session(store)
    up = make_uploader()
    upload_now(up)

    repo = hub.repo(REPO, "dataset")
    assert repo.private is False
    assert repo.files()["README.md"] == b"# my own card"
    assert "sessions/2023-05-17/sess-1.jsonl" in repo.files()
    assert not hub.calls("POST", "/api/repos/create")
    assert not hub.calls("PUT", "/settings")
    assert status(store)["state"] == "uploaded"


def test_existing_repo_without_card_gets_one(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    hub.add_repo(REPO, "dataset", private=True)  # e.g. created, then the card upload failed
    add_session(store)
    up = make_uploader()
    upload_now(up)
    assert "not comprehensive" in hub.repo(REPO, "dataset").files()["README.md"].decode()
    assert len(trace_commits(hub)) == 1  # card and trace in one commit


def test_status_goes_pending_uploading_uploaded(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    before = store.get_session("sess-1")
    assert before is not None
    seen = record_statuses(store)
    up = make_uploader()
    upload_now(up)
    assert [s["state"] for s in seen] == ["pending", "uploading", "uploaded"]
    assert seen[1]["attempts"] == 1
    assert len({s["requested_at"] for s in seen}) == 1
    # A trace status is not activity: the session keeps its place in "recent".
    after = store.get_session("sess-1")
    assert after is not None and after.updated == before.updated


def record_loads(store: SqliteStore) -> list[int]:
    """The `offset` of every `load_messages` call on `store` from now on."""
    offsets: list[int] = []
    original = store.load_messages

    def load_messages(session_id: str, **kw: Any) -> list[dict[str, Any]]:
        offsets.append(kw.get("offset", 0))
        return original(session_id, **kw)

    store.load_messages = load_messages  # type: ignore[method-assign]
    return offsets


def uploaded_trace(hub: FakeHub, sid: str = "sess-1") -> bytes:
    return hub.repo(REPO, "dataset").files()[f"sessions/2023-05-17/{sid}.jsonl"]


def test_the_next_upload_converts_only_the_new_messages(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    first = add_session(store)
    loads = record_loads(store)
    up = make_uploader()
    upload_now(up)
    more = [
        {"role": "user", "content": f"again, with {SECRET}", "_ts": STARTED + 5},
        {"role": "assistant", "content": "Again done.", "_ts": STARTED + 6},
    ]
    store.append_messages("sess-1", 0, len(first), more)
    upload_now(up)
    assert loads == [0, len(first)]  # the whole history once, then what followed it
    assert uploaded_trace(hub) == expected_trace(store, "sess-1")
    assert SECRET not in uploaded_trace(hub).decode()
    assert status(store)["messages"] == len(first) + len(more)


def test_a_rewritten_history_or_a_new_model_rebuilds_the_trace(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    messages = add_session(store)
    loads = record_loads(store)
    up = make_uploader()
    upload_now(up)
    # A compaction: same length, different messages from index 1 on.
    summary = {"role": "user", "content": "[SYSTEM: summary of earlier work]", "_ts": STARTED + 9}
    store.new_generation("sess-1", [messages[0], summary, *messages[2:]])
    upload_now(up)
    assert uploaded_trace(hub) == expected_trace(store, "sess-1")
    assert "summary of earlier work" in uploaded_trace(hub).decode()
    store.update_session("sess-1", model="m2")
    upload_now(up)
    assert uploaded_trace(hub) == expected_trace(store, "sess-1")
    assert b'"model":"m2"' in uploaded_trace(hub)
    assert loads == [0, 0, 0]


def test_only_the_most_recent_traces_are_kept(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store, "a")
    add_session(store, "b")
    loads = record_loads(store)
    up = make_uploader(cached_traces=1)
    for sid in ("a", "b", "b", "a"):
        up.schedule(sid)
        assert up.flush(10)
    # "b" was kept for its second upload; "a" had been dropped for "b" by then.
    assert loads == [0, 0, 5, 0]
    assert uploaded_trace(hub, "a") == expected_trace(store, "a")


def test_a_compaction_during_the_load_is_noticed(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    messages = add_session(store)
    up = make_uploader()
    upload_now(up)
    store.append_messages(
        "sess-1", 0, len(messages), [{"role": "user", "content": "one more", "_ts": STARTED + 5}]
    )
    original = store.load_messages
    rewritten = [messages[0], {"role": "user", "content": "[SYSTEM: compacted]"}]

    def load_then_compact(session_id: str, **kw: Any) -> list[dict[str, Any]]:
        loaded = original(session_id, **kw)
        if kw.get("offset"):  # the incremental load: a compaction lands right after it
            store.new_generation(session_id, rewritten)
        return loaded

    store.load_messages = load_then_compact  # type: ignore[method-assign]
    upload_now(up)
    assert uploaded_trace(hub) == expected_trace(store, "sess-1")
    assert b"compacted" in uploaded_trace(hub) and b"one more" not in uploaded_trace(hub)
    assert status(store)["messages"] == 2


def test_failed_upload_is_recorded_then_retried_at_the_next_start(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    add_session(store, "done-already")
    store.update_session("done-already", trace_status={"state": "uploaded"})
    fault = hub.inject(500, match="/commit/", times=None)
    up = make_uploader()
    upload_now(up)
    st = status(store)
    assert st["state"] == "failed" and st["attempts"] == 1
    assert "500" in st["error"]
    up.schedule("sess-1")  # the next turn tries again, and fails again
    assert up.flush(10)
    assert status(store)["attempts"] == 2
    assert "failed" in (up.status_note("sess-1") or "")
    up.close()

    hub.faults.remove(fault)
    later = make_uploader()  # the next start
    assert later.retry_failed() == ["sess-1"]
    assert later.flush(10)
    assert status(store)["state"] == "uploaded"
    assert status(store, "done-already") == {"state": "uploaded"}  # not retried
    files = hub.repo(REPO, "dataset").files()
    assert files["sessions/2023-05-17/sess-1.jsonl"] == expected_trace(store, "sess-1")


def test_retry_picks_up_pending_and_interrupted_uploads(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    for sid, state in [("a", "pending"), ("b", "uploading"), ("c", "skipped")]:
        add_session(store, sid)
        store.update_session(sid, trace_status={"state": state, "requested_at": 1.0})
    up = make_uploader()
    assert sorted(up.retry_failed()) == ["a", "b"]
    assert up.flush(10)
    assert status(store, "a")["state"] == status(store, "b")["state"] == "uploaded"
    assert status(store, "c")["state"] == "skipped"


def test_upload_deadline_gives_failed_not_a_hang(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    hub.slow("/commit/", 10)
    up = make_uploader(settings=HubSettings(request_timeout_s=5, upload_timeout_s=0.3))
    up.schedule("sess-1")
    assert up.flush(5)
    hub.release()
    st = status(store)
    assert st["state"] == "failed" and "timed out" in st["error"]


def test_token_from_a_cached_login_is_used(
    hub: FakeHub,
    store: SqliteStore,
    make_uploader: Callable[..., TraceUploader],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    no_login(monkeypatch, tmp_path)
    (tmp_path / "hf_home" / "token").write_text(hub.token)  # what `hf auth login` writes
    add_session(store)
    up = make_uploader()
    upload_now(up)
    assert status(store)["state"] == "uploaded"
    commit = trace_commits(hub)[-1]
    assert commit.headers["authorization"] == f"Bearer {hub.token}"


def test_sessions_skipped_for_want_of_a_token_are_retried_after_a_login(
    hub: FakeHub,
    store: SqliteStore,
    make_uploader: Callable[..., TraceUploader],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    no_login(monkeypatch, tmp_path)
    add_session(store)
    add_session(store, "off")
    store.update_session("off", trace_status={"state": "skipped", "reason": "share_traces_off"})
    up = make_uploader()
    upload_now(up)
    assert status(store)["reason"] == "no_token"
    up.close()
    assert make_uploader().retry_failed() == []  # still no token: nothing to retry

    (tmp_path / "hf_home" / "token").write_text(hub.token)  # the user logs in
    later = make_uploader()  # the next start
    assert later.retry_failed() == ["sess-1"]
    assert later.flush(10)
    assert status(store)["state"] == "uploaded"
    assert status(store, "off")["reason"] == "share_traces_off"  # a choice, not retried
    assert uploaded_trace(hub) == expected_trace(store, "sess-1")


def test_no_token_is_skipped_with_a_note(
    hub: FakeHub,
    store: SqliteStore,
    make_uploader: Callable[..., TraceUploader],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    no_login(monkeypatch, tmp_path)
    add_session(store)
    up = make_uploader()
    upload_now(up)
    st = status(store)
    assert st["state"] == "skipped" and st["reason"] == "no_token"
    note = up.status_note("sess-1")
    assert note is not None and "\n" not in note and "log in" in note.lower()
    assert not hub.requests  # nothing was sent anywhere


def test_rejected_token_is_skipped_as_no_username(
    hub: FakeHub,
    store: SqliteStore,
    make_uploader: Callable[..., TraceUploader],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 34)
    add_session(store)
    up = make_uploader()
    upload_now(up)
    st = status(store)
    assert st["state"] == "skipped" and st["reason"] == "no_username"
    assert not trace_commits(hub)


def test_share_traces_off_is_skipped(
    hub: FakeHub,
    store: SqliteStore,
    config: Config,
    make_uploader: Callable[..., TraceUploader],
) -> None:
    add_session(store)
    seen = record_statuses(store)
    up = make_uploader(config=config.with_overrides(share_traces=False))
    upload_now(up)
    assert [s["state"] for s in seen] == ["skipped"]
    assert seen[0]["reason"] == "share_traces_off"
    assert "off" in (up.status_note("sess-1") or "")
    assert not hub.requests
    assert up.retry_failed() == []


def test_schedule_returns_at_once_while_an_upload_hangs(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    hub.slow("/whoami", 10)
    up = make_uploader()
    up.schedule("sess-1")
    wait_until(lambda: bool(hub.calls("GET", "/api/whoami-v2")))  # the upload is stuck
    started = time.monotonic()
    up.schedule("sess-1")
    assert time.monotonic() - started < 0.05
    hub.release()
    assert up.flush(10)
    assert status(store)["state"] == "uploaded"


def test_debounce_coalesces_a_burst_into_one_upload(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    seen = record_statuses(store)
    up = make_uploader(debounce_s=0.3)
    for _ in range(3):
        up.schedule("sess-1")
        last = time.time()
        time.sleep(0.1)
    wait_until(lambda: state_of(store) == "uploaded")
    assert up.flush(10)  # would run a second upload if one were still waiting
    assert len(trace_commits(hub)) == 1
    uploading = [s for s in seen if s["state"] == "uploading"]
    assert len(uploading) == 1
    assert uploading[0]["at"] >= last + 0.3 - 0.01  # not before the quiet time elapsed
    assert [s["state"] for s in seen].count("pending") == 1


def test_a_newer_request_waits_and_its_status_wins(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    seen = record_statuses(store)
    hub.slow("/commit/", 10, times=1)  # hold the first upload mid-flight
    up = make_uploader()
    up.schedule("sess-1")
    wait_until(lambda: len(hub.calls("POST", "/commit/")) == 1)
    store.append_messages("sess-1", 0, 5, [{"role": "user", "content": "and evaluate it"}])
    up.schedule("sess-1")
    time.sleep(0.05)
    assert len(hub.calls("POST", "/commit/")) == 1  # one upload at a time per session
    hub.release()
    assert up.flush(10)

    assert len(trace_commits(hub)) == 2
    stamps = [s["requested_at"] for s in seen]
    assert stamps == sorted(stamps)  # never an older request's status after a newer one's
    assert len(set(stamps)) == 2
    st = status(store)
    assert st["state"] == "uploaded" and st["messages"] == 6
    assert st["requested_at"] == stamps[-1]
    files = hub.repo(REPO, "dataset").files()
    assert files["sessions/2023-05-17/sess-1.jsonl"] == expected_trace(store, "sess-1")


def test_a_newer_status_from_another_process_is_not_overwritten(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    theirs = {"state": "uploading", "attempts": 1, "requested_at": time.time() + 3600}
    store.update_session("sess-1", trace_status=theirs)
    up = make_uploader()
    upload_now(up)
    assert status(store) == theirs
    assert not trace_commits(hub)  # its upload gave way to the newer request


def test_schedule_after_close_is_ignored(
    hub: FakeHub, store: SqliteStore, make_uploader: Callable[..., TraceUploader]
) -> None:
    add_session(store)
    up = make_uploader()
    assert up.close(5)
    up.schedule("sess-1")
    assert up.flush(5)
    assert state_of(store) is None


# ----------------------------------------------------------------- share-traces command


async def test_set_visibility_creates_then_flips(hub: FakeHub, config: Config) -> None:
    info = await share_traces_info(config, settings=FAST)
    assert info["repo"] == REPO and info["exists"] is False and info["user"] == "test-user"
    assert info["url"] == f"{hub.url}/datasets/{REPO}"
    assert "created on the first upload" in describe_share_status(info)

    info = await set_visibility(config, False, settings=FAST)
    repo = hub.repo(REPO, "dataset")
    assert repo.private is False and info["exists"] is True and info["private"] is False
    assert "not comprehensive" in repo.files()["README.md"].decode()
    assert describe_share_status(info) == f"Traces: public dataset {hub.url}/datasets/{REPO}"

    info = await set_visibility(config, True, settings=FAST)
    assert hub.repo(REPO, "dataset").private is True and info["private"] is True
    assert hub.repo(REPO, "dataset").settings_updates == [{"visibility": "private"}]
    assert describe_share_status(info) == f"Traces: private dataset {hub.url}/datasets/{REPO}"

    await set_visibility(config, True, settings=FAST)  # already private: nothing to change
    assert len(hub.repo(REPO, "dataset").settings_updates) == 1


async def test_share_info_and_visibility_without_login(
    hub: FakeHub, config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_login(monkeypatch, tmp_path)
    info = await share_traces_info(config, settings=FAST)
    assert info["reason"] == "no_token" and info["repo"] is None
    assert describe_share_status(info) == "Traces: not shared — log in to share"
    with pytest.raises(TraceShareError, match="log in"):
        await set_visibility(config, False, settings=FAST)
    assert not hub.requests


async def test_share_info_reports_hub_errors_and_off(hub: FakeHub, config: Config) -> None:
    hub.inject(500, match=f"/api/datasets/{REPO}")
    info = await share_traces_info(config, settings=FAST)
    assert info["error"] and "500" in info["error"]
    assert "could not check" in describe_share_status(info)
    off = await share_traces_info(config.with_overrides(share_traces=False), settings=FAST)
    assert describe_share_status(off) == "Traces: off"

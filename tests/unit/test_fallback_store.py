"""`FallbackStore`: the Jupyter server going away mid-session loses nothing.

The first tests use real servers (`tests/server/live.py`): one on a thread,
stopped mid-session, and one in a child process killed with SIGKILL. The
rest pin down the switching rules against a scripted primary.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.store import (
    FallbackStore,
    HttpStore,
    PayloadTooLargeError,
    SessionRecord,
    SessionStore,
    SqliteStore,
    StoreError,
    StoreUnavailableError,
    UnknownSessionError,
)


def msg(i: int) -> dict[str, Any]:
    return {"role": "user" if i % 2 else "assistant", "content": f"message {i}", "_ts": 1e9 + i}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def run_session(store: FallbackStore, stop_server: Any, home: Path) -> None:
    """Half a session through the server, the server goes, the other half."""
    store.create_session(SessionRecord(id="s1", title="survives", notebook="nb.ipynb"))
    for i in range(20):
        store.append_messages("s1", 0, i, [msg(i)])
    store.update_session("s1", turns=1, cost_usd=0.5)
    assert not store.switched

    stop_server()

    for i in range(20, 40):  # the first of these fails on the server and is retried
        store.append_messages("s1", 0, i, [msg(i)])
    assert store.switched
    store.update_session("s1", turns=2, status="idle")
    generation = store.new_generation("s1", [msg(i) for i in range(30)])  # an undo
    store.append_messages("s1", generation, 30, [msg(99)])
    store.create_session(SessionRecord(id="s2"))

    expected = [msg(i) for i in range(30)] + [msg(99)]
    assert store.load_messages("s1") == expected
    assert store.count_messages("s1") == 31
    record = store.get_session("s1")
    assert record is not None
    assert (record.title, record.turns, record.cost_usd, record.status) == (
        "survives",
        2,
        0.5,
        "idle",
    )
    assert {r.id for r in store.list_sessions()} == {"s1", "s2"}
    store.close()

    # Everything is in the file a new kernel (or a restarted server) opens.
    direct = SqliteStore.open(home)
    assert direct.load_messages("s1") == expected
    assert direct.load_messages("s1", offset=0, limit=20) == [msg(i) for i in range(20)]
    direct.close()


def test_server_stopped_mid_session_loses_nothing(tmp_path: Path, home: Path) -> None:
    from tests.server.live import LiveServer

    server = LiveServer(tmp_path / "root", home).start()
    switches: list[StoreUnavailableError] = []
    store = FallbackStore(
        HttpStore(server.url, server.secret),
        lambda: SqliteStore.open(home),
        on_switch=switches.append,
    )
    try:
        run_session(store, server.stop, home)
    finally:
        server.stop()
    assert len(switches) == 1 and "Cannot reach" in str(switches[0])


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_server_process_killed_mid_session_loses_nothing(tmp_path: Path, home: Path) -> None:
    from tests.server.live import ServerProcess

    server = ServerProcess(tmp_path / "root", home).start()
    store = FallbackStore(HttpStore(server.url, server.secret), lambda: SqliteStore.open(home))
    try:
        run_session(store, server.kill, home)
    finally:
        server.kill()


# --------------------------------------------------------------------------- rules


class ScriptedPrimary(SessionStore):
    """A primary over a real SQLite store that can be told to fail.

    `down`: every call raises `StoreUnavailableError` without doing anything.
    `die_after`: the next call is carried out, then reported as unavailable
    with `request_sent=True` (the server did it and died before answering).
    `lost`: the next call is not carried out but reported as possibly done
    (`request_sent=True`: the request went out, no answer came back).
    `too_large`: every call raises `PayloadTooLargeError`.
    """

    def __init__(self, inner: SessionStore):
        self.inner = inner
        self.down = False
        self.die_after = False
        self.too_large = False
        self.lost = False
        self.delay = 0.0  # seconds each call takes (a slow network)
        self.calls = 0
        self.closed = False

    def _do(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        time.sleep(self.delay)
        if self.closed:
            raise StoreError("closed")
        if self.too_large:
            raise PayloadTooLargeError("too large")
        if self.down:
            raise StoreUnavailableError("server gone", request_sent=False)
        if self.lost:
            self.down = True
            raise StoreUnavailableError("no answer", request_sent=True)
        result = getattr(self.inner, name)(*args, **kwargs)
        if self.die_after:
            self.down = True
            raise StoreUnavailableError("server died answering", request_sent=True)
        return result

    def create_session(self, record: SessionRecord) -> None:
        self._do("create_session", record)

    def update_session(self, session_id: str, **fields: Any) -> None:
        self._do("update_session", session_id, **fields)

    def get_session(self, session_id: str) -> SessionRecord | None:
        return self._do("get_session", session_id)  # type: ignore[no-any-return]

    def list_sessions(self, **kwargs: Any) -> list[SessionRecord]:
        return self._do("list_sessions", **kwargs)  # type: ignore[no-any-return]

    def archive_session(self, session_id: str) -> None:
        self._do("archive_session", session_id)

    def delete_session(self, session_id: str) -> None:
        self._do("delete_session", session_id)

    def append_messages(self, session_id: str, *args: Any) -> None:
        self._do("append_messages", session_id, *args)

    def new_generation(self, session_id: str, messages: list[dict[str, Any]]) -> int:
        return self._do("new_generation", session_id, messages)  # type: ignore[no-any-return]

    def load_messages(self, session_id: str, **kwargs: Any) -> list[dict[str, Any]]:
        return self._do("load_messages", session_id, **kwargs)  # type: ignore[no-any-return]

    def count_messages(self, session_id: str) -> int:
        return self._do("count_messages", session_id)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def server_side(home: Path) -> Iterator[SqliteStore]:
    """The store the 'server' writes to; the fallback opens the same file."""
    store = SqliteStore.open(home)
    yield store
    store.close()


@pytest.fixture
def primary(server_side: SqliteStore) -> ScriptedPrimary:
    return ScriptedPrimary(server_side)


@pytest.fixture
def opened(home: Path) -> list[SqliteStore]:
    return []


@pytest.fixture
def store(primary: ScriptedPrimary, home: Path, opened: list[SqliteStore]) -> FallbackStore:
    def factory() -> SqliteStore:
        local = SqliteStore.open(home)
        opened.append(local)
        return local

    return FallbackStore(primary, factory)


def test_no_fallback_opened_while_the_primary_works(
    store: FallbackStore, primary: ScriptedPrimary, opened: list[SqliteStore]
) -> None:
    store.create_session(SessionRecord(id="s1"))
    store.append_messages("s1", 0, 0, [msg(0)])
    assert store.load_messages("s1") == [msg(0)]
    assert opened == [] and not store.switched and store.active is primary


def test_switch_is_permanent(
    store: FallbackStore, primary: ScriptedPrimary, opened: list[SqliteStore]
) -> None:
    store.create_session(SessionRecord(id="s1"))
    primary.down = True
    store.append_messages("s1", 0, 0, [msg(0)])
    assert store.switched and len(opened) == 1
    assert store.active is opened[0]
    primary.down = False  # "the server is back": not used again
    calls = primary.calls
    store.append_messages("s1", 0, 1, [msg(1)])
    assert store.count_messages("s1") == 2
    assert primary.calls == calls


def test_store_errors_other_than_unavailable_do_not_switch(
    store: FallbackStore, opened: list[SqliteStore]
) -> None:
    with pytest.raises(UnknownSessionError):
        store.load_messages("ghost")
    store.create_session(SessionRecord(id="s1"))
    with pytest.raises(StoreError, match="already exists"):
        store.create_session(SessionRecord(id="s1"))
    assert not store.switched and opened == []


def test_append_the_server_did_before_dying_is_not_duplicated(
    store: FallbackStore, primary: ScriptedPrimary, server_side: SqliteStore
) -> None:
    store.create_session(SessionRecord(id="s1"))
    primary.die_after = True
    store.append_messages("s1", 0, 0, [msg(0), msg(1)])  # retried: idempotent
    assert store.switched
    assert server_side.load_messages("s1") == [msg(0), msg(1)]


def test_create_the_server_did_before_dying_counts_as_done(
    store: FallbackStore, primary: ScriptedPrimary
) -> None:
    primary.die_after = True
    record = SessionRecord(id="s1", title="mine")
    store.create_session(record)  # no "already exists"
    got = store.get_session("s1")
    assert got is not None and got.title == "mine"


def test_create_of_someone_elses_id_still_fails_after_a_switch(
    primary: ScriptedPrimary, server_side: SqliteStore, home: Path
) -> None:
    server_side.create_session(SessionRecord(id="s1", created=1.0))
    # Ambiguous failure (request sent, no answer), but the stored session is not ours.
    primary.lost = True
    store = FallbackStore(primary, lambda: SqliteStore.open(home))
    with pytest.raises(StoreError, match="already exists"):
        store.create_session(SessionRecord(id="s1", created=2.0))
    assert store.switched
    store.close()
    # Nothing sent at all: a duplicate is a duplicate, even with the same timestamp.
    down = ScriptedPrimary(server_side)
    down.down = True
    other = FallbackStore(down, lambda: SqliteStore.open(home))
    with pytest.raises(StoreError, match="already exists"):
        other.create_session(SessionRecord(id="s1", created=1.0))
    other.close()


def test_delete_the_server_did_before_dying_counts_as_done(
    store: FallbackStore, primary: ScriptedPrimary
) -> None:
    store.create_session(SessionRecord(id="s1"))
    primary.die_after = True
    store.delete_session("s1")
    assert store.get_session("s1") is None
    with pytest.raises(UnknownSessionError):  # a genuinely unknown id still says so
        store.delete_session("s1")


def test_too_large_for_the_server_goes_direct_once(
    store: FallbackStore, primary: ScriptedPrimary, server_side: SqliteStore
) -> None:
    store.create_session(SessionRecord(id="s1"))
    primary.too_large = True
    assert store.new_generation("s1", [msg(0)]) == 1
    assert not store.switched
    primary.too_large = False
    calls = primary.calls
    assert store.load_messages("s1") == [msg(0)]
    assert primary.calls == calls + 1  # still the primary
    assert server_side.load_messages("s1") == [msg(0)]


def test_concurrent_callers_all_land_on_the_fallback(
    primary: ScriptedPrimary, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Several threads hit the dead server at once: one switch, one notice, no errors."""
    told: list[StoreUnavailableError] = []

    def on_switch(error: StoreUnavailableError) -> None:
        told.append(error)
        raise RuntimeError("view is gone")  # must not cost the write

    store = FallbackStore(primary, lambda: SqliteStore.open(home), on_switch=on_switch)
    store.create_session(SessionRecord(id="s1"))
    for n in range(8):
        store.create_session(SessionRecord(id=f"t{n}"))
    primary.down = True
    primary.delay = 0.05  # calls are in flight on the primary while one thread switches
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(10):
                store.append_messages(f"t{n}", 0, i, [msg(i)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(told) == 1 and "server gone" in str(told[0])
    assert "Continuing with the local session store" in caplog.text
    assert all(store.count_messages(f"t{n}") == 10 for n in range(8))
    store.close()


def test_fallback_that_cannot_open_raises_a_store_error(primary: ScriptedPrimary) -> None:
    def broken() -> SessionStore:
        raise PermissionError("read-only file system")

    store = FallbackStore(primary, broken)
    primary.down = True
    with pytest.raises(StoreError, match="read-only file system"):
        store.list_sessions()


def test_close_closes_both(
    store: FallbackStore, primary: ScriptedPrimary, opened: list[SqliteStore]
) -> None:
    store.create_session(SessionRecord(id="s1"))
    primary.down = True
    store.count_messages("s1")
    store.close()
    assert primary.closed
    with pytest.raises(StoreError, match="closed"):
        store.count_messages("s1")
    with pytest.raises(StoreError, match="closed"):
        opened[0].count_messages("s1")

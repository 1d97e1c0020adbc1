"""The session store.

`TestStoreContract` runs against every implementation in `STORE_KINDS`: the
embedded SQLite store, and `HttpStore` talking to a real Jupyter server with
the extension (`tests/server/live.py`, one server per test, on its own
thread). `TestSqlite*` check things
only the SQLite file can show: raw rows, raw bytes, pragmas, migrations,
several processes, and a SIGKILL in the middle of appending.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.store import (
    STATUSES,
    HttpStore,
    SessionRecord,
    SessionStore,
    SqliteStore,
    StoreConflictError,
    StoreError,
    StoreVersionError,
    UnknownSessionError,
    title_from_prompt,
)
from ml_intern_jupyter.store.migrations import LATEST_VERSION, MIGRATIONS, migrate, schema_version

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"  # hf_ + 34 characters
assert len(TOKEN) == 37

STORE_KINDS = ["sqlite", "http"]

StoreFactory = Callable[[], SessionStore]


@pytest.fixture(params=STORE_KINDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens a store; calling it again opens the *same* store anew (reopen)."""
    opened: list[SessionStore] = []
    server = None
    if request.param == "http":
        from tests.server.live import LiveServer  # imports jupyter_server: only when needed

        server = LiveServer(tmp_path / "server", tmp_path / "home").start()

    def factory() -> SessionStore:
        if request.param == "sqlite":
            store: SessionStore = SqliteStore.open(tmp_path / "home")
        elif request.param == "http":
            assert server is not None
            store = HttpStore(server.url, server.secret)
        else:  # pragma: no cover - future transports
            raise AssertionError(request.param)
        opened.append(store)
        return store

    try:
        yield factory
    finally:
        for store in opened:
            store.close()
        if server is not None:
            server.stop()


@pytest.fixture
def store(make_store: StoreFactory) -> SessionStore:
    return make_store()


def msg(i: int, role: str = "user", **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": f"message {i} — ünïcödé", "_ts": 1_700_000_000.0 + i, **extra}


def tool_turn(i: int) -> list[dict[str, Any]]:
    call_id = f"call_{i}"
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "read_file", "arguments": json.dumps({"path": f"{i}.py"})},
                }
            ],
            "_ts": 1.25 + i,
        },
        {"role": "tool", "tool_call_id": call_id, "name": "read_file", "content": "x" * i},
    ]


def new_session(store: SessionStore, sid: str = "s1", **fields: Any) -> SessionRecord:
    record = SessionRecord(id=sid, **fields)
    store.create_session(record)
    return record


# --------------------------------------------------------------------------- contract


class TestStoreContract:
    def test_create_get_roundtrip(self, store: SessionStore) -> None:
        record = SessionRecord(
            id="s1",
            notebook="work/train.ipynb",
            title="Fine-tune a classifier",
            model="moonshotai/Kimi-K2.6",
            status="idle",
            created=100.0,
            updated=200.0,
            parent_id="s0",
            turns=3,
            prompt_tokens=1200,
            completion_tokens=345,
            cost_usd=0.0125,
            pending_approval={"tool_calls": [{"id": "c1", "name": "hf_jobs"}]},
            metadata={"cwd": "/tmp", "tags": ["a", "b"], "nested": {"n": 1}},
            trace_status={"uploaded": False},
        )
        store.create_session(record)
        assert store.get_session("s1") == record
        assert store.get_session("nope") is None

    def test_create_duplicate_raises(self, store: SessionStore) -> None:
        new_session(store)
        with pytest.raises(StoreError, match="already exists"):
            new_session(store)

    def test_new_session_starts_at_generation_zero(self, store: SessionStore) -> None:
        store.create_session(SessionRecord(id="s1", generation=7))
        record = store.get_session("s1")
        assert record is not None and record.generation == 0
        assert store.count_messages("s1") == 0
        assert store.load_messages("s1") == []

    def test_list_newest_updated_first_and_filters(self, store: SessionStore) -> None:
        new_session(store, "a", notebook="nb1.ipynb", updated=10.0)
        new_session(store, "b", notebook="nb2.ipynb", updated=30.0, status="ended")
        new_session(store, "c", notebook="nb1.ipynb", updated=20.0, status="ended")
        assert [r.id for r in store.list_sessions()] == ["b", "c", "a"]
        assert [r.id for r in store.list_sessions(notebook="nb1.ipynb")] == ["c", "a"]
        assert [r.id for r in store.list_sessions(status="ended")] == ["b", "c"]
        assert [r.id for r in store.list_sessions(notebook="nb1.ipynb", status="ended")] == ["c"]
        assert [r.id for r in store.list_sessions(limit=2)] == ["b", "c"]
        assert store.list_sessions(notebook="other.ipynb") == []
        store.update_session("a", turns=1)  # bumps `updated` to now
        assert store.list_sessions()[0].id == "a"
        with pytest.raises(ValueError):
            store.list_sessions(status="bogus")

    def test_update_session(self, store: SessionStore) -> None:
        new_session(store, updated=1.0)
        store.update_session(
            "s1",
            status="waiting_approval",
            turns=2,
            prompt_tokens=10,
            completion_tokens=5,
            cost_usd=0.5,
            pending_approval={"call": "x"},
            metadata={"k": "v"},
            title="New title",
        )
        record = store.get_session("s1")
        assert record is not None
        assert (record.status, record.turns, record.cost_usd) == ("waiting_approval", 2, 0.5)
        assert record.pending_approval == {"call": "x"}
        assert record.metadata == {"k": "v"}
        assert record.title == "New title"
        assert record.updated > 1.0
        store.update_session("s1", pending_approval=None, updated=5.0)
        record = store.get_session("s1")
        assert record is not None
        assert record.pending_approval is None and record.updated == 5.0

    @pytest.mark.parametrize("field", ["id", "created", "generation", "bogus"])
    def test_update_rejects_unknown_or_store_owned_fields(
        self, store: SessionStore, field: str
    ) -> None:
        new_session(store)
        with pytest.raises(ValueError, match=field):
            store.update_session("s1", **{field: 1})

    def test_update_rejects_unknown_status(self, store: SessionStore) -> None:
        new_session(store)
        with pytest.raises(ValueError, match="status"):
            store.update_session("s1", status="sleeping")
        for status in STATUSES:
            store.update_session("s1", status=status)

    def test_unknown_session_errors(self, store: SessionStore) -> None:
        calls: list[Callable[[], object]] = [
            lambda: store.update_session("ghost", turns=1),
            lambda: store.append_messages("ghost", 0, 0, [msg(0)]),
            lambda: store.new_generation("ghost", [msg(0)]),
            lambda: store.load_messages("ghost"),
            lambda: store.count_messages("ghost"),
            lambda: store.archive_session("ghost"),
            lambda: store.delete_session("ghost"),
        ]
        for call in calls:
            with pytest.raises(UnknownSessionError) as info:
                call()
            assert isinstance(info.value, KeyError) and isinstance(info.value, StoreError)
            assert "ghost" in str(info.value) and not str(info.value).startswith('"')

    def test_archive(self, store: SessionStore) -> None:
        new_session(store, "a")
        new_session(store, "b")
        store.archive_session("a")
        record = store.get_session("a")
        assert record is not None and record.status == "archived"
        assert [r.id for r in store.list_sessions(status="archived")] == ["a"]

    def test_delete(self, store: SessionStore) -> None:
        new_session(store, "a")
        new_session(store, "b")
        store.append_messages("a", 0, 0, [msg(0), msg(1)])
        store.new_generation("a", [msg(0)])
        store.append_messages("b", 0, 0, [msg(9)])
        store.delete_session("a")
        assert store.get_session("a") is None
        assert [r.id for r in store.list_sessions()] == ["b"]
        with pytest.raises(UnknownSessionError):
            store.load_messages("a")
        assert store.load_messages("b") == [msg(9)]
        # The id can be used again, starting from scratch.
        new_session(store, "a")
        assert store.load_messages("a") == []

    def test_append_and_load_in_order(self, store: SessionStore) -> None:
        new_session(store)
        history = [msg(0, "system"), msg(1), *tool_turn(2), msg(3, "assistant")]
        store.append_messages("s1", 0, 0, history[:1])
        store.append_messages("s1", 0, 1, history[1:4])
        store.append_messages("s1", 0, 4, history[4:])
        store.append_messages("s1", 0, 5, [])
        assert store.load_messages("s1") == history
        assert store.count_messages("s1") == len(history)

    def test_messages_round_trip_exactly(self, store: SessionStore) -> None:
        new_session(store)
        odd = {
            "role": "assistant",
            "content": 'quotes " \\ newline\n tab\t emoji 🤗 nul-free',
            "_ts": 1712345678.123456,
            "_private": {"nested": [1, 2.5, None, True]},
            "reasoning_content": None,
        }
        store.append_messages("s1", 0, 0, [odd, {"role": "user", "content": ""}])
        loaded = store.load_messages("s1")
        assert loaded == [odd, {"role": "user", "content": ""}]
        assert loaded[0]["_ts"] == 1712345678.123456

    def test_paging(self, store: SessionStore) -> None:
        new_session(store)
        history = [msg(i) for i in range(25)]
        store.append_messages("s1", 0, 0, history)
        assert store.load_messages("s1", offset=0, limit=10) == history[:10]
        assert store.load_messages("s1", offset=10, limit=10) == history[10:20]
        assert store.load_messages("s1", offset=20, limit=10) == history[20:]
        assert store.load_messages("s1", offset=24) == history[24:]
        assert store.load_messages("s1", offset=25) == []
        assert store.load_messages("s1", offset=100, limit=5) == []
        assert store.load_messages("s1", limit=0) == []
        with pytest.raises(ValueError):
            store.load_messages("s1", offset=-1)

    def test_reappend_is_idempotent(self, store: SessionStore) -> None:
        new_session(store)
        history = [msg(i) for i in range(6)]
        store.append_messages("s1", 0, 0, history[:4])
        store.append_messages("s1", 0, 0, history[:4])  # exact retry
        store.append_messages("s1", 0, 2, history[2:6])  # overlapping retry + new
        store.append_messages("s1", 0, 5, history[5:])
        assert store.load_messages("s1") == history
        assert store.count_messages("s1") == 6

    def test_append_conflicts_and_gaps(self, store: SessionStore) -> None:
        new_session(store)
        store.append_messages("s1", 0, 0, [msg(0), msg(1)])
        with pytest.raises(StoreConflictError, match="position 1|Position 1"):
            store.append_messages("s1", 0, 1, [msg(99)])
        with pytest.raises(StoreError, match="gap"):
            store.append_messages("s1", 0, 5, [msg(5)])
        with pytest.raises(StoreConflictError, match="generation"):
            store.append_messages("s1", 1, 2, [msg(2)])
        # A failed batch writes nothing, not even its non-conflicting part.
        with pytest.raises(StoreConflictError):
            store.append_messages("s1", 0, 1, [msg(1), msg(2), msg(3)][::-1])
        assert store.load_messages("s1") == [msg(0), msg(1)]

    def test_rejects_non_json_messages(self, store: SessionStore) -> None:
        new_session(store)
        bad: list[Any] = [["not", "a", "dict"], {"role": "user", "content": object()}]
        for message in bad:
            with pytest.raises(ValueError, match="Message 1"):
                store.append_messages("s1", 0, 0, [msg(0), message])
            with pytest.raises(ValueError, match="Message 1"):
                store.new_generation("s1", [msg(0), message])
        assert store.count_messages("s1") == 0

    def test_new_generation(self, store: SessionStore) -> None:
        new_session(store)
        history = [msg(0, "system"), msg(1), *tool_turn(2), msg(3), msg(4, "assistant")]
        store.append_messages("s1", 0, 0, history)
        # undo: drop from the last user message on
        gen = store.new_generation("s1", history[:4])
        assert gen == 1
        record = store.get_session("s1")
        assert record is not None and record.generation == 1
        assert store.load_messages("s1") == history[:4]
        assert store.count_messages("s1") == 4
        # appending continues in the new generation; the old one is closed
        store.append_messages("s1", 1, 4, [msg(10)])
        with pytest.raises(StoreConflictError):
            store.append_messages("s1", 0, 6, [msg(11)])
        # compaction: [system, first user, summary, *tail]
        summary = {"role": "assistant", "content": "Summary of the earlier conversation"}
        compacted = [history[0], history[1], summary, msg(10)]
        assert store.new_generation("s1", compacted) == 2
        assert store.load_messages("s1") == compacted
        assert store.load_messages("s1", offset=1, limit=2) == compacted[1:3]
        # a rewrite to nothing, then growth again
        assert store.new_generation("s1", []) == 3
        assert store.load_messages("s1") == []
        store.append_messages("s1", 3, 0, [msg(0, "system")])
        assert store.load_messages("s1") == [msg(0, "system")]

    @pytest.mark.parametrize("seed", range(8))
    def test_random_rewrites_match_a_plain_list(self, store: SessionStore, seed: int) -> None:
        """Appends, undos, truncates, compactions and repairs in random order."""
        rng = random.Random(seed)
        new_session(store)
        model: list[dict[str, Any]] = []
        gen = 0
        counter = 0

        def fresh() -> dict[str, Any]:
            nonlocal counter
            counter += 1
            return msg(counter, rng.choice(["user", "assistant", "tool"]))

        for _ in range(60):
            op = rng.random()
            if op < 0.55 or not model:
                batch = [fresh() for _ in range(rng.randint(1, 6))]
                store.append_messages("s1", gen, len(model), batch)
                model += batch
            elif op < 0.75:  # undo / truncate: keep a prefix
                model = model[: rng.randint(0, len(model))]
                gen = store.new_generation("s1", model)
            elif op < 0.9:  # compaction: head, new summary, tail
                cut = rng.randint(0, len(model))
                model = model[: min(2, cut)] + [fresh()] + model[cut:]
                gen = store.new_generation("s1", model)
            else:  # repair: insert in the middle
                at = rng.randint(0, len(model))
                model = model[:at] + [fresh()] + model[at:]
                gen = store.new_generation("s1", model)
            assert store.count_messages("s1") == len(model)
        assert store.load_messages("s1") == model
        for _ in range(20):
            offset = rng.randint(0, len(model) + 2)
            limit = rng.choice([None, rng.randint(0, len(model) + 2)])
            end = None if limit is None else offset + limit
            assert store.load_messages("s1", offset=offset, limit=limit) == model[offset:end]

    def test_scrubbing_in_returned_values(self, store: SessionStore) -> None:
        new_session(
            store,
            title=f"use {TOKEN} please",
            metadata={"env": f"HF_TOKEN={TOKEN}", "list": [TOKEN]},
            pending_approval={"args": {"token": TOKEN}},
        )
        store.append_messages("s1", 0, 0, [{"role": "user", "content": f"my token is {TOKEN}"}])
        store.new_generation("s1", [{"role": "user", "content": f"again {TOKEN}"}])
        store.update_session("s1", trace_status={"note": f"Bearer {TOKEN}"})
        dumped = json.dumps([store.load_messages("s1"), store.get_session("s1").__dict__])
        assert TOKEN not in dumped
        assert "[REDACTED]" in dumped
        # scrubbing never mutates the caller's dicts
        message = {"role": "user", "content": TOKEN}
        store.append_messages("s1", 1, 1, [message])
        assert message == {"role": "user", "content": TOKEN}

    def test_persistence_across_reopen(self, make_store: StoreFactory) -> None:
        first = make_store()
        new_session(first, "a", title="kept", cost_usd=1.5)
        first.append_messages("a", 0, 0, [msg(0), msg(1)])
        gen = first.new_generation("a", [msg(0), msg(5)])
        first.close()
        second = make_store()
        record = second.get_session("a")
        assert record is not None
        assert (record.title, record.cost_usd, record.generation) == ("kept", 1.5, gen)
        assert second.load_messages("a") == [msg(0), msg(5)]
        second.append_messages("a", gen, 2, [msg(6)])
        assert second.count_messages("a") == 3

    def test_closed_store_raises(self, store: SessionStore) -> None:
        store.close()
        store.close()  # idempotent
        with pytest.raises(StoreError, match="closed"):
            store.get_session("s1")

    def test_threads_share_one_store(self, store: SessionStore) -> None:
        errors: list[BaseException] = []

        def worker(sid: str) -> None:
            try:
                new_session(store, sid)
                for i in range(50):
                    store.append_messages(sid, 0, i, [msg(i)])
                    store.load_messages(sid, offset=max(0, i - 3))
                    store.update_session(sid, turns=i)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for n in range(6):
            assert store.load_messages(f"t{n}") == [msg(i) for i in range(50)]


def test_title_from_prompt() -> None:
    assert title_from_prompt("  Fine-tune\n a   model ") == "Fine-tune a model"
    long = "word " * 40
    title = title_from_prompt(long)
    assert len(title) <= 80 and title.endswith("…")
    # scrubbed before trimming: no partial token survives the cut
    sneaky = "x" * 70 + " " + TOKEN
    assert "hf_" not in title_from_prompt(sneaky)


# --------------------------------------------------------------------------- sqlite only


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def sqlite_store(home: Path) -> Iterator[SqliteStore]:
    store = SqliteStore.open(home)
    yield store
    store.close()


class TestSqliteFile:
    def test_file_settings(self, sqlite_store: SqliteStore, home: Path) -> None:
        assert sqlite_store.path == home / "sessions.db"
        conn = raw(sqlite_store.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        conn.close()
        if os.name == "posix":
            assert sqlite_store.path.stat().st_mode & 0o077 == 0

    def test_old_generations_are_never_rewritten(self, sqlite_store: SqliteStore) -> None:
        new_session(sqlite_store)
        history = [msg(i) for i in range(10)]
        sqlite_store.append_messages("s1", 0, 0, history)

        def rows() -> list[tuple[Any, ...]]:
            conn = raw(sqlite_store.path)
            try:
                return conn.execute(
                    "SELECT generation, idx, role, data, ts FROM messages ORDER BY generation, idx"
                ).fetchall()
            finally:
                conn.close()

        before = rows()
        assert len(before) == 10
        undo = history[:6]
        assert sqlite_store.new_generation("s1", undo) == 1
        after_undo = rows()
        assert after_undo == before  # shared prefix: nothing copied, nothing changed
        compacted = [history[0], history[1], {"role": "assistant", "content": "summary"}]
        compacted += history[5:6]
        assert sqlite_store.new_generation("s1", compacted) == 2
        after = rows()
        assert after[: len(before)] == before
        assert [(g, i) for g, i, *_ in after[len(before) :]] == [(2, 2), (2, 3)]
        assert sqlite_store.load_messages("s1") == compacted
        conn = raw(sqlite_store.path)
        gens = conn.execute(
            "SELECT generation, keep_upto, segments FROM generations ORDER BY generation"
        ).fetchall()
        conn.close()
        assert gens == [(0, 0, "[]"), (1, 6, "[[0,0,6]]"), (2, 2, "[[0,0,2]]")]

    def test_rewrite_shares_a_prefix_that_was_scrubbed(self, sqlite_store: SqliteStore) -> None:
        """The caller's history holds the secret; the store holds it scrubbed: still equal."""
        new_session(sqlite_store)
        history = [msg(0), {"role": "tool", "content": f"HF_TOKEN={TOKEN}"}, msg(2), msg(3)]
        sqlite_store.append_messages("s1", 0, 0, history)
        sqlite_store.new_generation("s1", history[:3])
        conn = raw(sqlite_store.path)
        assert (
            conn.execute("SELECT keep_upto FROM generations WHERE generation = 1").fetchone()[0]
            == 3
        )
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 4
        conn.close()
        loaded = sqlite_store.load_messages("s1")
        assert loaded[1] == {"role": "tool", "content": "HF_TOKEN=[REDACTED]"}
        assert loaded[::2] == [msg(0), msg(2)]

    def test_no_secret_reaches_the_file(self, sqlite_store: SqliteStore, home: Path) -> None:
        sqlite_store.create_session(
            SessionRecord(
                id="s1",
                title=f"push with {TOKEN}",
                notebook=f"{TOKEN}.ipynb",
                metadata={"k": TOKEN},
                pending_approval={"arguments": json.dumps({"token": TOKEN})},
            )
        )
        sqlite_store.append_messages(
            "s1", 0, 0, [{"role": "user", "content": f"here: {TOKEN}"}, *tool_turn(1)]
        )
        sqlite_store.append_messages(
            "s1",
            0,
            3,
            [{"role": "tool", "tool_call_id": "c", "content": {"nested": [f"x {TOKEN} y"]}}],
        )
        sqlite_store.new_generation("s1", [{"role": "user", "content": TOKEN}])
        sqlite_store.update_session("s1", title=TOKEN, trace_status={"e": TOKEN})
        needle = TOKEN.encode()
        partial = TOKEN[3:].encode()
        files = sorted(home.iterdir())
        assert any(f.name.endswith("-wal") for f in files)  # data still in the WAL counts too
        for file in files:
            data = file.read_bytes()
            assert needle not in data and partial not in data, file.name
        sqlite_store.close()  # checkpoints the WAL into the main file
        for file in sorted(home.iterdir()):
            data = file.read_bytes()
            assert needle not in data and partial not in data, file.name

    def test_second_connection_sees_appends_immediately(
        self, sqlite_store: SqliteStore, home: Path
    ) -> None:
        other = SqliteStore.open(home)
        try:
            new_session(sqlite_store)
            for i in range(20):
                sqlite_store.append_messages("s1", 0, i, [msg(i)])
                assert other.count_messages("s1") == i + 1
                assert other.load_messages("s1", offset=i) == [msg(i)]
            gen = other.new_generation("s1", [msg(0)])
            with pytest.raises(StoreConflictError):
                sqlite_store.append_messages("s1", 0, 20, [msg(20)])
            sqlite_store.append_messages("s1", gen, 1, [msg(21)])
            assert other.load_messages("s1") == [msg(0), msg(21)]
        finally:
            other.close()

    def test_not_a_database(self, tmp_path: Path) -> None:
        path = tmp_path / "sessions.db"
        path.write_bytes(b"this is not sqlite at all" * 100)
        with pytest.raises(StoreError, match="not a usable SQLite database"):
            SqliteStore(path)


class TestMigrations:
    def test_empty_database_gets_latest_version(self, tmp_path: Path) -> None:
        path = tmp_path / "sessions.db"
        raw(path).close()  # a valid, empty SQLite file at user_version 0
        store = SqliteStore(path)
        new_session(store)
        store.close()
        conn = raw(path)
        assert schema_version(conn) == LATEST_VERSION == len(MIGRATIONS)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"sessions", "generations", "messages"} <= tables
        conn.close()

    def test_future_version_gives_clear_error(self, tmp_path: Path) -> None:
        path = tmp_path / "sessions.db"
        conn = raw(path)
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 3}")
        conn.close()
        with pytest.raises(StoreVersionError) as info:
            SqliteStore(path)
        text = str(info.value)
        assert str(LATEST_VERSION + 3) in text and "newer" in text
        assert "pip install -U ml-intern-jupyter" in text
        conn = raw(path)  # and the file was left alone
        assert schema_version(conn) == LATEST_VERSION + 3
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
        conn.close()

    def test_older_database_is_upgraded_in_order(self, home: Path) -> None:
        store = SqliteStore.open(home)
        new_session(store, title="before")
        store.append_messages("s1", 0, 0, [msg(0)])
        store.close()
        applied: list[int] = []

        def v2(conn: sqlite3.Connection) -> None:
            applied.append(2)
            conn.execute("ALTER TABLE sessions ADD COLUMN color TEXT DEFAULT 'blue'")

        def v3(conn: sqlite3.Connection) -> None:
            applied.append(3)
            conn.execute("UPDATE sessions SET color = 'green'")

        conn = sqlite3.connect(str(home / "sessions.db"), isolation_level=None)
        assert migrate(conn, [*MIGRATIONS, v2, v3]) == LATEST_VERSION + 2
        assert applied == [2, 3]
        assert conn.execute("SELECT title, color FROM sessions").fetchall() == [("before", "green")]
        assert migrate(conn, [*MIGRATIONS, v2, v3]) == LATEST_VERSION + 2  # no-op
        assert applied == [2, 3]
        conn.close()

    def test_failed_migration_rolls_back(self, home: Path) -> None:
        SqliteStore.open(home).close()

        def v2(conn: sqlite3.Connection) -> None:
            conn.execute("CREATE TABLE half_done (x INTEGER)")
            raise RuntimeError("boom")

        conn = sqlite3.connect(str(home / "sessions.db"), isolation_level=None)
        with pytest.raises(RuntimeError, match="boom"):
            migrate(conn, [*MIGRATIONS, v2])
        assert schema_version(conn) == LATEST_VERSION
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
        assert "half_done" not in names
        conn.close()


# --------------------------------------------------------------------------- processes


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


WRITER = """
import sys, time
from pathlib import Path
from ml_intern_jupyter.store import SqliteStore, StoreConflictError

db, name, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = SqliteStore(db)
while not go.exists():
    time.sleep(0.001)
conflicts = 0
for i in range(n):
    store.append_messages(name, 0, i, [{"role": "user", "content": f"{name}-{i}"}])
    while True:  # the shared session: claim the next free position, retry if taken
        end = store.count_messages("shared")
        try:
            store.append_messages("shared", 0, end, [{"role": "user", "content": f"{name}-{i}"}])
            break
        except StoreConflictError:
            conflicts += 1
store.close()
print(conflicts)
"""


def test_two_processes_lose_nothing(home: Path) -> None:
    n = 300
    store = SqliteStore.open(home)
    for sid in ("p1", "p2", "shared"):
        new_session(store, sid)
    go = home / "go"
    procs = [run_python(WRITER, str(store.path), name, str(n), str(go)) for name in ("p1", "p2")]
    time.sleep(0.3)  # let both import and open before starting together
    go.touch()
    outputs = [p.communicate(timeout=90) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    for name in ("p1", "p2"):
        assert [m["content"] for m in store.load_messages(name)] == [
            f"{name}-{i}" for i in range(n)
        ]
    shared = [m["content"] for m in store.load_messages("shared")]
    assert len(shared) == 2 * n
    assert sorted(shared) == sorted(f"{name}-{i}" for name in ("p1", "p2") for i in range(n))
    for name in ("p1", "p2"):  # each writer's own order survives the interleaving
        mine = [c for c in shared if c.startswith(name)]
        assert mine == [f"{name}-{i}" for i in range(n)]
    store.close()


CRASHER = """
import sys
from ml_intern_jupyter.store import SqliteStore, SessionRecord

store = SqliteStore(sys.argv[1])
store.create_session(SessionRecord(id="crash"))
for i in range(1_000_000):
    store.append_messages("crash", 0, i, [{"role": "user", "content": f"m{i}", "_ts": float(i)}])
    print(i, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_appends_survive_sigkill(home: Path) -> None:
    home.mkdir(parents=True)
    path = home / "sessions.db"
    proc = run_python(CRASHER, str(path))
    assert proc.stdout is not None
    acknowledged = -1
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 400:
            break
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    for line in rest.splitlines():  # acknowledged before the kill, still in the pipe
        acknowledged = int(line)
    assert proc.returncode == -signal.SIGKILL
    assert acknowledged >= 400

    store = SqliteStore(path)
    try:
        loaded = store.load_messages("crash")
        assert len(loaded) >= acknowledged + 1
        assert loaded == [
            {"role": "user", "content": f"m{i}", "_ts": float(i)} for i in range(len(loaded))
        ]
    finally:
        store.close()
    conn = raw(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# ------------------------------------------------------------------ settings


def test_settings_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "h")
    assert store.get_setting("effort:org/m") is None
    store.put_setting("effort:org/m", '{"level": "high"}')
    store.put_setting("effort:org/m", '{"level": "low"}')  # replaced, not duplicated
    store.close()
    again = SqliteStore.open(tmp_path / "h")
    assert again.get_setting("effort:org/m") == '{"level": "low"}'
    again.close()


def test_a_version_1_database_gains_the_settings_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    assert schema_version(conn) == 1
    assert migrate(conn) == LATEST_VERSION
    conn.execute("INSERT INTO settings (key, value, updated) VALUES ('k', 'v', 0)")
    conn.close()


def test_fallback_store_keeps_settings_in_the_local_file(tmp_path: Path) -> None:
    from ml_intern_jupyter.store import FallbackStore

    primary = SqliteStore.open(tmp_path / "server")
    store = FallbackStore(primary, lambda: SqliteStore.open(tmp_path / "local"))
    store.put_setting("k", "v")
    assert store.get_setting("k") == "v" and not store.switched
    assert primary.get_setting("k") is None
    store.close()

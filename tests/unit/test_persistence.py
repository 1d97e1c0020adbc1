"""A session writing its history to the SQLite store as the turn goes."""

from __future__ import annotations

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.persistence import Recorder
from ml_intern_jupyter.store.base import StoreError
from ml_intern_jupyter.store.sqlite import SqliteStore
from tests.agent_harness import make_session, run_input
from tests.fakes.llm_server import Reply, ToolCall


def stored(store, session):
    return [
        {k: v for k, v in m.items() if not k.startswith("_")}
        for m in store.load_messages(session.id)
    ]


async def test_completed_messages_are_stored_before_the_next_model_call(server, store, tmp_path):
    (tmp_path / "f.txt").write_text("data\n")
    seen_at_call: list[tuple[int, int]] = []

    def second_call(request):
        # Evaluated by the fake server while the session waits for its answer.
        seen_at_call.append((store.count_messages(session.id), len(request.body["messages"])))
        return Reply(content="read it")

    server.script(Reply(tool_calls=[ToolCall("read", {"path": "f.txt"})]), second_call)
    session, rec = make_session(server, tmp_path)
    session.recorder = Recorder(store, notebook="nb.ipynb")
    await run_input(session, "please read f.txt")
    assert seen_at_call == [(4, 4)]  # system, user, assistant call, tool result
    assert stored(store, session) == session.history.for_llm()
    record = store.get_session(session.id)
    assert record.notebook == "nb.ipynb" and record.title == "please read f.txt"
    assert record.status == "idle" and record.turns == 1
    assert record.prompt_tokens == 20 and record.model == "vllm/test-model"


async def test_undo_and_compaction_record_new_generations(server, store, tmp_path):
    server.script(Reply(content="one"), Reply(content="two"))
    session, rec = make_session(server, tmp_path)
    session.recorder = Recorder(store)
    await run_input(session, "q1")
    await run_input(session, "q2")
    before = store.get_session(session.id).generation
    session.submit(ev.Undo())
    await session.wait_idle()
    assert store.get_session(session.id).generation > before
    assert [m["content"] for m in stored(store, session)[1:]] == ["q1", "one"]
    server.script(Reply(content="three"))
    await run_input(session, "q3")
    assert [m["content"] for m in stored(store, session)[1:]] == ["q1", "one", "q3", "three"]


async def test_pending_approval_is_recorded(server, store, tmp_path):
    server.script(Reply(tool_calls=[ToolCall("bash", {"command": "echo hi"})]))
    session, rec = make_session(server, tmp_path)
    session.recorder = Recorder(store)
    await run_input(session, "run it")
    record = store.get_session(session.id)
    assert record.status == "waiting_approval"
    assert record.pending_approval["calls"][0]["tool"] == "bash"


async def test_secrets_never_reach_the_store(server, store, tmp_path):
    token = "hf_" + "a1B2c3D4e5" * 4
    server.script(Reply(content="noted"))
    session, rec = make_session(server, tmp_path)
    session.recorder = Recorder(store)
    await run_input(session, f"my token is {token}")
    assert token not in str(store.load_messages(session.id))
    assert token not in store.get_session(session.id).title
    assert token in str(session.history.messages)  # the model still had it in memory


class BrokenStore(SqliteStore):
    def append_messages(self, *args, **kwargs):
        raise StoreError("disk full")


async def test_a_failing_store_is_reported_once_and_the_turn_goes_on(server, tmp_path):
    store = BrokenStore(tmp_path / "s.db")
    server.script(Reply(content="still answering"), Reply(content="again"))
    session, rec = make_session(server, tmp_path)
    session.recorder = Recorder(store)
    await run_input(session, "hi")
    await run_input(session, "hi again")
    notes = [e.log for e in rec.of("tool_log") if e.tool == "store"]
    assert len(notes) == 1 and "disk full" in notes[0]
    assert [e.final_response for e in rec.of("turn_complete")] == ["still answering", "again"]
    store.close()

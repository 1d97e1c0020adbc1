"""Seeding a new session from a stored conversation (catch up / restore)."""

from __future__ import annotations

from ml_intern_jupyter.agent.context import RESTORE_PROMPT
from ml_intern_jupyter.agent.restore import (
    NOT_RESUMED,
    RESTART_NOTE,
    catch_up,
    fits_context,
    restore_full,
)
from tests.agent_harness import make_session, run_input, sent_messages
from tests.fakes.llm_server import Reply

OLD = [
    {"role": "system", "content": "old system prompt"},
    {"role": "user", "content": "train a classifier on df", "_ts": 1.0},
    {
        "role": "assistant",
        "content": "Looking at the data.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "inspect", "arguments": '{"name": "df"}'},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "python", "arguments": '{"code": "fit()"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "inspect", "content": "df: 100 rows"},
]


async def test_catch_up_sends_the_restore_prompt_and_continues(server, tmp_path):
    server.script(
        Reply(content="I was training a classifier on df; c2 never ran."),
        Reply(content="Resuming."),
    )
    session, rec = make_session(server, tmp_path)
    summary = await catch_up(session, OLD)
    summary_request = server.requests[0].body
    assert summary_request["messages"][0]["content"] == RESTORE_PROMPT
    assert "train a classifier on df" in summary_request["messages"][1]["content"]
    assert "old system prompt" not in summary_request["messages"][1]["content"]
    assert summary.startswith("I was training")
    await run_input(session, "carry on")
    sent = sent_messages(server)
    note = sent[1]["content"]
    assert note.startswith("[SYSTEM: Your prior memory of this conversation") and summary in note
    assert RESTART_NOTE in note
    assert sent[-1] == {"role": "user", "content": "carry on"}
    assert rec.of("turn_complete")[0].final_response == "Resuming."
    assert [c.kind for c in rec.of("llm_call")] == ["summary", "turn"]


async def test_restore_full_history_closes_unanswered_calls(server, tmp_path):
    server.script(Reply(content="Back."))
    session, rec = make_session(server, tmp_path)
    assert fits_context(session, OLD)
    restore_full(session, OLD)
    await run_input(session, "where were we?")
    sent = sent_messages(server)
    assert sent[0]["content"] == "You are a test agent."  # the new prompt, not the old one
    assert [m["role"] for m in sent] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "user",
        "user",
    ]
    results = {m["tool_call_id"]: m["content"] for m in sent if m["role"] == "tool"}
    assert results == {"c1": "df: 100 rows", "c2": NOT_RESUMED}
    assert sent[5]["content"] == RESTART_NOTE


async def test_fits_context_refuses_a_history_that_is_too_big(server, tmp_path):
    session, _ = make_session(server, tmp_path, context_window=1000)
    big = [{"role": "user", "content": "x" * 8000}]
    assert not fits_context(session, big)

"""The turn loop, driven through the lean client against the scripted model server."""

from __future__ import annotations

import asyncio
import json

import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.context import DANGLING_RESULT
from ml_intern_jupyter.agent.loop import ABANDONED, CANCELLED, LENGTH_NOTE, REJECTED
from ml_intern_jupyter.tools.base import Approval, ToolResult
from tests.agent_harness import SleepLog, make_session, run_input, sent_messages, tool
from tests.fakes.llm_server import (
    ErrorReply,
    FakeLLMServer,
    Reply,
    ToolCall,
)


def tool_results(messages):
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


# ------------------------------------------------------------------ streaming


async def test_text_streams_in_chunks_and_completes(server, tmp_path):
    server.script(Reply(content="Hello there, this is a **streamed** answer.", chunk_size=5))
    session, rec = make_session(server, tmp_path)
    await run_input(session, "hi")
    assert len(rec.of("assistant_chunk")) > 3
    assert rec.text() == "Hello there, this is a **streamed** answer."
    assert rec.of("turn_complete")[0].final_response == rec.text()
    types = rec.types()
    assert types.index("processing") < types.index("assistant_chunk")
    assert types.index("assistant_stream_end") < types.index("turn_complete")
    seqs = [e.seq for e in rec.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e.session_id == session.id for e in rec.events)
    assert session.state == "idle"


async def test_split_tool_call_deltas_and_several_calls(server, tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b.txt").write_text("beta\n")
    server.script(
        Reply(
            tool_calls=[
                ToolCall("read", {"path": "a.txt"}),
                ToolCall("read", {"path": "b.txt"}),
            ],
            chunk_size=3,  # arguments arrive in 3-character fragments, interleaved
        ),
        Reply(content="done"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "read both")
    calls = rec.of("tool_call")
    assert [c.arguments for c in calls] == [{"path": "a.txt"}, {"path": "b.txt"}]
    msgs = sent_messages(server)
    tool_msgs = [m for m in msgs if m["role"] == "tool"]
    assert "alpha" in tool_msgs[0]["content"] and "beta" in tool_msgs[1]["content"]
    assert msgs[-3]["tool_calls"][0]["id"] == tool_msgs[0]["tool_call_id"]
    assert rec.of("turn_complete")


async def test_llm_call_events_tokens_cost_and_totals(server, tmp_path):
    server.script(Reply(content="one", usage=(100, 20)))
    session, rec = make_session(
        server,
        tmp_path,
        model_prices={"vllm/test-model": {"input_per_mtok": 1000, "output_per_mtok": 2000}},
    )
    await run_input(session, "hi")
    server.script(Reply(content="two", usage=(200, 10)))
    await run_input(session, "again")
    calls = rec.of("llm_call")
    assert [(c.prompt_tokens, c.completion_tokens) for c in calls] == [(100, 20), (200, 10)]
    assert calls[0].cost_usd == pytest.approx((100 * 1000 + 20 * 2000) / 1e6)
    assert session.totals.prompt_tokens == 300 and session.totals.completion_tokens == 30
    assert session.totals.cost_usd == pytest.approx(calls[0].cost_usd + calls[1].cost_usd)
    assert calls[0].latency_ms >= 0 and calls[0].kind == "turn"


# ---------------------------------------------------------------- bad calls


async def test_malformed_and_non_object_arguments(server, tmp_path):
    server.script(
        Reply(tool_calls=[ToolCall("read", '{"path": '), ToolCall("read", "[1, 2]")]),
        Reply(content="ok"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    outs = rec.of("tool_output")
    assert [o.success for o in outs] == [False, False]
    assert "malformed JSON arguments and was NOT executed" in outs[0].output
    assert "not a JSON object" in outs[1].output
    assert [c.arguments for c in rec.of("tool_call")] == [{}, {}]
    results = list(tool_results(sent_messages(server)).values())
    assert results == [outs[0].output, outs[1].output]


async def test_malformed_streak_adds_a_system_note(server, tmp_path):
    server.script(
        Reply(tool_calls=[ToolCall("write", '{"path": "x", "content": "unterminated')]),
        Reply(tool_calls=[ToolCall("write", '{"path": "x", "content": "again')]),
        Reply(content="giving up"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "write it")
    last = sent_messages(server)
    notes = [
        m["content"] for m in last if m["role"] == "user" and m["content"].startswith("[SYSTEM:")
    ]
    assert len(notes) == 1 and "malformed JSON" in notes[0] and "'write'" in notes[0]


async def test_unknown_tool_schema_violation_and_raising_tool(server, tmp_path):
    def boom(_args):
        raise RuntimeError("kaput")

    server.script(
        Reply(
            tool_calls=[
                ToolCall("no_such_tool", {}),
                ToolCall("read", {"path": 5}),
                ToolCall("boom", {}),
            ]
        ),
        Reply(content="recovered"),
    )
    session, rec = make_session(server, tmp_path, tools=[tool("boom", boom)])
    await run_input(session, "go")
    outs = {o.tool: o for o in rec.of("tool_output")}
    assert "no tool named 'no_such_tool'" in outs["no_such_tool"].output
    assert "read" in outs["no_such_tool"].output  # lists what exists
    assert "Invalid arguments for 'read'" in outs["read"].output and "path" in outs["read"].output
    assert "RuntimeError: kaput" in outs["boom"].output
    assert not any(o.success for o in outs.values())
    assert rec.of("turn_complete")[0].final_response == "recovered"


async def test_output_is_capped_with_a_note(server, tmp_path):
    server.script(Reply(tool_calls=[ToolCall("big", {})]), Reply(content="ok"))
    session, rec = make_session(server, tmp_path, tools=[tool("big", lambda _a: "x" * 100_000)])
    await run_input(session, "go")
    out = rec.of("tool_output")[0].output
    assert len(out) <= 25_000 and "output truncated" in out


async def test_tool_timeout_becomes_a_result(server, tmp_path):
    async def slow(_a):
        await asyncio.sleep(10)

    server.script(Reply(tool_calls=[ToolCall("slow", {})]), Reply(content="ok"))
    session, rec = make_session(server, tmp_path, tools=[tool("slow", slow, timeout=0.2)])
    await run_input(session, "go")
    assert "did not finish within 0.2 s" in rec.of("tool_output")[0].output


async def test_empty_model_response_is_an_error_and_session_survives(server, tmp_path):
    server.script(Reply(content=""), Reply(content="fine now"))
    session, rec = make_session(server, tmp_path)
    await run_input(session, "hello")
    assert "empty response" in rec.of("error")[0].error
    await run_input(session, "again")
    assert rec.of("turn_complete")[0].final_response == "fine now"


async def test_finish_reason_length_drops_calls_and_continues(server, tmp_path):
    server.script(
        Reply(
            content="Writing the file",
            tool_calls=[ToolCall("write", {"path": "f"})],
            finish_reason="length",
        ),
        Reply(content="I will write it in pieces."),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "write")
    assert rec.of("tool_call") == []
    msgs = sent_messages(server)
    assert msgs[-2] == {"role": "assistant", "content": "Writing the file"}
    assert msgs[-1] == {"role": "user", "content": LENGTH_NOTE}
    assert rec.of("turn_complete")


# ------------------------------------------------------------------- guards


async def test_continuation_guard_nudges_twice_with_unfinished_plan(server, tmp_path):
    plan = {
        "todos": [
            {"content": "load data", "status": "completed"},
            {"content": "train", "status": "pending"},
        ]
    }
    server.script(
        Reply(tool_calls=[ToolCall("plan", plan)]),
        Reply(content="stopping early 1"),
        Reply(content="stopping early 2"),
        Reply(content="stopping early 3"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "do it")
    assert rec.of("plan_update")[0].plan[1]["content"] == "train"
    nudges = [
        m
        for m in sent_messages(server)
        if m["role"] == "user" and "unfinished items" in m["content"]
    ]
    assert len(nudges) == 2 and "train" in nudges[0]["content"]
    assert len(server.requests) == 4
    assert rec.of("turn_complete")[0].final_response == "stopping early 3"


async def test_doom_loop_fires_on_three_identical_calls(server, tmp_path):
    same = ToolCall("const", {"q": 1})
    server.script(*[Reply(tool_calls=[same]) for _ in range(3)], Reply(content="ok"))
    session, rec = make_session(server, tmp_path, tools=[tool("const", lambda _a: "same")])
    await run_input(session, "go")
    notes = [
        m
        for m in sent_messages(server)
        if m["role"] == "user" and "REPETITION GUARD" in m["content"]
    ]
    assert len(notes) == 1 and "const" in notes[0]["content"]


async def test_doom_loop_silent_when_polling_results_change(server, tmp_path):
    counter = iter(range(100))
    server.script(
        *[Reply(tool_calls=[ToolCall("poll", {"job": "j"})]) for _ in range(5)], Reply(content="ok")
    )
    session, rec = make_session(
        server, tmp_path, tools=[tool("poll", lambda _a: f"step {next(counter)}")]
    )
    await run_input(session, "go")
    assert not any("REPETITION GUARD" in str(m.get("content")) for m in sent_messages(server))


async def test_doom_loop_fires_on_a_repeating_pair(server, tmp_path):
    a, b = ToolCall("const", {"q": "a"}), ToolCall("const", {"q": "b"})
    server.script(*[Reply(tool_calls=[c]) for c in (a, b, a, b)], Reply(content="ok"))
    session, rec = make_session(server, tmp_path, tools=[tool("const", lambda args: args["q"])])
    await run_input(session, "go")
    assert any("REPETITION GUARD" in str(m.get("content")) for m in sent_messages(server))


async def test_dangling_tool_calls_are_patched_before_the_next_call(server, tmp_path):
    server.script(Reply(content="ok"))
    session, rec = make_session(server, tmp_path)
    session.history.add_user("earlier")
    session.history.add_assistant("", [{"id": "lost_1", "name": "read", "arguments": "{}"}])
    await run_input(session, "continue")
    results = tool_results(sent_messages(server))
    assert results == {"lost_1": DANGLING_RESULT}


async def test_max_iterations_stops_with_a_clear_error(server, tmp_path):
    server.script(*[Reply(tool_calls=[ToolCall("poll", {"i": i})]) for i in range(5)])
    session, rec = make_session(
        server, tmp_path, tools=[tool("poll", lambda a: str(a))], max_iterations=3
    )
    await run_input(session, "go")
    assert len(server.requests) == 3
    assert "max_iterations" in rec.of("error")[0].error
    server.script(Reply(content="next"))
    await run_input(session, "continue")
    assert rec.of("turn_complete")[0].final_response == "next"


# ----------------------------------------------------------------- approvals


async def test_rejection_with_feedback_reaches_the_model(server, tmp_path):
    server.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "rm -rf data"})]),
        Reply(content="understood"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "clean up")
    req = rec.of("approval_required")[0]
    assert req.count == 1 and req.tools[0].tool == "bash" and req.tools[0].always_allowable
    assert session.state == "waiting_approval"
    cid = req.tools[0].tool_call_id
    session.submit(
        ev.ExecApproval(
            approvals=[
                ev.ApprovalDecision(
                    tool_call_id=cid, approved=False, feedback="keep data\x07 please"
                )
            ]
        )
    )
    await session.wait_idle()
    await session.flush_events()
    assert (
        tool_results(sent_messages(server))[cid] == f"{REJECTED}. User feedback: keep data please"
    )
    states = [(e.tool_call_id, e.state) for e in rec.of("tool_state_change")]
    assert (cid, "rejected") in states
    assert rec.of("turn_complete")[0].final_response == "understood"


async def test_missing_decision_counts_as_rejected_and_approved_runs(server, tmp_path):
    server.script(
        Reply(
            tool_calls=[
                ToolCall("bash", {"command": "echo one"}),
                ToolCall("bash", {"command": "echo two"}),
            ]
        ),
        Reply(content="done"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    first, second = (t.tool_call_id for t in rec.of("approval_required")[0].tools)
    session.submit(
        ev.ExecApproval(approvals=[ev.ApprovalDecision(tool_call_id=first, approved=True)])
    )
    await session.wait_idle()
    results = tool_results(sent_messages(server))
    assert results[first] == "one" and results[second] == REJECTED


async def test_edited_arguments_replace_the_originals(server, tmp_path):
    server.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "echo original"})]), Reply(content="ok")
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    cid = rec.of("approval_required")[0].tools[0].tool_call_id
    session.submit(
        ev.ExecApproval(
            approvals=[
                ev.ApprovalDecision(
                    tool_call_id=cid, approved=True, edited_args={"command": "echo edited"}
                )
            ]
        )
    )
    await session.wait_idle()
    result = tool_results(sent_messages(server))[cid]
    assert result.startswith("[Note: the user edited") and result.endswith("edited")


async def test_always_allow_skips_later_approvals_for_that_tool(server, tmp_path):
    server.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "echo 1"})]),
        Reply(tool_calls=[ToolCall("bash", {"command": "echo 2"})]),
        Reply(content="ok"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    cid = rec.of("approval_required")[0].tools[0].tool_call_id
    session.submit(
        ev.ExecApproval(
            approvals=[ev.ApprovalDecision(tool_call_id=cid, approved=True, always_allow=True)]
        )
    )
    await session.wait_idle()
    await session.flush_events()
    assert len(rec.of("approval_required")) == 1
    assert [o.output for o in rec.of("tool_output")] == ["1", "2"]
    assert "bash" in session.policy.always_allow


async def test_new_text_while_approval_pending_abandons_it(server, tmp_path):
    server.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "echo x"})]),
        Reply(content="ok, something else"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    cid = rec.of("approval_required")[0].tools[0].tool_call_id
    await run_input(session, "actually, do something else")
    msgs = sent_messages(server)
    assert tool_results(msgs)[cid] == ABANDONED
    assert msgs[-1] == {"role": "user", "content": "actually, do something else"}
    assert (cid, "abandoned") in [(e.tool_call_id, e.state) for e in rec.of("tool_state_change")]
    assert session.pending == []


async def test_approval_without_pending_is_a_clear_error(server, tmp_path):
    session, rec = make_session(server, tmp_path)
    session.submit(ev.ExecApproval(approvals=[]))
    await session.wait_idle()
    await session.flush_events()
    assert "no tool call waiting" in rec.of("error")[0].error


async def test_yolo_runs_everything_but_always_ask_calls(server, tmp_path):
    server.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "echo auto"}), ToolCall("sched", {})]),
        Reply(content="ok"),
    )
    session, rec = make_session(
        server,
        tmp_path,
        tools=[tool("sched", lambda _a: "scheduled", approval=Approval.ALWAYS_ASK)],
        yolo_mode=True,
    )
    await run_input(session, "go")
    assert [o.output for o in rec.of("tool_output")] == ["auto"]
    asked = rec.of("approval_required")[0].tools
    assert [t.tool for t in asked] == ["sched"] and "always needs" in asked[0].reason


async def test_yolo_budget_reserves_and_fails_closed(server, tmp_path):
    def job_cost(args):
        return args.get("cost")  # None -> unknown

    job = tool(
        "job",
        lambda a: ToolResult("ran", cost_usd=a.get("actual")),
        approval=Approval.ASK,
        estimate=job_cost,
    )
    server.script(
        Reply(tool_calls=[ToolCall("job", {"cost": 0.6, "actual": 0.5})]),  # fits the $1 cap
        Reply(tool_calls=[ToolCall("job", {"cost": 0.6})]),  # 0.5 spent + 0.6 > 1 -> asks
    )
    session, rec = make_session(server, tmp_path, tools=[job], yolo_mode=True, yolo_budget_usd=1.0)
    await run_input(session, "go")
    assert rec.of("tool_output")[0].output == "ran"
    assert session.policy.spent_usd == pytest.approx(0.5) and session.policy.reservations == {}
    assert session.totals.cost_usd == pytest.approx(0.5)
    req = rec.of("approval_required")[0].tools[0]
    assert "exceed the yolo budget" in req.reason and req.estimated_cost_usd == 0.6

    server.script(Reply(tool_calls=[ToolCall("job", {})]))  # cost unknown -> asks
    await run_input(session, "another")
    assert "cannot be estimated" in rec.of("approval_required")[1].tools[0].reason


async def test_yolo_budget_spent_by_llm_calls_pauses_auto_approval(server, tmp_path):
    server.script(Reply(tool_calls=[ToolCall("bash", {"command": "echo hi"})], usage=(1000, 0)))
    session, rec = make_session(
        server,
        tmp_path,
        yolo_mode=True,
        yolo_budget_usd=0.5,
        model_prices={"vllm/test-model": {"input_per_mtok": 1000, "output_per_mtok": 0}},
    )
    await run_input(session, "go")  # the LLM call alone costs $1
    req = rec.of("approval_required")[0].tools[0]
    assert req.tool == "bash" and "budget" in req.reason


# ------------------------------------------------------------------ errors


async def test_rate_limit_honours_retry_after(server, tmp_path):
    sleep = SleepLog()
    server.script(ErrorReply.rate_limit(retry_after=7), Reply(content="ok"))
    session, rec = make_session(server, tmp_path, sleep=sleep)
    await run_input(session, "hi")
    assert sleep.waits == [7]
    logs = [e.log for e in rec.of("tool_log")]
    assert logs and logs[0].startswith("LLM connection error, retrying in 7s...")
    assert rec.of("turn_complete")[0].final_response == "ok"


async def test_transient_errors_use_configured_waits_then_give_up(server, tmp_path):
    sleep = SleepLog()
    server.script(
        ErrorReply.server_error(503), ErrorReply.server_error(500), ErrorReply.server_error(502)
    )
    session, rec = make_session(server, tmp_path, sleep=sleep)
    await run_input(session, "hi")
    assert sleep.waits == [0.01, 0.02]
    err = rec.of("error")[0]
    assert "gave up after 3 attempts" in err.error and err.kind == "transient"
    server.script(Reply(content="back"))
    await run_input(session, "again")
    assert rec.of("turn_complete")[0].final_response == "back"


async def test_disconnect_mid_stream_is_retried(server, tmp_path):
    server.script(
        Reply(content="partial answer that breaks", chunk_size=4, disconnect_after_chunks=2),
        Reply(content="whole"),
    )
    session, rec = make_session(server, tmp_path)
    await run_input(session, "hi")
    assert rec.of("turn_complete")[0].final_response == "whole"
    assert sent_messages(server)[-1]["content"] == "hi"  # nothing partial was stored


async def test_dead_server_is_an_error_and_session_survives(server, tmp_path):
    dead = FakeLLMServer()
    url = dead.url
    dead.stop()  # the port is closed now
    session, rec = make_session(server, tmp_path, env={"VLLM_BASE_URL": url})
    await run_input(session, "hi")
    err = rec.of("error")[0]
    assert err.kind == "transient" and "gave up" in err.error
    session.llm._env = {"VLLM_BASE_URL": server.url}
    server.script(Reply(content="alive"))
    await run_input(session, "again")
    assert rec.of("turn_complete")[0].final_response == "alive"


async def test_auth_error_is_friendly(server, tmp_path):
    server.script(ErrorReply.auth())
    session, rec = make_session(server, tmp_path)
    await run_input(session, "hi")
    err = rec.of("error")[0]
    assert err.kind == "auth" and "API key" in err.error and "Traceback" not in err.error


async def test_missing_token_for_router_model_is_a_login_error(server, tmp_path):
    session, rec = make_session(server, tmp_path, env={}, model_name="org/model:fastest")
    session.llm.target = lambda: __import__(  # no cached login on this machine either
        "ml_intern_jupyter.agent.llm", fromlist=["resolve_model"]
    ).resolve_model("org/model:fastest", session_id=session.id, env={}, token_getter=lambda: None)
    await run_input(session, "hi")
    err = rec.of("error")[0]
    assert err.login_required and "%intern login" in err.error


async def test_router_path_sends_session_header_and_effort(server, tmp_path):
    server.script(Reply(content="routed"))
    env = {"ML_INTERN_ROUTER_BASE_URL": server.url, "HF_TOKEN": "hf_test"}
    session, rec = make_session(
        server, tmp_path, env=env, model_name="org/model:cheapest", reasoning_effort="low"
    )
    await run_input(session, "hi")
    req = server.requests[-1]
    assert req.headers["x-hf-session-id"] == session.id
    assert req.headers["authorization"] == "Bearer hf_test"
    assert req.body["model"] == "org/model:cheapest"
    assert req.body["reasoning_effort"] == "low"
    assert req.body["tool_choice"] == "auto" and req.body["stream_options"] == {
        "include_usage": True
    }


# --------------------------------------------------------------- compaction


def _long_history(session, turns=6):
    for i in range(turns):
        session.history.add_user(f"question {i} " + "q" * 400)
        session.history.add_assistant(f"answer {i} " + "a" * 400)


async def test_compaction_keeps_system_first_user_and_tail(server, tmp_path):
    session, rec = make_session(server, tmp_path)
    _long_history(session)
    server.script(Reply(content="SUMMARY OF MIDDLE"))
    session.submit(ev.Compact())
    await session.wait_idle()
    await session.flush_events()
    msgs = session.history.for_llm()
    assert msgs[0]["role"] == "system"
    assert msgs[1]["content"].startswith("question 0")
    assert "SUMMARY OF MIDDLE" in msgs[2]["content"] and msgs[2]["role"] == "assistant"
    assert msgs[-1]["content"].startswith("answer 5") and msgs[-2]["content"].startswith(
        "question 5"
    )
    c = rec.of("compacted")[0]
    assert c.new_tokens < c.old_tokens
    summary_req = server.requests[-1].body
    assert summary_req.get("stream") in (None, False)
    middle = summary_req["messages"][-1]["content"]
    assert "question 2" in middle and "question 3" not in middle
    assert rec.of("llm_call")[0].kind == "compaction"


async def test_context_overflow_compacts_and_retries(server, tmp_path):
    session, rec = make_session(server, tmp_path)
    _long_history(session)
    server.script(
        ErrorReply.context_overflow(), Reply(content="short summary"), Reply(content="answered")
    )
    await run_input(session, "next question")
    assert rec.of("compacted")
    assert rec.of("turn_complete")[0].final_response == "answered"
    assert "short summary" in sent_messages(server)[2]["content"]


async def test_threshold_triggers_compaction_before_the_call(server, tmp_path):
    session, rec = make_session(server, tmp_path, context_window=1000)
    _long_history(session)  # ~1,300 estimated tokens > 90% of 1,000
    server.script(Reply(content="tiny"), Reply(content="answered"))
    await run_input(session, "q")
    assert rec.types().index("compacted") < rec.types().index("turn_complete")


async def test_compaction_failure_ends_the_session(server, tmp_path):
    session, rec = make_session(server, tmp_path, context_window=100)
    session.history.add_user("x" * 2000)  # nothing to summarise, far over the window
    await run_input(session, "hi")
    err = rec.of("error")[0]
    assert err.fatal and "%intern new" in err.error and session.state == "ended"
    await run_input(session, "still there?")
    assert rec.of("error")[1].fatal
    session.submit(ev.New())
    await session.wait_idle()
    assert session.state == "idle"


# ---------------------------------------------------------------- interrupts


async def test_interrupt_mid_stream_leaves_nothing_dangling(server, tmp_path):
    server.script(
        Reply(
            content="a long answer " * 40,
            chunk_size=4,
            delay=0.02,
            tool_calls=[ToolCall("read", {"path": "x"})],
        ),
        Reply(content="after"),
    )
    session, rec = make_session(server, tmp_path)
    session.submit(ev.UserInput(text="go"))
    await rec.wait_for("assistant_chunk", count=3)
    session.submit(ev.Interrupt())
    await rec.wait_for("interrupted")
    assert session.state == "idle"
    msgs = session.history.for_llm()
    assert msgs[-1]["role"] == "assistant" and "tool_calls" not in msgs[-1]
    assert msgs[-1]["content"] == rec.text()
    await run_input(session, "next")
    assert rec.of("turn_complete")[0].final_response == "after"
    sent = sent_messages(server)
    assert all(m["role"] != "tool" for m in sent)


async def test_interrupt_mid_tool_cancels_it(server, tmp_path):
    started = asyncio.Event()

    async def slow(_a):
        started.set()
        await asyncio.sleep(30)

    server.script(
        Reply(tool_calls=[ToolCall("slow", {}), ToolCall("read", {"path": "."})]),
        Reply(content="ok"),
    )
    session, rec = make_session(server, tmp_path, tools=[tool("slow", slow)])
    session.submit(ev.UserInput(text="go"))
    await asyncio.wait_for(started.wait(), 20)
    session.submit(ev.Interrupt())
    await rec.wait_for("interrupted")
    cid = rec.of("tool_call")[0].tool_call_id
    assert (cid, "cancelled") in [(e.tool_call_id, e.state) for e in rec.of("tool_state_change")]
    results = tool_results(session.history.messages)
    assert results[cid] == CANCELLED
    read_id = rec.of("tool_call")[1].tool_call_id
    assert "entries" in results[read_id]  # the call that had finished keeps its real result
    await run_input(session, "next")
    assert rec.of("turn_complete")


async def test_interrupt_while_waiting_for_approval(server, tmp_path):
    server.script(Reply(tool_calls=[ToolCall("bash", {"command": "echo x"})]))
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    cid = rec.of("approval_required")[0].tools[0].tool_call_id
    session.submit(ev.Interrupt())
    await session.wait_idle()
    await session.flush_events()
    assert rec.of("interrupted") and session.pending == [] and session.state == "idle"
    assert (cid, "cancelled") in [(e.tool_call_id, e.state) for e in rec.of("tool_state_change")]
    assert cid in tool_results(session.history.messages)


# -------------------------------------------------------- queue, undo, new


async def test_two_queued_inputs_run_in_order(server, tmp_path):
    server.script(Reply(content="first answer", delay=0.01), Reply(content="second answer"))
    session, rec = make_session(server, tmp_path)
    session.submit(ev.UserInput(text="first"))
    session.submit(ev.UserInput(text="second"))
    assert session.busy
    await session.wait_idle()
    await session.flush_events()
    assert [e.final_response for e in rec.of("turn_complete")] == ["first answer", "second answer"]
    assert sent_messages(server, 0)[-1]["content"] == "first"
    assert [m["content"] for m in sent_messages(server, 1)[1:]] == [
        "first",
        "first answer",
        "second",
    ]


async def test_undo_removes_the_last_exchange(server, tmp_path):
    server.script(Reply(content="one"), Reply(content="two"))
    session, rec = make_session(server, tmp_path)
    await run_input(session, "q1")
    await run_input(session, "q2")
    session.submit(ev.Undo())
    await session.wait_idle()
    await session.flush_events()
    assert rec.of("undo_complete")[0].removed == 2
    assert [m["content"] for m in session.history.for_llm()[1:]] == ["q1", "one"]


async def test_new_resets_history_and_plan(server, tmp_path):
    server.script(Reply(content="one"))
    session, rec = make_session(server, tmp_path)
    await run_input(session, "q1")
    session.plan = [{"content": "x", "status": "pending"}]
    session.submit(ev.New())
    await session.wait_idle()
    await session.flush_events()
    assert len(session.history.messages) == 1 and session.plan == []
    assert rec.types()[-1] == "ready"


# ------------------------------------------------------------- subscribers


async def test_failing_and_slow_subscribers_do_not_stall_the_session(server, tmp_path):
    server.script(Reply(content="streamed through", chunk_size=2))
    session, rec = make_session(server, tmp_path)
    session.subscribe(lambda e: 1 / 0)
    slow_seen: list[str] = []

    async def slow(e):
        await asyncio.sleep(0.5)
        slow_seen.append(e.type)

    session.subscribe(slow)
    session.submit(ev.UserInput(text="hi"))
    await asyncio.wait_for(session.wait_idle(), 10)
    await rec.wait_for("turn_complete", timeout=2)  # not held back by the slow subscriber
    assert len(slow_seen) < 3
    assert rec.text() == "streamed through"


async def test_shutdown_refuses_later_operations(server, tmp_path):
    session, rec = make_session(server, tmp_path)
    session.submit(ev.Shutdown())
    await asyncio.wait_for(session._runner, 5)
    assert "shutdown" in rec.types()
    session.submit(ev.UserInput(text="hello?"))
    assert session.state == "ended"


def test_parse_arguments_is_strict():
    from ml_intern_jupyter.agent.loop import parse_arguments

    assert parse_arguments("t", '{"a": 1}') == ({"a": 1}, None)
    assert parse_arguments("t", "") == ({}, None)
    assert parse_arguments("t", "null")[0] is None
    assert json.loads('"x"') == "x" and parse_arguments("t", '"x"')[0] is None

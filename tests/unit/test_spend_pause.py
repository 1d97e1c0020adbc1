"""Spend pauses: a real Session against the scripted model server, priced so
each model call costs $3 (1,000 prompt tokens at $3,000 per million)."""

from __future__ import annotations

import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.approvals import ApprovalPolicy
from ml_intern_jupyter.agent.loop import SPEND_PAUSE_TOOL, SPEND_STOPPED
from ml_intern_jupyter.tools.base import ToolResult
from tests.agent_harness import make_session, run_input, tool
from tests.fakes.llm_server import Reply, ToolCall

PRICES = {"vllm/test-model": {"input_per_mtok": 3000.0, "output_per_mtok": 0.0}}
USAGE = (1000, 0)  # $3 a call


def echo(n: int) -> Reply:
    return Reply(tool_calls=[ToolCall("bash", {"command": f"echo {n}"})], usage=USAGE)


async def decide(session, rec, approved: bool) -> None:
    req = rec.of("approval_required")[-1]
    session.submit(
        ev.ExecApproval(
            approvals=[
                ev.ApprovalDecision(tool_call_id=req.tools[0].tool_call_id, approved=approved)
            ]
        )
    )
    await session.wait_idle()
    await session.flush_events()


async def test_crossing_the_threshold_pauses_once_then_at_its_doubling(server, tmp_path):
    server.script(echo(1), echo(2), echo(3), echo(4), Reply(content="done", usage=USAGE))
    session, rec = make_session(server, tmp_path, yolo_mode=True, model_prices=PRICES)
    await run_input(session, "go")
    # $3, then $6: the pause comes before the third call.
    assert len(server.requests) == 2
    pauses = rec.of("approval_required")
    assert len(pauses) == 1 and session.state == "waiting_approval"
    pause = pauses[0].tools[0]
    assert pause.tool == SPEND_PAUSE_TOOL and pause.kind == "spend"
    assert pause.arguments["spent_usd"] == pytest.approx(6.0)
    assert pause.arguments["inference_usd"] == pytest.approx(6.0)
    assert pause.arguments["jobs_usd"] == 0
    assert pause.arguments["threshold_usd"] == 5.0 and pause.arguments["next_pause_usd"] == 10.0
    assert "$6.00" in pause.reason and "inference $6.00" in pause.reason

    await decide(session, rec, True)
    # $9, then $12 >= $10: paused again before the fifth call.
    assert len(server.requests) == 4
    pauses = rec.of("approval_required")
    assert len(pauses) == 2
    assert pauses[1].tools[0].arguments["threshold_usd"] == 10.0
    assert pauses[1].tools[0].arguments["next_pause_usd"] == 20.0

    await decide(session, rec, True)
    assert len(server.requests) == 5 and rec.of("turn_complete")[-1].final_response == "done"
    assert session.policy.spend_pause_usd == 20.0
    # No pause leaves a trace in the history the model sees.
    sent = server.requests[-1].body["messages"]
    assert not any(SPEND_PAUSE_TOOL in str(m) for m in sent)
    assert [m["role"] for m in sent].count("tool") == 4


async def test_without_yolo_the_pause_holds_too_and_reject_ends_the_turn(server, tmp_path):
    ok = tool("free", lambda _a: "ok")
    server.script(
        Reply(tool_calls=[ToolCall("free", {})], usage=USAGE),
        Reply(tool_calls=[ToolCall("free", {})], usage=USAGE),
    )
    session, rec = make_session(server, tmp_path, tools=[ok], model_prices=PRICES)
    await run_input(session, "go")
    assert len(server.requests) == 2 and rec.of("approval_required")[0].tools[0].kind == "spend"

    await decide(session, rec, False)
    assert len(server.requests) == 2  # nothing more was spent
    assert session.state == "idle" and not session.pending
    assert rec.of("turn_complete")[-1].final_response == ""
    outputs = [o for o in rec.of("tool_output") if o.tool == SPEND_PAUSE_TOOL]
    assert outputs[-1].output == SPEND_STOPPED and outputs[-1].success is False
    states = [e.state for e in rec.of("tool_state_change") if e.tool == SPEND_PAUSE_TOOL]
    assert states == ["rejected"]
    # The answer moved the threshold: the next turn goes on until $10.
    assert session.policy.spend_pause_usd == 10.0
    server.script(Reply(content="fine", usage=USAGE))
    await run_input(session, "next")
    assert rec.of("turn_complete")[-1].final_response == "fine"
    assert len(rec.of("approval_required")) == 1


async def test_job_costs_count_and_are_shown_apart(server, tmp_path):
    job = tool("job", lambda _a: ToolResult("ran", cost_usd=4.5))
    server.script(
        Reply(tool_calls=[ToolCall("job", {})], usage=USAGE), Reply(content="x", usage=USAGE)
    )
    session, rec = make_session(server, tmp_path, tools=[job], model_prices=PRICES)
    await run_input(session, "go")
    args = rec.of("approval_required")[0].tools[0].arguments
    assert args["inference_usd"] == pytest.approx(3.0) and args["jobs_usd"] == pytest.approx(4.5)
    assert args["spent_usd"] == pytest.approx(7.5)
    assert session.totals.by_day and sum(session.totals.by_day.values()) == pytest.approx(7.5)


async def test_new_text_while_paused_does_not_touch_the_history_and_pauses_again(server, tmp_path):
    server.script(echo(1), echo(2))
    session, rec = make_session(server, tmp_path, model_prices=PRICES, yolo_mode=True)
    await run_input(session, "go")
    assert rec.of("approval_required")[0].tools[0].kind == "spend"
    before = len(session.history.messages)
    await run_input(session, "something else")  # abandons the pause: not acknowledged
    assert len(session.history.messages) == before + 1  # just the new input
    assert len(rec.of("approval_required")) == 2 and len(server.requests) == 2


@pytest.mark.parametrize("setting", [0, None])
async def test_zero_or_null_turns_pauses_off(server, tmp_path, setting):
    server.script(echo(1), echo(2), Reply(content="done", usage=USAGE))
    session, rec = make_session(
        server, tmp_path, yolo_mode=True, model_prices=PRICES, spend_pause_usd=setting
    )
    await run_input(session, "go")
    assert not rec.of("approval_required") and rec.of("turn_complete")


def test_the_next_threshold_doubles_past_a_big_jump():
    policy = ApprovalPolicy(spend_pause_usd=5.0)
    assert policy.spend_pause_due(4.99) is None and policy.spend_pause_due(5.0) == 5.0
    assert policy.next_spend_pause(27.0) == 40.0
    policy.acknowledge_spend(27.0)
    assert policy.spend_pause_usd == 40.0 and policy.spend_pause_due(39.0) is None

"""ToolRouter, the plan tool and the approval policy, without a model."""

from __future__ import annotations

import asyncio

import pytest

from ml_intern_jupyter.agent.approvals import ApprovalPolicy
from ml_intern_jupyter.tools.base import Approval, ToolContext, ToolResult, ToolSpec
from ml_intern_jupyter.tools.plan import plan_tool, unfinished
from ml_intern_jupyter.tools.router import ToolRouter, cap_output


def spec(name="t", approval=Approval.NO, estimate=None, handler=None, timeout=5.0):
    async def default(args, ctx):
        return f"ran {args}"

    return ToolSpec(
        name=name,
        description="d",
        parameters={
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
            "additionalProperties": False,
        },
        handler=handler or default,
        approval=lambda _a: approval,
        estimate_cost=estimate,
        timeout=timeout,
    )


def ctx(tmp_path, **kw):
    return ToolContext(session_id="s", tool_call_id="c", workdir=tmp_path, **kw)


# ------------------------------------------------------------------- router


async def test_router_validates_against_the_schema(tmp_path):
    router = ToolRouter([spec()])
    ok = await router.run("t", {"n": 1}, ctx(tmp_path))
    assert ok.success and ok.output == "ran {'n': 1}"
    for bad, fragment in (
        ({}, "'n' is a required property"),
        ({"n": "x"}, "n: 'x' is not of type 'integer'"),
        ({"n": 1, "m": 2}, "Additional properties"),
    ):
        result = await router.run("t", bad, ctx(tmp_path))
        assert not result.success and "NOT executed" in result.output and fragment in result.output


async def test_router_unknown_tool_lists_the_valid_ones(tmp_path):
    result = await ToolRouter([spec("alpha"), spec("beta")]).run("gamma", {}, ctx(tmp_path))
    assert not result.success and "alpha, beta" in result.output


async def test_router_timeout_and_exceptions_become_results(tmp_path):
    async def hang(args, c):
        await asyncio.sleep(5)

    async def fail(args, c):
        raise ValueError("bad value")

    router = ToolRouter([spec("hang", handler=hang, timeout=0.05), spec("fail", handler=fail)])
    slow = await router.run("hang", {"n": 1}, ctx(tmp_path))
    assert not slow.success and "0.05 s" in slow.output
    failed = await router.run("fail", {"n": 1}, ctx(tmp_path))
    assert not failed.success and "ValueError: bad value" in failed.output


async def test_router_caps_output(tmp_path):
    async def big(args, c):
        return ToolResult("a" * 1000 + "b" * 50_000 + "z" * 1000)

    result = await ToolRouter([spec("big", handler=big)], output_limit=25_000).run(
        "big", {"n": 1}, ctx(tmp_path)
    )
    assert len(result.output) <= 25_000
    assert result.output.startswith("a" * 1000) and result.output.endswith("z" * 1000)
    assert "output truncated" in result.output


def test_cap_output_leaves_short_text_alone():
    assert cap_output("short", 100) == "short"


def test_schemas_are_openai_tool_entries():
    (entry,) = ToolRouter([spec("x")]).schemas()
    assert entry["type"] == "function" and entry["function"]["name"] == "x"
    assert entry["function"]["parameters"]["required"] == ["n"]


# --------------------------------------------------------------------- plan


async def test_plan_replaces_the_list_and_reports_progress(tmp_path):
    seen = []
    c = ctx(tmp_path, set_plan=seen.append)
    router = ToolRouter([plan_tool()])
    todos = [{"content": "a", "status": "completed"}, {"content": "b", "status": "in_progress"}]
    result = await router.run("plan", {"todos": todos}, c)
    assert result.success and "1/2 done" in result.output and "[x] a" in result.output
    assert [i["content"] for i in seen[-1]] == ["a", "b"]
    assert [i["content"] for i in unfinished(seen[-1])] == ["b"]
    bad = await router.run("plan", {"todos": [{"content": "a", "status": "doing"}]}, c)
    assert not bad.success and "'doing' is not one of" in bad.output


# ---------------------------------------------------------------- approvals

CASES = [
    # rule, yolo, budget, always_allowed, estimate_fn, expected needs_approval
    (Approval.NO, False, None, False, None, False),
    (Approval.ASK, False, None, False, None, True),
    (Approval.ASK, False, None, True, None, False),  # "always allow <tool>"
    (Approval.ALWAYS_ASK, False, None, True, None, True),
    (Approval.ASK, True, None, False, None, False),  # yolo
    (Approval.ALWAYS_ASK, True, None, False, None, True),  # never auto in yolo
    (Approval.ASK, True, 10.0, False, lambda a: 1.0, False),  # under budget
    (Approval.ASK, True, 10.0, False, lambda a: 11.0, True),  # over budget
    (Approval.ASK, True, 10.0, False, lambda a: None, True),  # unknown cost fails closed
    (Approval.ASK, True, 10.0, False, lambda a: 1 / 0, True),  # estimator bug fails closed
    (Approval.ASK, True, 10.0, False, None, False),  # tool that spends nothing
]


@pytest.mark.parametrize("rule,yolo,budget,allowed,estimate,expected", CASES)
def test_approval_table(rule, yolo, budget, allowed, estimate, expected):
    policy = ApprovalPolicy(yolo=yolo, budget_usd=budget, always_allow={"t"} if allowed else set())
    assert (
        policy.decide(spec(approval=rule, estimate=estimate), {}, "c1").needs_approval is expected
    )


def test_reservations_count_against_the_budget_and_settle():
    policy = ApprovalPolicy(yolo=True, budget_usd=1.0)
    job = spec(approval=Approval.ASK, estimate=lambda a: 0.4)
    assert not policy.decide(job, {}, "a").needs_approval
    assert not policy.decide(job, {}, "b").needs_approval
    assert policy.reserved_usd == pytest.approx(0.8)
    assert policy.decide(job, {}, "c").needs_approval  # 0.8 reserved + 0.4 > 1.0
    policy.settle("a", success=False, actual_usd=None)  # failed: released, nothing spent
    policy.settle("b", success=True, actual_usd=0.1)  # reconciled with the real cost
    assert policy.spent_usd == pytest.approx(0.1) and policy.reservations == {}
    assert not policy.decide(job, {}, "d").needs_approval
    policy.add_spend(5.0)
    decision = policy.decide(job, {}, "e")
    assert decision.needs_approval and "spent" in decision.reason


async def test_a_stop_is_never_lost_when_the_tool_finishes_at_the_same_moment(tmp_path):
    # asyncio.wait_for on Python 3.10/3.11 returns the result instead of raising
    # when the inner call completes in the same loop step as the cancellation.
    outer: asyncio.Task | None = None

    async def finishes_as_stop_arrives(args, c):
        assert outer is not None
        outer.cancel()
        return "done"

    router = ToolRouter([spec("t", handler=finishes_as_stop_arrives, timeout=5)])
    outer = asyncio.ensure_future(router.run("t", {"n": 1}, ctx(tmp_path)))
    with pytest.raises(asyncio.CancelledError):
        await outer

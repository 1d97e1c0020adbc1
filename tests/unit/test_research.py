"""The `research` sub-agent: a real Session, real litellm, the scripted model server,
and the real web_search tool against the fake search backend."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.loop import CANCELLED
from ml_intern_jupyter.agent.research import FINAL_NOTE, READ_ONLY, WHY_CONTEXT
from ml_intern_jupyter.tools.base import Approval
from tests.agent_harness import RESEARCH_SYSTEM, Conversations, make_session, run_input, tool
from tests.fakes.llm_server import Reply, ToolCall
from tests.fakes.web_server import FakeWeb

PRICES = {
    "vllm/test-model": {"input_per_mtok": 1000, "output_per_mtok": 2000},
    "vllm/research-model": {"input_per_mtok": 100, "output_per_mtok": 200},
}


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeb]:
    fake = FakeWeb().start()
    fake.results = [
        ("DPO paper", "https://arxiv.org/abs/2305.18290", "Direct preference optimization"),
        ("TRL DPO trainer", "https://huggingface.co/docs/trl/dpo_trainer", "dpo trainer docs"),
    ]
    monkeypatch.setenv("ML_INTERN_SEARCH_URL", fake.url + "/html/")
    yield fake
    fake.stop()


def research(task: str, context: str = "", id: str | None = None) -> ToolCall:
    args = {"task": task, **({"context": context} if context else {})}
    return ToolCall("research", args, id=id)


def search(query: str) -> ToolCall:
    return ToolCall("web_search", {"query": query})


def results_of(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


def nested(rec: Any, type_: str, parent: str | None = None) -> list[Any]:
    return [
        e
        for e in rec.of(type_)
        if e.parent_call_id and (parent is None or e.parent_call_id == parent)
    ]


def own(rec: Any, type_: str) -> list[Any]:
    return [e for e in rec.of(type_) if not e.parent_call_id]


# --------------------------------------------------------------- one research


async def test_research_runs_its_own_loop_and_returns_its_report(server, web, tmp_path):
    report = "## Answer\nUse DPO with beta 0.1 ([paper](https://arxiv.org/abs/2305.18290))."
    convs = Conversations(
        main=[
            Reply(tool_calls=[research("dpo recipe", "the user has UltraFeedback", id="r1")]),
            Reply(content="Research says beta 0.1."),
        ],
        **{"dpo recipe": [Reply(tool_calls=[search("dpo beta")]), Reply(content=report)]},
    )
    server.fallback = convs
    session, rec = make_session(server, tmp_path)
    await run_input(session, "how do I run DPO?")

    # the sub-agent talked to the model with its own prompt, task and read-only tools
    sub = convs.requests("dpo recipe")
    assert len(sub) == 2
    first = sub[0].body["messages"]
    assert first[0]["content"].startswith(RESEARCH_SYSTEM)
    assert "dpo recipe" in first[1]["content"] and "UltraFeedback" in first[1]["content"]
    tools = {t["function"]["name"] for t in sub[0].body["tools"]}
    assert tools == set(READ_ONLY) & set(session.tools.names)
    assert not tools & {"bash", "write", "edit", "read", "hf_jobs", "plan", "research"}
    # its own tool call ran for real (the fake search backend saw the query)
    assert web.calls("/html")[0].param("q") == "dpo beta"
    search_result = results_of(sub[1].body["messages"])
    assert "Direct preference optimization" in next(iter(search_result.values()))

    # the report came back to the main conversation as the tool's result, in markdown
    main = convs.requests("main")
    assert results_of(main[-1].body["messages"]) == {"r1": report}
    assert not any(m["content"] == report for m in session.history.messages[:-3])
    assert rec.of("turn_complete")[-1].final_response == "Research says beta 0.1."

    # its events reached the session's subscribers, nested under the call, in the op
    op_id = own(rec, "turn_complete")[0].op_id
    calls = nested(rec, "tool_call", "r1")
    assert [c.tool for c in calls] == ["web_search"]
    assert all(e.op_id == op_id for e in rec.events if e.parent_call_id)
    assert [e.final_response for e in nested(rec, "turn_complete", "r1")] == [report]
    assert len(own(rec, "turn_complete")) == 1
    done = [e for e in rec.of("op_done") if e.op_id == op_id]
    assert [d.outcome for d in done] == ["done"]
    output = next(e for e in own(rec, "tool_output") if e.tool_call_id == "r1")
    assert output.success and output.output == report
    assert output.display["research"]["tool_calls"] == 1
    assert output.display["research"]["llm_calls"] == 2


async def test_research_cannot_run_code_write_or_change_the_hub(server, tmp_path):
    convs = Conversations(
        main=[Reply(tool_calls=[research("look around", id="r1")]), Reply(content="ok")],
        **{
            "look around": [
                Reply(
                    tool_calls=[
                        ToolCall("write", {"path": "evil.txt", "content": "x"}),
                        ToolCall("bash", {"command": "touch evil2.txt"}),
                        ToolCall(
                            "hf_repo_git",
                            {"operation": "create_branch", "repo_id": "a/b", "branch": "x"},
                        ),
                        ToolCall("ask_me", {}),
                    ]
                ),
                Reply(content="I could only read."),
            ]
        },
    )
    server.fallback = convs
    session, rec = make_session(
        server, tmp_path, tools=[tool("ask_me", lambda a: "ran", approval=Approval.ASK)]
    )
    await run_input(session, "go")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "evil2.txt").exists()
    assert rec.of("approval_required") == []  # nothing waited for the user
    outputs = {e.tool: e for e in nested(rec, "tool_output", "r1")}
    assert set(outputs) == {"write", "bash", "hf_repo_git", "ask_me"}
    assert all(not o.success for o in outputs.values())
    assert "not available to research" in outputs["write"].output
    assert "not available to research" in outputs["bash"].output
    assert "changes something" in outputs["hf_repo_git"].output
    assert "ran" not in outputs["ask_me"].output
    assert results_of(session.history.messages)["r1"] == "I could only read."


async def test_an_operation_that_would_ask_is_refused(server, tmp_path):
    # hf_repo_files 'upload' asks the user: research refuses it instead of pausing
    convs = Conversations(
        main=[Reply(tool_calls=[research("files", id="r1")]), Reply(content="ok")],
        files=[
            Reply(
                tool_calls=[
                    ToolCall(
                        "hf_repo_files",
                        {"operation": "upload", "repo_id": "a/b", "path": "x", "content": "y"},
                    )
                ]
            ),
            Reply(content="report"),
        ],
    )
    server.fallback = convs
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    (out,) = nested(rec, "tool_output", "r1")
    assert not out.success and "changes something" in out.output
    assert rec.of("approval_required") == []


# ------------------------------------------------------------------- limits


async def test_iteration_cap_forces_a_final_report_without_tools(server, web, tmp_path):
    convs = Conversations(
        main=[Reply(tool_calls=[research("loop", id="r1")]), Reply(content="ok")],
        loop=[
            Reply(tool_calls=[search("a")]),
            Reply(tool_calls=[search("b")]),
            Reply(tool_calls=[search("c")]),
            Reply(content="Final: found a, b and c."),
        ],
    )
    server.fallback = convs
    session, rec = make_session(server, tmp_path, research_max_iterations=3)
    await run_input(session, "go")
    sub = convs.requests("loop")
    assert len(sub) == 4  # three iterations, then the forced report
    last = sub[-1].body
    assert last["tool_choice"] == "none"
    assert last["messages"][-1]["content"] == FINAL_NOTE.format(
        why="You have used all 3 of your model calls."
    )
    assert all(r.body.get("tool_choice") == "auto" for r in sub[:3])
    assert results_of(session.history.messages)["r1"] == "Final: found a, b and c."
    assert own(rec, "error") == [] and rec.of("turn_complete")[-1].final_response == "ok"


async def test_the_default_cap_is_sixty_model_calls(server, tmp_path):
    session, _rec = make_session(server, tmp_path)
    from ml_intern_jupyter.agent.research import ResearchSession

    sub = ResearchSession(session, "r1")
    assert sub.config.max_iterations == 60
    assert sub.config.model_name == session.config.model_name  # research_model unset
    assert "at most 60 model calls" in sub.history.messages[0]["content"]


async def test_context_warning_then_forced_report_near_the_limit(server, web, tmp_path):
    convs = Conversations(
        main=[Reply(tool_calls=[research("big", id="r1")]), Reply(content="ok")],
        big=[
            Reply(tool_calls=[search("one")], usage=(8_700, 10)),  # past 85% of 10k
            Reply(tool_calls=[search("two")], usage=(9_600, 10)),  # past 95%
            Reply(content="Report written under pressure."),
        ],
    )
    server.fallback = convs
    session, _rec = make_session(server, tmp_path, context_window=10_000)
    await run_input(session, "go")
    sub = convs.requests("big")
    assert len(sub) == 3
    second = [m["content"] for m in sub[1].body["messages"] if m["role"] == "user"]
    assert any("context tokens" in (c or "") for c in second)  # the warning
    third = sub[2].body
    assert third["tool_choice"] == "none"
    assert third["messages"][-1]["content"] == FINAL_NOTE.format(why=WHY_CONTEXT)
    assert results_of(session.history.messages)["r1"] == "Report written under pressure."
    assert len(web.calls("/html")) == 2  # the second search ran; then no more tools


async def test_a_failed_research_returns_what_it_found(server, tmp_path):
    convs = Conversations(
        main=[Reply(tool_calls=[research("flaky", id="r1")]), Reply(content="ok")],
        flaky=[Reply(content="Partial: saw X.", tool_calls=[ToolCall("nothing", {})]), Reply()],
    )
    server.fallback = convs
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    result = results_of(session.history.messages)["r1"]
    assert result.startswith("ERROR: the research stopped before its report")
    assert "Partial: saw X." in result
    assert nested(rec, "error", "r1")  # shown in its card
    assert own(rec, "error") == [] and rec.of("turn_complete")[-1].final_response == "ok"


# ------------------------------------------------------ concurrency and Stop


async def test_two_research_calls_in_one_message_run_concurrently(server, web, tmp_path):
    slow = dict(delay=0.08, chunk_size=4)
    convs = Conversations(
        main=[
            Reply(tool_calls=[research("alpha", id="ra"), research("beta", id="rb")]),
            Reply(content="both done"),
        ],
        alpha=[Reply(tool_calls=[search("alpha")], **slow), Reply(content="A report")],
        beta=[Reply(tool_calls=[search("beta")], **slow), Reply(content="B report")],
    )
    server.fallback = convs
    session, rec = make_session(server, tmp_path)
    await run_input(session, "go")
    a, b = convs.times("alpha"), convs.times("beta")
    assert len(a) == len(b) == 2
    # each one's first model call started before the other's first call had finished
    assert max(a[0], b[0]) < min(a[1], b[1])
    results = results_of(convs.requests("main")[-1].body["messages"])
    assert results == {"ra": "A report", "rb": "B report"}
    tool_ids = [m["tool_call_id"] for m in session.history.messages if m["role"] == "tool"]
    assert tool_ids == ["ra", "rb"]  # results in call order
    assert {e.parent_call_id for e in rec.events if e.parent_call_id} == {"ra", "rb"}


async def test_stop_cancels_every_research_call_and_closes_them(server, tmp_path):
    convs = Conversations(
        main=[Reply(tool_calls=[research("one", id="r1"), research("two", id="r2")])],
        one=[Reply(content="reading " * 200, chunk_size=4, delay=0.02)],
        two=[Reply(content="thinking " * 200, chunk_size=4, delay=0.02)],
    )
    server.fallback = convs
    session, rec = make_session(server, tmp_path)
    session.submit(ev.UserInput(text="go"))

    async def both_streaming() -> None:
        while {e.parent_call_id for e in nested(rec, "assistant_chunk")} != {"r1", "r2"}:
            await rec.wait_for("assistant_chunk", count=len(rec.of("assistant_chunk")) + 1)

    await asyncio.wait_for(both_streaming(), 20)
    session.submit(ev.Interrupt())
    await session.wait_idle()
    await session.flush_events()
    assert session.state == "idle"
    assert len(own(rec, "interrupted")) == 1
    assert {e.parent_call_id for e in nested(rec, "interrupted")} == {"r1", "r2"}
    results = results_of(session.history.messages)
    assert results == {"r1": CANCELLED, "r2": CANCELLED}
    states = {(e.tool_call_id, e.state) for e in own(rec, "tool_state_change")}
    assert {("r1", "cancelled"), ("r2", "cancelled")} <= states
    done = rec.of("op_done")
    assert any(d.op_type == "user_input" and d.outcome == "interrupted" for d in done)
    # nothing more is asked of the model, and the session goes on
    n = len(server.requests)
    convs.main.append(Reply(content="fresh start"))
    await run_input(session, "next")
    assert len(server.requests) == n + 1
    assert rec.of("turn_complete")[-1].final_response == "fresh start"


# --------------------------------------------------------- cost and budget


async def test_research_tokens_and_cost_count_in_the_session_totals(server, tmp_path):
    convs = Conversations(
        main=[
            Reply(tool_calls=[research("cost", id="r1")], usage=(100, 20)),
            Reply(content="ok", usage=(300, 10)),
        ],
        cost=[
            Reply(tool_calls=[ToolCall("nothing_here", {})], usage=(1000, 50)),
            Reply(content="cheap report", usage=(2000, 100)),
        ],
    )
    server.fallback = convs
    session, rec = make_session(
        server, tmp_path, model_prices=PRICES, research_model="vllm/research-model"
    )
    await run_input(session, "go")
    sub_calls = nested(rec, "llm_call", "r1")
    main_calls = own(rec, "llm_call")
    assert [c.model for c in sub_calls] == ["vllm/research-model"] * 2
    assert [c.model for c in main_calls] == ["vllm/test-model"] * 2
    assert all(r.body["model"] == "research-model" for r in convs.requests("cost"))
    assert all(r.body["model"] == "test-model" for r in convs.requests("main"))
    sub_cost = (3000 * 100 + 150 * 200) / 1e6
    main_cost = (400 * 1000 + 30 * 2000) / 1e6
    assert sum(c.cost_usd for c in sub_calls) == pytest.approx(sub_cost)
    t = session.totals
    assert t.llm_calls == 4
    assert (t.prompt_tokens, t.completion_tokens) == (3400, 180)
    assert t.cost_usd == pytest.approx(sub_cost + main_cost)
    assert session.policy.spent_usd == pytest.approx(sub_cost + main_cost)
    stats = next(e for e in own(rec, "tool_output") if e.tool_call_id == "r1").display["research"]
    assert stats["tokens"] == 3150 and stats["cost_usd"] == pytest.approx(sub_cost)
    assert stats["model"] == "vllm/research-model"


async def test_research_spend_counts_against_the_yolo_budget(server, tmp_path):
    convs = Conversations(
        main=[
            Reply(tool_calls=[research("pricey", id="r1")], usage=(1, 1)),
            Reply(tool_calls=[ToolCall("ask_me", {})], usage=(1, 1)),
        ],
        pricey=[Reply(content="expensive report", usage=(10_000, 0))],  # $1.00
    )
    server.fallback = convs
    session, rec = make_session(
        server,
        tmp_path,
        tools=[tool("ask_me", lambda a: "ran", approval=Approval.ASK)],
        model_prices={"vllm/test-model": {"input_per_mtok": 100, "output_per_mtok": 0}},
        yolo_mode=True,
        yolo_budget_usd=0.5,
    )
    await run_input(session, "go")
    (ask,) = rec.of("approval_required")
    assert "yolo budget" in (ask.tools[0].reason or "")

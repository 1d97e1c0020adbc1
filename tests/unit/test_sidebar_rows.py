"""A session's sidebar row, built from its events: statuses through a turn, pending
calls (scrubbed, truncated), notices, coalescing, removal. Real sessions against
the scripted model server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.notebook.sidebar.rows import ARGS_MAX_CHARS, ROW_INTERVAL, RowTracker
from ml_intern_jupyter.tools.base import Approval
from tests.agent_harness import make_session, tool
from tests.fakes.llm_server import ErrorReply, FakeLLMServer, Reply, ToolCall

SECRET = "hf_" + "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwX"


class Published:
    """What the tracker publishes, with the loop time of each message."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, dict[str, Any]]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append((asyncio.get_running_loop().time(), message))

    def rows(self) -> list[dict[str, Any]]:
        return [m["session"] for _t, m in self.messages if m["type"] == "session"]

    def row_times(self) -> list[float]:
        return [t for t, m in self.messages if m["type"] == "session"]

    def notices(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for _t, m in self.messages
            if m["type"] == "notice" and (kind is None or m["kind"] == kind)
        ]

    def statuses(self) -> list[str]:
        out: list[str] = []
        for row in self.rows():
            if not out or out[-1] != row["status"]:
                out.append(row["status"])
        return out


async def until(predicate: Any, timeout: float = 60) -> None:
    async def wait() -> None:
        while not predicate():  # noqa: ASYNC110 - polls state no event announces
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), timeout)


def in_order(seen: list[str], expected: list[str]) -> bool:
    """`expected` appears in `seen` in this order (other statuses may come between)."""
    it = iter(seen)
    return all(any(s == want for s in it) for want in expected)


def tracked(server: FakeLLMServer, tmp_path: Path, **kw: Any) -> tuple[Any, RowTracker, Published]:
    async def slow(_args: dict[str, Any]) -> str:
        await asyncio.sleep(0.4)
        return "risky ran"

    session, _rec = make_session(
        server, tmp_path, tools=[tool("risky", slow, approval=Approval.ASK)], **kw
    )
    published = Published()
    cells = {"op-1": "cell-abc"}
    tracker = RowTracker(
        session, name="default", notebook="nb.ipynb", publish=published, cell_of=cells.get
    )
    session.subscribe(tracker.on_event)
    return session, tracker, published


async def test_a_turn_goes_streaming_waiting_running_idle_with_totals_and_notices(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    big = "x" * (ARGS_MAX_CHARS + 500)
    fake_llm.script(
        Reply(
            content="Let me check this carefully. " * 20,
            chunk_size=4,
            delay=0.01,
            tool_calls=[ToolCall("risky", {"token": SECRET, "note": f"key {SECRET}", "big": big})],
        ),
        Reply(content="All done."),
    )
    session, tracker, published = tracked(fake_llm, tmp_path)
    session.submit(ev.UserInput(id="op-1", text="Please   check\nthe build " + SECRET))
    await until(lambda: published.rows() and published.rows()[-1]["status"] == "waiting")
    row = published.rows()[-1]
    (pending,) = row["pending"]
    assert pending["tool"] == "risky" and pending["call_id"] == session.pending[0].tool_call_id
    assert pending["kind"] == "tool"
    assert SECRET not in pending["arguments"] and pending["truncated"] is True
    assert len(pending["arguments"]) <= ARGS_MAX_CHARS
    assert pending["arguments"].startswith('{"token": "[REDACTED]"')
    assert row["cell_id"] == "cell-abc" and row["notebook"] == "nb.ipynb"
    assert row["title"].startswith("Please check the build ") and SECRET not in row["title"]
    assert row["model"] == "vllm/test-model" and row["error"] is None
    (approval,) = published.notices("approval")
    assert approval["session_id"] == session.id and "risky" in approval["message"]

    session.submit(
        ev.ExecApproval(
            approvals=[
                ev.ApprovalDecision(tool_call_id=pending["call_id"], approved=True),
            ]
        )
    )
    await until(lambda: tracker.status()[0] == "idle" and not tracker._timer)
    await asyncio.sleep(ROW_INTERVAL * 2)
    assert in_order(published.statuses(), ["streaming", "waiting", "running", "idle"])
    running = [r for r in published.rows() if r["status"] == "running"]
    assert running and all(r["tool"] == "risky" and r["pending"] == [] for r in running)
    last = published.rows()[-1]
    assert last["turns"] == 1 and last["tokens"] == session.totals.tokens > 0
    assert last["cost"] == session.totals.cost_usd and last["pending"] == []
    (done,) = published.notices("turn_done")
    assert done["duration_s"] is not None and done["duration_s"] > 0.4
    ids = [n["notice_id"] for n in published.notices()]
    assert len(ids) == len(set(ids))


async def test_rows_are_coalesced_to_ten_a_second_and_the_last_state_follows_fast(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(content="word " * 300, chunk_size=3, delay=0.003))
    session, tracker, published = tracked(fake_llm, tmp_path)
    events: list[tuple[float, str]] = []
    session.subscribe(lambda e: events.append((asyncio.get_running_loop().time(), e.type)))
    session.submit(ev.UserInput(text="talk"))
    await session.wait_idle()
    await session.flush_events()
    await asyncio.sleep(ROW_INTERVAL * 2)
    times = published.row_times()
    chunks = sum(1 for _t, kind in events if kind == "assistant_chunk")
    assert chunks > 100 and len(times) < chunks / 5
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= ROW_INTERVAL * 0.95, gaps
    # The final state went out within the interval of the last event.
    assert times[-1] - events[-1][0] <= ROW_INTERVAL + 0.07
    assert published.rows()[-1]["status"] == "idle"
    assert published.rows()[-1]["last_activity"] >= events[-1][0] - 5


async def test_a_failed_turn_shows_error_and_a_notice_the_next_turn_clears_it(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(ErrorReply(400, message="bad request from the fake"), Reply(content="ok"))
    session, tracker, published = tracked(fake_llm, tmp_path, llm_attempts=1)
    session.submit(ev.UserInput(text="fail please"))
    await session.wait_idle()
    await until(lambda: published.rows() and published.rows()[-1]["status"] == "error")
    row = published.rows()[-1]
    assert row["error"] and "bad request" in row["error"]
    (notice,) = published.notices("error")
    assert notice["session_id"] == session.id and notice["duration_s"] is None
    assert not published.notices("turn_done")
    session.submit(ev.UserInput(text="again"))
    await session.wait_idle()
    await until(lambda: published.rows()[-1]["status"] == "idle")
    assert published.rows()[-1]["error"] is None


async def test_pending_calls_decided_elsewhere_leave_the_row_and_shutdown_removes_it(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(
        Reply(tool_calls=[ToolCall("risky", {"n": 1}), ToolCall("risky", {"n": 2})]),
        Reply(content="fine"),
    )
    session, tracker, published = tracked(fake_llm, tmp_path)
    session.submit(ev.UserInput(text="two calls"))
    await until(lambda: len(tracker.waiting_calls()) == 2)
    first, second = (p["call_id"] for p in tracker.waiting_calls())
    tracker.mark_decided(first)  # decided in the cell; its decision waits for the other
    await until(lambda: published.rows() and len(published.rows()[-1]["pending"]) == 1)
    assert published.rows()[-1]["pending"][0]["call_id"] == second
    assert published.rows()[-1]["status"] == "waiting"
    # New input abandons the pending calls: the row drops them.
    session.submit(ev.UserInput(text="never mind"))
    await session.wait_idle()
    await until(lambda: published.rows()[-1]["status"] == "idle")
    assert published.rows()[-1]["pending"] == []
    assert len(published.notices("turn_done")) == 1  # the second turn; the first was abandoned
    session.submit(ev.Shutdown())
    await until(lambda: published.messages[-1][1]["type"] == "removed")
    assert published.messages[-1][1] == {"type": "removed", "id": session.id}
    assert tracker.closed


async def test_a_research_sub_agents_events_do_not_change_the_rows_tool_or_error(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    session, tracker, published = tracked(fake_llm, tmp_path)
    outer = ev.ToolStateChange(tool_call_id="c1", tool="research", state="running", seq=1)
    tracker.on_event(ev.OpStarted(op_id="op-9", op_type="user_input", seq=0))
    tracker.on_event(outer)
    inner = dict(parent_call_id="c1", seq=2)
    tracker.on_event(
        ev.ToolStateChange(tool_call_id="i1", tool="hf_papers", state="running", **inner)
    )
    tracker.on_event(ev.Error(error="the paper service is down", **inner))
    assert tracker.status() == ("running", "research")
    assert tracker.error is None and not published.notices("error")
    tracker.on_event(ev.ToolOutput(tool="research", tool_call_id="c1", output="r", success=True))
    assert tracker.status() == ("streaming", None)


async def test_a_spend_pause_is_a_pending_entry_of_kind_spend_with_the_cost_so_far(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    prices = {"vllm/test-model": {"input_per_mtok": 3000.0, "output_per_mtok": 0.0}}
    echo = [
        Reply(tool_calls=[ToolCall("bash", {"command": f"echo {n}"})], usage=(1000, 0))
        for n in (1, 2)
    ]
    fake_llm.script(*echo, Reply(content="done", usage=(1000, 0)))
    session, tracker, published = tracked(fake_llm, tmp_path, yolo_mode=True, model_prices=prices)
    session.submit(ev.UserInput(text="spend"))
    await until(lambda: published.rows() and published.rows()[-1]["status"] == "waiting")
    row = published.rows()[-1]
    (pause,) = row["pending"]
    assert pause["kind"] == "spend" and pause["tool"] == "spend_pause"
    assert json.loads(pause["arguments"])["threshold_usd"] == 5.0
    assert "past the $5.00 spend pause" in pause["reason"]
    assert row["cost"] == 6.0
    (notice,) = published.notices("approval")
    assert "spend reached a pause" in notice["message"]

"""Agent-loop overhead: a 50-iteration tool-calling turn vs the same raw model calls.

The scripted server answers at once. The turn's wall time is compared with
the sum of the same 50 requests (the exact bodies the session sent, replayed)
made directly with the lean client's `openai_compat.stream_chat` (the client
that carries `vllm/` ids) in the same run. The difference is
what the session, the router, the tools framework and the events cost.
Budget: <= 5 %.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_intern_jupyter.agent import messages as ev  # noqa: E402
from ml_intern_jupyter.agent.llm import prewarm  # noqa: E402
from tests.agent_harness import make_session, tool  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall  # noqa: E402

ITERATIONS = 50
ROUNDS = 9


def script(server: FakeLLMServer) -> None:
    replies = [
        Reply(content=f"step {i}", tool_calls=[ToolCall("noop", {"i": i})], chunk_size=16)
        for i in range(ITERATIONS - 1)
    ]
    server.script(*replies, Reply(content="finished", chunk_size=16))


async def agent_turn(server: FakeLLMServer, workdir: Path) -> tuple[float, float, list[dict]]:
    """(wall seconds, seconds inside model calls, request bodies)."""
    server.reset()
    script(server)
    session, rec = make_session(server, workdir, tools=[tool("noop", lambda a: f"ok {a['i']}")])
    start = time.perf_counter()
    session.submit(ev.UserInput(text="run the loop"))
    await session.wait_idle()
    elapsed = time.perf_counter() - start
    assert rec.of("turn_complete"), rec.types()[-3:]
    assert len(server.requests) == ITERATIONS
    await session.flush_events()
    in_llm = sum(e.latency_ms for e in rec.of("llm_call")) / 1000
    session.submit(ev.Shutdown())
    await session.wait_idle()
    return elapsed, in_llm, [r.body for r in server.requests]


async def raw_calls(server: FakeLLMServer, bodies: list[dict]) -> float:
    from ml_intern_jupyter.agent import openai_compat

    server.reset()
    script(server)
    total = 0.0
    for body in bodies:
        start = time.perf_counter()
        async for _chunk in openai_compat.stream_chat(
            base_url=server.url, api_key="not-needed", body=body, timeout=600
        ):
            pass
        total += time.perf_counter() - start
    return total


async def main() -> None:
    await prewarm()
    with FakeLLMServer() as server, tempfile.TemporaryDirectory() as tmp:
        await agent_turn(server, Path(tmp))  # warm both paths once
        agent, raw, outside = [], [], []
        for _ in range(ROUNDS):  # interleaved, so both see the same machine load
            t, in_llm, bodies = await agent_turn(server, Path(tmp))
            agent.append(t)
            outside.append(t - in_llm)
            raw.append(await raw_calls(server, bodies))
    a, r, o = statistics.median(agent), statistics.median(raw), statistics.median(outside)
    print(
        f"{ITERATIONS}-iteration turn, median of {ROUNDS}: {a * 1000:8.1f} ms  (best {min(agent) * 1000:.1f})"
    )
    print(
        f"same {ITERATIONS} raw lean-client calls: {r * 1000:8.1f} ms  (best {min(raw) * 1000:.1f})"
    )
    print(
        f"overhead vs raw, medians: {(a / r - 1) * 100:+.1f} %; bests: {(min(agent) / min(raw) - 1) * 100:+.1f} %  (budget <= 5 %)"
    )
    print(
        f"time outside model calls: {o * 1000:.1f} ms per turn = {o / a * 100:.1f} % of the turn, {o / ITERATIONS * 1000:.2f} ms per iteration"
    )


if __name__ == "__main__":
    asyncio.run(main())

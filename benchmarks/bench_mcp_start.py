"""Session start with MCP servers configured: how long the `%%intern` cell takes to return.

Two real kernels against the scripted loopback LLM server: one with two MCP
servers configured (the fake server over stdio, a child process importing
`mcp`, and the fake over streamable HTTP on loopback), one with none. In
each, after `%load_ext` and the litellm pre-warm, the first `%%intern` cell of
a new session is timed, alternating between the kernels; every new session
connects its servers again. Connecting happens on the intern thread after the
cell returned, so the cell's time should not change. Budget: <= 0.3 s, and
printed as a ratio against the cell with no MCP servers in the same run. For
information, also the time until that session's turn ended (which waits for
the servers to connect).

    python benchmarks/bench_mcp_start.py [--sessions 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.llm_server import FakeLLMServer, Reply  # noqa: E402
from tests.fakes.mcp_server import McpHttpServer, stdio_entry  # noqa: E402
from tests.kernel.helpers import KernelHarness  # noqa: E402

BUDGET_S = 0.3


def start(tmp: Path, url: str, **env: str) -> KernelHarness:
    k = KernelHarness(tmp, url, **env).start()
    k.run_ok("%load_ext ml_intern_jupyter")
    k.run_ok(
        "from ml_intern_jupyter.runtime import get_runtime\nget_runtime().prewarm().result(120)"
    )
    return k


def one(k: KernelHarness, name: str) -> tuple[float, float]:
    """(cell return, cell start to the turn's end) of a new session's first cell."""
    t0 = time.perf_counter()
    cell = k.run_ok(f"%%intern -s {name}\nSay hi.")["elapsed"]
    k.run_ok(f"%intern -s {name} wait", timeout=300)
    return cell, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    fake = FakeLLMServer().start()
    http = McpHttpServer(prefix="web_").start()
    servers = {
        "local": stdio_entry(connect_timeout_s=120),
        "remote": {"url": http.url},
    }
    rows: dict[str, list[tuple[float, float]]] = {"none": [], "two": []}
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        plain = start(Path(a), fake.url)
        mcp = start(Path(b), fake.url, ML_INTERN_MCP_SERVERS=json.dumps(servers))
        try:
            for i in range(args.sessions):
                for label, k in (("none", plain), ("two", mcp)):
                    fake.reset()
                    fake.script(Reply(content="Hi."))
                    rows[label].append(one(k, f"s{i}"))
                print(
                    f"  session {i + 1}: no MCP {rows['none'][-1][0] * 1000:.0f} ms, "
                    f"two MCP servers {rows['two'][-1][0] * 1000:.0f} ms"
                )
            check = mcp.run_ok(f"%intern -s s{args.sessions - 1} mcp")
            listing = mcp.text_of(check["msg_id"])
            assert listing.count("— connected") == 2, listing
        finally:
            plain.stop()
            mcp.stop()
    http.stop()
    fake.stop()

    print(f"\n== New session's first %%intern cell, {args.sessions} sessions per kernel ==")
    base = statistics.median(c for c, _t in rows["none"])
    for label, name in (("none", "no MCP servers (baseline)"), ("two", "two MCP servers")):
        cells = [c for c, _t in rows[label]]
        turns = [t for _c, t in rows[label]]
        med = statistics.median(cells)
        print(
            f"{name:28} cell returns: median {med * 1000:5.0f} ms, max {max(cells) * 1000:5.0f} ms"
            f" (ratio {med / base:.2f}) · turn ended after median "
            f"{statistics.median(turns) * 1000:.0f} ms"
        )
    worst = max(c for c, _t in rows["two"])
    verdict = "within" if worst <= BUDGET_S else "OVER"
    print(f"worst cell with two MCP servers: {worst * 1000:.0f} ms, {verdict} the 300 ms budget")


if __name__ == "__main__":
    main()

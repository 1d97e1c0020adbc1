"""Cold start of the intern in a real kernel: first words, and memory.

Every figure is printed next to a baseline measured in the same run, in
fresh kernels (jupyter_client) against the scripted loopback model server:

1. First streamed text after a cold ``%load_ext ml_intern_jupyter`` and a
   ``%%intern`` cell sent back to back, as a user who types both at once.
   Measured from sending ``%load_ext`` to the first widget message on the
   iopub channel that carries the reply's text. Baseline: the model's own
   time-to-first-token, i.e. the same request streamed by a bare httpx
   client from this process. Budget: <= 1.0 s over the baseline.
2. Kernel RSS after one complete turn with tools (the ``python`` tool runs
   code in the kernel, then ``plan``, then a streamed answer), against a bare
   kernel that imported ipywidgets. Budget: <= +80 MB.
   Also reported: which heavy modules the kernel holds after the turn.

    python benchmarks/bench_cold.py [--runs 5] [--model vllm/fake-model]
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

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall  # noqa: E402
from tests.kernel.helpers import KernelHarness  # noqa: E402

HEAVY = (
    "litellm",
    "openai",
    "huggingface_hub",
    "jsonschema",
    "pygments",
    "markdown_it",
    "tiktoken",
)
RSS = (
    "import os as _o, sys as _s\n"
    "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')))\n"
)
HELD = f"import sys as _s\nprint(','.join(m for m in {HEAVY!r} if m in _s.modules))\n"


EXTRA_ENV: dict[str, str] = {}
LOCAL = ("vllm/", "ollama/", "lm_studio/", "llamacpp/")


def kernel_env(model: str) -> dict[str, str]:
    return {"ML_INTERN_MODEL": model, "HF_TOKEN": "hf_benchtoken", **EXTRA_ENV}


def raw_ttft(url: str, fake: FakeLLMServer, marker: str, model: str) -> float:
    """Seconds from sending the request to the first content delta, bare httpx."""
    import httpx

    fake.script(Reply(content=f"{marker} hello."))
    body = {
        "model": model.split("/", 1)[-1],
        "stream": True,
        "messages": [{"role": "user", "content": "Say hi."}],
    }
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{url.rstrip('/')}/chat/completions", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get(
                    "content"
                ):
                    return time.monotonic() - started
    raise RuntimeError("the fake server streamed no content")


def first_text(k: KernelHarness, marker: str, since: float, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for when, msg in k.messages():
            if when < since or msg["msg_type"] not in ("comm_msg", "comm_open"):
                continue
            if marker in json.dumps(msg["content"].get("data", {})):
                return when - since
        time.sleep(0.005)
    raise TimeoutError("no streamed text reached the frontend")


def rss_mb(k: KernelHarness) -> float:
    return int(k.text_of(k.run_ok(RSS)["msg_id"]).strip()) / 1024


def bench_first_text(url: str, fake: FakeLLMServer, runs: int, model: str) -> None:
    rows = []
    for i in range(runs):
        marker = f"Cold{i}Marker"
        base = statistics.median(raw_ttft(url, fake, marker, model) for _ in range(3))
        fake.reset()
        # Router ids take a reasoning effort: a fresh store probes it once first.
        probe = [] if model.startswith(LOCAL) else [Reply(content="ok", usage=(5, 1))]
        fake.script(*probe, Reply(content=f"{marker} here, ready to help."))
        with tempfile.TemporaryDirectory() as tmp:
            k = KernelHarness(Path(tmp), url, **kernel_env(model)).start()
            try:
                k.run_ok("pass")
                since = time.time()
                load_id = k.kc.execute("%load_ext ml_intern_jupyter")
                cell_sent = time.time()
                cell_id = k.kc.execute("%%intern\nSay hi.")
                k.wait_idle(load_id)
                k.wait_idle(cell_id)
                first = first_text(k, marker, since)
                k.run_ok("%intern wait", timeout=120)
                held = k.text_of(k.run_ok(HELD)["msg_id"]).strip() or "none"
            finally:
                k.stop()
        rows.append((base, first, first - (cell_sent - since)))
        print(
            f"  run {i + 1}: model TTFT {base * 1000:.0f} ms, first text {first * 1000:.0f} ms "
            f"after %load_ext was sent; heavy modules held: {held}"
        )
    base = statistics.median(r[0] for r in rows)
    first = statistics.median(r[1] for r in rows)
    print(f"\n== 1. First streamed text, cold kernel, {runs} fresh kernels (medians) ==")
    print(f"model's own time-to-first-token (bare httpx)  {base * 1000:7.0f} ms (baseline)")
    print(f"first text after %load_ext + %%intern        {first * 1000:7.0f} ms")
    print(
        f"over the model's TTFT                          {(first - base) * 1000:7.0f} ms "
        f"(max {max(r[1] - r[0] for r in rows) * 1000:.0f} ms; budget 1000 ms)"
    )


def bench_memory(url: str, fake: FakeLLMServer, runs: int, model: str) -> None:
    rows = []
    for _ in range(runs):
        fake.reset()
        probe = [] if model.startswith(LOCAL) else [Reply(content="ok", usage=(5, 1))]
        fake.script(
            *probe,
            Reply(tool_calls=[ToolCall("python", {"code": "import math\nprint(math.pi)"})]),
            Reply(
                tool_calls=[
                    ToolCall("plan", {"todos": [{"content": "Check pi", "status": "completed"}]})
                ]
            ),
            Reply(content="Pi is about 3.14159."),
        )
        with tempfile.TemporaryDirectory() as tmp:
            k = KernelHarness(Path(tmp), url, **kernel_env(model)).start()
            try:
                k.run_ok("import ipywidgets")
                bare = rss_mb(k)
                k.run_ok("%load_ext ml_intern_jupyter")
                k.run_ok("%intern yolo on")
                k.run_ok("%%intern\nWhat is pi?")
                k.run_ok("%intern wait", timeout=120)
                after = rss_mb(k)
                held = k.text_of(k.run_ok(HELD)["msg_id"]).strip() or "none"
                served = len(fake.requests)
            finally:
                k.stop()
        rows.append((bare, after))
        print(
            f"  bare {bare:.0f} MB, after the turn {after:.0f} MB (+{after - bare:.0f} MB; "
            f"{served} model calls; heavy modules held: {held})"
        )
    bare = statistics.median(r[0] for r in rows)
    after = statistics.median(r[1] for r in rows)
    print(f"\n== 2. Kernel RSS, {runs} fresh kernels (medians) ==")
    print(f"bare kernel + ipywidgets (baseline)    {bare:6.0f} MB")
    print(f"after one complete turn with tools     {after:6.0f} MB")
    print(f"extra                                  {after - bare:+6.0f} MB (budget +80 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--model",
        default="vllm/test-model",
        help="model id the kernels use (vllm/... and the router take the lean client; "
        "litellm/... takes litellm)",
    )
    parser.add_argument("--only", choices=["text", "memory"])
    parser.add_argument(
        "--hf-mcp", action="store_true", help="kernels connect to a loopback HF MCP stand-in"
    )
    args = parser.parse_args()
    if args.hf_mcp:
        from tests.fakes.mcp_server import McpHttpServer

        mcp = McpHttpServer("hf-stand-in").start()
        EXTRA_ENV.update(ML_INTERN_SHARE_HF_MCP="true", ML_INTERN_HF_MCP_URL=mcp.url)
    import ipykernel

    print(
        f"ipykernel {ipykernel.__version__}, Python {sys.version.split()[0]}, model {args.model}"
        + (", HF MCP stand-in on loopback" if args.hf_mcp else "")
    )
    with FakeLLMServer() as fake:
        if args.only in (None, "text"):
            bench_first_text(fake.url, fake, args.runs, args.model)
        if args.only in (None, "memory"):
            bench_memory(fake.url, fake, args.runs, args.model)


if __name__ == "__main__":
    main()

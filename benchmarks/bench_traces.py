"""Benchmark: Claude Code JSONL conversion of a 10,000-message session.

Budget: <= 150 ms cold for 10,000 messages; <= 10 ms after a turn.

    python benchmarks/bench_traces.py [--messages N] [--runs R] [--turn K] [--breakdown] [--profile]

Two figures: a cold conversion of the whole history (`to_claude_code_jsonl`,
as `%intern export` and the first upload of a session in a kernel do), and the
uploader's work after a turn on a session it has uploaded before: load the
turn's K new messages from the SQLite store, convert them (`TraceBuilder`),
and produce the whole 10,000-message trace as bytes to upload.

The session is synthetic but shaped like a real one: user requests, assistant
turns with text and one to three tool calls whose JSON arguments carry code,
tool results (training logs, code, Hub search JSON, tracebacks), content of
~200-2,000 characters, some non-ASCII text and a sprinkling of secrets. The
baseline is `json.dumps` of the same raw messages in the same run: the floor
for any converter that writes the same text back out.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_intern_jupyter.store import SessionRecord, SqliteStore  # noqa: E402
from ml_intern_jupyter.traces import claude_code  # noqa: E402
from ml_intern_jupyter.traces.claude_code import (  # noqa: E402
    TraceBuilder,
    to_claude_code_jsonl,
    to_claude_code_lines,
)

BUDGET_S = 0.150  # cold, per 10,000 messages
TURN_BUDGET_S = 0.010  # after a turn
SESSION_START = 1_750_000_000.0

_PROSE = (
    "The model reached an eval accuracy of 0.91 after three epochs, and the loss curve "
    "flattened around step 1,200. I'll push the checkpoint to the Hub and compare it "
    "with the baseline on the held-out split. The tokenizer truncates at 512 tokens, "
    "so long reviews lose their endings — worth checking whether that hurts recall. "
    "Next I will look at the confusion matrix and the misclassified examples. "
    "Learning rate 2e-5 with linear warmup worked better than 5e-5; batch size 32 fits "
    "in memory with gradient checkpointing off. The dataset has 25,000 training rows."
).split(" ")
_CODE = [
    "import torch",
    "from datasets import load_dataset",
    "from transformers import AutoTokenizer, AutoModelForSequenceClassification",
    'tokenizer = AutoTokenizer.from_pretrained("distilbert-base-uncased")',
    "model = AutoModelForSequenceClassification.from_pretrained(model_id, num_labels=2)",
    'ds = load_dataset("imdb", split="train[:2000]")',
    "ds = ds.map(lambda b: tokenizer(b['text'], truncation=True), batched=True)",
    "for step, batch in enumerate(loader):",
    "    out = model(**batch)",
    "    out.loss.backward(); optimizer.step(); optimizer.zero_grad()",
    "    if step % 100 == 0:",
    '        print(f"step={step} loss={out.loss.item():.4f}")',
    'trainer.push_to_hub(commit_message="fine-tuned on imdb")',
    "df.groupby('label').size()",
]
_LOG = [
    "{'loss': 0.6931, 'grad_norm': 3.21, 'learning_rate': 4.9e-05, 'epoch': 0.12}",
    "{'eval_loss': 0.2877, 'eval_accuracy': 0.9104, 'eval_runtime': 12.3, 'epoch': 1.0}",
    "Map: 100%|██████████| 25000/25000 [00:03<00:00, 7012.44 examples/s]",
    "INFO:root:saving checkpoint to ./out/checkpoint-500",
    "train_runtime=812.3 train_samples_per_second=92.1 eval_accuracy=0.9104",
    "Traceback (most recent call last):",
    '  File "/content/train.py", line 42, in <module>',
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
]
_HUB = (
    '{"id": "distilbert/distilbert-base-uncased-finetuned-sst-2-english", '
    '"downloads": 3512044, "likes": 712, "pipeline_tag": "text-classification", '
    '"tags": ["transformers", "pytorch", "safetensors", "en", "dataset:sst2"]}'
)
_SECRETS = [
    "HF_TOKEN=hf_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z",
    "Authorization: Bearer " + "eyJhbGciOiJIUzI1NiJ9abcdefghijkl",
    "OPENAI_API_KEY=sk-" + "proj" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0",
    'login(token="hf_' + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9" + '")',
]
_SECRET_VALUES = [
    "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z",
    "eyJhbGciOiJIUzI1NiJ9abcdefghijkl",
    "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0",
    "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9",
]


def _fill(rng: random.Random, pieces: list[str], sep: str, size: int) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        piece = rng.choice(pieces)
        out.append(piece)
        length += len(piece) + len(sep)
    return sep.join(out)[:size]


def _text(rng: random.Random, kind: str, lo: int = 200, hi: int = 2_000) -> str:
    size = rng.randint(lo, hi)
    if kind == "prose":
        text = _fill(rng, _PROSE, " ", size)
    elif kind == "code":
        text = _fill(rng, _CODE, "\n", size)
    elif kind == "log":
        text = _fill(rng, _LOG, "\n", size)
    else:
        text = "[" + _fill(rng, [_HUB], ", ", size) + "]"
    if rng.random() < 0.02:  # some messages leak a secret somewhere in the middle
        cut = rng.randint(0, len(text))
        text = text[:cut] + "\n" + rng.choice(_SECRETS) + "\n" + text[cut:]
    return text


def build_session(n_messages: int = 10_000, seed: int = 0) -> list[dict[str, Any]]:
    """A synthetic `History.messages`: system prompt, then turns of tool use."""
    rng = random.Random(seed)
    ts = SESSION_START
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": _text(rng, "prose", 1_500, 2_000), "_ts": ts}
    ]
    call_no = 0
    while len(messages) < n_messages:
        ts += rng.uniform(5, 60)
        messages.append({"role": "user", "content": _text(rng, "prose", 200, 600), "_ts": ts})
        for _step in range(rng.randint(1, 4)):
            calls = []
            for _ in range(rng.randint(1, 3)):
                call_no += 1
                args = {"code": _text(rng, "code", 200, 1_200), "timeout": 600}
                calls.append(
                    {
                        "id": f"call_{call_no:06d}",
                        "type": "function",
                        "function": {"name": "python_exec", "arguments": json.dumps(args)},
                    }
                )
            ts += rng.uniform(1, 10)
            text = _text(rng, "prose", 200, 800) if rng.random() < 0.7 else None
            messages.append({"role": "assistant", "content": text, "tool_calls": calls, "_ts": ts})
            for call in calls:
                ts += rng.uniform(0.5, 30)
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call["id"],
                        "name": "python_exec",
                        "content": _text(rng, rng.choice(["code", "log", "log", "hub"])),
                        "_ts": ts,
                    }
                )
        ts += rng.uniform(1, 10)
        messages.append(
            {"role": "assistant", "content": _text(rng, "prose", 300, 2_000), "_ts": ts}
        )
    return messages[:n_messages]


def _time(fn: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _report(label: str, times: list[float]) -> None:
    print(
        f"  {label:44s} best {min(times) * 1e3:7.1f} ms   "
        f"median {statistics.median(times) * 1e3:7.1f} ms"
    )


def _breakdown(messages: list[dict[str, Any]], kwargs: dict[str, Any], runs: int) -> None:
    """Where the time of a cold conversion goes (the phases of `TraceBuilder.extend`),
    each phase timed alone over all the chunks of the history."""
    chunk = claude_code._CHUNK
    slices = [messages[i : i + chunk] for i in range(0, len(messages), chunk)]

    def build() -> list[Any]:
        b = claude_code.TraceBuilder(**kwargs)
        paused = gc.isenabled()
        gc.disable()  # as a conversion of this size does
        try:
            return [b._consume(part, clean=False) for part in slices]
        finally:
            if paused:
                gc.enable()

    def encode() -> list[Any]:
        return [claude_code._encode_chunk(lines) for lines, _keys in built]

    built = build()
    encoded = encode()
    assert all(data is not None for data in encoded)  # the benchmark session encodes as arrays
    scans = [
        claude_code._scan(data, len(keys)) for data, (_l, keys) in zip(encoded, built, strict=True)
    ]
    picked = sum(len(scan[2]) for scan in scans if scan is not None)

    def mend() -> bytes:
        b = claude_code.TraceBuilder(**kwargs)
        out: list[Any] = []
        for (_lines, keys), data, scan in zip(built, encoded, scans, strict=True):
            b._mend(out, keys, data, set(), scan)
        return b"".join(out)

    print(
        f"breakdown ({picked:,} of {sum(len(k) for _l, k in built):,} lines picked by the scan"
        " and scrubbed):"
    )
    _report("lines built, not scrubbed", _time(build, runs))
    _report(f"encoding them (orjson, {chunk} lines a call)", _time(encode, runs))
    _report(
        "the scan (a worker thread runs it meanwhile)",
        _time(
            lambda: [
                claude_code._scan(d, len(k)) for d, (_l, k) in zip(encoded, built, strict=True)
            ],
            runs,
        ),
    )
    _report("picked lines built again, scrubbed; joined", _time(mend, runs))
    text = mend()
    _report("bytes -> str (what to_claude_code_jsonl adds)", _time(text.decode, runs))
    _report(
        "reference: scrub_text over every string",
        _time(lambda: to_claude_code_lines(messages, **kwargs), runs),
    )


def _upstream(messages: list[dict[str, Any]], runs: int, convert: Any) -> None:
    """Upstream's conversion (scrub, convert, encode), timed next to ours.

    Upstream is not part of this project: point `--upstream` (or
    ML_INTERN_UPSTREAM) at a checkout of huggingface/ml-intern and its
    `agent/core/session_uploader.py` and `agent/core/redact.py` are loaded
    from there, without running its package `__init__` (which imports litellm).
    """
    import importlib
    import types

    root = Path(os.path.expanduser(os.environ.get("ML_INTERN_UPSTREAM", "")))
    if not (root / "agent" / "core" / "session_uploader.py").is_file():
        print("upstream: not measured (give --upstream PATH to a huggingface/ml-intern checkout)")
        return
    for name, path in (("agent", root / "agent"), ("agent.core", root / "agent" / "core")):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(path)]
        sys.modules.setdefault(name, pkg)
    sys.path.insert(0, str(root))
    up = importlib.import_module("agent.core.session_uploader")
    trajectory = {
        "session_id": "bench-session",
        "model_name": "bench/model",
        "session_start_time": "2025-06-15T00:00:00",
        "messages": [{**m, "timestamp": m.get("_ts")} for m in messages],
    }

    def upstream() -> str:
        scrubbed = up._scrub_session_for_upload(trajectory)
        return "".join(json.dumps(e) + "\n" for e in up.to_claude_code_jsonl(scrubbed))

    def scrub_only() -> Any:
        return up._scrub_session_for_upload(trajectory)

    upstream()
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(runs):  # interleaved
        ours += _time(convert, 1)
        theirs += _time(upstream, 1)
    scrub_t = _time(scrub_only, runs)
    print("upstream, side by side (interleaved):")
    _report("upstream scrub + convert + encode", theirs)
    _report("  of which its scrub", scrub_t)
    _report("ours, cold", ours)
    print(
        f"  {'speed-up over upstream':44s} best {min(theirs) / min(ours):5.2f}x     "
        f"median {statistics.median(theirs) / statistics.median(ours):5.2f}x"
    )


def _after_a_turn(
    messages: list[dict[str, Any]], kwargs: dict[str, Any], turn: int, runs: int
) -> tuple[list[float], bool]:
    """The uploader's per-turn work on a session it uploaded before (see module doc)."""
    cut = len(messages) - turn
    times: list[float] = []
    out = b""
    with tempfile.TemporaryDirectory() as home:
        store = SqliteStore.open(home)
        sid = kwargs["session_id"]
        store.create_session(SessionRecord(id=sid, model=kwargs["model"], created=SESSION_START))
        store.append_messages(sid, 0, 0, messages)
        earlier = store.load_messages(sid, limit=cut)
        for _ in range(runs):
            builder = TraceBuilder(**kwargs).extend(earlier)  # the previous upload's trace
            start = time.perf_counter()
            new = store.load_messages(sid, offset=builder.count)
            out = builder.extend(new).jsonl_bytes()
            times.append(time.perf_counter() - start)
        same = out == to_claude_code_jsonl(store.load_messages(sid), **kwargs).encode()
        store.close()
    return times, same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--turn", type=int, default=12, help="messages added by the turn (default 12)"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also time building, encoding and scrubbing"
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one run")
    parser.add_argument(
        "--upstream",
        metavar="PATH",
        help="a huggingface/ml-intern checkout to time side by side (or ML_INTERN_UPSTREAM)",
    )
    args = parser.parse_args()

    messages = build_session(args.messages)
    chars = sum(len(json.dumps(m, ensure_ascii=False)) for m in messages)
    kwargs = {"session_id": "bench-session", "model": "bench/model", "session_start": SESSION_START}

    # Cold means nothing of this history is cached: the module's cache of
    # formatted dates is emptied before each conversion.
    def convert() -> str:
        claude_code._DAYS.clear()
        return to_claude_code_jsonl(messages, **kwargs)

    def convert_bytes() -> bytes:
        # What the uploader and `%intern export` write: the same trace as UTF-8.
        claude_code._DAYS.clear()
        return TraceBuilder(**kwargs).extend(messages).jsonl_bytes()

    def baseline() -> str:
        return json.dumps(messages)

    out = convert()  # warm-up, and the output we check
    baseline()
    leaked = [s for s in _SECRET_VALUES if s in out]
    assert convert_bytes() == out.encode()
    conv: list[float] = []
    conv_bytes: list[float] = []
    base: list[float] = []
    for _ in range(args.runs):  # interleaved, so all see the same machine load
        conv += _time(convert, 1)
        conv_bytes += _time(convert_bytes, 1)
        base += _time(baseline, 1)

    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"python:  {platform.python_implementation()} {platform.python_version()}")
    print(
        f"session: {len(messages):,} messages, {chars / 1e6:.1f} M chars as JSON; "
        f"trace {out.count(chr(10)):,} lines, {len(out) / 1e6:.1f} MB"
    )
    print(f"runs:    {args.runs} each, interleaved")
    print(
        f"to_claude_code_jsonl: best {min(conv) * 1e3:7.1f} ms   "
        f"median {statistics.median(conv) * 1e3:7.1f} ms"
    )
    print(
        f"  the same as bytes:  best {min(conv_bytes) * 1e3:7.1f} ms   "
        f"median {statistics.median(conv_bytes) * 1e3:7.1f} ms   "
        f"(ratio to baseline, best {min(conv_bytes) / min(base):5.2f}x)"
    )
    print(
        f"json.dumps baseline:  best {min(base) * 1e3:7.1f} ms   "
        f"median {statistics.median(base) * 1e3:7.1f} ms"
    )
    print(
        f"ratio to baseline:    best {min(conv) / min(base):5.2f}x     "
        f"median {statistics.median(conv) / statistics.median(base):5.2f}x"
    )
    for label, times in (("str", conv), ("bytes", conv_bytes)):
        scaled = statistics.median(times) * 10_000 / len(messages)
        verdict = "within" if scaled <= BUDGET_S else "OVER"
        print(
            f"budget:  {BUDGET_S * 1e3:.0f} ms per 10,000 messages; cold conversion ({label}) -> "
            f"{verdict} (median scaled to 10k: {scaled * 1e3:.1f} ms)"
        )
    print(f"secrets leaked into the trace: {len(leaked)}")

    turn_times, same = _after_a_turn(messages, kwargs, args.turn, args.runs)
    scaled = statistics.median(turn_times) * 10_000 / len(messages)
    verdict = "within" if scaled <= TURN_BUDGET_S else "OVER"
    print(
        f"after a turn of {args.turn} messages (store load + convert + whole trace as bytes): "
        f"best {min(turn_times) * 1e3:6.1f} ms   median {statistics.median(turn_times) * 1e3:6.1f} ms"
        f" -> {verdict}; same bytes as a cold conversion: {same}"
    )

    if args.upstream:
        os.environ["ML_INTERN_UPSTREAM"] = args.upstream
    _upstream(messages, args.runs, convert)
    if args.breakdown:
        _breakdown(messages, kwargs, args.runs)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(convert)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0 if not leaked and same else 1


if __name__ == "__main__":
    raise SystemExit(main())

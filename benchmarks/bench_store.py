"""Session store benchmark: SQLite appends and loads vs. upstream's JSON rewrite.

    python benchmarks/bench_store.py [--appends 2000] [--history 10000] [--no-http]

Budgets (design §9): append one message <= 2 ms p99; load 10k messages
<= 200 ms. The baseline is how upstream saved a session: the whole history
`json.dump`ed to a temp file and `os.replace`d over the old one on every save.
Our figures include secret scrubbing of every message; the baseline's don't.

The same run also measures the path a kernel takes when Jupyter Server runs
the extension: `HttpStore` (keep-alive loopback HTTP, secret header) against
a real `jupyter server` process of its own, which writes the SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_intern_jupyter.store import HttpStore, SessionRecord, SqliteStore  # noqa: E402

PROSE = (
    "The validation loss plateaued after epoch 3, so I lowered the learning rate to 2e-5 "
    "and enabled gradient accumulation over 4 steps; accuracy on the held-out split went "
    "from 0.871 to 0.894. Next I will push the checkpoint to the Hub and run the eval job. "
)


def message(i: int) -> dict[str, Any]:
    """A realistic message of about 1 KB, cycling through the shapes of a turn."""
    ts = 1_750_000_000.0 + i * 0.731
    kind = i % 4
    if kind == 0:
        return {"role": "user", "content": (PROSE * 4)[:900] + f" (step {i})", "_ts": ts}
    if kind == 1:
        args = {
            "code": "import pandas as pd\n"
            + "\n".join(f"df['f{j}'] = df['x'].rolling({j}).mean()" for j in range(14)),
            "timeout": 120,
        }
        return {
            "role": "assistant",
            "content": PROSE[:200],
            "tool_calls": [
                {
                    "id": f"call_{i:08d}",
                    "type": "function",
                    "function": {"name": "run_in_kernel", "arguments": json.dumps(args)},
                }
            ],
            "_ts": ts,
        }
    if kind == 2:
        table = "\n".join(f"{j:>4} {0.5 + j / 97:.4f} {j * 13 % 101:>5} ok" for j in range(45))
        return {
            "role": "tool",
            "tool_call_id": f"call_{i - 1:08d}",
            "name": "run_in_kernel",
            "content": table,
            "_ts": ts,
        }
    return {"role": "assistant", "content": (PROSE * 4)[:1000], "_ts": ts}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def bench_sqlite(root: Path, appends: int, history: int) -> dict[str, float]:
    store = SqliteStore.open(root / "sqlite")
    out: dict[str, float] = {}

    # Appends into a fresh session, one message per call, as the loop does.
    store.create_session(SessionRecord(id="fresh", title="bench"))
    samples = [
        timed(lambda i=i: store.append_messages("fresh", 0, i, [message(i)]))
        for i in range(appends)
    ]  # type: ignore[misc]
    out["append_p50"], out["append_p99"] = pct(samples, 50), pct(samples, 99)
    out["append_max"] = max(samples)

    # A session with `history` messages: load it, then keep appending to it.
    store.create_session(SessionRecord(id="big", title="bench"))
    for start in range(0, history, 500):
        batch = [message(i) for i in range(start, min(history, start + 500))]
        store.append_messages("big", 0, start, batch)
    loads = [timed(lambda: store.load_messages("big")) for _ in range(7)]
    out["load_median"], out["load_max"] = statistics.median(loads), max(loads)
    assert len(store.load_messages("big")) == history
    page = [timed(lambda: store.load_messages("big", offset=history - 50)) for _ in range(7)]
    out["load_tail50"] = statistics.median(page)
    samples = [
        timed(lambda i=i: store.append_messages("big", 0, i, [message(i)]))  # type: ignore[misc]
        for i in range(history, history + min(appends, 500))
    ]
    out["append_big_p50"], out["append_big_p99"] = pct(samples, 50), pct(samples, 99)
    n = history + len(samples)
    out["undo_ms"] = timed(lambda: store.new_generation("big", store.load_messages("big")[: n - 3]))
    out["load_after_undo"] = statistics.median(
        [timed(lambda: store.load_messages("big")) for _ in range(5)]
    )
    out["stored"] = appends + n
    out["open_ms"] = timed(lambda: SqliteStore.open(root / "sqlite").close())
    store.close()
    out["db_mb"] = sum(f.stat().st_size for f in (root / "sqlite").iterdir()) / 1e6
    return out


# A real Jupyter server with the extension, on the main thread of its own
# process (as `jupyter lab` runs it); prints its URL and secret once serving.
SERVER = r"""
import json, os, sys, threading, time
from jupyter_server.serverapp import ServerApp
from traitlets.config import Config

root, home = sys.argv[1], sys.argv[2]
config = Config({
    "ServerApp": {"port": 0, "ip": "127.0.0.1", "open_browser": False, "root_dir": root,
                  "allow_root": True, "log_level": "WARN",
                  "jpserver_extensions": {"ml_intern_jupyter": True}},
    "IdentityProvider": {"token": os.urandom(16).hex()},
    "MLInternApp": {"home": home},
})
app = ServerApp(config=config, runtime_dir=os.path.join(root, "runtime"))
app.initialize(argv=[])
ext = app.extension_manager.extension_points["ml_intern_jupyter"].app

def report():
    want = f"http://127.0.0.1:{app.port}{app.base_url}"
    while os.environ.get("ML_INTERN_SERVER_URL") != want:
        time.sleep(0.01)
    print(json.dumps({"url": want, "secret": ext.secret}), flush=True)

threading.Thread(target=report, daemon=True).start()
app.start()
"""


def start_server(root: Path) -> tuple[subprocess.Popen[str], str, str]:
    (root / "server").mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(root / "server"), str(root / "http_home")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    if not line or not line[0]:
        proc.kill()
        raise SystemExit("the Jupyter server did not start")
    info = json.loads(line[0])
    return proc, info["url"], info["secret"]


def bench_http(root: Path, appends: int, history: int) -> dict[str, float]:
    """The same appends and loads through the server extension."""
    proc, url, secret = start_server(root)
    store = HttpStore(url, secret)
    out: dict[str, float] = {}
    try:
        store.create_session(SessionRecord(id="fresh", title="bench"))
        samples = [
            timed(lambda i=i: store.append_messages("fresh", 0, i, [message(i)]))  # type: ignore[misc]
            for i in range(appends)
        ]
        out["append_p50"], out["append_p99"] = pct(samples, 50), pct(samples, 99)
        out["append_max"] = max(samples)
        pings = [timed(lambda: store.count_messages("fresh")) for _ in range(500)]
        out["count_p50"] = pct(pings, 50)

        store.create_session(SessionRecord(id="big", title="bench"))
        for start in range(0, history, 500):
            batch = [message(i) for i in range(start, min(history, start + 500))]
            store.append_messages("big", 0, start, batch)
        loads = [timed(lambda: store.load_messages("big")) for _ in range(7)]
        out["load_median"], out["load_max"] = statistics.median(loads), max(loads)
        assert len(store.load_messages("big")) == history
        samples = [
            timed(lambda i=i: store.append_messages("big", 0, i, [message(i)]))  # type: ignore[misc]
            for i in range(history, history + min(appends, 500))
        ]
        out["append_big_p50"], out["append_big_p99"] = pct(samples, 50), pct(samples, 99)
    finally:
        store.close()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def bench_json_rewrite(root: Path, history: int, saves: int) -> dict[str, float]:
    """Upstream: rewrite the whole history file on every save."""
    path = root / "json" / "session.json"
    path.parent.mkdir()
    messages = [message(i) for i in range(history)]

    def save() -> None:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"session_id": "big", "messages": messages}, fh)
        os.replace(tmp, path)

    save()
    samples = []
    for i in range(history, history + saves):
        start = time.perf_counter()
        messages.append(message(i))
        save()
        samples.append((time.perf_counter() - start) * 1000)

    def load() -> None:
        with open(path, encoding="utf-8") as fh:
            json.load(fh)

    loads = [timed(load) for _ in range(7)]
    return {
        "append_p50": pct(samples, 50),
        "append_p99": pct(samples, 99),
        "load_median": statistics.median(loads),
        "file_mb": path.stat().st_size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--baseline-saves", type=int, default=200)
    parser.add_argument("--no-http", action="store_true", help="skip the server-extension run")
    args = parser.parse_args()
    avg = statistics.mean(len(json.dumps(message(i))) for i in range(400))
    print(f"python {sys.version.split()[0]}, sqlite {__import__('sqlite3').sqlite_version}")
    print(f"message size: {avg:.0f} bytes of JSON on average")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ours = bench_sqlite(root, args.appends, args.history)
        base = bench_json_rewrite(root, args.history, args.baseline_saves)
        http = None if args.no_http else bench_http(root, args.appends, args.history)

    h = f"{args.history // 1000}k" if args.history % 1000 == 0 else str(args.history)
    ok = lambda good: "ok" if good else "OVER BUDGET"  # noqa: E731
    print()
    print(f"SQLite store ({args.appends} appends, {h}-message session)")
    rows = [
        (
            "append 1 msg, fresh session",
            f"p50 {ours['append_p50']:.3f} ms  p99 {ours['append_p99']:.3f} ms  "
            f"max {ours['append_max']:.2f} ms  [budget p99 <= 2 ms: {ok(ours['append_p99'] <= 2)}]",
        ),
        (
            f"append 1 msg, at {h} messages",
            f"p50 {ours['append_big_p50']:.3f} ms  p99 {ours['append_big_p99']:.3f} ms",
        ),
        (
            f"load {h} messages",
            f"median {ours['load_median']:.1f} ms  max {ours['load_max']:.1f} ms  "
            f"[budget <= 200 ms: {ok(ours['load_max'] <= 200)}]",
        ),
        (f"load last 50 of {h}", f"median {ours['load_tail50']:.2f} ms"),
        (f"undo at {h} (new generation)", f"{ours['undo_ms']:.1f} ms (incl. a full load)"),
        ("load after undo", f"median {ours['load_after_undo']:.1f} ms"),
        ("open existing store", f"{ours['open_ms']:.2f} ms"),
        (
            "database size (db + wal)",
            f"{ours['db_mb']:.1f} MB for {int(ours['stored'])} messages in all",
        ),
    ]
    for label, figures in rows:
        print(f"  {label:<32}{figures}")
    print()
    print(f"Upstream baseline: rewrite one JSON file per save, at {h} messages")
    print(
        f"  {'append 1 msg (dump + replace)':<32}p50 {base['append_p50']:.1f} ms  "
        f"p99 {base['append_p99']:.1f} ms  (file {base['file_mb']:.1f} MB)"
    )
    print(f"  {f'load {h} messages':<32}median {base['load_median']:.1f} ms")
    print()
    print("Ratios (baseline / SQLite, at the same history size)")
    print(f"  append p50  {base['append_p50'] / ours['append_big_p50']:.0f}x faster")
    print(f"  append p99  {base['append_p99'] / ours['append_big_p99']:.0f}x faster")
    r = base["load_median"] / ours["load_median"]
    print(
        f"  load        {r:.2f}x ({'faster' if r >= 1 else 'slower: one json.load beats row reads'})"
    )
    if http is None:
        return
    print()
    print("Through the Jupyter server extension (HttpStore, keep-alive loopback) vs direct")
    rows = [
        (
            "append 1 msg, fresh session",
            f"p50 {http['append_p50']:.3f} ms  p99 {http['append_p99']:.3f} ms  "
            f"max {http['append_max']:.2f} ms  (direct p50 {ours['append_p50']:.3f}, "
            f"p99 {ours['append_p99']:.3f})  [budget p99 <= 2 ms: {ok(http['append_p99'] <= 2)}]",
        ),
        (
            f"append 1 msg, at {h} messages",
            f"p50 {http['append_big_p50']:.3f} ms  p99 {http['append_big_p99']:.3f} ms  "
            f"(direct p50 {ours['append_big_p50']:.3f}, p99 {ours['append_big_p99']:.3f})",
        ),
        (
            f"load {h} messages",
            f"median {http['load_median']:.1f} ms  max {http['load_max']:.1f} ms  "
            f"(direct median {ours['load_median']:.1f})  "
            f"[budget <= 200 ms: {ok(http['load_max'] <= 200)}]",
        ),
        ("round trip (count_messages)", f"p50 {http['count_p50']:.3f} ms"),
    ]
    for label, figures in rows:
        print(f"  {label:<32}{figures}")
    over = http["append_p50"] - ours["append_p50"]
    print(f"  HTTP cost per append (p50)      +{over:.3f} ms")


if __name__ == "__main__":
    main()

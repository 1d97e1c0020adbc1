"""The JupyterLab sidebar in headless Chromium against a real JupyterLab.

1. Kernel event -> row change: a kernel sends 100 `session` updates over the
   `ml_intern_sidebar` comm (one every 50 ms, each stamped with its send time
   in the row's title); the page notes when each title appears in the panel.
   The kernel side here is a minimal stand-in registered by the benchmark's
   own cell that sends each update at once, so the figure is the frontend's
   path (IOPub -> server -> websocket -> reducer -> render) without the real
   kernel side's coalescing (<= 100 ms by the protocol). Budget: p95 <= 250 ms.
2. 200 saved sessions (created through the REST API): with the panel shown
   and the app idle (the list request is held until then), the time from the
   list response to the frame after the 200 rows went in (reducer, React,
   layout); the panel's DOM nodes; the JS heap after GC against the same page
   with no sessions. Budget: render <= 300 ms.

Needs Chromium and tests/browser's npm packages (`npm ci` there), and the
sidebar installed (`pip install -e .`).

    python benchmarks/bench_sidebar.py [--events 100] [--sessions 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import _chromium, _free_port, _wait_ready, lab_command  # noqa: E402

STAND_IN = r"""
import json, os, time
_seq = iter(range(1, 10**9))
_comms = []
def _target(comm, msg):
    _comms.append(comm)
    comm.send({"v": 1, "type": "snapshot", "seq": next(_seq), "pid": os.getpid(), "sessions": []})
get_ipython().kernel.comm_manager.register_target("ml_intern_sidebar", _target)
def bench_events(n, gap):
    comm = _comms[-1]
    for i in range(n):
        now = time.time()
        row = {"id": "bench", "title": f"ev-{i}-{now * 1000:.3f}", "notebook": "bench.ipynb",
               "model": "m", "status": "streaming", "tool": None, "pending": [], "turns": i,
               "tokens": i, "cost": 0.0, "last_activity": now, "cell_id": None, "error": None}
        comm.send({"v": 1, "type": "session", "seq": next(_seq), "session": row})
        time.sleep(gap)
# ml_intern_jupyter (this comment makes the sidebar open its comm after the cell)
"""


def _start_lab(root: Path, home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port, token = _free_port(), "bench-token"
    env = {
        **os.environ,
        "ML_INTERN_HOME": str(home / "intern"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "HOME": str(home),
    }
    log = (home / "lab.log").open("wb")
    proc = subprocess.Popen(
        lab_command(port, token, root),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, token, proc, home / "lab.log")
    return proc, url, token


def _create_sessions(url: str, token: str, n: int) -> None:
    now = time.time()
    for i in range(n):
        body = {
            "id": f"bench-{i:04d}",
            "notebook": f"/bench/nb{i % 20}.ipynb",
            "title": f"Saved session number {i} with a title of usual length",
            "model": "vllm/test-model",
            "status": "ended",
            "turns": i % 7,
            "prompt_tokens": 1000 + i,
            "completion_tokens": 100,
            "cost_usd": 0.01 * i,
            "updated": now - i * 60,
        }
        req = urllib.request.Request(
            f"{url}/ml-intern/api/sessions",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201, r.status


def _scenario(payload: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("Node.js is not installed")
    proc = subprocess.run(
        [node, str(ROOT / "benchmarks" / "bench_sidebar.mjs")],
        env={**os.environ, "SCENARIO_CONFIG": json.dumps(payload)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"scenario failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=200)
    args = parser.parse_args()
    chromium = _chromium()
    if chromium is None:
        raise SystemExit("Chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "root", Path(tmp) / "home"
        root.mkdir()
        home.mkdir()
        nb = {
            "cells": [
                {"cell_type": "code", "id": "c0", "metadata": {}, "outputs": [],
                 "execution_count": None, "source": STAND_IN},
                {"cell_type": "code", "id": "c1", "metadata": {}, "outputs": [],
                 "execution_count": None, "source": f"bench_events({args.events}, 0.05)"},
            ],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }  # fmt: skip
        (root / "bench.ipynb").write_text(json.dumps(nb))
        proc, url, token = _start_lab(root, home)
        try:
            base = {"url": url, "token": token, "chromium": chromium}
            events = _scenario({**base, "step": "events", "events": args.events})
            empty = _scenario({**base, "step": "render", "sessions": 0})
            _create_sessions(url, token, args.sessions)
            full = _scenario({**base, "step": "render", "sessions": args.sessions})
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    lat = events["latencies"]
    print(f"kernel event -> row change, {len(lat)} events (of {args.events} sent):")
    print(f"  p50 {_pct(lat, 0.5):.1f} ms   p95 {_pct(lat, 0.95):.1f} ms   max {max(lat):.1f} ms"
          "   (budget p95 <= 250 ms)")  # fmt: skip
    print(f"{args.sessions} saved sessions:")
    print(f"  list response -> {full['rows']} rows shown: {full['renderMs']:.1f} ms"
          "   (budget <= 300 ms)")  # fmt: skip
    print(f"  panel DOM nodes: {full['nodes']} (empty panel: {empty['nodes']})")
    heap = (full["heap"] - empty["heap"]) / 1e6
    print(f"  JS heap after GC: {full['heap'] / 1e6:.1f} MB, {heap:+.1f} MB against no sessions")


if __name__ == "__main__":
    main()

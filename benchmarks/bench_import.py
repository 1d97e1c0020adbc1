"""Import cost of `ml_intern_jupyter` against `python -c pass`, measured in the same run.

Budget: at most 0.3 s more than a bare interpreter, and none of litellm,
huggingface_hub, jupyter_server (or ipywidgets, openai) imported.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15
HEAVY = ("litellm", "huggingface_hub", "jupyter_server", "ipywidgets", "openai")


def wall(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    base, ours = [], []
    for _ in range(RUNS):  # interleaved so both see the same machine load
        base.append(wall("pass"))
        ours.append(wall("import ml_intern_jupyter"))
    probe = f"import sys, ml_intern_jupyter; print([m for m in {HEAVY!r} if m in sys.modules])"
    heavy = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    b, o = statistics.median(base), statistics.median(ours)
    print(f"python -c pass             median {b * 1000:7.1f} ms")
    print(f"import ml_intern_jupyter   median {o * 1000:7.1f} ms")
    print(
        f"extra                             {(o - b) * 1000:7.1f} ms  (budget 300 ms)  ratio {o / b:.2f}x"
    )
    print(f"heavy modules imported: {heavy.stdout.strip()}")


if __name__ == "__main__":
    main()

"""Kernel tools on a real IPython shell, and the main-thread bridge."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from ml_intern_jupyter.notebook.conductor.bridge import KernelMainThread
from ml_intern_jupyter.tools.base import Approval
from ml_intern_jupyter.tools.kernel import (
    describe_variables,
    inspect_object,
    kernel_tools,
    read_notebook,
    run_code,
)


@pytest.fixture(scope="module")
def shell():
    sh = InteractiveShell.instance()
    yield sh


@pytest.fixture
def ns(shell):
    shell.user_ns.clear()
    shell.init_user_ns()
    return shell.user_ns


def test_run_code_returns_stdout_value_and_keeps_state(shell, ns):
    result = run_code(shell, "x = 41\nprint('hello')\nx + 1")
    assert result.success and result.output == "hello\n42"
    assert ns["x"] == 41
    assert run_code(shell, "x * 2").output == "82"


def test_run_code_exception_is_a_traceback_text(shell, ns):
    result = run_code(shell, "def f():\n    return 1 / 0\nf()")
    assert not result.success
    assert "ZeroDivisionError: division by zero" in result.output and "Traceback" in result.output
    syntax = run_code(shell, "def (:")
    assert not syntax.success and syntax.output.startswith("SyntaxError")


def test_run_code_captures_stderr_and_rich_images(shell, ns):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR4nGNgYGD4z8DAwMAAAA0KAQE+1V6FAAAAAElFTkSuQmCC"
    code = (
        "import sys\nfrom IPython.display import Image, display\n"
        f"print('warn', file=sys.stderr)\ndisplay(Image(data=__import__('base64').b64decode('{png}')))"
    )
    result = run_code(shell, code)
    assert "[stderr]\nwarn" in result.output
    assert "[image/png 2x3 displayed to the user]" in result.output
    assert result.display == {"images": [png]}


def test_variables_lists_user_data_without_modules_or_private_names(shell, ns):
    ns.update(
        df=pd.DataFrame({"a": range(100), "b": [0.5] * 100}), arr=np.zeros((3, 4), dtype="float32")
    )
    ns.update(words=["a", "b"], _hidden=1, np=np)
    table = describe_variables(
        {k: v for k, v in ns.items() if k in {"df", "arr", "words", "_hidden", "np"}}
    )
    lines = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert set(lines) == {"df", "arr", "words"}
    assert "pandas.DataFrame" in lines["df"] and "100x2" in lines["df"]
    assert "3x4" in lines["arr"] and "float32" in lines["arr"] and "48 B" in lines["arr"]
    assert "len 2" in lines["words"]


def test_inspect_dataframe_array_function_and_errors(ns):
    ns["df"] = pd.DataFrame({"label": ["pos", "neg", None], "score": [0.9, 0.1, 0.5]})
    text = inspect_object(ns, "df")
    assert "shape: 3x2" in text and "label" in text and "score" in text and "describe:" in text
    assert "missing values" in text
    ns["arr"] = np.arange(6).reshape(2, 3)
    assert "shape: 2x3" in inspect_object(ns, "arr") and "max 5" in inspect_object(ns, "arr")

    def train(epochs: int = 3) -> None:
        """Train the thing."""

    ns["train"] = train
    text = inspect_object(ns, "train")
    assert "train(epochs: int = 3) -> None" in text and "Train the thing." in text
    assert "label" in inspect_object(ns, "df.columns")
    with pytest.raises(LookupError, match="variables"):
        inspect_object(ns, "missing")
    with pytest.raises(LookupError, match="not a variable name"):
        inspect_object(ns, "__import__('os').system('x')")


def test_read_notebook_shows_cells_and_outputs(tmp_path):
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Title"], "metadata": {}},
            {
                "cell_type": "code",
                "source": ["print(1)"],
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}],
                "metadata": {},
            },
            {
                "cell_type": "code",
                "source": ["1/0"],
                "outputs": [
                    {
                        "output_type": "error",
                        "ename": "ZeroDivisionError",
                        "evalue": "division by zero",
                        "traceback": [],
                    }
                ],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "analysis.ipynb"
    path.write_text(json.dumps(nb))
    text = read_notebook(path)
    assert "3 cells" in text and "# Title" in text and "print(1)" in text and "[output]\n1" in text
    assert "ZeroDivisionError: division by zero" in text


def test_python_asks_and_the_readers_do_not():
    tools = {t.name: t for t in kernel_tools(main=None)}  # type: ignore[arg-type]
    assert (
        tools["python"].approval({"code": "1"}) is Approval.ASK and tools["python"].always_allowable
    )
    for name in ("variables", "inspect", "notebook", "propose_cell"):
        assert tools[name].approval({}) is Approval.NO


# ------------------------------------------------------------------ bridge


class InternLoop:
    """A loop on another thread, standing in for the intern thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2)


@pytest.fixture
def intern():
    loop = InternLoop()
    yield loop
    loop.close()


def pump(bridge, future, seconds=10):
    """The main thread, blocked in a `--wait` cell, services jobs until `future` is done."""
    deadline = time.monotonic() + seconds
    while not future.done() and time.monotonic() < deadline:
        bridge.drain()
        time.sleep(0.005)
    return future.result(1)


def test_jobs_run_on_the_main_thread_only_when_drained(shell, intern):
    bridge = KernelMainThread(shell)
    ran_on: list[str] = []
    fut = intern.submit(bridge.run(lambda: ran_on.append(threading.current_thread().name) or 7, 5))
    time.sleep(0.2)  # "a user cell is running": nothing drains, so nothing runs
    assert ran_on == [] and bridge.pending() == 1
    assert pump(bridge, fut) == 7
    assert ran_on == [threading.main_thread().name]


def test_timeout_counts_from_the_start_and_interrupts_the_code(shell, ns, intern):
    bridge = KernelMainThread(shell)
    tools = {t.name: t for t in kernel_tools(bridge)}
    fut = intern.submit(
        tools["python"].handler({"code": "n = 0\nwhile True:\n    n += 1", "timeout": 0.3}, None)
    )
    time.sleep(0.5)  # longer than the timeout, but the code has not started yet
    result = pump(bridge, fut)
    assert not result.success and "Stopped after 0.3 s" in result.output
    assert ns["n"] > 0  # it ran, and was interrupted
    assert run_code(shell, "1 + 1").output == "2"  # the main thread is fine afterwards


def test_cancelled_before_start_never_runs(shell, intern):
    bridge = KernelMainThread(shell)
    ran: list[int] = []
    fut = intern.submit(bridge.run(lambda: ran.append(1), 5))
    time.sleep(0.05)
    fut.cancel()
    time.sleep(0.05)
    bridge.drain()
    assert ran == []


def test_tracebacks_show_the_agents_source_lines_across_runs(shell, ns):
    run_code(shell, "def ratio(a, b):\n    return a / b")
    result = run_code(shell, "x = 1\nratio(x, 0)")
    assert not result.success
    lines = result.output.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    # Both runs' lines are shown, from the code that defined them; none of run_code's own.
    assert "    ratio(x, 0)" in lines and "    return a / b" in lines
    assert "kernel.py" not in result.output
    assert lines[-1] == "ZeroDivisionError: division by zero"

"""Kernel tools in a real kernel: python, variables, inspect, propose_cell and `%intern cell`.

The model is the scripted fake; `python` needs approval, so those tests turn
yolo on for their session first.
"""

from __future__ import annotations

import ast
import time
from typing import Any

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.kernel.helpers import KernelHarness, html_text

# A 2x3 PNG, made without matplotlib.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR4nGNgYGD4z8DAwMAAAA0KAQE+1V6FAAAAAElFTkSuQmCC"
IMAGE_CODE = (
    "import base64\nfrom IPython.display import Image, display\n"
    f"display(Image(data=base64.b64decode('{PNG_B64}')))"
)
OUTPUT_KINDS = ("stream", "display_data", "execute_result", "error")


def yolo(kernel: KernelHarness, session: str) -> None:
    kernel.run_ok(f"%intern -s {session} yolo on")


def run_turn(kernel: KernelHarness, session: str, prompt: str, timeout: float = 60) -> Any:
    """Run a `%%intern` cell; (display id, view root, transcript data) once the turn ends."""
    result = kernel.run_ok(f"%%intern -s {session}\n{prompt}")
    display_id, root = kernel.view_of(result["msg_id"])
    return display_id, root, kernel.transcript(display_id, timeout=timeout)


def tool_results(fake: FakeLLMServer) -> list[str]:
    """The tool messages of the model's last request."""
    return [m["content"] for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]


def user_value(kernel: KernelHarness, expression: str) -> Any:
    """A literal value from the user's namespace."""
    result = kernel.run_ok(f"print(repr({expression}))")
    return ast.literal_eval(kernel.text_of(result["msg_id"]).strip())


def blocking_cell(seconds: float) -> str:
    """A user cell that blocks until a kernel-tool call is queued, then for `seconds` more.

    Waiting for the queued call (not a fixed sleep) makes "the call arrived while
    the cell blocked" certain however slow the machine is.
    """
    return (
        "import time\n"
        "from ml_intern_jupyter.notebook.conductor.sessions import notebook_sessions\n"
        "mlij_marks.append(('start', time.time()))\n"
        "print('user cell output')\n"
        "_deadline = time.time() + 30\n"
        "while not notebook_sessions().bridge.pending() and time.time() < _deadline:\n"
        "    time.sleep(0.01)\n"
        "mlij_marks.append(('queued', time.time()))\n"
        f"time.sleep({seconds})\n"
        "print('user cell output again')\n"
        "mlij_marks.append(('end', time.time()))"
    )


def test_python_waits_for_a_blocking_cell_then_runs(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    kernel.run_ok("import time\nmlij_marks = []")
    yolo(kernel, session_name)
    fake.script(
        # Slow enough that the call comes while the next cell runs, not before it starts.
        Reply(
            tool_calls=[ToolCall("python", {"code": "mlij_marks.append(('tool', time.time()))"})],
            delay=0.5,
        ),
        Reply(content="Recorded."),
    )
    turn = kernel.run_ok(f"%%intern -s {session_name}\nRecord the time.")
    sleeper = kernel.execute(blocking_cell(2))
    assert sleeper["reply"]["content"]["status"] == "ok"
    display_id, _root = kernel.view_of(turn["msg_id"])
    assert "Recorded." in kernel.transcript(display_id, timeout=60)["text/plain"]
    marks = user_value(kernel, "mlij_marks")
    assert [name for name, _t in marks] == ["start", "queued", "end", "tool"]
    times = dict(marks)
    assert times["queued"] - times["start"] < 20, "the call never reached the bridge"
    assert times["end"] - times["queued"] >= 2
    assert times["tool"] >= times["end"]


def test_python_output_never_lands_in_a_user_cell(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    marker = "mlij-marker-7f3a"
    code = (
        "import sys\nfrom IPython.display import display\n"
        f"print('{marker}-out')\nprint('{marker}-err', file=sys.stderr)\n"
        f"display('{marker}-display')\n'{marker}-value'"
    )
    kernel.run_ok("mlij_marks = []")
    yolo(kernel, session_name)
    fake.script(
        Reply(tool_calls=[ToolCall("python", {"code": code})], delay=0.5),
        Reply(content="Printed."),
    )
    turn = kernel.run_ok(f"%%intern -s {session_name}\nPrint the marker.")
    # The call is queued while this cell prints and blocks; another cell runs after it.
    kernel.run_ok(blocking_cell(0.3))
    display_id, root = kernel.view_of(turn["msg_id"])
    transcript = kernel.transcript(display_id, timeout=60)
    kernel.run_ok("print('next cell')")

    cell_outputs = [
        m
        for _t, m in kernel.messages()
        if m["header"]["msg_type"] in OUTPUT_KINDS
        and m["parent_header"].get("msg_type") == "execute_request"
    ]
    assert any("user cell output again" in str(m["content"]) for m in cell_outputs)
    leaked = [m for m in cell_outputs if marker in str(m["content"])]
    assert not leaked, leaked
    result = tool_results(fake)[-1]
    for part in ("out", "err", "display", "value"):
        assert f"{marker}-{part}" in result
    assert f"{marker}-out" in transcript["text/plain"]
    assert f"{marker}-out" in html_text(kernel.view_html(root))


def test_huge_output_is_capped_for_the_model(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    yolo(kernel, session_name)
    fake.script(
        Reply(tool_calls=[ToolCall("python", {"code": "print('0123456789' * 20_000)"})]),
        Reply(content="That was long."),
    )
    run_turn(kernel, session_name, "Print a lot.")
    result = tool_results(fake)[-1]
    assert len(result) <= 25_000
    assert "output truncated" in result and "characters omitted" in result


def test_exception_comes_back_as_a_traceback(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    yolo(kernel, session_name)
    code = "def ratio(a, b):\n    return a / b\nratio(1, 0)"
    fake.script(
        Reply(tool_calls=[ToolCall("python", {"code": code})]),
        Reply(content="Division by zero."),
    )
    _id, _root, transcript = run_turn(kernel, session_name, "Divide.")
    result = tool_results(fake)[-1]
    assert result.startswith("Traceback (most recent call last):")
    assert "return a / b" in result and "ZeroDivisionError: division by zero" in result
    assert "failed" in transcript["text/plain"]


def test_variables_and_inspect_see_the_users_dataframe(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    kernel.run_ok(
        "import pandas as pd\n"
        "sales = pd.DataFrame({'region': ['north', 'south', 'east'], 'units': [3, 5, 8]})"
    )
    fake.script(
        Reply(
            tool_calls=[
                ToolCall("variables", {}),
                ToolCall("inspect", {"name": "sales"}),
            ]
        ),
        Reply(content="Three regions."),
    )
    run_turn(kernel, session_name, "What data do I have?")
    variables, inspected = tool_results(fake)[-2:]
    (row,) = [line for line in variables.splitlines() if line.startswith("sales ")]
    assert "pandas.DataFrame" in row and "3x2" in row
    head = inspected.splitlines()[0]
    assert head.startswith("sales: pandas") and head.endswith("DataFrame")
    assert "shape: 3x2" in inspected
    assert "region" in inspected and "units" in inspected and "north" in inspected


def test_image_shows_in_the_card_and_is_described_to_the_model(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    yolo(kernel, session_name)
    fake.script(
        Reply(tool_calls=[ToolCall("python", {"code": IMAGE_CODE})]),
        Reply(content="Here is the plot."),
    )
    started = time.time()
    _id, root, transcript = run_turn(kernel, session_name, "Plot it.")
    tag = f'<img src="data:image/png;base64,{PNG_B64}"'
    assert tag in kernel.view_html(root)
    assert tag in transcript["text/html"]
    assert "[image]" in transcript["text/markdown"]
    assert tool_results(fake)[-1] == "[image/png 2x3 displayed to the user]"
    # The image was shown in the card, not as an output of any cell.
    assert not [
        m
        for t, m in kernel.messages()
        if t >= started
        and m["header"]["msg_type"] == "display_data"
        and "image/png" in m["content"]["data"]
    ]


def test_text_mode_shows_the_image_and_proposed_cell_in_the_waiting_cell(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(
        Reply(
            tool_calls=[
                ToolCall("python", {"code": IMAGE_CODE}),
                ToolCall("propose_cell", {"code": "plot(df)\n"}),
            ]
        ),
        Reply(content="Shown below."),
    )
    # --wait: the cell blocks, runs the python call itself and renders as text.
    result = kernel.run_ok(f"%%intern -s {session_name} --wait --yolo\nPlot it.")
    images = [
        m["content"]["data"]["image/png"]
        for m in kernel.outputs(result["msg_id"])
        if m["header"]["msg_type"] == "display_data" and "image/png" in m["content"]["data"]
    ]
    assert ["".join(image.split()) for image in images] == [PNG_B64]
    shown = kernel.text_of(result["msg_id"])
    assert "**Proposed cell**" in shown and "```python\nplot(df)\n```" in shown
    assert "%intern cell" in shown and "Shown below." in shown


def test_propose_cell_then_intern_cell_inserts_it(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    nothing = kernel.run_ok(f"%intern -s {session_name} cell")
    assert "no session" in kernel.text_of(nothing["msg_id"])
    assert not nothing["reply"]["content"].get("payload")
    code = "df = load()\ndf.describe()\n"
    fake.script(
        Reply(tool_calls=[ToolCall("propose_cell", {"code": code})]),
        Reply(content="Run the cell above."),
    )
    _id, root, transcript = run_turn(kernel, session_name, "Give me a cell.")
    for html in (kernel.view_html(root), transcript["text/html"]):
        assert ">Copy</button>" in html and "navigator.clipboard.writeText" in html
        assert "%intern cell" in html and 'data-code="df = load()&#10;df.describe()&#10;"' in html
    assert f"```python\n{code}```" in transcript["text/markdown"]
    assert "The cell was shown to the user" not in transcript["text/plain"]

    inserted = kernel.run_ok(f"%intern -s {session_name} cell")
    payload = inserted["reply"]["content"]["payload"]
    assert payload == [{"source": "set_next_input", "text": code, "replace": False}]
    assert "new cell below" in kernel.text_of(inserted["msg_id"])


def test_python_timeout_interrupts_a_runaway_loop(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    yolo(kernel, session_name)
    loop = "mlij_spins = 0\nwhile True:\n    mlij_spins += 1"
    fake.script(
        Reply(tool_calls=[ToolCall("python", {"code": loop, "timeout": 1})]),
        Reply(content="It ran forever; I stopped it."),
    )
    _id, _root, transcript = run_turn(kernel, session_name, "Spin.")
    assert tool_results(fake)[-1].startswith("Stopped after 1 s (timeout)")
    assert "I stopped it." in transcript["text/plain"]
    # The kernel is usable and no interrupt is left pending for the next cells.
    assert user_value(kernel, "mlij_spins > 0") is True
    after = kernel.run_ok("import time\ntime.sleep(0.3)\nprint('still fine')")
    assert "still fine" in kernel.text_of(after["msg_id"])

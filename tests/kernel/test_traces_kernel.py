"""Trace sharing from a real kernel, against the fake Hub: the footer and the upload."""

from __future__ import annotations

import time
from pathlib import Path

from tests.fakes.hub_server import FakeHub
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.kernel.helpers import output_text, run_notebook

REPO = "test-user/ml-intern-sessions"

WAIT_FOR_FOOTER = """\
import time
from ml_intern_jupyter.notebook.conductor.sessions import notebook_sessions
deadline = time.monotonic() + 60
while not notebook_sessions().traces.footer and time.monotonic() < deadline:
    time.sleep(0.05)
print("footer:", notebook_sessions().traces.footer)
"""


def test_first_turn_of_a_kernel_says_where_traces_go_and_uploads(
    tmp_path: Path, hub: FakeHub
) -> None:
    with FakeLLMServer() as server:
        server.script(Reply(content="Trained and pushed."))
        outputs = run_notebook(
            tmp_path,
            server.url,
            "%load_ext ml_intern_jupyter",
            "%intern new",  # creating the session starts the uploader, off the cell's path
            WAIT_FOR_FOOTER,
            "%%intern --wait\nTrain it.",
            HF_ENDPOINT=hub.url,
            HF_TOKEN=hub.token,
            HF_HUB_OFFLINE="0",
            HF_HUB_DISABLE_TELEMETRY="1",
            ML_INTERN_SHARE_TRACES="true",
        )
    assert f"footer: Traces: private dataset {hub.url}/datasets/{REPO}" in output_text(outputs[2])
    turn = output_text(outputs[3])
    assert "Trained and pushed." in turn
    assert f"Traces: private dataset {hub.url}/datasets/{REPO}" in turn
    # The upload was scheduled at the turn's end and flushed when the kernel exited.
    deadline = time.monotonic() + 30
    files: dict[str, bytes] = {}
    while time.monotonic() < deadline:
        try:
            files = hub.repo(REPO, "dataset").files()
        except KeyError:  # not created yet
            files = {}
        if any(path.startswith("sessions/") for path in files):
            break
        time.sleep(0.1)
    traces = [path for path in files if path.startswith("sessions/")]
    assert len(traces) == 1, files.keys()
    assert b"Trained and pushed." in files[traces[0]]
    assert hub.repo(REPO, "dataset").private is True

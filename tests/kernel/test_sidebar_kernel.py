"""The sidebar's comm channel in a real kernel: a client opens a comm to target
`ml_intern_sidebar` as the labextension does, reads rows and notices, and sends
decide / stop / snapshot requests; the cell's live view must agree."""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.kernel.helpers import KernelHarness

TARGET = "ml_intern_sidebar"


class SidebarClient:
    """One comm to the kernel's sidebar target, read back from the recorded IOPub."""

    def __init__(self, kernel: KernelHarness):
        self.kernel = kernel
        self.comm_id = uuid.uuid4().hex
        self._send("comm_open", {"comm_id": self.comm_id, "target_name": TARGET, "data": {}})

    def _send(self, msg_type: str, content: dict[str, Any]) -> None:
        self.kernel.kc.shell_channel.send(self.kernel.kc.session.msg(msg_type, content))

    def messages(self) -> list[dict[str, Any]]:
        return [
            m["content"]["data"]
            for _t, m in self.kernel.messages()
            if m["header"]["msg_type"] == "comm_msg" and m["content"].get("comm_id") == self.comm_id
        ]

    def send(self, data: Any) -> None:
        self._send("comm_msg", {"comm_id": self.comm_id, "data": data})

    def request(self, method: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
        request_id = uuid.uuid4().hex
        self.send({"method": method, "request_id": request_id, **fields})
        return self.reply(request_id, timeout)

    def reply(self, request_id: Any, timeout: float = 30) -> dict[str, Any]:
        return self.kernel.wait_for(
            lambda: next(
                (
                    m
                    for m in self.messages()
                    if m["type"] == "reply" and m["request_id"] == request_id
                ),
                None,
            ),
            timeout,
            f"the reply to {request_id}",
        )

    def rows(self, session_id: str) -> list[dict[str, Any]]:
        out = []
        for m in self.messages():
            if m["type"] == "snapshot":
                out += [r for r in m["sessions"] if r["id"] == session_id]
            elif m["type"] == "session" and m["session"]["id"] == session_id:
                out.append(m["session"])
        return out

    def row_titled(self, title: str, timeout: float = 60) -> dict[str, Any]:
        def find() -> Any:
            for m in reversed(self.messages()):
                if m["type"] == "session" and m["session"]["title"].startswith(title):
                    return m["session"]
            return None

        return self.kernel.wait_for(find, timeout, f"a row titled {title!r}")

    def wait_row(self, session_id: str, what: str, predicate: Any, timeout: float = 60) -> Any:
        def find() -> Any:
            rows = self.rows(session_id)
            return rows[-1] if rows and predicate(rows[-1]) else None

        return self.kernel.wait_for(find, timeout, what)

    def notices(self, session_id: str, kind: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages()
            if m["type"] == "notice" and m["session_id"] == session_id and m["kind"] == kind
        ]


def run_cell(kernel: KernelHarness, code: str, cell_id: str | None) -> dict[str, Any]:
    """Execute as JupyterLab does: the cell's id in the request's metadata."""
    kc = kernel.kc
    content = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": True,
        "stop_on_error": True,
    }
    msg = kc.session.msg(
        "execute_request", content, metadata={"cellId": cell_id} if cell_id else {}
    )
    kc.shell_channel.send(msg)
    msg_id = msg["header"]["msg_id"]
    reply = kernel._reply(msg_id, 60)
    assert reply["content"]["status"] == "ok", reply["content"]
    kernel.wait_idle(msg_id)
    return {"msg_id": msg_id}


def tool_results(fake: FakeLLMServer, call_id: str) -> list[str]:
    return [
        m["content"]
        for m in fake.requests[-1].body["messages"]
        if m["role"] == "tool" and m.get("tool_call_id") == call_id
    ]


def test_rows_stream_then_wait_and_a_sidebar_decide_approves_in_the_cell(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    sidebar = SidebarClient(kernel)
    first = kernel.wait_for(lambda: sidebar.messages(), 30, "the snapshot")[0]
    assert first["type"] == "snapshot" and first["v"] == 1 and isinstance(first["pid"], int)
    fake.script(
        Reply(
            content="Let me check that for you. " * 12,
            chunk_size=4,
            delay=0.01,
            tool_calls=[ToolCall("bash", {"command": "echo sidebar-$((40 + 2))"})],
        ),
        Reply(content="It printed sidebar-42."),
    )
    title = f"Run echo for {session_name}"
    cell = run_cell(kernel, f"%%intern -s {session_name}\n{title}", "cell-" + session_name)
    display_id, root = kernel.view_of(cell["msg_id"])
    row = sidebar.row_titled(title)
    sid = row["id"]
    waiting = sidebar.wait_row(sid, "a waiting row", lambda r: r["status"] == "waiting")
    assert any(r["status"] == "streaming" for r in sidebar.rows(sid))
    (pending,) = waiting["pending"]
    assert pending["tool"] == "bash" and "echo sidebar-" in pending["arguments"]
    assert pending["truncated"] is False and isinstance(pending["reason"], str)
    assert waiting["cell_id"] == "cell-" + session_name
    assert waiting["model"] == "vllm/test-model" and waiting["notebook"]
    (approval,) = sidebar.notices(sid, "approval")
    assert approval["notice_id"] and "bash" in approval["message"]

    kernel.wait_button("Approve", root)
    reply = sidebar.request(
        "decide", session_id=sid, call_id=pending["call_id"], approved=True, feedback=None
    )
    assert reply["ok"] is True, reply
    # The cell's panel shows the decision, exactly as after a click.
    assert kernel.widgets.find("ButtonModel", description="Approved")
    transcript = kernel.transcript(display_id, timeout=60)
    assert "It printed sidebar-42." in transcript["text/plain"]
    assert "echo sidebar-$((40 + 2)) — done" in transcript["text/plain"]
    assert len(tool_results(fake, pending["call_id"])) == 1
    assert "sidebar-42" in tool_results(fake, pending["call_id"])[0]
    idle = sidebar.wait_row(sid, "an idle row", lambda r: r["status"] == "idle" and r["turns"])
    assert idle["turns"] == 1 and idle["tokens"] > 0 and isinstance(idle["cost"], float)
    assert idle["pending"] == [] and idle["error"] is None
    kernel.wait_for(lambda: sidebar.notices(sid, "turn_done"), 10, "the turn_done notice")
    (done,) = sidebar.notices(sid, "turn_done")
    assert done["duration_s"] > 0
    # Deciding again: nothing runs.
    again = sidebar.request("decide", session_id=sid, call_id=pending["call_id"], approved=True)
    assert again["ok"] is False and again["message"] == "already decided"
    # One counter for every message of the comm, strictly increasing.
    seqs = [m["seq"] for m in sidebar.messages()]
    assert seqs == sorted(set(seqs))


def test_a_button_click_and_a_sidebar_decide_run_the_call_once(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    sidebar = SidebarClient(kernel)
    counter = f"count-{session_name}.txt"
    fake.script(
        Reply(tool_calls=[ToolCall("bash", {"command": f"echo ran >> {counter}; cat {counter}"})]),
        Reply(content="Counted."),
    )
    title = f"Count once for {session_name}"
    cell = run_cell(kernel, f"%%intern -s {session_name}\n{title}", None)
    display_id, root = kernel.view_of(cell["msg_id"])
    sid = sidebar.row_titled(title)["id"]
    waiting = sidebar.wait_row(sid, "a waiting row", lambda r: r["status"] == "waiting")
    assert waiting["cell_id"] is None  # a frontend that sends no cellId
    call_id = waiting["pending"][0]["call_id"]
    kernel.click(kernel.wait_button("Approve", root))
    reply = sidebar.request("decide", session_id=sid, call_id=call_id, approved=True)
    assert reply["ok"] is False and reply["message"] == "already decided"
    transcript = kernel.transcript(display_id, timeout=60)
    assert "Counted." in transcript["text/plain"]
    (result,) = tool_results(fake, call_id)
    assert result.split().count("ran") == 1
    assert (kernel.workdir / counter).read_text().split() == ["ran"]


def test_a_sidebar_reject_with_feedback_is_the_cells_reject(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    sidebar = SidebarClient(kernel)
    fake.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "rm -rf build"})]),
        Reply(content="Understood, keeping it."),
    )
    title = f"Clean up for {session_name}"
    cell = run_cell(kernel, f"%%intern -s {session_name}\n{title}", "c1")
    display_id, root = kernel.view_of(cell["msg_id"])
    sid = sidebar.row_titled(title)["id"]
    waiting = sidebar.wait_row(sid, "a waiting row", lambda r: r["status"] == "waiting")
    call_id = waiting["pending"][0]["call_id"]
    reply = sidebar.request(
        "decide", session_id=sid, call_id=call_id, approved=False, feedback="keep the build"
    )
    assert reply["ok"] is True and reply["message"] == "rejected"
    assert kernel.widgets.find("ButtonModel", description="Rejected")
    transcript = kernel.transcript(display_id, timeout=60)
    assert "rejected" in transcript["text/plain"]
    assert tool_results(fake, call_id) == [
        "Job execution cancelled by user. User feedback: keep the build"
    ]


def test_stop_from_the_sidebar_is_the_cells_stop(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    sidebar = SidebarClient(kernel)
    fake.script(Reply(content="word " * 3000, chunk_size=5, delay=0.01))
    title = f"Talk for a long time, {session_name}"
    cell = run_cell(kernel, f"%%intern -s {session_name}\n{title}", "c2")
    display_id, root = kernel.view_of(cell["msg_id"])
    sid = sidebar.row_titled(title)["id"]
    sidebar.wait_row(sid, "a streaming row", lambda r: r["status"] == "streaming")
    reply = sidebar.request("stop", session_id=sid)
    assert reply["ok"] is True, reply
    transcript = kernel.transcript(display_id, timeout=30)
    assert "interrupted" in transcript["text/plain"]
    sidebar.wait_row(sid, "an idle row", lambda r: r["status"] == "idle")
    assert len(fake.requests) == 1
    nothing = sidebar.request("stop", session_id=sid)
    assert nothing["ok"] is False and "Nothing is running" in nothing["message"]
    # A session shut down in the kernel leaves the sidebar.
    kernel.run_ok(f"%intern -s {session_name} new")
    kernel.wait_for(
        lambda: any(m["type"] == "removed" and m["id"] == sid for m in sidebar.messages()),
        30,
        "the removed message",
    )


def test_snapshot_request_and_bad_requests_get_readable_replies(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    fake.script(Reply(content="Hello there."))
    title = f"Say hello, {session_name}"
    run_cell(kernel, f"%%intern -s {session_name}\n{title}", "c3")
    sidebar = SidebarClient(kernel)
    reply = sidebar.request("snapshot")
    assert reply["ok"] is True
    snapshots = [m for m in sidebar.messages() if m["type"] == "snapshot"]
    assert len(snapshots) == 2 and snapshots[1]["request_id"] == reply["request_id"]
    rows = kernel.wait_for(
        lambda: [
            r
            for m in sidebar.messages()
            if m["type"] in ("snapshot", "session")
            for r in (m["sessions"] if m["type"] == "snapshot" else [m["session"]])
            if r["title"].startswith(title) and r["status"] == "idle" and r["turns"] == 1
        ],
        60,
        "the session's idle row",
    )
    sid = rows[-1]["id"]

    def bad(data: dict[str, Any], *expected: str) -> None:
        sidebar.send(data)
        reply = sidebar.reply(data.get("request_id"))
        assert reply["ok"] is False, reply
        for text in expected:
            assert text in reply["message"], (data, reply["message"])
        assert "Traceback" not in reply["message"]

    rid = lambda: uuid.uuid4().hex  # noqa: E731
    bad({"method": "explode", "request_id": rid()}, "Unknown method 'explode'", "decide")
    bad({"method": "stop", "request_id": rid()}, "session_id")
    bad({"method": "stop", "request_id": rid(), "session_id": "nope"}, "No session 'nope'")
    bad({"method": "decide", "request_id": rid(), "session_id": sid, "approved": True}, "call_id")
    bad(
        {"method": "decide", "request_id": rid(), "session_id": sid, "call_id": "x"},
        "'approved' must be true or false",
    )
    bad(
        {
            "method": "decide",
            "request_id": rid(),
            "session_id": sid,
            "call_id": "call_zzz",
            "approved": True,
        },
        "no tool call 'call_zzz' waiting",
    )
    bad({"method": "snapshot"}, "request_id")
    sidebar.send(["not", "an", "object"])
    unnamed = kernel.wait_for(
        lambda: [
            m
            for m in sidebar.messages()
            if m["type"] == "reply" and m["request_id"] is None and "JSON object" in m["message"]
        ],
        10,
        "the reply to a request that is not an object",
    )
    assert unnamed[0]["ok"] is False
    # The kernel still answers after all that.
    assert sidebar.request("snapshot")["ok"] is True


def test_rows_keep_coming_while_a_cell_blocks_and_follow_the_latest_cell(
    kernel: KernelHarness, fake: FakeLLMServer, session_name: str
) -> None:
    sidebar = SidebarClient(kernel)
    fake.script(Reply(content="first"), Reply(content="tick " * 1200, chunk_size=5, delay=0.01))
    title = f"Two cells, {session_name}"
    run_cell(kernel, f"%%intern -s {session_name}\n{title}", "cell-a")
    sid = sidebar.row_titled(title)["id"]
    first = sidebar.wait_row(
        sid, "the first turn's idle row", lambda r: r["turns"] == 1 and r["status"] == "idle"
    )
    assert first["cell_id"] == "cell-a"
    cell = run_cell(kernel, f"%%intern -s {session_name}\nKeep talking.", "cell-b")
    display_id, _root = kernel.view_of(cell["msg_id"])
    second = sidebar.wait_row(sid, "a streaming row", lambda r: r["turns"] == 2)
    assert second["status"] == "streaming" and second["cell_id"] == "cell-b"
    before = len(sidebar.rows(sid))
    sleeping = kernel.execute("import time; time.sleep(2)")
    assert sleeping["elapsed"] >= 2.0
    during = len(sidebar.rows(sid)) - before
    # ~10 a second while the main thread sleeps: sent from the intern thread.
    assert 8 <= during <= 30, during
    kernel.transcript(display_id, timeout=60)

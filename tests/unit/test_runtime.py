"""The intern thread: sessions run off the caller's thread and keep going while it blocks."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.errors import ConfigError, SessionError
from ml_intern_jupyter.runtime import Runtime
from tests.fakes.llm_server import Reply


@pytest.fixture
def runtime(server, monkeypatch, tmp_path):
    monkeypatch.setenv("ML_INTERN_MODEL", "vllm/test-model")
    monkeypatch.setenv("VLLM_BASE_URL", server.url)
    monkeypatch.setenv("ML_INTERN_HOME", str(tmp_path))
    monkeypatch.setenv("ML_INTERN_CONFIG", str(tmp_path / "config.json"))
    (tmp_path / "config.json").write_text(json.dumps({"context_window": 100000}))
    rt = Runtime(name="test-intern")
    yield rt
    rt.shutdown()


def test_import_is_light():
    code = (
        "import sys, time; t = time.perf_counter(); import ml_intern_jupyter; "
        "dt = time.perf_counter() - t; "
        "heavy = [m for m in ('litellm', 'huggingface_hub', 'jupyter_server', 'ipywidgets', 'openai') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_turn_streams_on_the_intern_thread_while_the_caller_blocks(runtime, server):
    server.script(Reply(content="word " * 60, chunk_size=5, delay=0.01))
    runtime.prewarm().result(60)  # as `%load_ext` does: the import is not part of the turn
    session = runtime.create_session(workdir=None)
    seen: list[tuple[str, float, str]] = []
    done = threading.Event()

    def on_event(e):
        seen.append((e.type, time.monotonic(), threading.current_thread().name))
        if e.type in ("turn_complete", "error"):
            done.set()

    runtime.subscribe(session.id, on_event)
    runtime.submit(session.id, ev.UserInput(text="hi"))
    blocked_from = time.monotonic()
    time.sleep(1.0)  # the "user cell" blocks this thread
    blocked_to = time.monotonic()
    assert done.wait(20)
    assert {name for _, _, name in seen} == {"test-intern"}
    during = [t for typ, t, _ in seen if typ == "assistant_chunk" and blocked_from < t < blocked_to]
    assert len(during) > 10
    assert runtime.wait_idle(session.id, timeout=5)
    assert session.describe().state == "idle"


def test_sessions_are_listed_and_unknown_ids_are_clear(runtime):
    a = runtime.create_session()
    b = runtime.create_session(session_id="named")
    assert {s.id for s in runtime.sessions()} == {a.id, "named"} and b.id == "named"
    with pytest.raises(SessionError, match="already exists"):
        runtime.create_session(session_id="named")
    with pytest.raises(SessionError, match="%intern sessions"):
        runtime.submit("nope", ev.Interrupt())


def test_bad_override_is_a_config_error(runtime):
    with pytest.raises(ConfigError, match="max_iterations"):
        runtime.create_session(overrides={"max_iterations": "lots"})


def test_unsubscribe_stops_delivery(runtime, server):
    server.script(Reply(content="one"), Reply(content="two"))
    session = runtime.create_session()
    got: list[str] = []
    unsubscribe = runtime.subscribe(session.id, lambda e: got.append(e.type))
    runtime.submit(session.id, ev.UserInput(text="1"))
    assert runtime.wait_idle(session.id, 20)
    time.sleep(0.05)
    unsubscribe()
    n = len(got)
    runtime.submit(session.id, ev.UserInput(text="2"))
    assert runtime.wait_idle(session.id, 20)
    time.sleep(0.05)
    assert "turn_complete" in got and len(got) == n


def test_shutdown_stops_sessions_and_thread(runtime):
    session = runtime.create_session()
    types: list[str] = []
    runtime.subscribe(session.id, lambda e: types.append(e.type))
    thread = runtime._thread
    runtime.shutdown()
    assert thread is not None and not thread.is_alive()
    assert "shutdown" in types and runtime.sessions() == []
    # it starts again on demand
    assert runtime.create_session().state == "idle"


def test_prewarm_loads_the_lean_client_off_the_caller_thread(runtime):
    future = runtime.prewarm()
    future.result(60)
    assert "httpx" in sys.modules
    assert runtime.prewarm() is future


def test_prewarm_leaves_litellm_alone_unless_the_model_needs_it():
    code = (
        "import sys\n"
        "from ml_intern_jupyter.agent.llm import prewarm\n"
        "import asyncio\n"
        "asyncio.run(prewarm('vllm/m'))\n"
        "print('httpx' in sys.modules, 'litellm' in sys.modules)\n"
        "asyncio.run(prewarm('litellm/openai/m'))\n"
        "print('litellm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "True"]


def test_call_from_the_intern_thread_refuses_to_deadlock(runtime):
    async def inner():
        async def noop():
            return 1

        with pytest.raises(RuntimeError, match="deadlock"):
            runtime.call(noop())
        return True

    assert runtime.call(inner())


def test_a_shut_down_session_leaves_the_table(runtime):
    keep, gone = runtime.create_session(), runtime.create_session()
    runtime.submit(gone.id, ev.Shutdown())
    deadline = time.monotonic() + 5
    while gone in runtime.sessions() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runtime.sessions() == [keep]
    with pytest.raises(SessionError):
        runtime.get(gone.id)

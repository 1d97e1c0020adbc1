"""Helpers for tests that drive a real ipykernel through jupyter_client.

`KernelHarness` starts a kernel of *this* interpreter (whatever versions of
ipykernel/ipywidgets it has: the Colab lane runs the same tests on Colab's
pins), with the environment pointed at a loopback `FakeLLMServer`. A
background thread records every IOPub message with its arrival time and
keeps the state of every widget (from `comm_open` and `comm_msg` "update"
deltas), so tests can read what a frontend would show, find buttons by
their description and click them like a frontend does.
"""

from __future__ import annotations

import html
import json
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager, KernelManager

FAKE_MODEL = "vllm/test-model"
# A text-mode notebook run (`run_notebook`) longer than this is reported as hung.
NOTEBOOK_TIMEOUT_S = 100.0
# Kernels started here dump their threads' stacks on SIGUSR1 (see its sitecustomize.py).
STACKDUMP_DIR = str(Path(__file__).resolve().parent / "stackdump")
KERNEL_NAME = "mlij-test"

# Fast, single-attempt model calls: tests script every reply.
TEST_CONFIG = {
    "llm_attempts": 1,
    "retry_rate_limit_waits_s": [0.01],
    "retry_transient_waits_s": [0.01],
    "llm_timeout_s": 60,
}


def make_kernelspec(root: Path, *, debug: bool = False) -> KernelSpecManager:
    """A kernelspec that runs this interpreter's ipykernel (not whatever `python3` is).

    `debug`: the kernel logs every message it handles to its stderr (which
    pytest shows when a test fails).
    """
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if debug:
        argv.append("--debug")
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": argv,
                "display_name": "ml-intern test kernel",
                "language": "python",
            }
        )
    )
    return KernelSpecManager(kernel_dirs=[str(root / "kernels")])


def kernel_env(tmp: Path, llm_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ML_INTERN_DISPLAY", "ML_INTERN_MODEL")
    }
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = tmp / "config.json"
    config.write_text(json.dumps(TEST_CONFIG))
    repo_root = str(Path(__file__).resolve().parents[2])
    env.update(
        VLLM_BASE_URL=llm_url,
        ML_INTERN_ROUTER_BASE_URL=llm_url,
        ML_INTERN_MODEL=FAKE_MODEL,
        ML_INTERN_HOME=str(home),
        ML_INTERN_CONFIG=str(config),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        HF_HOME=str(tmp / "hf"),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=os.pathsep.join(
            p for p in (STACKDUMP_DIR, repo_root, env.get("PYTHONPATH", "")) if p
        ),
        MLIJ_STACK_FILE=str(tmp / "kernel-stacks.txt"),
    )
    # Benchmarks use these kernels too, without tests/conftest.py: never the real HF MCP server.
    env.setdefault("ML_INTERN_SHARE_HF_MCP", "false")
    env.update(extra)
    return env


@dataclass
class Widget:
    comm_id: str
    model: str
    state: dict[str, Any]
    opened_at: float
    updates: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed: bool = False


class WidgetStates:
    """What a widget frontend would know, rebuilt from comm messages."""

    def __init__(self) -> None:
        self.widgets: dict[str, Widget] = {}

    def handle(self, when: float, msg: dict[str, Any]) -> None:
        kind = msg["header"]["msg_type"]
        content = msg["content"]
        if kind == "comm_open" and content.get("target_name") == "jupyter.widget":
            state = dict(content["data"].get("state", {}))
            self.widgets[content["comm_id"]] = Widget(
                content["comm_id"], state.get("_model_name", ""), state, when
            )
        elif kind == "comm_msg":
            widget = self.widgets.get(content["comm_id"])
            data = content.get("data", {})
            if widget is not None and data.get("method") in ("update", "echo_update"):
                delta = data.get("state", {})
                widget.state.update(delta)
                widget.updates.append((when, delta))
        elif kind == "comm_close":
            widget = self.widgets.get(content["comm_id"])
            if widget is not None:
                widget.closed = True

    def find(self, model: str | None = None, **state: Any) -> list[Widget]:
        return [
            w
            for w in self.widgets.values()
            if (model is None or w.model == model)
            and all(w.state.get(k) == v for k, v in state.items())
        ]

    def buttons(self, description: str) -> list[Widget]:
        return self.find("ButtonModel", description=description)

    def children(self, widget: Widget) -> list[Widget]:
        out = []
        for ref in widget.state.get("children", []):
            child = self.widgets.get(ref.replace("IPY_MODEL_", ""))
            if child is not None:
                out.append(child)
        return out

    def descendants(self, widget: Widget) -> list[Widget]:
        """`widget` and everything under it that a frontend would show, in order."""
        out = [widget]
        for child in self.children(widget):
            out += self.descendants(child)
        return out

    def descendants_html(self, widget: Widget) -> str:
        """The concatenated HTML values under `widget`, in display order."""
        parts = []
        if widget.model == "HTMLModel":
            parts.append(widget.state.get("value", ""))
        for child in self.children(widget):
            parts.append(self.descendants_html(child))
        return "".join(parts)


def html_text(markup: str) -> str:
    """Visible text of HTML, whitespace collapsed (for comparing with streamed text)."""
    markup = re.sub(r"<style.*?</style>", "", markup, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", markup))
    return " ".join(text.split())


def words(text: str) -> str:
    return " ".join(text.split())


class KernelHarness:
    def __init__(self, tmp: Path, llm_url: str, **env: str):
        self.tmp = tmp
        self.workdir = tmp / "work"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.km = KernelManager(kernel_spec_manager=make_kernelspec(tmp), kernel_name=KERNEL_NAME)
        self.env = kernel_env(tmp, llm_url, **env)
        self.kc: Any = None
        self.iopub: list[tuple[float, dict[str, Any]]] = []
        self.widgets = WidgetStates()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._replies: dict[str, dict[str, Any]] = {}
        self._shell_lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> KernelHarness:
        self.km.start_kernel(env=self.env, cwd=str(self.workdir))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self._thread = threading.Thread(target=self._collect, daemon=True, name="iopub-collector")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.kc is not None:
            self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            except Exception:
                if self._stop.is_set():
                    return
                continue
            now = time.time()
            with self._lock:
                self.iopub.append((now, msg))
                self.widgets.handle(now, msg)

    # ------------------------------------------------------------- running

    def execute(self, code: str, timeout: float = 60) -> dict[str, Any]:
        """Run a cell; returns {'reply', 'elapsed', 'msg_id', 'outputs'} once it replies."""
        started = time.monotonic()
        msg_id = self.kc.execute(code)
        reply = self._reply(msg_id, timeout)
        elapsed = time.monotonic() - started
        self.wait_idle(msg_id, timeout)
        return {
            "reply": reply,
            "elapsed": elapsed,
            "msg_id": msg_id,
            "outputs": self.outputs(msg_id),
        }

    def _reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if msg_id in self._replies:
                return self._replies.pop(msg_id)
            try:
                msg = self.kc.get_shell_msg(timeout=0.1)
            except queue.Empty:
                continue
            parent = msg.get("parent_header", {}).get("msg_id")
            if parent == msg_id:
                return msg
            self._replies[parent] = msg
        raise TimeoutError(f"no reply to {msg_id} within {timeout} s")

    def wait_idle(self, msg_id: str, timeout: float = 30) -> None:
        self.wait_for(
            lambda: any(
                m["header"]["msg_type"] == "status"
                and m["parent_header"].get("msg_id") == msg_id
                and m["content"]["execution_state"] == "idle"
                for _t, m in self.messages()
            ),
            timeout,
            f"kernel idle after {msg_id}",
        )

    def run_ok(self, code: str, timeout: float = 60) -> dict[str, Any]:
        result = self.execute(code, timeout)
        content = result["reply"]["content"]
        if content["status"] != "ok":
            raise AssertionError(
                f"cell failed: {content.get('ename')}: {content.get('evalue')}\n"
                + "\n".join(content.get("traceback", []))
            )
        return result

    def messages(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(self.iopub)

    def outputs(self, msg_id: str) -> list[dict[str, Any]]:
        kinds = ("stream", "display_data", "execute_result", "error", "update_display_data")
        return [
            m
            for _t, m in self.messages()
            if m["parent_header"].get("msg_id") == msg_id and m["header"]["msg_type"] in kinds
        ]

    def text_of(self, msg_id: str) -> str:
        parts = []
        for m in self.outputs(msg_id):
            c = m["content"]
            if m["header"]["msg_type"] == "stream":
                parts.append(c["text"])
            elif "data" in c:
                parts.append(c["data"].get("text/markdown") or c["data"].get("text/plain", ""))
            elif m["header"]["msg_type"] == "error":
                parts.append(f"{c['ename']}: {c['evalue']}")
        return "\n".join(parts)

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 30, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    # ------------------------------------------------------------- widgets

    def click(self, widget: Widget) -> None:
        """Click a Button as a frontend does: a custom comm message on the shell channel."""
        msg = self.kc.session.msg(
            "comm_msg",
            {
                "comm_id": widget.comm_id,
                "data": {"method": "custom", "content": {"event": "click"}},
            },
        )
        self.kc.shell_channel.send(msg)

    def set_value(self, widget: Widget, **state: Any) -> None:
        """Change a widget's state as a frontend does (e.g. typing in a Text box)."""
        msg = self.kc.session.msg(
            "comm_msg",
            {
                "comm_id": widget.comm_id,
                "data": {"method": "update", "state": state, "buffer_paths": []},
            },
        )
        self.kc.shell_channel.send(msg)

    def live_buttons(self, description: str, root: Widget | None = None) -> list[Widget]:
        return self.live(root, "ButtonModel", description=description)

    def live(self, root: Widget | None, model: str, **state: Any) -> list[Widget]:
        """Open widgets shown under `root` (all open ones without a root) matching `state`."""
        with self._lock:
            pool = (
                self.widgets.descendants(root)
                if root is not None
                else self.widgets.widgets.values()
            )
            return [
                w
                for w in pool
                if w.model == model
                and not w.closed
                and all(w.state.get(k) == v for k, v in state.items())
            ]

    def wait_button(
        self, description: str, root: Widget | None = None, timeout: float = 30
    ) -> Widget:
        """A button shown under `root`: reachable from it, so its whole panel is there."""
        found = self.wait_for(
            lambda: self.live_buttons(description, root), timeout, f"a '{description}' button"
        )
        return found[-1]

    def display_updates(self, kind: str = "update_display_data") -> list[dict[str, Any]]:
        return [m for _t, m in self.messages() if m["header"]["msg_type"] == kind]

    # --------------------------------------------------------------- views

    def view_of(self, msg_id: str, timeout: float = 10) -> tuple[str, Widget]:
        """(display_id, root widget) of the live view a cell displayed."""

        def find() -> Any:
            for m in self.outputs(msg_id):
                data = m["content"].get("data", {})
                ref = data.get("application/vnd.jupyter.widget-view+json")
                if m["header"]["msg_type"] == "display_data" and ref:
                    root = self.widgets.widgets.get(ref["model_id"])
                    if root is not None:
                        return m["content"]["transient"]["display_id"], root
            return None

        return self.wait_for(find, timeout, f"the live view of {msg_id}")

    def transcript(self, display_id: str, timeout: float = 30) -> dict[str, Any]:
        """The data of the update that replaced a view (waits for it)."""

        def find() -> Any:
            for m in self.display_updates():
                if m["content"].get("transient", {}).get("display_id") == display_id:
                    return m["content"]["data"]
            return None

        try:
            return self.wait_for(find, timeout, f"the transcript of display {display_id}")
        except TimeoutError as exc:
            views = [
                html_text(w.state.get("value", ""))
                for w in self.widgets.widgets.values()
                if w.model == "HTMLModel" and "ml-intern" in w.state.get("value", "")
            ]
            raise TimeoutError(f"{exc}; view headers: {views[-3:]}") from None

    def view_markdown(self, root: Widget) -> list[str]:
        """The streamed-markdown segment values under a view, in display order."""
        with self._lock:
            return _segments(self.widgets, root)

    def view_html(self, root: Widget) -> str:
        with self._lock:
            return self.widgets.descendants_html(root)


@contextmanager
def running_kernel(tmp: Path, llm_url: str, **env: str) -> Iterator[KernelHarness]:
    harness = KernelHarness(tmp, llm_url, **env).start()
    try:
        yield harness
    finally:
        harness.stop()


def _segments(widgets: WidgetStates, widget: Widget) -> list[str]:
    out = []
    value = widget.state.get("value", "")
    if widget.model == "HTMLModel" and 'class="mlij-md"' in value:
        out.append(value)
    for child in widgets.children(widget):
        out += _segments(widgets, child)
    return out


def run_notebook(tmp: Path, url: str, *sources: str, **env: str) -> list[list[dict[str, Any]]]:
    """Execute cells with nbclient (text mode) in a fresh kernel; returns each cell's outputs.

    nbclient runs in a thread of its own, so its event loop (and the kernel
    client's sockets bound to it) never meets one an earlier test left on the
    main thread. On the Colab pins (jupyter_client 7) such runs sometimes never
    saw the kernel's reply. A run that fails or takes longer than
    `NOTEBOOK_TIMEOUT_S` reports each cell's outputs and the kernel's stacks.
    """
    import nbformat
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    # nbclient drives an asynchronous client on its loop; a synchronous manager
    # would give it a blocking client, which jupyter_client 7 runs on nested loops.
    km = AsyncKernelManager(
        kernel_spec_manager=make_kernelspec(tmp, debug=True), kernel_name=KERNEL_NAME
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(work)}},
        # After a cell's reply nbclient waits this long for its last outputs; by
        # default 4 s, then it drops them silently. Fail loudly instead.
        iopub_timeout=30,
        raise_on_iopub_timeout=True,
    )
    outcome: dict[str, Any] = {}

    def execute() -> None:
        try:
            client.execute(env=kernel_env(tmp, url, **env))
        except BaseException as exc:
            outcome["error"] = exc
            outcome["report"] = _failure_report(nb, km, tmp)
        finally:
            # Given a `km`, nbclient leaves its client and the kernel running:
            # stop both (the kernel gracefully, so its atexit handlers run).
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                run_sync(km.shutdown_kernel)()

    runner = threading.Thread(target=execute, name="nbclient", daemon=True)
    runner.start()
    runner.join(NOTEBOOK_TIMEOUT_S)
    if runner.is_alive():
        report = _failure_report(nb, km, tmp)
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is not None:
            process.kill()
        raise TimeoutError(f"the notebook did not finish in {NOTEBOOK_TIMEOUT_S:g} s\n{report}")
    if "error" in outcome:
        print(outcome["report"])
        raise outcome["error"]
    return [cell.get("outputs", []) for cell in nb.cells]


def _failure_report(nb: Any, km: KernelManager, tmp: Path) -> str:
    parts = []
    for n, cell in enumerate(nb.cells):
        parts.append(f"---- cell {n} (execution_count {cell.get('execution_count')}) outputs ----")
        parts.append(output_text(cell.get("outputs", []))[-2_000:])
    parts.append(kernel_stacks(km, tmp))
    return "\n".join(parts)


def kernel_stacks(km: KernelManager, tmp: Path) -> str:
    """Every thread's stack in the kernel now (and any periodic dumps before)."""
    path = tmp / "kernel-stacks.txt"
    process = getattr(getattr(km, "provisioner", None), "process", None)
    pid = getattr(process, "pid", None)
    if pid is not None and km.has_kernel:
        try:
            os.kill(pid, signal.SIGUSR1)
            time.sleep(1.0)
        except OSError:
            pass
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no kernel stacks: the kernel wrote none)"
    return "---- kernel stacks ----\n" + text[-20_000:]


def output_text(outputs: list[dict[str, Any]]) -> str:
    """What a cell showed: its streams and the markdown (else plain) of its displays."""
    parts = []
    for out in outputs:
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/markdown") or out["data"].get("text/plain", ""))
    return "\n".join(parts)

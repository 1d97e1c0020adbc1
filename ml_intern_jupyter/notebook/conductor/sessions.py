"""This kernel's sessions by name ("default" unless `-s NAME`), one `Conductor` each.

The map lives as long as the kernel; surviving a restart is the store's job.
Methods here run on the main thread (cells).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .kernel_store import KernelStore, notebook_id
from .share import NotebookTraces
from .turns import Conductor, Gate, Request, Sink

__all__ = ["DEFAULT_NAME", "NotebookSessions", "notebook_sessions"]

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"


class NotebookSessions:
    def __init__(self, runtime: Any = None):
        self._runtime = runtime
        self.bridge: Any = None  # KernelMainThread: kernel tools run through it
        self.shell: Any = None
        self.saving = KernelStore()  # this kernel's session store, opened on first use
        self.traces = NotebookTraces(self.saving)  # trace uploads after turns
        self.conductors: dict[str, Conductor] = {}
        # The session line commands use when no `-s` is given: the last one a cell used.
        self.current = DEFAULT_NAME
        self._lock = threading.Lock()
        # Sessions being created off a cell's path, by name (see begin_create).
        self._creating: dict[str, int] = {}
        self._created = threading.Condition()
        # Called with (name, conductor) for each session created (e.g. the sidebar's rows).
        self.watchers: list[Any] = []

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            from ...runtime import get_runtime

            self._runtime = get_runtime()
        return self._runtime

    def bind_shell(self, shell: Any) -> None:
        """Give new sessions the kernel tools (python, variables, ...) of this shell."""
        if shell is not None:
            self.shell = shell
        if self.bridge is None and shell is not None:
            from .bridge import KernelMainThread

            self.bridge = KernelMainThread(shell)

    def drain(self) -> None:
        """Run kernel-tool work queued for the main thread (from cells that block)."""
        if self.bridge is not None:
            self.bridge.drain()

    def notebook(self) -> str:
        """The notebook this kernel's sessions belong to (as saved)."""
        return notebook_id(self.shell)

    def named(self, session_id: str) -> tuple[str, Conductor] | None:
        """(name, conductor) of the live session with this id, if any."""
        for name, conductor in self.items():
            if conductor.session.id == session_id:
                return name, conductor
        return None

    def begin_create(self, name: str) -> None:
        """A cell's helper thread will create (or find) `name` and enqueue its request."""
        with self._created:
            self._creating[name] = self._creating.get(name, 0) + 1

    def end_create(self, name: str) -> None:
        with self._created:
            left = self._creating.get(name, 0) - 1
            if left > 0:
                self._creating[name] = left
            else:
                self._creating.pop(name, None)
            self._created.notify_all()

    def wait_created(self, name: str, timeout: float = 30.0) -> None:
        """Wait until the requests of cells already run for `name` have reached its conductor."""
        with self._created:
            self._created.wait_for(lambda: not self._creating.get(name), timeout)

    def get(self, name: str) -> Conductor | None:
        conductor = self.conductors.get(name)
        if conductor is None or conductor.closed:
            return None
        return conductor

    def ensure(self, name: str, *, model: str | None = None) -> tuple[Conductor, bool]:
        """The session called `name`, created (with `model`) if needed; (conductor, created)."""
        with self._lock:
            conductor = self.get(name)
            if conductor is not None:
                return conductor, False
            return self._create(name, model), True

    def new(self, name: str, *, model: str | None = None) -> Conductor:
        """A fresh session under `name`; the old one (if any) is shut down."""
        with self._lock:
            old = self.get(name)
            conductor = self._create(name, model or (old.session.describe().model if old else None))
        if old is not None:
            from ...agent.messages import Shutdown

            self.runtime.submit(old.session.id, Shutdown())
        return conductor

    def _create(self, name: str, model: str | None) -> Conductor:
        overrides = {"model_name": model} if model else None
        recorder = self._recorder(overrides, name)
        session = self.runtime.create_session(
            overrides=overrides, tools=self._tools(overrides), recorder=recorder
        )
        conductor = Conductor(self.runtime, session, name).attach()
        conductor.on_turn_end = lambda s: self.traces.after_turn(s.describe().config, s.id)
        self.conductors[name] = conductor
        self.traces.start(session.describe().config)
        for watch in list(self.watchers):
            try:
                watch(name, conductor)
            except Exception:
                log.exception("a session watcher failed")
        return conductor

    def _recorder(self, overrides: dict[str, Any] | None, name: str) -> Any:
        """What saves a new session to this kernel's store (None when saving is off)."""
        from ...config import load_config
        from ...errors import InternError

        try:
            config = load_config(overrides)
        except InternError:
            return None  # create_session reports the config error
        return self.saving.recorder(config, notebook=self.notebook(), name=name)

    def _tools(self, overrides: dict[str, Any] | None) -> Any:
        """The default tools plus, in a shell, the kernel tools (built on the intern thread)."""
        bridge = self.bridge
        if bridge is None:
            return None  # the runtime's default router
        from ...config import load_config

        config = load_config(overrides)

        async def build() -> Any:
            from ...tools.kernel import kernel_tools
            from ...tools.registry import default_router

            router = default_router(config)
            for spec in kernel_tools(bridge, python_timeout=config.tool_timeout_s):
                router.register(spec)
            return router

        return self.runtime.call(build())

    def items(self) -> list[tuple[str, Conductor]]:
        return [(n, c) for n, c in self.conductors.items() if not c.closed]

    def submit(self, conductor: Conductor, item: Request | Gate) -> Request | Gate:
        conductor.expect()
        self.runtime.call_soon(conductor.enqueue, item)
        return item

    def turn(
        self,
        sink: Sink,
        text: str,
        *,
        model: str | None = None,
        yolo: bool = False,
        auto_reject: str | None = None,
    ) -> Request:
        from ...agent.messages import UserInput

        op = UserInput(text=text, model=model, yolo=yolo or None)
        return Request("turn", op, sink, auto_reject=auto_reject)


_sessions: NotebookSessions | None = None
_sessions_lock = threading.Lock()


def notebook_sessions() -> NotebookSessions:
    global _sessions
    with _sessions_lock:
        if _sessions is None:
            _sessions = NotebookSessions()
        return _sessions


def totals_of(session: Any) -> Any:
    """A callable giving a session's (tokens, cost_usd, cost_known), for headers."""

    def read() -> tuple[int, float, bool]:
        t = session.describe().totals
        return t.tokens, t.cost_usd, t.cost_known

    return read

"""The intern thread: one asyncio loop per process that hosts every session.

User cells run on the kernel's main thread and may block it for minutes; a
task on that loop would freeze with them. So sessions, model streaming and
tools live on a daemon thread with its own loop, started on first use. The
methods here are safe to call from any *other* thread; callbacks passed to
`subscribe` run on the intern thread and should be quick.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from .errors import SessionError

__all__ = ["Runtime", "get_runtime"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    def __init__(self, name: str = "ml-intern") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sessions: dict[str, Any] = {}
        self._prewarm: concurrent.futures.Future[Any] | None = None
        self._atexit = False

    # ------------------------------------------------------------ lifecycle

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self.running:
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            self._thread = threading.Thread(target=main, name=self.name, daemon=True)
            self._thread.start()
            ready.wait()
            if not self._atexit:
                atexit.register(self.shutdown, 2.0)
                self._atexit = True
            self._loop = loop
            return loop

    def prewarm(self) -> concurrent.futures.Future[Any]:
        """Load the model client on the intern side so the first turn does not wait.

        The lean client (httpx) for router and local ids; litellm too when the
        configured model is a `litellm/` id.
        """
        if self._prewarm is None:
            from .agent.llm import prewarm

            try:
                from .config import load_config

                model_id: str | None = load_config().model_name
            except Exception:
                model_id = None  # a broken config is reported when a cell needs it
            self._prewarm = self.submit_coro(prewarm(model_id))
        return self._prewarm

    def in_intern_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit_coro(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run `coro` on the intern loop and wait for its result (not from the intern thread)."""
        if self.in_intern_thread():
            coro.close()
            raise RuntimeError("Runtime.call would deadlock on the intern thread; await instead")
        return self.submit_coro(coro).result(timeout)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Shut every session down, then stop the loop and the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return

        async def stop_all() -> None:
            from .agent.messages import Shutdown

            sessions = list(self._sessions.values())
            for s in sessions:
                s.submit(Shutdown())
            runners = [s._runner for s in sessions if s._runner is not None]
            if runners:
                await asyncio.wait(runners, timeout=timeout)

        try:
            asyncio.run_coroutine_threadsafe(stop_all(), loop).result(timeout + 1)
        except Exception:
            log.exception("shutting sessions down failed")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        with self._lock:
            self._sessions.clear()
            self._loop = None
            self._thread = None
            self._prewarm = None

    # ------------------------------------------------------------- sessions

    def create_session(
        self,
        *,
        overrides: dict[str, Any] | None = None,
        session_id: str | None = None,
        workdir: Path | None = None,
        tools: Any = None,
        system_prompt: str | None = None,
        recorder: Any = None,
    ) -> Any:
        """Create and start a session (config errors raise ConfigError here).

        `recorder` (an `agent.persistence.Recorder`) saves the session to a store.
        """
        from .config import load_config

        config = load_config(overrides)

        async def make() -> Any:
            from .agent.prompts import system_prompt as default_prompt
            from .agent.session import Session
            from .tools.registry import default_router

            router = tools if tools is not None else default_router(config)
            session = Session(
                config,
                router,
                system_prompt=system_prompt or default_prompt(router.names),
                session_id=session_id,
                workdir=workdir,
            )
            if session.id in self._sessions:
                raise SessionError(f"A session with id '{session.id}' already exists.")
            session.recorder = recorder
            self._sessions[session.id] = session
            session.start()
            # A session that has shut down leaves the table (e.g. after `%intern new`).
            runner = session._runner
            assert runner is not None  # start() made it
            runner.add_done_callback(lambda _t: self._sessions.pop(session.id, None))
            return session

        return self.call(make())

    def get(self, session_id: str) -> Any:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionError(
                f"No session '{session_id}' in this kernel. `%intern sessions` lists them."
            )
        return session

    def sessions(self) -> list[Any]:
        return list(self._sessions.values())

    def submit(self, session_id: str, op: Any) -> None:
        """Queue an operation for a session; returns at once."""
        session = self.get(session_id)
        self.loop.call_soon_threadsafe(session.submit, op)

    def subscribe(self, session_id: str, callback: Callable[[Any], Any]) -> Callable[[], None]:
        """Receive a session's events on the intern thread; returns `unsubscribe`."""
        session = self.get(session_id)

        async def sub() -> Callable[[], None]:
            return session.subscribe(callback)

        unsubscribe = self.call(sub())

        def unsubscribe_soon() -> None:
            self.loop.call_soon_threadsafe(unsubscribe)

        return unsubscribe_soon

    def wait_idle(self, session_id: str, timeout: float | None = None) -> bool:
        """Block until the session has handled everything submitted; False on timeout."""
        session = self.get(session_id)
        future = self.submit_coro(session.wait_idle())
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return False
        return True


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process-wide runtime (its thread starts on first use)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
        return _runtime

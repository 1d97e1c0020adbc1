"""Run work on the kernel's main thread, between the user's cells.

Tools that touch the user's namespace must never run concurrently with a
cell. A job is queued and the kernel's main loop is woken
(`io_loop.add_callback`, thread-safe); the loop runs it when no cell is
executing (under ipykernel 7's execution lock where there is one). A cell
that blocks while waiting for the intern (`--wait`, `%intern wait`) calls
`drain()` itself, so jobs run there instead of deadlocking.

A job's timeout starts when it starts running — waiting for a long user cell
is not a timeout. On timeout the code is interrupted with KeyboardInterrupt.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ctypes
import threading
from collections.abc import Callable
from typing import Any

from ...tools.base import ToolResult

__all__ = ["KernelMainThread"]


class _Job:
    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn
        self.started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.abandoned = False
        self.running = False
        self.interrupted = False


class KernelMainThread:
    def __init__(self, shell: Any):
        self.shell = shell
        kernel = getattr(shell, "kernel", None)
        self._kernel = kernel
        self._io_loop = getattr(kernel, "io_loop", None)
        self._jobs: collections.deque[_Job] = collections.deque()
        self._guard = threading.Lock()
        self._main_id = threading.main_thread().ident

    # ----------------------------------------------------- intern-thread side

    async def run(self, fn: Callable[[], Any], timeout: float | None) -> Any:
        job = _Job(fn)
        self._jobs.append(job)
        self._wake()
        try:
            await asyncio.wrap_future(job.started)
        except asyncio.CancelledError:
            job.abandoned = True  # never started: drop it
            raise
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job.done)), timeout)
        except asyncio.TimeoutError:
            self._interrupt(job)
            try:
                await asyncio.wait_for(asyncio.wrap_future(job.done), 10)
            except (asyncio.TimeoutError, Exception):
                pass
            return ToolResult(
                f"Stopped after {timeout:g} s (timeout); the code was interrupted. Variables it "
                "had already set remain.",
                success=False,
            )
        except asyncio.CancelledError:
            self._interrupt(job)
            raise

    def _wake(self) -> None:
        if self._io_loop is not None:
            self._io_loop.add_callback(self._drain_on_loop)

    def _interrupt(self, job: _Job) -> None:
        with self._guard:
            if job.running and self._main_id is not None:
                job.interrupted = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._main_id), ctypes.py_object(KeyboardInterrupt)
                )

    # --------------------------------------------------------- main-thread side

    async def _drain_on_loop(self) -> None:
        lock = getattr(self._kernel, "_main_asyncio_lock", None)
        if lock is not None:
            async with lock:
                self.drain()
        else:
            self.drain()

    def drain(self) -> int:
        """Run every queued job now (call on the main thread). Returns how many ran."""
        ran = 0
        while True:
            try:
                job = self._jobs.popleft()
            except IndexError:
                return ran
            if job.abandoned:
                continue
            ran += 1
            self._run_job(job)

    def pending(self) -> int:
        return sum(not j.abandoned for j in self._jobs)

    def _run_job(self, job: _Job) -> None:
        with self._guard:
            job.running = True
        job.started.set_result(None)
        try:
            try:
                result = job.fn()
            finally:
                with self._guard:
                    job.running = False
                    if job.interrupted and self._main_id is not None:
                        # Clear an interrupt that arrived too late to be raised.
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(self._main_id), None
                        )
        except BaseException as exc:  # a late KeyboardInterrupt lands here, not in the kernel
            job.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        else:
            job.done.set_result(result)

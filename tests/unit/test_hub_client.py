"""`hub_client.in_thread`: blocking Hub calls off the loop, with a deadline, even at exit."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from ml_intern_jupyter.tools.hub_client import in_thread


def _on_a_loop_whose_executor_is_shut_down(coro_fn):  # type: ignore[no-untyped-def]
    """Run `coro_fn()` where `run_in_executor` refuses work, as during interpreter exit."""

    async def main():  # type: ignore[no-untyped-def]
        executor = concurrent.futures.ThreadPoolExecutor(1)
        executor.shutdown()
        asyncio.get_running_loop().set_default_executor(executor)
        with pytest.raises(RuntimeError):  # what in_thread has to work around
            await asyncio.get_running_loop().run_in_executor(None, lambda: None)
        return await coro_fn()

    return asyncio.run(main())


def test_runs_in_another_thread_and_returns_the_result() -> None:
    caller = threading.get_ident()

    async def go() -> int:
        return await in_thread(threading.get_ident, deadline=5)

    assert asyncio.run(go()) != caller


def test_a_refusing_executor_falls_back_to_a_thread_of_its_own() -> None:
    async def go() -> tuple[str, int]:
        name = await in_thread(lambda: threading.current_thread().name, deadline=5)
        return name, await in_thread(sum, [1, 2, 3], deadline=5)

    assert _on_a_loop_whose_executor_is_shut_down(go) == ("ml-intern-hub-call", 6)


def test_errors_and_deadlines_hold_on_the_fallback_too() -> None:
    release = threading.Event()

    def boom() -> None:
        raise ValueError("the Hub said no")

    async def go() -> None:
        with pytest.raises(ValueError, match="the Hub said no"):
            await in_thread(boom, deadline=5)
        with pytest.raises(asyncio.TimeoutError):
            await in_thread(release.wait, 10, deadline=0.05)

    try:
        _on_a_loop_whose_executor_is_shut_down(go)
    finally:
        release.set()

"""The tool router: look a tool up, validate its arguments, run it, cap its output.

Everything the *model* got wrong (an unknown tool, arguments that break the
schema) and everything a tool raised comes back as a failed `ToolResult`
whose text says what to do, so the turn goes on and the model can retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from . import argcheck
from .base import ToolContext, ToolResult, ToolSpec

__all__ = ["ToolRouter", "cap_output"]


def cap_output(text: str, limit: int) -> str:
    """Keep the head and tail of `text` within `limit` characters, saying so."""
    if len(text) <= limit:
        return text
    note = f"\n\n[... output truncated: {len(text) - limit:,} of {len(text):,} characters omitted ...]\n\n"
    keep = max(limit - len(note), 0)
    head = keep * 2 // 3
    return text[:head] + note + text[len(text) - (keep - head) :]


class ToolRouter:
    def __init__(self, specs: Iterable[ToolSpec] = (), *, output_limit: int = 25_000):
        self.output_limit = output_limit
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ToolSpec) -> None:
        self._specs[spec.name] = spec

    def unregister(self, name: str) -> None:
        self._specs.pop(name, None)

    def get(self, name: str) -> ToolSpec | None:
        return self._specs.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def schemas(self) -> list[dict[str, Any]]:
        return [spec.schema() for spec in self._specs.values()]

    def validate(self, name: str, args: dict[str, Any]) -> str | None:
        """None when `args` fit the tool's schema, else a message for the model."""
        found = argcheck.problems(self._specs[name].parameters, args)
        if not found:
            return None
        problems = "; ".join(
            f"{'/'.join(str(p) for p in path) or '(top level)'}: {message}"
            for path, message in found
        )
        return (
            f"ERROR: Invalid arguments for '{name}', so it was NOT executed: {problems}. "
            "Check the tool's parameter schema and call it again."
        )

    async def run(self, name: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        spec = self._specs.get(name)
        if spec is None:
            available = ", ".join(sorted(self._specs)) or "none"
            return ToolResult(
                f"ERROR: There is no tool named '{name}'. Available tools: {available}.",
                success=False,
            )
        problem = self.validate(name, args)
        if problem is not None:
            return ToolResult(problem, success=False)
        try:
            raw = await _run_with_timeout(spec.handler(args, ctx), spec.timeout)
        except asyncio.TimeoutError:
            return ToolResult(
                f"ERROR: '{name}' did not finish within {spec.timeout:g} s and was stopped.",
                success=False,
            )
        except Exception as exc:  # CancelledError is a BaseException and propagates
            return ToolResult(f"ERROR: '{name}' failed: {type(exc).__name__}: {exc}", success=False)
        result = raw if isinstance(raw, ToolResult) else ToolResult(str(raw))
        result.output = cap_output(result.output, self.output_limit)
        return result


async def _run_with_timeout(coro: Any, timeout: float | None) -> Any:
    """Like `asyncio.wait_for`, but a cancellation is never lost.

    On Python 3.10/3.11 `wait_for` returns the result instead of raising when
    the inner call finishes in the same loop step as the cancel, so the user's
    Stop could be dropped.
    """
    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise asyncio.TimeoutError
    return task.result()

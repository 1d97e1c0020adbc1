"""Local tools: run shell commands and read, write and edit files in the workdir.

`write` (over an existing file) and `edit` require that the session has `read`
the file and that it is unchanged since (same mtime), so the model never
clobbers content it has not seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..errors import ToolFailure
from .base import ToolContext, ToolResult, ToolSpec, ask_always, never_ask, object_schema

__all__ = ["local_tools"]

MAX_BASH_TIMEOUT = 3600.0
_KEEP_BYTES = 15_000  # bash output kept from the head and from the tail
_MAX_LOG_LINES = 200  # bash lines streamed to ctx.log
_MAX_LOG_LINE = 4_000
_DRAIN_GRACE = 0.5  # seconds to collect output after the shell exits
_MAX_LINE_CHARS = 2_000  # `read` truncates longer lines
_MAX_DIR_ENTRIES = 500


def _str_arg(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str):
        raise ToolFailure(f"Argument `{key}` must be a string.")
    return value


def _int_arg(args: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ToolFailure(f"Argument `{key}` must be an integer.")
    if value < minimum:
        raise ToolFailure(f"Argument `{key}` must be >= {minimum}.")
    return int(value)


def _resolve(ctx: ToolContext, raw: str) -> Path:
    if not raw.strip():
        raise ToolFailure("Argument `path` is empty.")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path(ctx.workdir) / path
    return path.resolve()


def _guarded(
    name: str, fn: Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]
) -> Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]:
    """Turn any exception (but cancellation) into a failed ToolResult."""

    async def handler(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            return await fn(args, ctx)
        except ToolFailure as e:
            return ToolResult(str(e), success=False)
        except Exception as e:  # CancelledError is a BaseException: it propagates
            return ToolResult(f"`{name}` failed: {type(e).__name__}: {e}", success=False)

    return handler


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(f"{n:6d}\t{line}" for n, line in enumerate(lines, start=first))


def _collapse_cr(text: str) -> str:
    """Keep what a terminal would show of `\\r`-rewritten lines (progress bars)."""
    if "\r" not in text:
        return text
    text = text.replace("\r\n", "\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))


def _safe_log(ctx: ToolContext, line: str) -> None:
    with contextlib.suppress(Exception):
        ctx.log(line)


# --------------------------------------------------------------------- bash


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)  # the shell leads its own group
        else:  # pragma: no cover - non-POSIX
            proc.kill()


class _Capture:
    """Bash output: the head and tail are kept, the middle is dropped; lines are logged."""

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx, self.head, self.tail, self.dropped = ctx, bytearray(), bytearray(), 0
        self.pending, self.logged = bytearray(), 0

    def add(self, data: bytes) -> None:
        room = _KEEP_BYTES - len(self.head)
        if room > 0:
            self.head += data[:room]
        self.tail += data[max(room, 0) :]
        if len(self.tail) > _KEEP_BYTES:
            cut = len(self.tail) - _KEEP_BYTES
            del self.tail[:cut]
            self.dropped += cut
        if self.logged <= _MAX_LOG_LINES:
            self.pending += data
            *lines, rest = self.pending.split(b"\n")
            self.pending = bytearray(rest[-_MAX_LOG_LINE:])
            for line in lines:
                self._log(line)

    def _log(self, raw: bytes | bytearray) -> None:
        if self.logged < _MAX_LOG_LINES:
            _safe_log(self.ctx, _collapse_cr(raw.decode("utf-8", "replace"))[:_MAX_LOG_LINE])
        elif self.logged == _MAX_LOG_LINES:
            _safe_log(self.ctx, "[further output is not streamed; it is in the result]")
        self.logged += 1

    def finish(self) -> str:
        if self.pending:
            self._log(bytes(self.pending))
        text = self.head.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n... [{self.dropped} bytes of output omitted] ...\n"
        text += self.tail.decode("utf-8", "replace")
        return _collapse_cr(text)


def _close_transport(proc: asyncio.subprocess.Process) -> None:
    # A process that left the group (setsid) may still hold the pipe; release
    # our end now rather than when the transport is collected (maybe after its
    # loop closed). asyncio has no public handle for this.
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.close()


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Wait for the shell itself to exit.

    `proc.wait()` alone also waits for the output pipe to close, which a
    background child (`server &`) can keep open for ever; so poll the exit
    status as well (backing off to every 0.25 s).
    """
    waiter = asyncio.ensure_future(proc.wait())
    delay = 0.01
    try:
        while proc.returncode is None:
            await asyncio.wait({waiter}, timeout=delay)
            delay = min(delay * 2, 0.25)
    finally:
        waiter.cancel()


async def _pump(stream: asyncio.StreamReader, capture: _Capture) -> None:
    while data := await stream.read(65536):
        capture.add(data)


def _bash_handler(default_timeout: float) -> Callable[..., Awaitable[ToolResult]]:
    async def bash(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        command = _str_arg(args, "command")
        if not command.strip():
            raise ToolFailure("Argument `command` is empty.")
        if not os.path.isdir(ctx.workdir):  # noqa: ASYNC240 - one stat, cheaper than a thread hop
            raise ToolFailure(f"The working directory {ctx.workdir} does not exist.")
        timeout = args.get("timeout")
        if timeout is None:
            timeout = default_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ToolFailure("Argument `timeout` must be a positive number of seconds.")
        timeout = min(float(timeout), MAX_BASH_TIMEOUT)

        proc = await asyncio.create_subprocess_shell(
            command,
            cwd=str(ctx.workdir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        capture = _Capture(ctx)
        reader = asyncio.create_task(_pump(proc.stdout, capture))
        timed_out = lingering = False
        try:
            try:
                await asyncio.wait_for(_exited(proc), timeout)
            except asyncio.TimeoutError:
                timed_out = True
                _kill_group(proc)
                await _exited(proc)
            try:  # background children may still hold the pipe open
                await asyncio.wait_for(asyncio.shield(reader), _DRAIN_GRACE)
            except asyncio.TimeoutError:
                lingering = True
                _kill_group(proc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(reader, _DRAIN_GRACE)
        except BaseException:  # cancelled (the user pressed Stop), or anything else
            _kill_group(proc)
            reader.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_exited(proc), 2.0)
            raise
        finally:
            _close_transport(proc)

        out = capture.finish().rstrip("\n") or "(no output)"
        if timed_out:
            return ToolResult(f"{out}\nCommand timed out after {timeout:g} s.", success=False)
        if lingering:
            out += (
                "\n[Background processes that kept the output open were stopped; "
                "to keep one running, redirect its output: `nohup cmd > log.txt 2>&1 &`.]"
            )
        if proc.returncode:
            return ToolResult(f"{out}\nExit code: {proc.returncode}", success=False)
        return ToolResult(out)

    return bash


# --------------------------------------------------------------- read/write/edit


def _is_binary(path: Path) -> bool:
    with path.open("rb") as f:
        return b"\0" in f.read(8192)


def _read_sync(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    path = _resolve(ctx, _str_arg(args, "path"))
    offset = _int_arg(args, "offset", 1, 1)
    limit = _int_arg(args, "limit", 2000, 1)
    if not path.exists():
        raise ToolFailure(f"File not found: {path} (relative paths resolve against {ctx.workdir}).")
    if path.is_dir():
        entries = sorted(path.iterdir(), key=lambda p: p.name)
        names = [p.name + ("/" if p.is_dir() else "") for p in entries[:_MAX_DIR_ENTRIES]]
        more = len(entries) - len(names)
        body = "\n".join(names) if names else "(empty directory)"
        tail = f"\n... and {more} more entries" if more > 0 else ""
        return ToolResult(f"{path} is a directory; its entries:\n{body}{tail}")
    stat = path.stat()
    if _is_binary(path):
        raise ToolFailure(
            f"{path} is a binary file ({stat.st_size} bytes); it cannot be shown as text."
        )
    lines: list[str] = []
    total = 0
    more = False
    with path.open("r", encoding="utf-8", errors="replace", newline="") as f:
        for total, line in enumerate(f, start=1):
            if total < offset:
                continue
            if len(lines) == limit:
                more = True
                break
            line = line.rstrip("\r\n")
            if len(line) > _MAX_LINE_CHARS:
                line = line[:_MAX_LINE_CHARS] + f"... [line truncated, {len(line)} chars]"
            lines.append(line)
    ctx.read_files[str(path)] = stat.st_mtime
    if total == 0:
        return ToolResult(f"{path} is empty.")
    if not lines:
        raise ToolFailure(f"{path} has only {total} lines; offset {offset} is past the end.")
    text = _numbered(lines, offset)
    if more:
        nxt = offset + len(lines)
        text += f"\n[More lines follow; call read with offset={nxt} to continue.]"
    return ToolResult(text)


def _check_fresh(ctx: ToolContext, path: Path) -> None:
    """Read-before-write: the session must have read the file, unchanged since."""
    seen = ctx.read_files.get(str(path))
    if seen is None:
        raise ToolFailure(f"{path} exists but has not been read in this session. Use `read` first.")
    if path.stat().st_mtime != seen:
        raise ToolFailure(f"{path} changed on disk since you last read it. `read` it again first.")


def _store(ctx: ToolContext, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    ctx.read_files[str(path)] = path.stat().st_mtime


def _write_sync(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    raw, content = _str_arg(args, "path"), _str_arg(args, "content")
    path = _resolve(ctx, raw)
    if path.is_dir():
        raise ToolFailure(f"{path} is a directory; give a file path.")
    if path.exists():
        _check_fresh(ctx, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8")
    _store(ctx, path, data)
    n_lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
    return ToolResult(f"Wrote {len(data)} bytes ({n_lines} lines) to {path}")


def _edit_sync(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    raw, old, new = (_str_arg(args, k) for k in ("path", "old_str", "new_str"))
    replace_all = args.get("replace_all", False)
    if not isinstance(replace_all, bool):
        raise ToolFailure("Argument `replace_all` must be a boolean.")
    path = _resolve(ctx, raw)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not found"
        raise ToolFailure(
            f"{path} is {what}; `edit` changes an existing file (use `write` to create)."
        )
    if not old:
        raise ToolFailure("`old_str` is empty; give the exact text to replace.")
    if old == new:
        raise ToolFailure("`old_str` and `new_str` are identical; nothing to change.")
    _check_fresh(ctx, path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ToolFailure(f"{path} is not UTF-8 text; it cannot be edited safely.") from None
    count = text.count(old)
    if count == 0 and "\r\n" in text and "\r\n" not in old:  # CRLF file, LF arguments
        old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
        count = text.count(old)
    if count == 0:
        raise ToolFailure(
            f"`old_str` was not found in {path}. It must match exactly (whitespace and "
            "indentation included); `read` the file again and copy the text."
        )
    if count > 1 and not replace_all:
        raise ToolFailure(
            f"`old_str` occurs {count} times in {path}. Add surrounding context to make it "
            "unique, or set replace_all=true to replace every occurrence."
        )
    start = text.index(old)
    updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
    _store(ctx, path, updated.encode("utf-8"))

    first = text.count("\n", 0, start) + 1
    lines = updated.split("\n")
    lo = max(first - 3, 1)
    hi = min(first + new.count("\n") + 3, len(lines), lo + 19)
    snippet = _numbered([ln.rstrip("\r") for ln in lines[lo - 1 : hi]], lo)
    n = count if replace_all else 1
    return ToolResult(f"Edited {path}: {n} replacement{'s' * (n != 1)}.\n{snippet}")


def _sync(fn: Callable[[dict[str, Any], ToolContext], ToolResult]) -> Callable[..., Any]:
    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return fn(args, ctx)  # small, local file I/O: run inline on the loop

    return run


# -------------------------------------------------------------------- specs


def local_tools(default_timeout: float = 120.0) -> list[ToolSpec]:
    """The `bash`, `read`, `write` and `edit` tools."""
    default_timeout = min(max(float(default_timeout), 0.1), MAX_BASH_TIMEOUT)
    path_prop = {"type": "string", "description": "File path, absolute or relative to workdir."}
    return [
        ToolSpec(
            name="bash",
            description=(
                "Run a shell command in the notebook's working directory and return its "
                "combined stdout/stderr and exit code. No stdin (non-interactive). Runs "
                f"up to `timeout` seconds (default {default_timeout:g}, max "
                f"{MAX_BASH_TIMEOUT:g}); long output is shortened in the middle. Prefer "
                "`read`/`write`/`edit` for files."
            ),
            parameters=object_schema(
                {
                    "command": {"type": "string", "description": "The shell command."},
                    "timeout": {"type": "number", "description": "Seconds before it is killed."},
                    "description": {"type": "string", "description": "What it does, briefly."},
                },
                ["command"],
            ),
            handler=_guarded("bash", _bash_handler(default_timeout)),
            approval=ask_always,
            # bash enforces its own `timeout` argument and kills the process group;
            # the router's generic timeout would abandon the call without that cleanup
            # and cut long (up to MAX_BASH_TIMEOUT) commands short.
            timeout=None,
            always_allowable=True,
        ),
        ToolSpec(
            name="read",
            description=(
                "Read a text file; lines are returned numbered (`number<TAB>line`), 2000 by "
                "default. Use offset/limit for long files. A directory path lists its entries. "
                "Reading a file is required before `edit` or overwriting it with `write`."
            ),
            parameters=object_schema(
                {
                    "path": path_prop,
                    "offset": {"type": "integer", "minimum": 1, "description": "First line."},
                    "limit": {"type": "integer", "minimum": 1, "description": "Max lines."},
                },
                ["path"],
            ),
            handler=_guarded("read", _sync(_read_sync)),
            approval=never_ask,
        ),
        ToolSpec(
            name="write",
            description=(
                "Write `content` to a file, creating parent directories. To overwrite an "
                "existing file you must `read` it first in this session. For small changes "
                "prefer `edit`."
            ),
            parameters=object_schema(
                {"path": path_prop, "content": {"type": "string", "description": "Full text."}},
                ["path", "content"],
            ),
            handler=_guarded("write", _sync(_write_sync)),
            approval=ask_always,
            always_allowable=True,
        ),
        ToolSpec(
            name="edit",
            description=(
                "Replace an exact string in a file you have `read` in this session (read it "
                "first). `old_str` must match exactly, including whitespace, and be unique "
                "unless replace_all is true."
            ),
            parameters=object_schema(
                {
                    "path": path_prop,
                    "old_str": {"type": "string", "description": "Exact text to replace."},
                    "new_str": {"type": "string", "description": "Replacement text."},
                    "replace_all": {
                        "type": "boolean",
                        "default": False,
                        "description": "Replace every occurrence.",
                    },
                },
                ["path", "old_str", "new_str"],
            ),
            handler=_guarded("edit", _sync(_edit_sync)),
            approval=ask_always,
            always_allowable=True,
        ),
    ]

"""Tools that act in the user's live Python namespace: python, variables, inspect,
notebook, propose_cell.

They run on the kernel's main thread, between user cells, through a
`MainThread` bridge (see `notebook/bridge.py`); the functions here do the
work once there and never import IPython themselves — they receive the shell.
Heavy libraries (pandas, numpy, torch) are never imported: objects are
recognised by their attributes.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import inspect as pyinspect
import itertools
import json
import linecache
import os
import struct
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .base import Approval, ToolContext, ToolResult, ToolSpec, human_size, never_ask, object_schema

__all__ = ["MainThread", "describe_variables", "inspect_object", "kernel_tools", "run_code"]

_HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "open"}
_REPR_LIMIT = 2_000
_CELL_LIMIT = 4_000
_TRACEBACK_FRAMES = 10
_runs = itertools.count(1)


class MainThread(Protocol):
    """Runs a function on the kernel's main thread, between cells."""

    async def run(self, fn: Callable[[], Any], timeout: float | None) -> Any: ...

    @property
    def shell(self) -> Any: ...


# ------------------------------------------------------------------ python


def _png_size(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return f"{w}x{h}"
    return "unknown size"


def _source_name(code: str) -> str:
    """A unique file name for `code`, registered so tracebacks show its lines."""
    name = f"<intern-{next(_runs)}>"
    # mtime None: linecache.checkcache() keeps the entry (as IPython does for cells).
    linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)
    return name


def _traceback_text(exc: BaseException) -> str:
    """The traceback from the agent's code down (not this module's own frames)."""
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((i for i, f in enumerate(frames) if f.filename.startswith("<intern")), 0)
    frames = traceback.StackSummary.from_list(frames[start:][-_TRACEBACK_FRAMES:])
    lines = frames.format() + traceback.format_exception_only(type(exc), exc)
    return "Traceback (most recent call last):\n" + "".join(lines)


def run_code(shell: Any, code: str) -> ToolResult:
    """Execute `code` in the user's namespace; capture everything it shows."""
    from IPython.utils.capture import capture_output

    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as exc:
        return ToolResult(f"SyntaxError: {exc.msg} (line {exc.lineno}).", success=False)
    filename = _source_name(code)
    last = None
    tail = tree.body[-1] if tree.body else None
    if isinstance(tail, ast.Expr):
        tree.body.pop()
        last = ast.Expression(tail.value)
    ns = shell.user_ns
    value: Any = None
    error = None
    with capture_output(display=True) as cap:
        try:
            exec(compile(tree, filename, "exec"), ns)  # noqa: S102 - the user approved this code
            if last is not None:
                value = eval(compile(last, filename, "eval"), ns)  # noqa: S307
        except BaseException as exc:  # includes KeyboardInterrupt from a timeout
            error = _traceback_text(exc)
    parts: list[str] = []
    if cap.stdout:
        parts.append(cap.stdout.rstrip("\n"))
    if cap.stderr:
        parts.append("[stderr]\n" + cap.stderr.rstrip("\n"))
    images: list[str] = []
    for out in cap.outputs:
        data = out.data
        if "image/png" in data:
            raw = data["image/png"]
            if isinstance(raw, bytes):
                raw_bytes, b64 = raw, base64.b64encode(raw).decode()
            else:
                b64 = "".join(str(raw).split())  # IPython 7 wraps base64 in lines
                raw_bytes = base64.b64decode(b64)
            images.append(b64)
            parts.append(f"[image/png {_png_size(raw_bytes)} displayed to the user]")
        elif "text/plain" in data:
            parts.append(str(data["text/plain"]))
    if value is not None and error is None:
        shown = repr(value)
        parts.append(shown if len(shown) <= _REPR_LIMIT else shown[:_REPR_LIMIT] + " ...")
    if error:
        parts.append(error.rstrip("\n"))
    text = "\n".join(parts) or "(no output)"
    display = {"images": images} if images else None
    return ToolResult(text, success=error is None, display=display)


# --------------------------------------------------------------- variables


def _nbytes(obj: Any) -> int | None:
    try:
        if hasattr(obj, "memory_usage") and callable(obj.memory_usage) and hasattr(obj, "columns"):
            return int(obj.memory_usage(index=True).sum())
        if hasattr(obj, "nbytes"):
            return int(obj.nbytes)
        if hasattr(obj, "element_size") and hasattr(obj, "nelement"):
            return int(obj.element_size() * obj.nelement())
        return sys.getsizeof(obj)
    except Exception:
        return None


def _shape(obj: Any) -> str:
    shape = getattr(obj, "shape", None)
    if shape is not None and not callable(shape):
        try:
            return "x".join(str(d) for d in tuple(shape))
        except TypeError:
            pass
    if isinstance(obj, (str, bytes, list, tuple, dict, set, frozenset)):
        return f"len {len(obj)}"
    return ""


def describe_variables(ns: dict[str, Any], limit: int = 200) -> str:
    rows = []
    for name, obj in ns.items():
        if name.startswith("_") or name in _HIDDEN or pyinspect.ismodule(obj):
            continue
        kind = type(obj)
        type_name = (
            kind.__name__
            if kind.__module__ == "builtins"
            else f"{kind.__module__.split('.')[0]}.{kind.__name__}"
        )
        dtype = getattr(obj, "dtype", None)
        rows.append(
            (
                name,
                type_name,
                _shape(obj),
                "" if dtype is None or callable(dtype) else str(dtype),
                human_size(_nbytes(obj)),
            )
        )
    if not rows:
        return "The namespace has no user variables yet."
    rows = rows[:limit]
    header = ("name", "type", "shape/len", "dtype", "memory")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------- inspect


def _lookup(ns: dict[str, Any], name: str) -> Any:
    head, *rest = name.strip().split(".")
    if not head.isidentifier() or not all(p.isidentifier() for p in rest):
        raise LookupError(f"'{name}' is not a variable name or dotted attribute path.")
    if head not in ns:
        raise LookupError(f"No variable '{head}' in the namespace. Use `variables` to list them.")
    obj = ns[head]
    for part in rest:
        obj = getattr(obj, part)
    return obj


def _clip(text: str, limit: int = _CELL_LIMIT) -> str:
    return (
        text
        if len(text) <= limit
        else text[:limit] + f"\n... [{len(text) - limit} more characters]"
    )


def inspect_object(ns: dict[str, Any], name: str) -> str:
    obj = _lookup(ns, name)
    kind = type(obj)
    lines = [f"{name}: {kind.__module__}.{kind.__qualname__}"]
    if hasattr(obj, "columns") and hasattr(obj, "dtypes") and hasattr(obj, "head"):  # DataFrame
        lines.append(f"shape: {_shape(obj)}; memory: {human_size(_nbytes(obj))}")
        lines.append("columns and dtypes:\n" + _clip(obj.dtypes.to_string()))
        lines.append("head:\n" + _clip(obj.head(5).to_string()))
        with contextlib.suppress(Exception):
            lines.append("describe:\n" + _clip(obj.describe(include="all").to_string()))
        with contextlib.suppress(Exception):
            nulls = obj.isna().sum()
            if int(nulls.sum()):
                lines.append("missing values:\n" + _clip(nulls[nulls > 0].to_string()))
    elif (
        hasattr(obj, "shape") and hasattr(obj, "dtype") and not callable(obj.shape)
    ):  # array/tensor
        lines.append(
            f"shape: {_shape(obj)}; dtype: {obj.dtype}; memory: {human_size(_nbytes(obj))}"
        )
        if hasattr(obj, "device"):
            lines.append(f"device: {obj.device}")
        with contextlib.suppress(Exception):
            lines.append(
                f"min {obj.min().item()}, max {obj.max().item()}, mean {obj.float().mean().item() if hasattr(obj, 'float') else obj.mean().item()}"
            )
        lines.append("values:\n" + _clip(repr(obj), _REPR_LIMIT))
    elif hasattr(obj, "parameters") and hasattr(obj, "named_modules"):  # torch module
        with contextlib.suppress(Exception):
            params = list(obj.parameters())
            total = sum(p.numel() for p in params)
            trainable = sum(p.numel() for p in params if getattr(p, "requires_grad", False))
            lines.append(f"parameters: {total:,} ({trainable:,} trainable)")
        lines.append(_clip(repr(obj)))
    elif callable(obj):
        with contextlib.suppress(TypeError, ValueError):
            try:  # resolve string annotations (`from __future__ import annotations`)
                sig = pyinspect.signature(obj, eval_str=True)
            except Exception:
                sig = pyinspect.signature(obj)
            lines.append(f"signature: {name.split('.')[-1]}{sig}")
        doc = pyinspect.getdoc(obj)
        lines.append("doc:\n" + _clip(doc) if doc else "(no docstring)")
    else:
        if hasattr(obj, "__len__"):
            with contextlib.suppress(Exception):
                lines.append(f"length: {len(obj)}")
        lines.append(_clip(repr(obj)))
    return "\n".join(lines)


# ---------------------------------------------------------------- notebook


def notebook_path() -> Path | None:
    for candidate in (os.environ.get("JPY_SESSION_NAME"), os.environ.get("__vsc_ipynb_file__")):
        if candidate:
            path = Path(candidate)
            for p in (path, Path.cwd() / path.name):
                if p.suffix == ".ipynb" and p.is_file():
                    return p
    return None


def read_notebook(path: Path, limit: int = 60) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb.get("cells", [])
    lines = [f"{path.name} (as last saved): {len(cells)} cells"]
    for i, cell in enumerate(cells[-limit:], start=max(len(cells) - limit, 0) + 1):
        src = "".join(cell.get("source", []))
        lines.append(f"--- cell {i} [{cell.get('cell_type')}]\n{_clip(src, 3000)}")
        for out in cell.get("outputs", []):
            text = out.get("text") or (out.get("data") or {}).get("text/plain")
            if out.get("output_type") == "error":
                text = f"{out.get('ename')}: {out.get('evalue')}"
            if text:
                lines.append(
                    "[output]\n"
                    + _clip("".join(text) if isinstance(text, list) else str(text), 1500)
                )
    return "\n".join(lines)


def kernel_history(shell: Any, limit: int = 40) -> str:
    ns = shell.user_ns
    inputs = ns.get("In") or []
    outputs = ns.get("Out") or {}
    lines = ["No saved notebook file found; cells executed in this kernel:"]
    start = max(len(inputs) - limit, 1)
    for n in range(start, len(inputs)):
        lines.append(f"--- In [{n}]\n{_clip(inputs[n], 3000)}")
        if n in outputs:
            lines.append(f"[Out {n}]\n{_clip(repr(outputs[n]), 1500)}")
    return "\n".join(lines)


# ------------------------------------------------------------------- specs


def kernel_tools(main: MainThread, *, python_timeout: float = 120.0) -> list[ToolSpec]:
    async def python(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        timeout = float(args.get("timeout") or python_timeout)
        return await main.run(lambda: run_code(main.shell, args["code"]), timeout)

    async def variables(args: dict[str, Any], ctx: ToolContext) -> str:
        return await main.run(lambda: describe_variables(main.shell.user_ns), 30)

    async def inspect(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        def work() -> ToolResult:
            try:
                return ToolResult(inspect_object(main.shell.user_ns, args["name"]))
            except Exception as exc:
                return ToolResult(
                    f"Could not inspect '{args['name']}': {type(exc).__name__}: {exc}",
                    success=False,
                )

        return await main.run(work, 60)

    async def notebook(args: dict[str, Any], ctx: ToolContext) -> str:
        path = notebook_path()
        if path is not None:
            return read_notebook(path)
        return await main.run(lambda: kernel_history(main.shell), 30)

    async def propose_cell(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        code = args["code"]
        return ToolResult(
            "The cell was shown to the user, who can insert it with `%intern cell` or copy it. "
            "It has NOT been run.",
            display={"proposed_cell": code},
        )

    return [
        ToolSpec(
            name="python",
            description=(
                "Execute Python code in the user's live notebook namespace (their variables, "
                "imports and data are there; what you define stays there). Returns stdout, "
                "stderr, the value of a final expression, and descriptions of displayed images; "
                "an exception returns its traceback. Runs between the user's cells. Prefer HF "
                "Jobs for long GPU work, and `propose_cell` when the user should run it."
            ),
            parameters=object_schema(
                {
                    "code": {
                        "type": "string",
                        "description": "Python code; top-level await is not supported.",
                    },
                    "timeout": {"type": "number", "description": "Seconds (default 120)."},
                },
                ["code"],
            ),
            handler=python,
            approval=lambda _a: Approval.ASK,
            timeout=None,  # the bridge enforces the timeout and interrupts the code
            always_allowable=True,
        ),
        ToolSpec(
            name="variables",
            description="List the user's variables: name, type, shape or length, dtype and approximate memory.",
            parameters=object_schema({}, []),
            handler=variables,
            approval=never_ask,
            timeout=None,
        ),
        ToolSpec(
            name="inspect",
            description=(
                "Look at one variable in depth: a DataFrame's schema, head and describe; an "
                "array or tensor's shape, dtype, device and range; a model's parameter count and "
                "structure; a function's signature and docstring. `name` may be dotted (df.columns)."
            ),
            parameters=object_schema({"name": {"type": "string"}}, ["name"]),
            handler=inspect,
            approval=never_ask,
            timeout=None,
        ),
        ToolSpec(
            name="notebook",
            description="Read the current notebook's cells and their text outputs.",
            parameters=object_schema({}, []),
            handler=notebook,
            approval=never_ask,
            timeout=None,
        ),
        ToolSpec(
            name="propose_cell",
            description=(
                "Show the user a code cell to run themselves (nothing is executed). Use it when "
                "the user should see or own the code, or for long-running work in their notebook."
            ),
            parameters=object_schema({"code": {"type": "string"}}, ["code"]),
            handler=propose_cell,
            approval=never_ask,
            timeout=10,
        ),
    ]

"""What `%%intern` and each `%intern` command do (runs on the main thread).

Friendly problems (bad values, no session, config errors) raise
`UsageError` with one clear line; everything the intern does afterwards
shows up in the live view or, in text mode, as outputs of the blocking cell.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from IPython.core.error import UsageError

from ...errors import InternError
from ..conductor.sessions import DEFAULT_NAME, NotebookSessions, notebook_sessions, totals_of
from ..conductor.turns import Request, RequestControls
from ..sidebar.channel import note_cell
from ..view.frontend import widgets_available
from ..view.login import login
from .mcp import mcp_command
from .order import BUSY
from .order import ORDER as _ORDER
from .parse import COMMANDS, NOT_YET, CellOptions, LineCommand, help_text
from .proposed import insert_last_proposed
from .saved import SAVED_COMMANDS, print_saved, run_saved
from .spend import spend_lines

__all__ = ["login", "prewarm", "run_cell", "run_line"]

COMMAND_TIMEOUT_S = 900


def prewarm() -> None:
    """Start the intern thread and import the heavy parts there, off the cell's path."""
    from ...runtime import get_runtime

    runtime = get_runtime()
    runtime.start()
    runtime.call_soon(_warm, runtime)


def _warm(runtime: Any) -> None:  # intern thread
    """First what the next `%%intern` cell needs, then litellm (for the first turn).

    In that order so the cell's own imports do not compete for the GIL with
    litellm's ~3.5 s import when it runs right after `%load_ext`.
    """
    import asyncio

    def imports() -> None:
        from ... import store  # noqa: F401
        from ...agent import session  # noqa: F401
        from ...config import load_config
        from ...tools import kernel, registry  # noqa: F401
        from ..conductor import gate  # noqa: F401
        from ..render import markup as render
        from ..view import banner  # noqa: F401
        from ..view import live as view

        view._widgets()
        render.markdown_html("*warm*")
        try:
            load_config()
        except Exception:
            pass  # reported when a cell needs it

    warm = asyncio.get_running_loop().run_in_executor(None, imports)
    warm.add_done_callback(lambda _f: runtime.prewarm())


# -------------------------------------------------------------------- cells


def run_cell(shell: Any, opts: CellOptions, body: str) -> None:
    text = body.strip()
    if not text:
        raise UsageError(
            "The %%intern cell is empty: write your request in the cell body, below the "
            "%%intern line. `%intern help` lists the options and commands."
        )
    sessions = notebook_sessions()
    sessions.bind_shell(shell)
    name = opts.session or sessions.current
    sessions.current = name
    existing = None if opts.new else sessions.get(name)
    if existing is not None and opts.model:
        _check_config(existing.session, model_name=opts.model)
    if opts.wait or not widgets_available(shell):
        conductor = existing or _text_conductor(shell, sessions, name, opts)
        if conductor is None:
            return  # the earlier session could not be continued; the output says why
        session = conductor.session
        record = _turn_record(sessions, name, session.id, opts.model or session.describe().model)
        _run_text(shell, sessions, conductor, record, text, opts)
        return
    from ..view.live import LiveView

    if existing is not None:
        session = existing.session
        record = _turn_record(sessions, name, session.id, opts.model or session.describe().model)
        view = LiveView(record, totals=totals_of(session))
        job = sessions.turn(view, text, model=opts.model, yolo=opts.yolo)
        note_cell(shell, job.op.id)
        view.bind(RequestControls(sessions.runtime, existing, job))
        view.display()
        with _ORDER:
            sessions.submit(existing, job)
        return
    # A new session: show the view first and create the session off the cell's
    # path (imports and config on a cold kernel take a few hundred ms).
    view = LiveView(_turn_record(sessions, name, "…", opts.model or "…"))
    job = sessions.turn(view, text, model=opts.model, yolo=opts.yolo)
    note_cell(shell, job.op.id)
    view.display()
    sessions.begin_create(name)  # line commands wait until the request reaches the session
    threading.Thread(target=_start_new, args=(sessions, name, opts, view, job), daemon=True).start()


def _start_new(
    sessions: NotebookSessions, name: str, opts: CellOptions, view: Any, job: Any
) -> None:
    runtime = sessions.runtime
    try:
        _open_and_enqueue(sessions, name, opts, view, job)
    finally:
        # After the enqueue (the loop runs callbacks in order): `%intern wait` sees the job.
        runtime.call_soon(sessions.end_create, name)


def _open_and_enqueue(
    sessions: NotebookSessions,
    name: str,
    opts: CellOptions,
    view: Any,
    job: Any,
) -> None:
    from ..conductor.gate import open_conductor
    from ..view.banner import Banner

    runtime = sessions.runtime
    with _ORDER:
        try:
            opened = open_conductor(
                sessions,
                name,
                model=opts.model,
                new=opts.new,
                explicit=opts.session is not None,
                choice=opts.resume,
                sink=lambda offer: Banner(view, offer),
            )
        except Exception as exc:  # a ConfigError, or the store: show it in the view
            runtime.call_soon(_fail, view, str(exc))
            return
        view.record.session_name = opened.name
        if opened.notice:
            runtime.call_soon(view.note, opened.notice, "warn")
        if opened.seed is not None:  # "Where were we?" first
            runtime.call_soon(opened.conductor.enqueue, opened.seed)
        runtime.call_soon(_bind_and_enqueue, runtime, opened.conductor, view, job)


def _bind_and_enqueue(runtime: Any, conductor: Any, view: Any, job: Any) -> None:  # intern
    session = conductor.session
    view.record.session_id = session.id
    view.record.model = job.op.model or session.describe().model
    view.set_totals(totals_of(session))
    view.bind(RequestControls(runtime, conductor, job))
    if view.stop_requested:
        view.finished("cancelled")
        return
    conductor.enqueue(job)


def _turn_record(sessions: NotebookSessions, name: str, session_id: str, model: str) -> Any:
    """A new turn's record; its footer says where traces go, if known by the turn's end."""
    from ..render.transcript import TurnRecord

    source = sessions.traces
    return TurnRecord(
        name, session_id, model, traces=source.footer or "", traces_source=lambda: source.footer
    )


def _fail(view: Any, message: str) -> None:  # intern thread
    from ...agent.messages import Error

    view.started()
    view.event(Error(error=message, kind="config"))
    view.finished("error")


def _run_text(
    shell: Any,
    sessions: NotebookSessions,
    conductor: Any,
    record: Any,
    text: str,
    opts: CellOptions,
) -> None:
    from ..render.text import AUTO_REJECT_FEEDBACK, QueueSink, TextRenderer, run_blocking

    live = type(shell).__name__ != "ZMQInteractiveShell"
    sink = QueueSink()
    renderer = TextRenderer(record, live=live)
    renderer.show(
        f"*ml-intern · session {record.session_name} ({record.session_id}) · {record.model}*"
    )
    job = sessions.turn(
        sink, text, model=opts.model, yolo=opts.yolo, auto_reject=AUTO_REJECT_FEEDBACK
    )
    note_cell(shell, job.op.id)
    sessions.submit(conductor, job)
    run_blocking(
        sink,
        renderer,
        lambda: sessions.runtime.call_soon(conductor.stop, job),
        idle=sessions.drain,
    )


def _text_conductor(shell: Any, sessions: NotebookSessions, name: str, opts: CellOptions) -> Any:
    """A blocking cell's conductor; a session that expired is continued as `opts` says."""
    from ..conductor.gate import open_for_text, text_show

    try:
        return open_for_text(
            sessions,
            name,
            model=opts.model,
            new=opts.new,
            explicit=opts.session is not None,
            choice=opts.resume,
            show=text_show(shell),
            lock=_ORDER,
        )
    except InternError as exc:
        raise UsageError(str(exc)) from None


def _conductor(
    sessions: NotebookSessions, name: str, *, model: str | None = None, new: bool = False
) -> Any:
    try:
        if new:
            return sessions.new(name, model=model)
        conductor, _created = sessions.ensure(name, model=model)
        return conductor
    except InternError as exc:
        raise UsageError(str(exc)) from None


def _check_config(session: Any, **overrides: Any) -> None:
    """Validate per-session settings before they are applied on the intern thread."""
    try:
        session.describe().config.with_overrides(**overrides)
    except InternError as exc:
        raise UsageError(str(exc)) from None


# ------------------------------------------------------------ line commands


def run_line(shell: Any, cmd: LineCommand) -> None:
    if cmd.name in NOT_YET:
        print(f"`%intern {cmd.name}` is not available yet.")
        return
    if cmd.name == "help":
        print(help_text())
        return
    if cmd.name == "login":
        login(shell)
        return
    sessions = notebook_sessions()
    sessions.bind_shell(shell)
    if cmd.name in SAVED_COMMANDS:  # -s may name a saved session here
        run_saved(sessions, cmd)
        return
    name = cmd.session or sessions.current
    if cmd.session:
        sessions.current = name
    handler = _HANDLERS[cmd.name]
    handler(sessions, name, cmd.args)


def _existing(sessions: NotebookSessions, name: str) -> Any:
    sessions.wait_created(name)
    conductor = sessions.get(name)
    if conductor is None:
        hint = "" if name == DEFAULT_NAME else f" -s {name}"
        raise UsageError(
            f"There is no session '{name}' in this kernel yet: a `%%intern{hint}` cell starts one."
        )
    return conductor


def _status(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    conductor = sessions.get(name)
    if conductor is None:
        print(f"No session '{name}' yet; a %%intern cell starts one (model: {_default_model()}).")
        return
    print(_describe(name, conductor))


def _describe(name: str, conductor: Any) -> str:
    s = conductor.session.describe()
    t = s.totals
    state = {"idle": "idle", "processing": "working", "waiting_approval": "waiting for approval"}
    parts = [
        f"session {name} ({s.session_id})",
        f"model {s.model}",
        f"effort {s.effort or 'default'}",
        f"yolo {'on' if s.yolo else 'off'}",
        state.get(s.state, s.state),
        f"{t.turns} turn(s)",
        f"{t.tokens:,} tokens",
        f"${t.cost_usd:.4f}" if t.cost_known else f"≥ ${t.cost_usd:.4f}",
    ]
    if conductor.queued:
        parts.append(f"{conductor.queued} queued")
    if s.notifies:
        parts.append("notifies " + ", ".join(s.notifies))
    return " · ".join(parts)


def _default_model() -> str:
    from ...config import load_config

    try:
        return load_config().model_name
    except InternError as exc:
        return f"unknown ({exc})"


def _sessions(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    items = sessions.items()
    if not items:
        print("No sessions in this kernel yet; a %%intern cell starts one.")
    for n, conductor in items:
        mark = "*" if n == name else " "
        print(f"{mark} {_describe(n, conductor)}")
    print_saved(sessions, name)


def _new(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    conductor = _conductor(sessions, name, new=True)
    print(
        f"Started a new session '{name}' ({conductor.session.id}) with model "
        f"{conductor.session.describe().model}."
    )


def _setting(sessions: NotebookSessions, name: str, field: str, value: Any, label: str) -> Any:
    """Change one per-session setting: a `configure` operation, applied in the
    session's order, so it takes effect at the next turn, never mid-turn."""
    session, message = _change(sessions, name, field, value, label)
    print(message)
    return session


def _change(
    sessions: NotebookSessions, name: str, field: str, value: Any, label: str
) -> tuple[Any, str]:
    """`_setting` without printing: (the session, the line saying what changed)."""
    conductor = _conductor(sessions, name, model=value if field == "model_name" else None)
    session = conductor.session
    busy = configure(sessions, conductor, field, value)
    when = " from the next turn (a turn is running)" if busy else ""
    return session, f"{label} for session '{name}' is now {_show_value(value)}{when}."


def configure(sessions: NotebookSessions, conductor: Any, field: str, value: Any) -> bool:
    """Submit `configure{field: value}` (validated first); True if a turn runs meanwhile."""
    from ...agent.messages import Configure

    session = conductor.session
    busy = bool(conductor.busy or conductor.paused)
    if getattr(session.describe().config, field) != value:
        _check_config(session, **{field: value})
        op = Configure(settings={field: value})
        if busy:
            sessions.runtime.call_soon(session.submit, op)
        else:

            async def apply() -> None:
                session.submit(op)
                await session.wait_idle()

            sessions.runtime.call(apply())
    return busy


def _show_value(value: Any) -> str:
    if value is True:
        return "on"
    if value is False:
        return "off"
    return str(value)


def _model(sessions: NotebookSessions, name: str, args: list[str]) -> None:
    from ..view import model_picker as picker

    if not args:
        conductor = sessions.get(name)
        model = conductor.session.describe().model if conductor else _default_model()
        print(f"Model: {model}" + ("" if conductor else " (default; no session yet)"))
        found, why = picker.load(sessions)
        if found is None:
            print(picker.unreachable(why) + " Set a model with `%intern model ID`.")
            return
        suggested = picker.cat.suggested(found, model)
        if not suggested:
            print("The router's catalog lists no models.")
            return
        _show_picker(sessions, name, model, suggested, found)
        return
    model_id = args[0].strip()
    lines: list[str] = []
    if picker.is_router_id(model_id):
        found, why = picker.load(sessions)
        if found is None:
            lines.append(picker.unreachable(why) + " The model is set without checking it.")
        else:
            ok, lines = picker.check_lines(model_id, found)
            if not ok:
                for line in lines:
                    print(line)
                return
    _setting(sessions, name, "model_name", model_id, "Model")
    for line in lines:
        print(line)


def _show_picker(
    sessions: NotebookSessions, name: str, current: str, suggested: list[Any], found: Any
) -> None:
    from ..view import model_picker as picker

    shell = getattr(sessions, "shell", None)
    if not widgets_available(shell):
        print("Suggested models (router catalog; prices per million tokens):")
        print(picker.table_text(suggested, current))
        print("Set one with `%intern model ID` (add :provider, :cheapest or :fastest to pin).")
        return
    from IPython.display import display

    def choose(model_id: str) -> str:
        _session, message = _change(sessions, name, "model_name", model_id, "Model")
        return message

    view = picker.Picker(suggested, current, choose, found)
    picker.last_picker = view  # the latest table, for tests and the curious
    display(view.widget)


def _effort(sessions: NotebookSessions, name: str, args: list[str]) -> None:
    if not args:
        conductor = sessions.get(name)
        if conductor is None:
            print("No session yet; the default effort comes from the config.")
            return
        snap = conductor.session.describe()
        line = f"Reasoning effort: {snap.effort or 'default'}"
        takes = snap.effort_takes
        if takes is not None:
            line += f" (the model takes up to: {takes})"
        print(line)
        return
    _setting(sessions, name, "reasoning_effort", args[0].lower(), "Reasoning effort")


def _yolo(sessions: NotebookSessions, name: str, args: list[str]) -> None:
    if not args:
        conductor = sessions.get(name)
        on = bool(conductor and conductor.session.describe().yolo)
        print(f"Yolo (auto-approve tool calls): {'on' if on else 'off'}")
        return
    _setting(sessions, name, "yolo_mode", args[0].lower() == "on", "Yolo")


def _stop(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    conductor = _existing(sessions, name)

    async def stop() -> int:
        return conductor.stop_all()

    count = sessions.runtime.call(stop())
    print("Stopping the current turn." if count else "Nothing is running.")


def _wait(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    conductor = _existing(sessions, name)
    started = time.monotonic()
    try:
        while not conductor.wait_idle(0.05) and not conductor.waiting_choice:
            sessions.drain()  # kernel tools need the main thread this cell holds
    except KeyboardInterrupt:
        print("Stopped waiting; the intern is still working.")
        return
    if conductor.paused:
        print("The intern is waiting for your approval in its view.")
    elif conductor.waiting_choice:
        print("The intern is waiting for your choice in its view (“Where were we?”).")
    elif time.monotonic() - started > 0.2:
        print(f"The turn ended after {time.monotonic() - started:.1f} s of waiting.")
    else:
        print("Nothing is running.")


def _job(sessions: NotebookSessions, name: str, kind: str) -> tuple[str, list[Any]]:
    """Run a compact/undo job to its end; (outcome, events)."""
    from ...agent.messages import Compact, Undo
    from ..render.text import QueueSink

    conductor = _existing(sessions, name)
    if conductor.busy:
        raise UsageError(BUSY.format(name=name, cmd=kind))
    sink = QueueSink()
    op = Compact() if kind == "compact" else Undo()
    sessions.submit(conductor, Request(kind, op, sink))  # type: ignore[arg-type]
    events: list[Any] = []
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            entry, payload = sink.q.get(timeout=0.05)
        except queue.Empty:
            sessions.drain()
            continue
        if entry == "event":
            events.append(payload)
        elif entry == "finished":
            return payload, events
    return "error", events


def _compact(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    outcome, events = _job(sessions, name, "compact")
    for e in events:
        if e.type == "compacted":
            print(f"Compacted the conversation: {e.old_tokens:,} → {e.new_tokens:,} tokens.")
            return
        if e.type == "error":
            print(e.error)
            return
    print(f"Compaction ended: {outcome}.")


def _undo(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    _outcome, events = _job(sessions, name, "undo")
    for e in events:
        if e.type == "undo_complete":
            print(
                f"Removed the last exchange ({e.removed} messages)."
                if e.removed
                else "Nothing to undo."
            )
            return
        if e.type == "error":
            print(e.error)
            return


def _history(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    conductor = _existing(sessions, name)
    session = conductor.session

    async def copy() -> list[dict[str, Any]]:
        return [dict(m) for m in session.history.messages]

    messages = sessions.runtime.call(copy())
    from ..render.history import history_markdown

    text = history_markdown(messages)
    try:
        from IPython.display import Markdown, display

        if _in_kernel():
            display(Markdown(text))
            return
    except ImportError:
        pass
    print(text)


def _cell(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    insert_last_proposed(sessions, name)


def _cost(sessions: NotebookSessions, name: str, _args: list[str]) -> None:
    conductor = sessions.get(name)
    if conductor is None:
        print("No session yet: nothing spent.")
    else:
        snap = conductor.session.describe()
        t = snap.totals
        cost = (
            f"${t.cost_usd:.4f}" if t.cost_known else f"at least ${t.cost_usd:.4f} (some unpriced)"
        )
        print(
            f"Session '{name}': {t.tokens:,} tokens (prompt {t.prompt_tokens:,}, completion "
            f"{t.completion_tokens:,}) in {t.llm_calls} model call(s) · {cost} "
            f"(inference ${t.inference_usd:.4f}, jobs ${t.jobs_usd:.4f})"
        )
        if t.cache_read_tokens or t.cache_write_tokens:
            print(
                f"Prompt cache: {t.cache_read_tokens:,} prompt tokens read from it, "
                f"{t.cache_write_tokens:,} written to it (priced at the cache rates)"
            )
        pause = snap.spend_pause_usd
        if pause:
            print(f"Next spend pause at ${pause:.2f} of session spend.")
    items = sessions.items()
    if len(items) > 1:
        snaps = [c.session.describe() for _n, c in items]
        total = sum(s.totals.cost_usd for s in snaps)
        tokens = sum(s.totals.tokens for s in snaps)
        print(f"All sessions in this kernel: {tokens:,} tokens · ${total:.4f}")
    for line in spend_lines(sessions):
        print(line)


def _share_traces(sessions: Any, name: str, args: list[str]) -> None:
    from ...config import load_config

    try:
        config = load_config()
    except InternError as exc:
        raise UsageError(str(exc)) from None
    print(sessions.traces.command(config, args[0] if args else ""))


def _in_kernel() -> bool:
    from IPython import get_ipython

    return type(get_ipython()).__name__ == "ZMQInteractiveShell"


def _mcp(sessions: NotebookSessions, name: str, args: list[str]) -> None:
    mcp_command(sessions, name, args, conductor=_conductor, configure=configure)


_HANDLERS = {
    "status": _status,
    "sessions": _sessions,
    "new": _new,
    "model": _model,
    "effort": _effort,
    "yolo": _yolo,
    "compact": _compact,
    "undo": _undo,
    "stop": _stop,
    "wait": _wait,
    "history": _history,
    "cell": _cell,
    "cost": _cost,
    "mcp": _mcp,
    "share-traces": _share_traces,
}
assert set(_HANDLERS) | set(NOT_YET) | set(SAVED_COMMANDS) | {"help", "login"} == set(COMMANDS)

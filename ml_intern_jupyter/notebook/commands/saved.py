"""Commands on saved sessions: the saved part of `%intern sessions`, `resume ID`, `export PATH`.

They run on the main thread and may block (store reads, a catch-up summary
for `resume`); problems are one `UsageError` line.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ...errors import InternError
from .order import BUSY
from .order import ORDER as _ORDER

if TYPE_CHECKING:
    from ...config import Config
    from ...store.base import SessionRecord, SessionStore
    from ..conductor.sessions import NotebookSessions
    from .parse import LineCommand

__all__ = ["SAVED_COMMANDS", "find_saved", "print_saved", "run_saved"]

SAVED_COMMANDS = ("export", "resume")
LIST_LIMIT = 20
HOW_TO_FIND = "`%intern sessions` lists the saved sessions and their ids."
_BY_SUFFIX = {".md": "markdown", ".markdown": "markdown", ".json": "json", ".jsonl": "claude_code"}


def run_saved(sessions: NotebookSessions, cmd: LineCommand) -> None:
    if cmd.name == "export":
        export(sessions, cmd.args[0], fmt=cmd.format, session=cmd.session)
    else:
        resume(sessions, cmd.args[0], name=cmd.session)


def _config() -> Config:
    from ...config import load_config

    try:
        return load_config()
    except InternError as exc:
        raise UsageError(str(exc)) from None


def _store(sessions: NotebookSessions, config: Config) -> SessionStore:
    store = sessions.saving.get(config)
    if store is None:
        raise UsageError(sessions.saving.why_not(config))
    return store


def find_saved(store: SessionStore, ident: str) -> SessionRecord:
    """A saved session by id or unique id prefix; otherwise one clear `UsageError`."""
    from ...store.base import StoreError

    try:
        record = store.get_session(ident)
        if record is not None:
            return record
        matches = [r for r in store.list_sessions(limit=1000) if r.id.startswith(ident)]
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(r.id for r in matches[:5])
        raise UsageError(f"'{ident}' matches several saved sessions ({ids}): give more of the id.")
    raise UsageError(f"No saved session with id '{ident}'. {HOW_TO_FIND}")


# ----------------------------------------------------------------- sessions


def print_saved(sessions: NotebookSessions, current: str) -> None:
    """The saved sessions: this notebook's, then the others (most recent first)."""
    from ...store.base import StoreError

    try:
        config = _config()
    except UsageError as exc:
        print(f"Saved sessions: unknown ({exc})")
        return
    store = sessions.saving.get(config)
    if store is None:
        print(sessions.saving.why_not(config))
        return
    notebook = sessions.notebook()
    live = {c.session.id: n for n, c in sessions.items()}
    conductor = sessions.get(current)
    current_id = conductor.session.id if conductor is not None else None
    try:
        mine = store.list_sessions(notebook=notebook, limit=LIST_LIMIT)
        others = [
            r for r in store.list_sessions(limit=LIST_LIMIT + len(mine)) if r.notebook != notebook
        ][:LIST_LIMIT]
        rows = [(r, store.count_messages(r.id)) for r in [*mine, *others]]
    except StoreError as exc:
        print(f"Could not read the saved sessions ({exc}).")
        return
    print(f"\nSaved sessions of this notebook ({notebook}):")
    if not mine:
        print("  none yet")
    for record, count in rows:
        if record is (others[0] if others else None):
            print("\nSaved sessions of other notebooks:")
        print(_row(record, count, live, current_id, show_notebook=record.notebook != notebook))
    if sessions.saving.switched:
        print(sessions.saving.switched)


def _row(
    record: SessionRecord,
    count: int,
    live: dict[str, str],
    current_id: str | None,
    *,
    show_notebook: bool,
) -> str:
    mark = "*" if record.id == current_id else " "
    updated = datetime.datetime.fromtimestamp(record.updated).strftime("%Y-%m-%d %H:%M")
    parts = [
        f"{mark} {record.id}",
        f"{record.status:<16}",
        updated,
        f"{count} msgs · {record.turns} turn(s) · ${record.cost_usd:.4f}",
        f"“{record.title or 'untitled'}”",
    ]
    line = "  ".join(parts)
    if record.id in live:
        line += f"  ← live here as '{live[record.id]}'"
    if show_notebook:
        line += f"  [{record.notebook or '?'}]"
    return line


# ------------------------------------------------------------------- resume


def resume(sessions: NotebookSessions, ident: str, *, name: str | None = None) -> None:
    """Make a saved session this notebook's current one (blocks while it is seeded)."""
    from ...store.base import StoreError
    from ..conductor.gate import (
        RESUME,
        Offer,
        Opened,
        Previous,
        TextSeedSink,
        run_seed_blocking,
        seed_gate,
    )

    config = _config()
    store = _store(sessions, config)
    record = find_saved(store, ident)
    live = sessions.named(record.id)
    if live is not None:
        sessions.current = live[0]
        print(
            f"Session {record.id} is live in this kernel as '{live[0]}'; it is now the current one."
        )
        return
    name = name or sessions.current
    old = sessions.get(name)
    if old is not None and (old.busy or old.paused):
        raise UsageError(BUSY.format(name=name, cmd="resume"))
    try:
        messages = store.load_messages(record.id)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    previous = Previous(record, messages, store)
    if previous.count == 0:
        raise UsageError(f"Saved session {record.id} has no messages to resume. {HOW_TO_FIND}")
    with _ORDER:
        conductor = _new_conductor(sessions, name, record.model)
    offer = Offer(previous, RESUME)
    opened = Opened(conductor, name, seed_gate(conductor, offer, TextSeedSink()), offer)
    sessions.current = name
    outcome = run_seed_blocking(sessions, opened, _plain, announce=False)
    if outcome == "done":
        print(
            f"Resumed {previous.label} as session '{name}' ({conductor.session.id}); "
            "the next %%intern cell continues it."
        )


def _new_conductor(sessions: NotebookSessions, name: str, model: str) -> Any:
    """A new session under `name`, with the saved session's model if it is still valid."""
    try:
        return sessions.new(name, model=model or None)
    except InternError:
        pass
    try:
        return sessions.new(name)
    except InternError as exc:
        raise UsageError(str(exc)) from None


def _plain(text: str) -> None:
    print(text.strip("*"))


# ------------------------------------------------------------------- export


def export(
    sessions: NotebookSessions, path: str, *, fmt: str | None = None, session: str | None = None
) -> None:
    """Write a saved session (a live one by name, a saved one by id; default the current one)."""
    from ...store.base import StoreError
    from ...traces.export import export_session

    config = _config()
    store = _store(sessions, config)
    fmt = fmt or _BY_SUFFIX.get(Path(path).suffix.lower(), "claude_code")
    conductor = sessions.get(session or sessions.current)
    if conductor is not None:
        sessions.runtime.call(conductor.session.persist(meta=True))
        session_id = conductor.session.id
    elif session:
        session_id = find_saved(store, session).id
    else:
        raise UsageError(
            "There is no current session to export yet: name a saved one with `-s ID`. "
            + HOW_TO_FIND
        )
    try:
        target = export_session(store, session_id, path, fmt)
        count = store.count_messages(session_id)
    except (ValueError, StoreError) as exc:
        raise UsageError(str(exc)) from None
    print(f"Exported session {session_id} ({count} messages) as {fmt} to {target}.")

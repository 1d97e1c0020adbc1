"""`%intern cell`: put the last cell the intern proposed into a new notebook cell.

The proposal is read from the session's history (the last valid
`propose_cell` call), so it survives the end of the turn and a session
restored after a kernel restart. It is inserted with IPython's
`set_next_input(code, replace=False)`, which travels as a payload of this
command's execute reply: the frontend puts a new cell below, unrun.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["NOTHING_PROPOSED", "insert_last_proposed", "last_proposed"]

NOTHING_PROPOSED = (
    "The intern has not proposed a cell in session '{name}' yet (it does so with its "
    "propose_cell tool, when you ask it to write code for you to run)."
)


def last_proposed(messages: list[dict[str, Any]]) -> str | None:
    """The code of the last well-formed `propose_cell` call in a history, or None."""
    for message in reversed(messages):
        if message.get("role") != "assistant":
            continue
        for call in reversed(message.get("tool_calls") or []):
            function = call.get("function") or {}
            if function.get("name") != "propose_cell":
                continue
            try:
                args = json.loads(function.get("arguments") or "")
            except (TypeError, ValueError):
                continue
            # Only calls that passed the tool's schema were shown to the user.
            if isinstance(args, dict) and set(args) == {"code"} and isinstance(args["code"], str):
                return str(args["code"])
    return None


def insert_last_proposed(sessions: Any, name: str) -> None:
    """Run by `%intern cell` on the main thread, inside the command's execute request."""
    conductor = sessions.get(name)
    if conductor is None:
        print(f"There is no session '{name}' in this kernel yet, so nothing was proposed.")
        return
    session = conductor.session

    async def copy() -> list[dict[str, Any]]:  # on the intern thread, between its steps
        return [dict(m) for m in session.history.messages]

    code = last_proposed(sessions.runtime.call(copy()))
    if code is None:
        print(NOTHING_PROPOSED.format(name=name))
        return
    _shell(sessions).set_next_input(code, replace=False)
    lines = len(code.rstrip("\n").splitlines())
    print(
        f"Put the proposed cell ({lines} line{'s' if lines != 1 else ''}) in a new cell below: "
        "review it, then run it. (No new cell? Your frontend ignores this; use the card's "
        "Copy button.)"
    )


def _shell(sessions: Any) -> Any:
    bridge = getattr(sessions, "bridge", None)
    if bridge is not None and bridge.shell is not None:
        return bridge.shell
    from IPython import get_ipython

    return get_ipython()

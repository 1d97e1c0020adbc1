"""`%intern cell`: finding the last proposed cell in a history and inserting it."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from ml_intern_jupyter.notebook.commands.proposed import insert_last_proposed, last_proposed


def call(name: str, args: Any) -> dict[str, Any]:
    text = args if isinstance(args, str) else json.dumps(args)
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": text}}


def assistant(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def test_last_proposed_takes_the_latest_well_formed_call() -> None:
    history = [
        {"role": "user", "content": "hi"},
        assistant(call("propose_cell", {"code": "first()"})),
        assistant(call("propose_cell", {"code": "second()"}), call("bash", {"command": "ls"})),
        # Calls the tool would have refused were never shown: skipped.
        assistant(call("propose_cell", {"code": "x()", "extra": 1})),
        assistant(call("propose_cell", '{"code": ')),
        {"role": "tool", "tool_call_id": "c", "content": "ok"},
    ]
    assert last_proposed(history) == "second()"
    assert last_proposed(history[:2]) == "first()"
    assert last_proposed([{"role": "user", "content": "hi"}]) is None


class FakeRuntime:
    def call(self, coro: Any) -> Any:
        return asyncio.run(coro)


class FakeShell:
    def __init__(self) -> None:
        self.inputs: list[tuple[str, bool]] = []

    def set_next_input(self, text: str, replace: bool = False) -> None:
        self.inputs.append((text, replace))


def sessions_with(messages: list[dict[str, Any]] | None, shell: FakeShell) -> Any:
    conductor = (
        None
        if messages is None
        else SimpleNamespace(session=SimpleNamespace(history=SimpleNamespace(messages=messages)))
    )
    return SimpleNamespace(
        get=lambda _name: conductor,
        runtime=FakeRuntime(),
        bridge=SimpleNamespace(shell=shell),
    )


def test_insert_last_proposed_sets_the_next_input(capsys: pytest.CaptureFixture[str]) -> None:
    shell = FakeShell()
    code = "import pandas as pd\npd.read_csv('a.csv')\n"
    insert_last_proposed(
        sessions_with([assistant(call("propose_cell", {"code": code}))], shell), "s"
    )
    assert shell.inputs == [(code, False)]
    assert "(2 lines) in a new cell below" in capsys.readouterr().out


def test_nothing_to_insert_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    shell = FakeShell()
    insert_last_proposed(sessions_with([], shell), "research")
    insert_last_proposed(sessions_with(None, shell), "other")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "The intern has not proposed a cell in session 'research' yet (it does so with its "
        "propose_cell tool, when you ask it to write code for you to run).",
        "There is no session 'other' in this kernel yet, so nothing was proposed.",
    ]
    assert shell.inputs == []

"""State vocabularies are typed but stay plain strings on the wire and on disk."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from pydantic import ValidationError

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.states import ErrorKind, LLMErrorKind, RunState


def test_every_model_failure_kind_is_an_error_event_kind() -> None:
    assert set(get_args(LLMErrorKind)) < set(get_args(ErrorKind))
    assert {"session", "config", "internal", "max_iterations"} <= set(get_args(ErrorKind))


def test_events_serialise_their_states_as_plain_strings() -> None:
    error = ev.Error(error="Nothing to compact yet.", kind="session", op_id="o1", timestamp=5.0)
    assert json.loads(error.model_dump_json()) == {
        "type": "error",
        "session_id": "",
        "seq": 0,
        "timestamp": 5.0,
        "op_id": "o1",
        "parent_call_id": "",
        "error": "Nothing to compact yet.",
        "kind": "session",
        "login_required": False,
        "fatal": False,
    }
    call = ev.LLMCall(
        model="m", latency_ms=1.0, prompt_tokens=2, completion_tokens=3, cost_usd=None
    )
    assert call.model_dump()["kind"] == "turn"
    pending = ev.PendingCall(tool="spend_pause", arguments={}, tool_call_id="c", kind="spend")
    assert pending.model_dump()["kind"] == "spend"


def test_an_unknown_error_kind_is_refused() -> None:
    with pytest.raises(ValidationError):
        ev.Error(error="x", kind="sesion")  # type: ignore[arg-type]


def test_session_states() -> None:
    assert get_args(RunState) == ("idle", "processing", "waiting_approval", "ended")

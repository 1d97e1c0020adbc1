"""The session's state vocabularies, one place each.

They are `Literal` types, so the wire values and stored data stay plain
strings while mypy rejects a misspelt state.
"""

from __future__ import annotations

from typing import Literal

from ..errors import LLMErrorKind

__all__ = ["ErrorKind", "LLMCallKind", "LLMErrorKind", "PendingKind", "RunState", "ToolCallState"]

# What a session is doing (`Session.state`); stored as the record's status
# with "processing" shown as "active".
RunState = Literal["idle", "processing", "waiting_approval", "ended"]

# The `kind` of an `error` event: a model call's failure, or the session's own.
ErrorKind = Literal[LLMErrorKind, "session", "config", "internal", "max_iterations"]

# A tool call's life as `tool_state_change` reports it; a job tool also
# reports its job's stages (lower-cased) through the same event.
ToolCallState = Literal["approved", "rejected", "running", "cancelled", "abandoned"]

# A pending call: a tool call waiting for approval, or a spend pause.
PendingKind = Literal["tool", "spend"]

# What a model call was for (`llm_call` events).
LLMCallKind = Literal["turn", "compaction", "summary", "research_summary", "probe"]

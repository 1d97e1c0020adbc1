"""The tool contract: what a tool declares and what it returns.

A tool is a `ToolSpec`: a name, a description and a JSON-schema for its
arguments (what the model sees), an async handler, and an approval rule.
Handlers receive validated arguments and a `ToolContext`; they return a
`ToolResult` (or a plain string, meaning success).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Approval",
    "ToolContext",
    "ToolResult",
    "ToolSpec",
    "ask_always",
    "human_size",
    "never_ask",
    "object_schema",
]


class Approval(enum.Enum):
    """Whether a call needs the user's consent before it runs."""

    NO = "no"  # runs without asking
    ASK = "ask"  # asks, unless yolo or "always allow <tool>" is on
    ALWAYS_ASK = "always_ask"  # asks even in yolo (e.g. scheduled jobs)


@dataclass
class ToolResult:
    output: str
    success: bool = True
    # Actual cost of what the call spent (e.g. a finished cloud job), used to
    # reconcile a yolo reservation; None when the call costs nothing known.
    cost_usd: float | None = None
    # Optional rich payload for the notebook view (images, URLs); never sent
    # to the model.
    display: dict[str, Any] | None = None


@dataclass
class ToolContext:
    """What a running tool may touch: its session's state and its event hooks."""

    session_id: str
    tool_call_id: str
    workdir: Path
    # Paths (resolved) with the mtime seen when the session last read them;
    # `edit` and overwriting `write` require a prior read of an unchanged file.
    read_files: dict[str, float] = field(default_factory=dict)
    log: Callable[[str], object] = lambda _line: None
    set_state: Callable[[str], object] = lambda _state: None
    plan: list[dict[str, Any]] = field(default_factory=list)
    set_plan: Callable[[list[dict[str, Any]]], None] = lambda _plan: None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def emitting(cls, owner: Any, tool: str, tool_call_id: str, **extra: Any) -> ToolContext:
        """A context whose log lines and state changes are `owner`'s events.

        `owner` has `id`, `workdir`, `read_files` and `emit` (a session, or a
        research sub-agent); the events are `messages.ToolLog` / `ToolStateChange`.
        """
        from ..agent import messages as ev

        return cls(
            session_id=owner.id,
            tool_call_id=tool_call_id,
            workdir=owner.workdir,
            read_files=owner.read_files,
            log=lambda line: owner.emit(ev.ToolLog(tool=tool, log=line, tool_call_id=tool_call_id)),
            set_state=lambda state: owner.emit(
                ev.ToolStateChange(tool_call_id=tool_call_id, tool=tool, state=state)
            ),
            **extra,
        )


Handler = Callable[[dict[str, Any], ToolContext], Awaitable["ToolResult | str"]]
ApprovalRule = Callable[[dict[str, Any]], Approval]
CostEstimator = Callable[[dict[str, Any]], "float | None"]


def _never(_args: dict[str, Any]) -> Approval:
    return Approval.NO


@dataclass
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler
    approval: ApprovalRule = _never
    # Seconds before the call is abandoned with a timeout result; None = no limit.
    timeout: float | None = 120.0
    # For calls that spend money: an estimate in USD, or None when unknown
    # (unknown cost fails closed under a yolo budget: the call asks).
    estimate_cost: CostEstimator | None = None
    # Offer "always allow this tool in this session" on its approval card.
    always_allowable: bool = False

    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools` entry for this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def ask_always(_args: dict[str, Any]) -> Approval:
    """Approval rule for tools that always ask (unless yolo / always-allowed)."""
    return Approval.ASK


never_ask = _never


def object_schema(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A JSON schema for a tool's arguments: these properties, no others."""
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def human_size(n: int | None) -> str:
    """Bytes for people: 512 B, 1.5 kB, 3.2 MB (powers of 1000)."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - the loop returns at GB

"""The `plan` tool: the model keeps a todo list; the view shows it as a checklist."""

from __future__ import annotations

from typing import Any

from .base import ToolContext, ToolResult, ToolSpec, never_ask

__all__ = ["plan_tool", "unfinished"]

STATUSES = ("pending", "in_progress", "completed")
_MARK = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


def unfinished(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in plan if item.get("status") != "completed"]


async def _plan(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    items = [
        {"id": str(item.get("id") or n), "content": item["content"], "status": item["status"]}
        for n, item in enumerate(args["todos"], start=1)
    ]
    ctx.set_plan(items)
    if not items:
        return ToolResult("Plan cleared.")
    lines = [f"{_MARK[i['status']]} {i['content']}" for i in items]
    done = sum(i["status"] == "completed" for i in items)
    return ToolResult(f"Plan updated ({done}/{len(items)} done):\n" + "\n".join(lines))


def plan_tool() -> ToolSpec:
    return ToolSpec(
        name="plan",
        description=(
            "Replace your todo list for this task with `todos` (the whole list each time). "
            "Use it for multi-step work: mark one item in_progress while you work on it and "
            "completed when done. The user sees it as a checklist."
        ),
        parameters={
            "type": "object",
            "properties": {
                "todos": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": ["string", "integer"]},
                            "content": {"type": "string", "minLength": 1},
                            "status": {"type": "string", "enum": list(STATUSES)},
                        },
                        "required": ["content", "status"],
                    },
                }
            },
            "required": ["todos"],
            "additionalProperties": False,
        },
        handler=_plan,
        approval=never_ask,
        timeout=10,
    )

"""The tool set a new session gets."""

from __future__ import annotations

from ..config import Config
from .local import local_tools
from .plan import plan_tool
from .router import ToolRouter

__all__ = ["default_router"]


def default_router(config: Config) -> ToolRouter:
    return ToolRouter(
        [plan_tool(), *local_tools(config.tool_timeout_s)],
        output_limit=config.tool_output_limit,
    )

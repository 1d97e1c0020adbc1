"""The tool set a new session gets."""

from __future__ import annotations

from ..config import Config
from .base import ToolSpec
from .datasets import inspect_dataset_tool
from .docs import docs_tool
from .github import github_tools
from .hub import hub_tools
from .jobs import JobsSettings, jobs_tool
from .local import local_tools
from .papers import papers_tool
from .plan import plan_tool
from .router import ToolRouter
from .web import WebSettings, fetch_url_tool, web_search_tool

__all__ = ["default_router", "hf_tools"]


def hf_tools(config: Config) -> list[ToolSpec]:
    """The research and Hugging Face tools: Hub, datasets, papers, docs, GitHub, Jobs."""
    return [
        *hub_tools(),
        inspect_dataset_tool(),
        papers_tool(),
        docs_tool(),
        *github_tools(),
        web_search_tool(),
        fetch_url_tool(WebSettings(allow_private=config.fetch_allow_private_addresses)),
        jobs_tool(
            confirm_cpu_jobs=config.confirm_cpu_jobs,
            jobs=JobsSettings(poll_interval_s=config.job_poll_interval_s),
        ),
    ]


def default_router(config: Config) -> ToolRouter:
    from ..agent.research import research_tool  # the sub-agent runs the agent's turn loop

    return ToolRouter(
        [plan_tool(), *local_tools(config.tool_timeout_s), *hf_tools(config), research_tool()],
        output_limit=config.tool_output_limit,
    )

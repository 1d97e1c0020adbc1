"""Which Hugging Face tool calls ask the user, in normal mode and in yolo (upstream's rules).

Each row: tool, arguments, asks in normal mode?, asks in yolo (no budget)?
The tools come from `default_router`, so this also checks the registry wiring
(e.g. `confirm_cpu_jobs` reaching hf_jobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ml_intern_jupyter.agent.approvals import ApprovalPolicy
from ml_intern_jupyter.config import Config
from ml_intern_jupyter.tools import pricing
from ml_intern_jupyter.tools.base import ToolSpec
from ml_intern_jupyter.tools.registry import default_router


@pytest.fixture(autouse=True)
def packaged_prices() -> Iterator[None]:
    pricing.clear_cache()  # estimates below use the packaged table
    yield
    pricing.clear_cache()


def tools(confirm_cpu_jobs: bool = True) -> dict[str, ToolSpec]:
    router = default_router(Config(model_name="vllm/x", confirm_cpu_jobs=confirm_cpu_jobs))
    return {name: spec for name in router.names if (spec := router.get(name)) is not None}


def asks(spec: ToolSpec, args: dict[str, Any], **policy: Any) -> bool:
    return ApprovalPolicy(**policy).decide(spec, args, "call-1").needs_approval


R = "a/b"
RESEARCH_PREFIXES = ("hf_", "github_", "web_", "fetch_", "research")
JOB = {"image": "python:3.12", "command": ["python", "-c", "1"]}
TABLE: list[tuple[str, dict[str, Any], bool, bool]] = [
    # read-only tools never ask
    ("hf_search", {"query": "bert"}, False, False),
    ("hf_inspect_dataset", {"dataset": R}, False, False),
    ("hf_papers", {"operation": "search", "query": "x"}, False, False),
    ("hf_papers", {"operation": "trending"}, False, False),
    ("hf_papers", {"operation": "read", "paper_id": "2401.00001"}, False, False),
    *[
        ("hf_papers", {"operation": op, "paper_id": "2401.00001"}, False, False)
        for op in (
            "paper_details",
            "read_paper",
            "citation_graph",
            "recommend",
            "find_datasets",
            "find_models",
            "find_collections",
            "find_all_resources",
        )
    ],
    ("hf_papers", {"operation": "snippet_search", "query": "lr"}, False, False),
    ("hf_docs", {"operation": "search", "query": "x"}, False, False),
    ("hf_docs", {"operation": "fetch", "page": "hub/index"}, False, False),
    ("github_find_examples", {"repo": "trl", "keyword": "sft"}, False, False),
    ("github_list_repos", {"org": "huggingface"}, False, False),
    ("github_read_file", {"repo": "trl", "path": "README.md"}, False, False),
    ("web_search", {"query": "x"}, False, False),
    ("fetch_url", {"url": "https://example.com"}, False, False),
    # the research sub-agent reads only (what it may not do is refused, never asked)
    ("research", {"task": "dpo recipes"}, False, False),
    ("research", {"task": "dpo recipes", "context": "user has UltraFeedback"}, False, False),
    # a non-public address never asks: it is refused (see the test below)
    ("fetch_url", {"url": "http://127.0.0.1:8888/api"}, False, False),
    # repo files: upload and delete ask (yolo approves them)
    ("hf_repo_files", {"operation": "list", "repo_id": R}, False, False),
    ("hf_repo_files", {"operation": "read", "repo_id": R, "path": "x"}, False, False),
    (
        "hf_repo_files",
        {"operation": "upload", "repo_id": R, "path": "x", "content": ""},
        True,
        False,
    ),
    ("hf_repo_files", {"operation": "delete", "repo_id": R, "path": "x"}, True, False),
    # repo git
    ("hf_repo_git", {"operation": "list_refs", "repo_id": R}, False, False),
    ("hf_repo_git", {"operation": "list_prs", "repo_id": R}, False, False),
    ("hf_repo_git", {"operation": "create_branch", "repo_id": R, "branch": "b"}, False, False),
    ("hf_repo_git", {"operation": "create_tag", "repo_id": R, "tag": "t"}, False, False),
    ("hf_repo_git", {"operation": "create_pr", "repo_id": R, "title": "t"}, False, False),
    ("hf_repo_git", {"operation": "delete_branch", "repo_id": R, "branch": "b"}, True, False),
    ("hf_repo_git", {"operation": "delete_tag", "repo_id": R, "tag": "t"}, True, False),
    ("hf_repo_git", {"operation": "merge_pr", "repo_id": R, "pr_number": 1}, True, False),
    ("hf_repo_git", {"operation": "create_repo", "repo_id": R}, True, False),
    ("hf_repo_git", {"operation": "update_repo", "repo_id": R, "private": True}, True, False),
    # jobs: reading and cancelling never ask
    ("hf_jobs", {"operation": "ps"}, False, False),
    ("hf_jobs", {"operation": "logs", "job_id": "j"}, False, False),
    ("hf_jobs", {"operation": "inspect", "job_id": "j"}, False, False),
    ("hf_jobs", {"operation": "cancel", "job_id": "j"}, False, False),
    ("hf_jobs", {"operation": "scheduled ps"}, False, False),
    ("hf_jobs", {"operation": "scheduled inspect", "job_id": "s"}, False, False),
    # jobs on GPUs always ask (yolo approves them)
    ("hf_jobs", {"operation": "run", **JOB, "flavor": "t4-small"}, True, False),
    ("hf_jobs", {"operation": "run", **JOB, "flavor": "h100x8"}, True, False),
    ("hf_jobs", {"operation": "uv", "script": "print(1)", "flavor": "a10g-large"}, True, False),
    ("hf_jobs", {"operation": "run", **JOB, "flavor": "some-new-gpu"}, True, False),
    # CPU jobs ask because confirm_cpu_jobs defaults to on
    ("hf_jobs", {"operation": "run", **JOB}, True, False),
    ("hf_jobs", {"operation": "uv", "script": "print(1)", "flavor": "cpu-upgrade"}, True, False),
    # every schedule change asks, even in yolo
    ("hf_jobs", {"operation": "scheduled run", **JOB, "schedule": "@daily"}, True, True),
    ("hf_jobs", {"operation": "scheduled uv", "script": "x", "schedule": "@daily"}, True, True),
    ("hf_jobs", {"operation": "scheduled delete", "job_id": "s"}, True, True),
    ("hf_jobs", {"operation": "scheduled suspend", "job_id": "s"}, True, True),
    ("hf_jobs", {"operation": "scheduled resume", "job_id": "s"}, True, True),
]


@pytest.mark.parametrize(
    ("tool", "args", "normal", "yolo"),
    TABLE,
    ids=[f"{t}:{a.get('operation', '-')}:{a.get('flavor', '')}" for t, a, *_ in TABLE],
)
def test_approval_table(tool: str, args: dict[str, Any], normal: bool, yolo: bool) -> None:
    specs = tools()
    router_problem = default_router(Config(model_name="vllm/x")).validate(tool, args)
    assert router_problem is None, router_problem  # the rows are valid calls
    assert asks(specs[tool], args) is normal
    assert asks(specs[tool], args, yolo=True) is yolo


def test_every_hf_tool_and_operation_is_in_the_table() -> None:
    specs = tools()
    covered = {(t, a.get("operation")) for t, a, *_ in TABLE}
    for name, spec in specs.items():
        if not name.startswith(RESEARCH_PREFIXES):
            continue
        ops = spec.parameters["properties"].get("operation", {}).get("enum", [None])
        for op in ops:
            assert (name, op) in covered, (name, op)


@pytest.mark.parametrize("op", ["run", "uv"])
def test_cpu_jobs_run_without_asking_when_confirm_cpu_jobs_is_off(op: str) -> None:
    spec = tools(confirm_cpu_jobs=False)["hf_jobs"]
    cpu = {"operation": op, **JOB, "script": "x", "flavor": "cpu-basic"}
    gpu = {**cpu, "flavor": "a100-large"}
    assert not asks(spec, cpu)
    assert not asks(spec, {k: v for k, v in cpu.items() if k != "flavor"})  # default flavor
    assert asks(spec, gpu)  # GPUs still ask
    scheduled = {**cpu, "operation": f"scheduled {op}", "schedule": "@hourly"}
    assert asks(spec, scheduled, yolo=True)


def test_scheduled_jobs_are_never_auto_approved_even_with_budget_or_always_allow() -> None:
    spec = tools()["hf_jobs"]
    args = {"operation": "scheduled run", **JOB, "schedule": "@daily", "flavor": "cpu-basic"}
    policy = ApprovalPolicy(yolo=True, budget_usd=1000.0, always_allow={"hf_jobs"})
    decision = policy.decide(spec, args, "c1")
    assert decision.needs_approval
    assert decision.reason == "This operation always needs your approval."
    assert policy.reservations == {}


def test_gpu_job_estimate_is_price_times_timeout() -> None:
    spec = tools()["hf_jobs"]
    two_hours = {"operation": "run", **JOB, "flavor": "a100-large", "timeout": "2h"}
    decision = ApprovalPolicy().decide(spec, two_hours, "c1")
    assert decision.needs_approval
    assert decision.estimated_cost_usd == pytest.approx(2.50 * 2)
    default = {"operation": "run", **JOB, "flavor": "h100x8"}  # default 0.5 h
    assert ApprovalPolicy().decide(spec, default, "c2").estimated_cost_usd == pytest.approx(18.0)


def test_yolo_budget_reserves_the_estimate_and_asks_when_it_would_overflow() -> None:
    spec = tools()["hf_jobs"]
    args = {"operation": "run", **JOB, "flavor": "a10g-large", "timeout": "1h"}  # $1.50
    policy = ApprovalPolicy(yolo=True, budget_usd=2.0)
    first = policy.decide(spec, args, "c1")
    assert not first.needs_approval and policy.reservations == {"c1": pytest.approx(1.5)}
    second = policy.decide(spec, args, "c2")
    assert second.needs_approval and "exceed the yolo budget" in (second.reason or "")


def test_yolo_budget_asks_for_a_flavor_without_a_price() -> None:
    spec = tools()["hf_jobs"]
    args = {"operation": "run", **JOB, "flavor": "some-new-gpu"}
    decision = ApprovalPolicy(yolo=True, budget_usd=100.0).decide(spec, args, "c1")
    assert decision.needs_approval
    assert decision.estimated_cost_usd is None
    assert "cannot be estimated" in (decision.reason or "")


def test_uploads_can_be_always_allowed_but_jobs_cannot() -> None:
    specs = tools()
    upload = {"operation": "upload", "repo_id": R, "path": "x", "content": ""}
    assert specs["hf_repo_files"].always_allowable
    assert not asks(specs["hf_repo_files"], upload, always_allow={"hf_repo_files"})
    gpu = {"operation": "run", **JOB, "flavor": "t4-small"}
    assert asks(specs["hf_jobs"], gpu, always_allow={"hf_jobs"})  # costed calls keep asking


async def test_fetch_url_to_a_non_public_address_is_refused_unless_configured() -> None:
    from pathlib import Path

    from ml_intern_jupyter.tools.base import ToolContext

    ctx = ToolContext(session_id="s", tool_call_id="c", workdir=Path("."))
    url = {"url": "http://127.0.0.1:9/"}  # the discard port: nothing is sent if refused
    refused = await default_router(Config(model_name="vllm/x")).run("fetch_url", url, ctx)
    assert not refused.success and "not a public address" in refused.output
    allowed = default_router(Config(model_name="vllm/x", fetch_allow_private_addresses=True))
    reached = await allowed.run("fetch_url", url, ctx)
    assert "not a public address" not in reached.output  # it tried (and could not connect)

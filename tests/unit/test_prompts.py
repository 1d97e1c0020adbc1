import datetime as dt
from pathlib import Path

from ml_intern_jupyter.agent.prompts import system_prompt


def test_system_prompt_names_the_notebook_context_and_the_session():
    text = system_prompt(
        ["python", "hf_jobs"], user="ada", today=dt.date(2026, 11, 22), workdir=Path("/w")
    )
    assert "live kernel" in text and "hf_jobs" in text and "propose_cell" in text
    assert text.endswith(
        "Date: 2026-11-22. User: ada. Working directory: /w. 2 tools: python, hf_jobs."
    )
    assert "{" not in text  # every placeholder filled


def test_system_prompt_carries_the_operating_rules():
    text = system_prompt(["python"], user="ada", today=dt.date(2026, 11, 22), workdir=Path("/w"))
    lowered = text.lower()
    # research first, with the tools that do it
    for tool in ("citation_graph", "read_paper", "github_find_examples", "web_search"):
        assert tool in text, tool
    assert "fetch_url" in text and "curl" in text  # the web, not bash
    assert "`research`" in text and "run in parallel" in text  # the research sub-agent
    # jobs: timeouts, hardware, push to the Hub, prebuilt kernels
    assert "default job timeout is 30 minutes" in lowered and "`timeout`" in text
    assert "choose hardware" in lowered
    assert "push its result to the hub" in lowered
    assert "flash-attn from source" in text
    # never change what was asked; verify before claiming success
    assert "never silently replace the user's dataset" in lowered
    assert "verify before you claim success" in lowered
    # notebook-specific: live variables, proposed cells, a responsive kernel, trackio
    assert "variables" in text and "propose_cell" in text
    assert "keep the kernel responsive" in lowered
    assert "trackio.log" in text and "trackio_space_id" in text

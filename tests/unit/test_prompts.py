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

"""The import contracts of ARCHITECTURE.md ("Layout rules"), run with import-linter.

The contracts live in pyproject.toml (`[tool.importlinter]`). Imports inside
functions count; imports under `if TYPE_CHECKING:` do not.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "importlinter",
    reason="import-linter (the test extra installs it on Python 3.11 and later) is not installed",
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ml_intern_jupyter"
RUN = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def lint(where: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the `ml_intern_jupyter` found in `where`, with its pyproject.toml."""
    return subprocess.run(
        [sys.executable, "-c", RUN],
        cwd=where,
        env={"PYTHONPATH": str(where), "PATH": "", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


CONTRACTS = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")


def test_the_package_keeps_every_contract() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in done.stdout, done.stdout


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + "\n" + line + "\n")


def test_a_broken_layer_fails_the_check(tmp_path: Path) -> None:
    """A copy of the package with one wrong import per contract: each contract breaks."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    copy = tmp_path / "ml_intern_jupyter"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("labextension", "__pycache__"))
    # a function-level import counts: the view may not reach back into the commands
    _append(copy / "notebook/view/live.py", "def _back():\n    from ..commands import run  # noqa")
    _append(copy / "agent/messages.py", "def _kernel():\n    import ipykernel  # noqa")
    _append(copy / "server/feed.py", "from ml_intern_jupyter.agent import session  # noqa")
    _append(copy / "notebook/render/markup.py", "import litellm  # noqa")
    _append(copy / "store/base.py", "def _up():\n    from ..agent import session  # noqa")
    done = lint(tmp_path)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert f"Contracts: 0 kept, {CONTRACTS} broken." in out, out
    for broken in (
        "ml_intern_jupyter.store is not allowed to import ml_intern_jupyter.agent",
        "No cycles are allowed in ml_intern_jupyter.notebook.",
        "ml_intern_jupyter.notebook.view is not allowed to import ml_intern_jupyter.notebook.commands",
        "ml_intern_jupyter.agent is not allowed to import ipykernel",
        "ml_intern_jupyter.server is not allowed to import ml_intern_jupyter.agent",
        "ml_intern_jupyter.notebook is not allowed to import litellm",
    ):
        assert broken in " ".join(out.split()), out

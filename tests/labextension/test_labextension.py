"""The JupyterLab sidebar (`labextension/`): packaging, the installed
extension, and its TypeScript unit tests (jest, run through `jlpm`).

The jest suite needs Node and `labextension/node_modules`, which the
editable install's build step (`pip install -e .`) creates. Without them the
tests are skipped with the reason, unless `ML_INTERN_REQUIRE_BROWSER=1`
(CI), which makes every frontend test mandatory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ml_intern_jupyter

ROOT = Path(__file__).resolve().parents[2]
LABEXT = ROOT / "labextension"
PACKAGE = json.loads((LABEXT / "package.json").read_text())
REQUIRED = os.environ.get("ML_INTERN_REQUIRE_BROWSER") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"labextension tests cannot run: {reason}")
    pytest.skip(reason)


def _bin(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def test_labextension_paths_name_the_built_package():
    (entry,) = ml_intern_jupyter._jupyter_labextension_paths()
    assert entry["dest"] == PACKAGE["name"]
    package_dir = Path(ml_intern_jupyter.__file__).parent
    built = (LABEXT / PACKAGE["jupyterlab"]["outputDir"]).resolve()
    assert (package_dir / entry["src"]).resolve() == built


def test_the_wheel_ships_the_build_under_the_extension_name():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shared = config["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    built = (LABEXT / PACKAGE["jupyterlab"]["outputDir"]).resolve().relative_to(ROOT)
    assert shared[str(built)] == f"share/jupyter/labextensions/{PACKAGE['name']}"
    hook = config["tool"]["hatch"]["build"]["hooks"]["jupyter-builder"]
    assert f"{built}/package.json" in hook["ensured-targets"]


def test_core_meta_is_pinned_to_the_lab_minor_it_builds_for():
    # Without it the builder downloads core metadata, which fails offline.
    pin = PACKAGE["devDependencies"]["@jupyterlab/core-meta"]
    assert pin.startswith("~4."), pin
    assert (LABEXT / "yarn.lock").is_file()
    assert "nodeLinker: node-modules" in (LABEXT / ".yarnrc.yml").read_text()


def test_the_installed_extension_is_listed_enabled():
    installed = [
        Path(p) / "labextensions" / PACKAGE["name"] / "package.json" for p in _jupyter_data_paths()
    ]
    if not any(p.is_file() for p in installed):
        _skip_or_fail(
            "the sidebar is not installed in this environment "
            "(pip install -e . builds and installs it; SKIP_JUPYTER_BUILDER=1 skips that)"
        )
    lister = _bin("jupyter-labextension")
    if lister is None:
        _skip_or_fail("JupyterLab is not installed (pip install -e '.[test]')")
    done = subprocess.run([lister, "list"], capture_output=True, text=True, timeout=120)
    listing = done.stdout + done.stderr
    line = next((ln for ln in listing.splitlines() if PACKAGE["name"] in ln), "")
    assert "enabled" in line and "OK" in line, listing


def _jupyter_data_paths() -> list[str]:
    from jupyter_core.paths import jupyter_path

    return jupyter_path()


@pytest.mark.timeout(330)
def test_jest_suite_of_the_sidebar_passes():
    if shutil.which("node") is None:
        _skip_or_fail("Node.js is not installed")
    if not (LABEXT / "node_modules" / "jest").is_dir():
        _skip_or_fail(
            "labextension/node_modules is missing (pip install -e . or `jlpm install` "
            "in labextension/ installs it from yarn.lock)"
        )
    jlpm = _bin("jlpm")
    if jlpm is None:
        _skip_or_fail("jlpm is not installed (it comes with jupyterlab / jupyter-builder)")
    done = subprocess.run(
        [jlpm, "run", "test", "--ci"],
        cwd=LABEXT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": "true"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "failed" not in output.split("Tests:")[-1].split("\n")[0], output[-3000:]

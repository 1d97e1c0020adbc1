"""Browser tests: headless Chromium (Debian's `chromium`) driven by `playwright-core`
from npm, against a real JupyterLab started here, whose kernels talk to the
scripted model server.

Each scenario is a Node script in this folder (`*.mjs`, helpers in `lab.mjs`);
`run_scenario` starts it with a JSON config in `SCENARIO_CONFIG` and reads the
JSON object it prints last. Screenshots go to `tests/browser/output/<test>/`
(kept after the run, failing or not).

The npm packages are installed from the lock file (`npm ci`) on the first run
when missing. Without Chromium or Node the tests are skipped, unless
`ML_INTERN_REQUIRE_BROWSER=1` (set by `.ci/run`), which turns a missing
browser into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.llm_server import FakeLLMServer

HERE = Path(__file__).parent
OUTPUT = HERE / "output"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit
    for path in CHROMIUM_CANDIDATES:
        if os.path.exists(path):
            return path
    return shutil.which("chromium")


def _missing() -> str | None:
    if _chromium() is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            return "npm is not installed"
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return f"npm ci in tests/browser failed: {done.stderr.strip()[-500:]}"
    if shutil.which("jupyter-lab") is None and not _has_module("jupyterlab"):
        return "JupyterLab is not installed (pip install -e '.[test]')"
    return None


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="session", autouse=True)
def browser_available() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("ML_INTERN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def write_notebook(self, name: str, sources: list[str]) -> str:
        cells = [
            {
                "cell_type": "code",
                "metadata": {},
                "source": src,
                "outputs": [],
                "execution_count": None,
            }
            for src in sources
        ]
        nb = {
            "cells": cells,
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        for i, cell in enumerate(cells):
            cell["id"] = f"cell-{i}"
        (self.root / name).write_text(json.dumps(nb))
        return name


@pytest.fixture(scope="module")
def lab(llm_server: FakeLLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A real JupyterLab on loopback; its kernels use the scripted model server."""
    root = tmp_path_factory.mktemp("lab")
    home = tmp_path_factory.mktemp("home")
    port, token = _free_port(), "browser-test-token"
    env = {
        **os.environ,
        "VLLM_BASE_URL": llm_server.url,
        "ML_INTERN_MODEL": "vllm/test-model",
        "ML_INTERN_HOME": str(home / "intern"),
        "ML_INTERN_SHARE_TRACES": "false",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "HOME": str(home),
    }
    env.pop("HF_TOKEN", None)
    log = root.parent / f"{root.name}-lab.log"
    cmd = lab_command(port, token, root)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, token, proc, log)
        yield Lab(url=url, token=token, root=root, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def lab_command(port: int, token: str, root: Path) -> list[str]:
    """JupyterLab on loopback for a headless browser: the page exposes
    `window.jupyterapp`, no news or update checks."""
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--ServerApp.allow_root=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]


def _wait_ready(url: str, token: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not start in 60 s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def run_scenario(lab: Lab, request: pytest.FixtureRequest):
    """Run `tests/browser/<name>.mjs` with `config`; return the JSON it printed last."""
    shots = OUTPUT / request.node.name
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)

    def run(name: str, timeout: float = 150, **config: Any) -> dict[str, Any]:
        payload = {
            "url": lab.url,
            "token": lab.token,
            "chromium": _chromium(),
            "screenshots": str(shots),
            **config,
        }
        proc = subprocess.run(
            ["node", str(HERE / f"{name}.mjs")],
            env={**os.environ, "SCENARIO_CONFIG": json.dumps(payload)},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = lab.log.read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"scenario {name} failed (exit {proc.returncode}); screenshots in {shots}\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}\n"
                f"JupyterLab log (tail):\n{tail}"
            )
        return json.loads(lines[-1])

    return run

"""Shared pytest fixtures.

Nothing here reaches the network: model calls go to a scripted loopback server
(`tests.fakes.llm_server.FakeLLMServer`).

Fixtures
--------
``fake_llm``
    A started `FakeLLMServer` (OpenAI-compatible, on 127.0.0.1, random port);
    stopped after the test. Script replies with ``fake_llm.script(Reply(...),
    ErrorReply.rate_limit(...), Disconnect(), ...)`` and inspect
    ``fake_llm.requests[-1].headers`` / ``.body`` afterwards.

``server``
    The same server as ``fake_llm`` (the name the session and loop tests use).

``llm_env``
    Points the process environment at ``fake_llm`` (via monkeypatch, undone
    after the test): ``VLLM_BASE_URL`` = the fake's url, so a model id
    ``vllm/test-model`` talks to it; ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so
    importing litellm never downloads its price map; ``ML_INTERN_HOME`` = a
    fresh tmp dir (sessions, stores); and ``HF_TOKEN`` cleared, so nothing
    can use the developer's real token. Returns the fake server.
    Code that takes ``env=`` explicitly does not need it.

``fast_retry_config``
    A `Config` for ``vllm/test-model`` with millisecond retry waits, for
    tests that exercise retries without sleeping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_intern_jupyter.config import Config
from tests.fakes.llm_server import FakeLLMServer

# No test may reach a real Hub: sessions made by tests (and the kernels they
# start, which inherit this) do not upload traces unless a test asks for it.
os.environ.setdefault("ML_INTERN_SHARE_TRACES", "false")

# Nor the Hugging Face MCP server, which the packaged defaults connect to.
os.environ.setdefault("ML_INTERN_SHARE_HF_MCP", "false")

# Importing litellm (anywhere, any test) must never try the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


# The research tools' services default to the real internet: point them at a
# loopback port nothing listens on ("Cannot reach ..."), so a test that forgets
# its fake fails fast instead of going out. Tests that need one set its URL.
def _closed_loopback_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


for _var in (
    "GITHUB_API_URL",
    "ML_INTERN_SEARCH_URL",
    "BRAVE_SEARCH_API_URL",
    "SEMANTIC_SCHOLAR_API_URL",
):
    os.environ.setdefault(_var, _closed_loopback_url())
os.environ.pop("BRAVE_SEARCH_API_KEY", None)

FAKE_MODEL_ID = "vllm/test-model"


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A running scripted OpenAI-compatible server; stopped after the test."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def server(fake_llm: FakeLLMServer) -> FakeLLMServer:
    """`fake_llm` under the name the session tests use."""
    return fake_llm


@pytest.fixture
def llm_env(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> FakeLLMServer:
    """Environment for code that reads os.environ: local model -> the fake server."""
    home = tmp_path / "ml_intern_home"
    home.mkdir()
    monkeypatch.setenv("VLLM_BASE_URL", fake_llm.url)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("ML_INTERN_HOME", str(home))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ML_INTERN_MODEL", "ML_INTERN_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return fake_llm


@pytest.fixture
def fast_retry_config() -> Config:
    """Config for the fake model whose retry waits are milliseconds."""
    return Config(
        model_name=FAKE_MODEL_ID,
        retry_rate_limit_waits_s=[0.001, 0.002],
        retry_transient_waits_s=[0.001, 0.002, 0.003],
        retry_after_max_s=5,
    )


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLLMServer]:
    """One scripted model server per module (for kernels and JupyterLab started once per module)."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake(llm_server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The module's scripted model server, emptied before and after each test."""
    llm_server.reset()
    yield llm_server
    llm_server.reset()

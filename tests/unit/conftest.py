"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_intern_jupyter.store.sqlite import SqliteStore
from tests.fakes.hub_server import FakeHub
from tests.fakes.llm_server import FakeLLMServer
from tests.hub_harness import serve_hub


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake Hub on loopback, with the environment pointed at it."""
    yield from serve_hub(monkeypatch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """An empty SQLite session store in the test's directory."""
    s = SqliteStore.open(tmp_path / "home")
    yield s
    s.close()


@pytest.fixture
def router_env(fake_llm: FakeLLMServer) -> dict[str, str]:
    """Environment that points the router path at the scripted model server."""
    return {"ML_INTERN_ROUTER_BASE_URL": fake_llm.url, "HF_TOKEN": "hf_testtoken"}

"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_intern_jupyter.store.sqlite import SqliteStore
from tests.fakes.hub_server import FakeHub
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

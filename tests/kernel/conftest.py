"""Fixtures for tests in real kernels: one fake LLM server and one kernel per module.

Every test collected under this directory gets the `kernel` marker, so
`-m "not kernel"` skips them and `-m kernel` runs only them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.hub_server import FakeHub
from tests.fakes.llm_server import FakeLLMServer
from tests.kernel.helpers import KernelHarness

_names = itertools.count(1)
_HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.kernel)


@pytest.fixture(scope="module")
def kernel(
    llm_server: FakeLLMServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KernelHarness]:
    """A kernel with the extension loaded (its litellm pre-warm finished)."""
    harness = KernelHarness(Path(tmp_path_factory.mktemp("kernel")), llm_server.url).start()
    try:
        harness.run_ok("%load_ext ml_intern_jupyter")
        harness.run_ok(
            "from ml_intern_jupyter.runtime import get_runtime\nget_runtime().prewarm().result(120)"
        )
        yield harness
    finally:
        harness.stop()


@pytest.fixture
def session_name() -> str:
    """A fresh session name per test, so tests in one kernel do not share history."""
    return f"t{next(_names)}"


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    """A fake Hub on loopback for the module's kernels (pass them its url and token)."""
    fake = FakeHub().start()
    try:
        yield fake
    finally:
        fake.stop()

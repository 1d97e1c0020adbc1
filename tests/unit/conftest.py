"""Fixtures shared by the unit tests.

``ip`` is IPython's shell with the extension loaded; ``fresh_sessions``
gives the test an empty session map (a freshly started kernel's) and shuts
down the sessions the test made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ml_intern_jupyter.notebook.conductor import sessions as sessions_module
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


def shutdown_sessions() -> None:
    """Shut down every session in this process's session map."""
    current = sessions_module._sessions
    if current is not None:
        from ml_intern_jupyter.agent.messages import Shutdown

        for _name, conductor in current.items():
            current.runtime.submit(conductor.session.id, Shutdown())


@pytest.fixture
def ip() -> Iterator[InteractiveShell]:
    """IPython's shell with the extension loaded (unloaded after the test)."""
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("ml_intern_jupyter")
    yield shell
    shell.extension_manager.unload_extension("ml_intern_jupyter")


@pytest.fixture
def fresh_sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This kernel's session map starts empty; sessions made here are shut down after."""
    monkeypatch.setattr(sessions_module, "_sessions", None)
    yield
    shutdown_sessions()

"""ml-intern-jupyter: an ML engineering agent that lives inside your Jupyter kernel.

Importing this package is cheap: litellm, huggingface_hub and jupyter_server
are imported lazily, on the intern thread, when first needed.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter Server extension; jupyter_server is imported only here."""
    from .server import MLInternApp

    return [{"module": "ml_intern_jupyter.server", "app": MLInternApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The JupyterLab sidebar, built into `ml_intern_jupyter/labextension/`
    (`jupyter labextension develop` links it; wheels ship it under
    `share/jupyter/labextensions/ml-intern-jupyter`)."""
    return [{"src": "labextension", "dest": "ml-intern-jupyter"}]


def load_ipython_extension(ipython: Any) -> None:  # pragma: no cover - arrives with the magics
    from .notebook.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:  # pragma: no cover
    from .notebook.magics import unload

    unload(ipython)

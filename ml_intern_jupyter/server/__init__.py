"""Jupyter Server extension: the session store over REST and a websocket feed.

Enabled by `jupyter-config/jupyter_server_config.d/ml_intern_jupyter.json`
(installed with the package); found through
`ml_intern_jupyter._jupyter_server_extension_points`. Never imports the agent.
"""

from __future__ import annotations

from .app import MLInternApp

__all__ = ["MLInternApp"]

"""The Hugging Face login: `%intern login` and the live view's login button."""

from __future__ import annotations

from typing import Any

__all__ = ["login"]


def login(shell: Any = None) -> None:
    """Log in to Hugging Face: a form in notebooks, a prompt in a terminal."""
    import huggingface_hub

    if shell is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
    if type(shell).__name__ == "ZMQInteractiveShell":
        huggingface_hub.notebook_login()
    else:
        huggingface_hub.interpreter_login()

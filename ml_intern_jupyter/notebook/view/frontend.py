"""Can this cell show widgets? Decides between the live view and text mode.

`ML_INTERN_DISPLAY=text|widgets` forces a mode. Otherwise widgets need a
kernel (not terminal IPython) with a comm manager, and a frontend that is
interactive: nbclient (and so nbconvert and papermill) sends every cell with
`allow_stdin=False`, because nobody is there to answer — nor to click.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["DISPLAY_ENV", "widgets_available"]

DISPLAY_ENV = "ML_INTERN_DISPLAY"


def widgets_available(shell: Any) -> bool:
    forced = os.environ.get(DISPLAY_ENV, "").strip().lower()
    if forced in ("text", "plain", "markdown"):
        return False
    if forced in ("widget", "widgets"):
        return True
    kernel = getattr(shell, "kernel", None)
    if kernel is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    if not _has_comm_manager(kernel):
        return False
    return bool(getattr(kernel, "_allow_stdin", True))


def _has_comm_manager(kernel: Any) -> bool:
    if getattr(kernel, "comm_manager", None) is not None:
        return True
    try:  # ipykernel >= 6.18 keeps it in the `comm` package
        import comm

        return comm.get_comm_manager() is not None
    except Exception:
        return False

"""`%%intern` and `%intern`: the IPython glue (the magics, `%load_ext`).

Parsing and the commands are in `commands`; this module only hands a line or
a cell to them.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from .commands import run as commands
from .commands.parse import parse_cell_line, parse_line
from .sidebar import channel as sidebar

__all__ = ["InternMagics", "load", "unload"]


@magics_class
class InternMagics(Magics):
    @line_cell_magic
    def intern(self, line: str, cell: str | None = None) -> Any:
        """Ask the ML intern (`%%intern`) or run a command (`%intern help`)."""
        if cell is None:
            return commands.run_line(self.shell, parse_line(line))
        return commands.run_cell(self.shell, parse_cell_line(line), cell)


def load(ipython: Any) -> None:
    """Register the magics and the sidebar's comm target, start warming up the intern
    thread (cheap; idempotent)."""
    ipython.register_magics(InternMagics)
    sidebar.register(ipython)
    commands.prewarm()


def unload(ipython: Any) -> None:
    sidebar.unregister()
    magics = ipython.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("intern", None)

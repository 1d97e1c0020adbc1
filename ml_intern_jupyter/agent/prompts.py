"""The system prompt a session starts with (template: `system_prompt.md`)."""

from __future__ import annotations

import datetime as _dt
import getpass
from pathlib import Path

__all__ = ["system_prompt"]

_TEMPLATE = Path(__file__).with_name("system_prompt.md")


def system_prompt(
    tool_names: list[str],
    *,
    user: str | None = None,
    today: _dt.date | None = None,
    workdir: Path | None = None,
) -> str:
    if user is None:
        try:
            user = getpass.getuser()
        except Exception:
            user = "unknown"
    return (
        _TEMPLATE.read_text(encoding="utf-8")
        .format(
            date=(today or _dt.date.today()).isoformat(),
            user=user,
            workdir=workdir or Path.cwd(),
            n_tools=len(tool_names),
            tools=", ".join(tool_names),
        )
        .strip()
    )

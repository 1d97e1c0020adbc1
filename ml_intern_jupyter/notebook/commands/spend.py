"""What `%intern cost` adds about money: the notebook's spend across its
sessions (saved and live), in total and today.

A saved session records its spend by local day (`metadata["spend"]`, written
by `agent/persistence.py`); a session saved before that counts as today's
only if it was created today. Live sessions of this kernel are read from
their totals, which are newer than the store's copy.
"""

from __future__ import annotations

import datetime
from typing import Any

__all__ = ["notebook_spend", "spend_lines"]

LIMIT = 10_000


def _today() -> str:
    return datetime.date.today().isoformat()


def notebook_spend(
    records: list[Any], live: dict[str, Any], today: str | None = None
) -> dict[str, Any]:
    """{"sessions", "total_usd", "today_usd"} from store records and live totals (by id)."""
    today = today or _today()
    total = day = 0.0
    ids: set[str] = set()
    for record in records:
        if record.id in live:
            continue
        ids.add(record.id)
        total += record.cost_usd or 0.0
        spend = (record.metadata or {}).get("spend")
        if isinstance(spend, dict) and isinstance(spend.get("by_day"), dict):
            value = spend["by_day"].get(today)
            day += float(value) if isinstance(value, int | float) else 0.0
        elif datetime.date.fromtimestamp(record.created).isoformat() == today:
            day += record.cost_usd or 0.0
    for session_id, totals in live.items():
        ids.add(session_id)
        total += totals.cost_usd
        day += totals.by_day.get(today, 0.0)
    return {"sessions": len(ids), "total_usd": total, "today_usd": day}


def spend_lines(sessions: Any) -> list[str]:
    """Lines for `%intern cost` about the whole notebook (reads the store: blocking)."""
    from ...config import load_config
    from ...errors import InternError
    from ...store.base import StoreError

    snaps = [c.session.describe() for _n, c in sessions.items()]
    live = {snap.session_id: snap.totals for snap in snaps}
    records: list[Any] = []
    note = ""
    try:
        config = load_config()
        store = sessions.saving.get(config)
        if store is None:
            note = " (this kernel's sessions only: " + sessions.saving.why_not(config) + ")"
        else:
            records = store.list_sessions(notebook=sessions.notebook(), limit=LIMIT)
    except (InternError, StoreError) as exc:
        note = f" (this kernel's sessions only: the saved ones cannot be read: {exc})"
    spend = notebook_spend(records, live)
    if not spend["sessions"]:
        return []
    return [
        f"This notebook: ${spend['total_usd']:.4f} across {spend['sessions']} session(s), "
        f"${spend['today_usd']:.4f} today{note}"
    ]

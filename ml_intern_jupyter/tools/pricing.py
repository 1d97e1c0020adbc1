"""Hourly prices of HF Jobs hardware.

The Hub lists its hardware with prices (`GET /api/jobs/hardware`); the jobs
tool refreshes that listing at most once an hour and caches it in memory.
Until the first refresh succeeds (or without network) a packaged table of
common flavors is used. Lookups are synchronous and never do I/O, because
cost estimates are asked for on the agent loop before a call is approved.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

__all__ = [
    "FALLBACK_HOURLY_USD",
    "clear_cache",
    "hourly_price",
    "is_cpu",
    "known_flavors",
    "prices_from_listing",
    "refresh",
]

# USD per hour; the Hub's own listing replaces these when it can be fetched.
FALLBACK_HOURLY_USD: dict[str, float] = {
    "cpu-basic": 0.01,
    "cpu-upgrade": 0.03,
    "t4-small": 0.40,
    "t4-medium": 0.60,
    "l4x1": 0.80,
    "l4x4": 3.80,
    "a10g-small": 1.00,
    "a10g-large": 1.50,
    "a10g-largex2": 3.00,
    "a10g-largex4": 5.00,
    "a100-large": 2.50,
    "h100": 4.50,
    "h100x8": 36.00,
}
CACHE_TTL_S = 3600.0
_PER_HOUR = {"second": 3600.0, "minute": 60.0, "hour": 1.0}

_live: dict[str, float] = {}
_last_attempt: float | None = None


def is_cpu(flavor: str) -> bool:
    """CPU flavors are `cpu-*`; anything else (unknown names too) counts as GPU."""
    return flavor.strip().lower().startswith("cpu")


def hourly_price(flavor: str) -> float | None:
    """USD per hour of `flavor`, or None when it is not known."""
    name = flavor.strip().lower()
    if name in _live:
        return _live[name]
    return FALLBACK_HOURLY_USD.get(name)


def known_flavors() -> list[str]:
    return sorted({*_live, *FALLBACK_HOURLY_USD})


def prices_from_listing(items: Iterable[Any]) -> dict[str, float]:
    """Hourly prices from `HfApi.list_jobs_hardware()` entries (unit costs per minute etc.)."""
    prices: dict[str, float] = {}
    for item in items:
        factor = _PER_HOUR.get(str(getattr(item, "unit_label", "")).lower())
        cost = getattr(item, "unit_cost_usd", None)
        if factor is None or not isinstance(cost, (int, float)):
            continue
        prices[str(item.name).lower()] = round(float(cost) * factor, 6)
    return prices


def refresh(api: Any, *, now: float | None = None) -> bool:
    """Fetch the Hub's hardware listing if the cache is stale (blocking; best effort).

    Returns True when prices were updated. Failures keep the previous table and
    are not retried until the TTL has passed, so a broken network costs one
    attempt an hour, not one per call.
    """
    global _last_attempt
    now = time.monotonic() if now is None else now
    if _last_attempt is not None and now - _last_attempt < CACHE_TTL_S:
        return False
    _last_attempt = now
    try:
        prices = prices_from_listing(api.list_jobs_hardware())
    except Exception:
        return False
    if not prices:
        return False
    _live.clear()
    _live.update(prices)
    return True


def clear_cache() -> None:
    global _last_attempt
    _live.clear()
    _last_attempt = None

"""The Hugging Face router's live catalog (`GET /v1/models`): one copy per
router base URL, read at most every five minutes.

Each model lists its providers in the router's shape::

    {"id": "org/model", "providers": [{"provider": "novita", "status": "live",
      "context_length": 131072, "pricing": {"input": 0.6, "output": 2.5},
      "supports_tools": true}, ...]}

(prices in USD per million tokens). `llm.py` reads prices and context lengths
from it (`entry`); `%intern model` lists it (`models`, `suggested`) and checks
an id against it (`check`). Every field is optional: what a provider does not
say is shown as unknown, never guessed.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "CATALOG_TTL_S",
    "CatalogEntry",
    "Check",
    "ModelInfo",
    "ProviderInfo",
    "check",
    "entry",
    "fetch",
    "models",
    "router_endpoint",
    "start_fetch",
    "suggested",
]

ROUTER_BASE_URL = "https://router.huggingface.co/v1"
CATALOG_TTL_S = 300.0
CATALOG_TIMEOUT_S = 10.0
# After a failed read the calls' own fetch waits this long before trying again
# (`%intern model` asks again whenever the user runs it).
CATALOG_RETRY_S = 300.0
POLICIES = ("fastest", "cheapest")

# The models `%intern model` lists first (when the router serves them), then
# the router's other models with a live provider that takes tool calls.
SUGGESTED = (
    "moonshotai/Kimi-K2.6",
    "moonshotai/Kimi-K2-Instruct-0905",
    "zai-org/GLM-4.6",
    "deepseek-ai/DeepSeek-V3.2",
    "MiniMaxAI/MiniMax-M2",
    "Qwen/Qwen3-Coder-480B-A35B-Instruct",
    "Qwen/Qwen3-235B-A22B-Instruct-2507",
    "openai/gpt-oss-120b",
)
SUGGESTED_MAX = 12

# router base url -> {model id -> [provider dicts]}
_catalogs: dict[str, dict[str, list[dict[str, Any]]]] = {}
_fetched_at: dict[str, float] = {}
_catalog_failed_at: dict[str, float] = {}
_last_error: dict[str, str] = {}
_inflight: dict[str, asyncio.Future[Any]] = {}


# ------------------------------------------------------------------ reading


def router_endpoint(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(base url, token or "") of the router, as model calls resolve them."""
    env = os.environ if env is None else env
    base = env.get("ML_INTERN_ROUTER_BASE_URL") or ROUTER_BASE_URL
    token = env.get("HF_TOKEN") or ""
    if not token:
        try:
            from huggingface_hub import get_token

            token = get_token() or ""
        except Exception:
            token = ""
    return base, token


def _fresh(base: str) -> bool:
    return base in _catalogs and time.monotonic() - _fetched_at.get(base, -1e18) < CATALOG_TTL_S


def start_fetch(base: str, api_key: str) -> asyncio.Future[Any] | None:
    """Start reading the catalog unless it is fresh or just failed (None then)."""
    if _fresh(base):
        return None
    failed = _catalog_failed_at.get(base)
    if failed is not None and time.monotonic() - failed < CATALOG_RETRY_S:
        return None
    return _shared_fetch(base, api_key)


def _shared_fetch(base: str, api_key: str) -> asyncio.Future[Any]:
    """One read at a time per base on this loop; a second caller joins it."""
    loop = asyncio.get_running_loop()
    running = _inflight.get(base)
    if running is not None and not running.done() and running.get_loop() is loop:
        return running
    task = asyncio.ensure_future(_fetch_catalog(base, api_key))
    _inflight[base] = task
    return task


async def wait(task: asyncio.Future[Any]) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), CATALOG_TIMEOUT_S)
    except Exception:
        pass  # best effort: without it the cost is unknown


async def fetch(base: str, api_key: str) -> dict[str, list[dict[str, Any]]] | None:
    """The catalog, read now unless the copy is fresh; None when unreachable
    (`last_error` says why). A stale copy is returned if a new read fails."""
    if not _fresh(base):
        await wait(_shared_fetch(base, api_key))
    return _catalogs.get(base)


def last_error(base: str) -> str:
    return _last_error.get(base, "")


async def _fetch_catalog(base: str, api_key: str) -> None:
    from . import openai_compat

    try:
        payload = await openai_compat.get_json(
            base.rstrip("/") + "/models", api_key=api_key, timeout=CATALOG_TIMEOUT_S
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for item in (payload.get("data") if isinstance(payload, dict) else None) or []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                providers = item.get("providers")
                found[item["id"]] = [
                    p
                    for p in (providers if isinstance(providers, list) else [])
                    if isinstance(p, dict)
                ]
    except Exception as exc:
        log.info("router catalog unavailable: %s", exc)
        _catalog_failed_at[base] = time.monotonic()
        _last_error[base] = str(exc) or type(exc).__name__
        return
    _catalogs[base] = found
    _fetched_at[base] = time.monotonic()
    _catalog_failed_at.pop(base, None)
    _last_error.pop(base, None)


# ------------------------------------------------------------ prices/context


@dataclass(frozen=True)
class CatalogEntry:
    input_per_mtok: float | None
    output_per_mtok: float | None
    context_length: int | None


def _split(model_id: str) -> tuple[str, str]:
    """(model, policy or provider in lower case, "" if none)."""
    name, _, suffix = model_id.strip().partition(":")
    return name, suffix.strip().lower()


def _price(p: Mapping[str, Any]) -> tuple[float, float] | None:
    pricing = p.get("pricing")
    if not isinstance(pricing, dict):
        return None
    try:
        return float(pricing.get("input") or 0.0), float(pricing.get("output") or 0.0)
    except (TypeError, ValueError):
        return None


def _live(p: Mapping[str, Any]) -> bool:
    return p.get("status", "live") == "live"


def entry(base: str, model_id: str) -> CatalogEntry | None:
    """Price and context of a router id from the catalog (None until it is read).

    `:provider` picks that provider; `:cheapest` the lowest price; no suffix or
    `:fastest` (the router's choice, not known here) the highest, so a budget
    is never under-counted. The context length is that provider's, or the
    smallest among them.
    """
    catalog = _catalogs.get(base)
    if not catalog:
        return None
    name, policy = _split(model_id)
    providers = catalog.get(name)
    if not providers:
        return None
    live = [p for p in providers if _live(p)] or providers
    if policy and policy not in POLICIES:
        live = [p for p in providers if str(p.get("provider", "")).lower() == policy]
        if not live:
            return None
    priced = [(pr, p) for p in live if (pr := _price(p)) is not None]
    chosen: tuple[float, float] | None = None
    if priced:
        key = lambda item: item[0][0] + item[0][1]  # noqa: E731
        chosen = (min if policy == "cheapest" else max)(priced, key=key)[0]
    lengths = [int(p["context_length"]) for p in live if isinstance(p.get("context_length"), int)]
    return CatalogEntry(
        input_per_mtok=chosen[0] if chosen else None,
        output_per_mtok=chosen[1] if chosen else None,
        context_length=min(lengths) if lengths else None,
    )


# ------------------------------------------------------------------ listing


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    live: bool
    status: str
    input_per_mtok: float | None
    output_per_mtok: float | None
    context_length: int | None
    tools: bool | None  # None: the router does not say

    def describe(self) -> str:
        price = (
            f"${self.input_per_mtok:g} in / ${self.output_per_mtok:g} out per M tokens"
            if self.input_per_mtok is not None and self.output_per_mtok is not None
            else "price unknown"
        )
        context = f"{self.context_length:,} context" if self.context_length else "context unknown"
        tools = {True: "tools", False: "no tools", None: "tools unknown"}[self.tools]
        state = "" if self.live else f" ({self.status})"
        return f"{self.name}{state}: {price} · {context} · {tools}"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    providers: tuple[ProviderInfo, ...] = field(default_factory=tuple)

    @property
    def live(self) -> list[ProviderInfo]:
        return [p for p in self.providers if p.live]

    @property
    def tools(self) -> bool | None:
        """Some live provider takes tool calls (True), none says so (False), unknown (None)."""
        flags = [p.tools for p in self.live]
        if any(f is True for f in flags):
            return True
        if flags and all(f is False for f in flags):
            return False
        return None

    @property
    def cheapest(self) -> ProviderInfo | None:
        priced = [p for p in self.live if p.input_per_mtok is not None]
        return (
            min(priced, key=lambda p: (p.input_per_mtok or 0) + (p.output_per_mtok or 0))
            if priced
            else None
        )

    @property
    def context_length(self) -> int | None:
        lengths = [p.context_length for p in self.live if p.context_length]
        return max(lengths) if lengths else None


def _provider(raw: Mapping[str, Any]) -> ProviderInfo:
    price = _price(raw)
    context = raw.get("context_length")
    tools = raw.get("supports_tools")
    status = str(raw.get("status", "live"))
    return ProviderInfo(
        name=str(raw.get("provider") or "?"),
        live=status == "live",
        status=status,
        input_per_mtok=price[0] if price else None,
        output_per_mtok=price[1] if price else None,
        context_length=int(context) if isinstance(context, int) and context > 0 else None,
        tools=tools if isinstance(tools, bool) else None,
    )


def models(catalog: Mapping[str, list[dict[str, Any]]]) -> dict[str, ModelInfo]:
    return {
        model_id: ModelInfo(model_id, tuple(_provider(p) for p in providers))
        for model_id, providers in catalog.items()
    }


def suggested(
    catalog: Mapping[str, ModelInfo], current: str | None = None, *, limit: int = SUGGESTED_MAX
) -> list[ModelInfo]:
    """The current model, the packaged suggestions the router serves, then other
    models with a live provider taking tool calls (most providers first)."""
    chosen: list[str] = []
    current_name = _split(current)[0] if current else ""
    for model_id in (current_name, *SUGGESTED):
        if model_id in catalog and model_id not in chosen:
            chosen.append(model_id)
    rest = sorted(
        (m for m in catalog.values() if m.id not in chosen and m.tools),
        key=lambda m: (-len(m.live), m.id.lower()),
    )
    chosen.extend(m.id for m in rest)
    return [catalog[m] for m in chosen[: max(limit, 1)]]


# ----------------------------------------------------------------- checking


@dataclass
class Check:
    known: bool
    warnings: list[str] = field(default_factory=list)
    close: list[str] = field(default_factory=list)  # "did you mean"
    providers: list[ProviderInfo] = field(default_factory=list)  # what the id would use


def check(model_id: str, catalog: Mapping[str, ModelInfo]) -> Check:
    """What the catalog says about a router id: unknown (with close matches),
    no live provider, a pinned provider not serving it, no tool support."""
    name, policy = _split(model_id)
    info = catalog.get(name)
    if info is None:
        lowered = {m.lower(): m for m in catalog}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
        close += [
            m
            for m in difflib.get_close_matches(name, list(catalog), n=3, cutoff=0.6)
            if m not in close
        ]
        if len(close) < 3:  # the part after the org, e.g. a model moved between orgs
            tail = name.rsplit("/", 1)[-1].lower()
            tails = {m.rsplit("/", 1)[-1].lower(): m for m in catalog}
            for t in difflib.get_close_matches(tail, list(tails), n=3, cutoff=0.75):
                if tails[t] not in close:
                    close.append(tails[t])
        return Check(known=False, close=close[:3])
    result = Check(known=True)
    if policy and policy not in POLICIES:
        pinned = [p for p in info.providers if p.name.lower() == policy]
        if not pinned:
            serving = ", ".join(p.name for p in info.live) or "none live"
            result.warnings.append(
                f"Provider '{policy}' does not serve {name} (served by: {serving})."
            )
            return result
        if not pinned[0].live:
            result.warnings.append(
                f"Provider '{pinned[0].name}' lists {name} but it is not live ({pinned[0].status})."
            )
        result.providers = pinned
        if pinned[0].tools is False:
            result.warnings.append(
                f"{name} on '{pinned[0].name}' does not support tool calls, which the intern needs."
            )
        return result
    result.providers = list(info.providers)
    if not info.live:
        result.warnings.append(f"No provider serves {name} live right now.")
        return result
    if info.tools is False:
        result.warnings.append(
            f"No live provider of {name} supports tool calls, which the intern needs."
        )
    elif info.tools:
        without = [p.name for p in info.live if p.tools is False]
        if without:
            with_tools = next(p.name for p in info.live if p.tools)
            result.warnings.append(
                f"Not every provider of {name} supports tool calls ({', '.join(without)} do not); "
                f"pin one that does, e.g. {name}:{with_tools}."
            )
    return result

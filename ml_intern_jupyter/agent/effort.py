"""Reasoning effort: which level a model takes, found once and remembered.

The configured `reasoning_effort` is a ceiling. The first call to a model
(per session, unless the store already knows it) is preceded by a probe: a
tiny request (`max_tokens` 64) tried at `high`, then `medium`, `low`,
`minimal`, until the server accepts one; a refusal of every level means the
model takes no effort at all. The highest accepted level is kept in the
session and in the store (`effort:<model id>`), so a restart does not probe
again. A call is then sent with the lower of the ceiling and that level.

Rules:
* local servers (`ollama/`, `vllm/`, `lm_studio/`, `llamacpp/`) never get an
  effort: most of them reject or ignore the field, and none needs a probe;
* `minimal` exists only on OpenAI's own API (`litellm/openai/`,
  `litellm/azure/`); elsewhere it is sent as `low`;
* a 400 naming the effort mid-run lowers the level one step (remembered)
  and the call is retried once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .llm import ModelTarget

log = logging.getLogger(__name__)

# Highest first; "none" is the floor (no effort field sent).
CASCADE = ("high", "medium", "low", "minimal", "none")
PROBE_MAX_TOKENS = 64
PROBE_MESSAGES = [{"role": "user", "content": "Reply with the word ok."}]
_MINIMAL_PROVIDERS = ("openai/", "azure/")
_EFFORT_WORDS = ("reasoning_effort", "reasoning effort", "effort", "reasoning", "thinking")
_SIGNATURE_WORDS = ("signature", "thinking_blocks", "thinking block", "reasoning_content")
STORE_PREFIX = "effort:"


def takes_effort(target: ModelTarget) -> bool:
    """Whether requests to this target may carry a reasoning effort at all."""
    from .llm import VIA_LITELLM

    return target.is_router or target.via == VIA_LITELLM


def provider_level(level: str, target: ModelTarget) -> str:
    """The level as this provider spells it (`minimal` -> `low` where it lacks it)."""
    from .llm import VIA_LITELLM

    if level == "minimal" and not (
        target.via == VIA_LITELLM and target.model.startswith(_MINIMAL_PROVIDERS)
    ):
        return "low"
    return level


def rank(level: str) -> int:
    """0 for `high` ... 4 for `none` (lower rank = more effort)."""
    return CASCADE.index(level) if level in CASCADE else len(CASCADE) - 1


def lower(level: str) -> str:
    """The next level down the cascade (`none` stays `none`)."""
    return CASCADE[min(rank(level) + 1, len(CASCADE) - 1)]


def effective(ceiling: str | None, supported: str | None) -> str | None:
    """The level to send: the lower of what is asked and what the model takes."""
    if not ceiling or ceiling == "none":
        return None
    if supported is None:
        return ceiling
    level = CASCADE[max(rank(ceiling), rank(supported))]
    return None if level == "none" else level


def probe_levels(target: ModelTarget) -> list[str]:
    """Levels to try in order, without repeats once mapped to the provider."""
    seen: set[str] = set()
    out: list[str] = []
    for level in CASCADE[:-1]:
        mapped = provider_level(level, target)
        if mapped not in seen:
            seen.add(mapped)
            out.append(level)
    return out


def names_effort(text: str) -> bool:
    text = text.lower()
    return any(w in text for w in _EFFORT_WORDS)


def names_signature(text: str) -> bool:
    text = text.lower()
    return any(w in text for w in _SIGNATURE_WORDS)


class EffortMemo:
    """The levels models take: in memory for the session, and in the store if one is attached.

    `store_getter()` returns the session's store (or None); store reads and writes
    run in a worker thread and their failures only cost a probe."""

    def __init__(self, store_getter: Any = None):
        self._levels: dict[str, str] = {}
        self._store_getter = store_getter or (lambda: None)
        self.strip_reasoning: set[str] = set()  # model ids that refused our thinking blocks

    async def get(self, model_id: str) -> str | None:
        if model_id in self._levels:
            return self._levels[model_id]
        store = self._store_getter()
        if store is None:
            return None
        try:
            raw = await asyncio.to_thread(store.get_setting, STORE_PREFIX + model_id)
        except Exception as exc:
            log.info("effort cache unreadable: %s", exc)
            return None
        if not raw:
            return None
        try:
            level = json.loads(raw).get("level")
        except (ValueError, AttributeError):
            return None
        if level in CASCADE:
            self._levels[model_id] = level
            return level
        return None

    async def put(self, model_id: str, level: str) -> None:
        self._levels[model_id] = level
        store = self._store_getter()
        if store is None:
            return
        value = json.dumps({"level": level, "probed_at": time.time()})
        try:
            await asyncio.to_thread(store.put_setting, STORE_PREFIX + model_id, value)
        except Exception as exc:
            log.info("effort cache not saved: %s", exc)

    def known(self, model_id: str) -> str | None:
        return self._levels.get(model_id)

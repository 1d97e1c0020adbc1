"""Prompt caching and the outgoing copy of the history.

Which models get what (the rule):
* **Anthropic-style markers** for Claude models: `litellm/anthropic/...`, any
  other litellm id whose model names `claude` (Bedrock, Vertex, ...), and
  router ids whose org is `anthropic/` or whose name contains `claude`. The
  last tool spec and the nearest system/user message before the end get
  `cache_control: {"type": "ephemeral"}` (the message's text becomes one text
  block carrying it); router requests also carry a top-level `cache_control`.
* **`prompt_cache_key` = session id** for OpenAI's own API
  (`litellm/openai/...`, `litellm/azure/...`), which routes requests with the
  same key to the same cache.
* Nothing for everyone else: local servers and the router's other providers
  cache by prefix on their own, and an unknown field can be refused.

The saved history is never changed: markers and stripping go on a copy made
for the request (only the messages that change are copied).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .llm import ModelTarget

EPHEMERAL = {"type": "ephemeral"}
ANTHROPIC = "anthropic"
OPENAI = "openai"
# Keys of an assistant message that carry the model's reasoning.
REASONING_KEYS = ("reasoning_content", "thinking_blocks")


def style(target: ModelTarget) -> str | None:
    from .llm import VIA_LITELLM

    name = target.model.lower()
    if target.via == VIA_LITELLM:
        if name.startswith("anthropic/") or "claude" in name:
            return ANTHROPIC
        if name.startswith(("openai/", "azure/")):
            return OPENAI
        return None
    if target.is_router:
        base = target.price_key.lower()
        if base.startswith("anthropic/") or "claude" in base:
            return ANTHROPIC
    return None


def has_reasoning(messages: list[dict[str, Any]]) -> bool:
    return any(
        m.get("role") == "assistant" and any(m.get(k) for k in REASONING_KEYS) for m in messages
    )


def outgoing(
    target: ModelTarget,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    session_id: str,
    strip_reasoning: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any]]:
    """(messages, tools, extra body fields) to send; the inputs are not modified."""
    from .llm import VIA_LITELLM

    drop: tuple[str, ...] = ()
    if strip_reasoning:
        drop = REASONING_KEYS
    elif target.via != VIA_LITELLM:
        drop = ("thinking_blocks",)  # litellm's field; OpenAI-compatible servers take no such key
    out = [_without(m, drop) if m.get("role") == "assistant" else m for m in messages]
    extra: dict[str, Any] = {}
    kind = style(target)
    if kind == ANTHROPIC:
        if tools:
            tools = [*tools[:-1], {**tools[-1], "cache_control": dict(EPHEMERAL)}]
        for i in range(len(out) - 1, -1, -1):
            if out[i].get("role") in ("system", "user") and _mark(out, i):
                break
        if target.is_router:
            extra["cache_control"] = dict(EPHEMERAL)
    elif kind == OPENAI:
        extra["prompt_cache_key"] = session_id
    return out, tools, extra


def _without(message: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    if not any(k in message for k in keys):
        return message
    return {k: v for k, v in message.items() if k not in keys}


def _mark(messages: list[dict[str, Any]], i: int) -> bool:
    """Put a cache marker on message i (a copy); False if it has no text to mark."""
    content = messages[i].get("content")
    if isinstance(content, str) and content:
        blocks: list[Any] = [{"type": "text", "text": content, "cache_control": dict(EPHEMERAL)}]
    elif isinstance(content, list) and content and isinstance(content[-1], dict):
        blocks = [*content[:-1], {**content[-1], "cache_control": dict(EPHEMERAL)}]
    else:
        return False
    messages[i] = {**messages[i], "content": blocks}
    return True

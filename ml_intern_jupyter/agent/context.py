"""Conversation history: messages, token estimates, compaction, undo.

Messages are plain OpenAI-format dicts. Each entry also carries the time it
was appended (`_ts`); assistant messages the tokens of the model call that
produced them (`_usage`: `input_tokens`, `output_tokens`) and why it stopped
(`_finish_reason`), tool results whether the call succeeded (`_success`),
where known. `for_llm()` strips private keys; a message without one of them
(an older saved session) reads as "unknown". `generation` counts
rewrites (compaction, undo, new) so a persistent store can record a new
history generation instead of rewriting old rows.
"""

from __future__ import annotations

import json
import time
from typing import Any

SYSTEM_PREFIX = "[SYSTEM:"
DANGLING_RESULT = "Tool was not executed (interrupted or error)."
TRUNCATED_MARKER = "[Message truncated during compaction: it was about {n} tokens long.]"
TAIL_MESSAGES = 5
TAIL_MESSAGE_MAX_TOKENS = 50_000

COMPACTION_PROMPT = (
    "Write a concise summary of the conversation below so that it can replace it. "
    "Keep the key decisions and the reasons for them, the problems solved and how, "
    "files and artefacts produced, tool results that still matter, and what remains "
    "to do. Be specific (names, paths, numbers); omit chit-chat."
)
RESTORE_PROMPT = (
    "You are about to lose your memory of this conversation. Write a note to your "
    "future self in the first person: what the user asked for, what progress you made, "
    "every tool you called with a one-line result, files produced, key decisions and "
    "why, and the next steps. Be specific."
)
RESTORE_NOTE = (
    "[SYSTEM: Your prior memory of this conversation — written in your own voice right "
    "before restart. Continue from here.]\n\n{summary}"
)


def estimate_tokens(obj: Any) -> int:
    """Cheap token estimate (~4 characters per token), no tokenizer needed."""
    if isinstance(obj, str):
        return len(obj) // 4 + 1
    return len(json.dumps(obj, ensure_ascii=False, default=str)) // 4 + 1


def is_system_note(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return (
        message.get("role") == "user"
        and isinstance(content, str)
        and content.startswith(SYSTEM_PREFIX)
    )


def is_real_user(message: dict[str, Any]) -> bool:
    return message.get("role") == "user" and not is_system_note(message)


class History:
    def __init__(self, system_prompt: str):
        self.messages: list[dict[str, Any]] = []
        self.generation = 0
        self._usage_tokens = 0  # prompt+completion tokens reported by the last call
        self._usage_upto = 0  # number of messages that figure covers
        self.append({"role": "system", "content": system_prompt})

    # -- building

    def append(self, message: dict[str, Any]) -> dict[str, Any]:
        message.setdefault("_ts", time.time())
        self.messages.append(message)
        return message

    def add_user(self, text: str) -> None:
        self.append({"role": "user", "content": text})

    def add_assistant(
        self,
        content: str,
        tool_calls: list[dict[str, str]] | None = None,
        *,
        usage: tuple[int, int] | None = None,
        finish_reason: str | None = None,
        reasoning: str = "",
        thinking_blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        """`usage` is (input tokens, output tokens) of the call that produced it.
        `reasoning` / `thinking_blocks` are kept and sent back with the message
        (providers that refuse them get a copy without: see `caching.outgoing`)."""
        msg: dict[str, Any] = {"role": "assistant", "content": content or None}
        if reasoning:
            msg["reasoning_content"] = reasoning
        if thinking_blocks:
            msg["thinking_blocks"] = [dict(b) for b in thinking_blocks]
        if tool_calls:
            msg["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in tool_calls
            ]
        if usage is not None:
            msg["_usage"] = {"input_tokens": int(usage[0]), "output_tokens": int(usage[1])}
        if finish_reason:
            msg["_finish_reason"] = str(finish_reason)
        self.append(msg)

    def add_tool_result(
        self, tool_call_id: str, name: str, content: str, *, success: bool | None = None
    ) -> None:
        msg: dict[str, Any] = {
            "role": "tool",
            "tool_call_id": tool_call_id,
            "name": name,
            "content": content,
        }
        if success is not None:
            msg["_success"] = bool(success)
        self.append(msg)

    def for_llm(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in m.items() if not k.startswith("_")} for m in self.messages]

    # -- accounting

    def record_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        self._usage_tokens = prompt_tokens + completion_tokens
        self._usage_upto = len(self.messages)

    def token_estimate(self) -> int:
        if self._usage_tokens and self._usage_upto <= len(self.messages):
            return self._usage_tokens + sum(
                estimate_tokens(m) for m in self.for_llm()[self._usage_upto :]
            )
        return sum(estimate_tokens(m) for m in self.for_llm())

    # -- repairs and rewrites

    def patch_dangling(self, text: str = DANGLING_RESULT) -> int:
        """Give every tool call without a result a result saying it did not run."""
        patched = 0
        i = 0
        while i < len(self.messages):
            msg = self.messages[i]
            calls = msg.get("tool_calls") if msg.get("role") == "assistant" else None
            if calls:
                j = i + 1
                answered = set()
                while j < len(self.messages) and self.messages[j].get("role") == "tool":
                    answered.add(self.messages[j].get("tool_call_id"))
                    j += 1
                missing = [c for c in calls if c["id"] not in answered]
                for offset, call in enumerate(missing):
                    self.messages.insert(
                        j + offset,
                        {
                            "role": "tool",
                            "tool_call_id": call["id"],
                            "name": call["function"]["name"],
                            "content": text,
                            "_ts": time.time(),
                            "_success": False,
                        },
                    )
                patched += len(missing)
                i = j + len(missing)
                continue
            i += 1
        if patched:
            self._rewritten()
        return patched

    def undo(self) -> int:
        """Drop messages from the end through the last real user message."""
        for idx in range(len(self.messages) - 1, 0, -1):
            if is_real_user(self.messages[idx]):
                removed = len(self.messages) - idx
                del self.messages[idx:]
                self._rewritten()
                return removed
        return 0

    def reset(self) -> None:
        del self.messages[1:]
        self._rewritten()

    def replace(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self._rewritten()

    def _rewritten(self) -> None:
        self.generation += 1
        self._usage_tokens = 0
        self._usage_upto = 0

    # -- compaction

    def compaction_split(
        self,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]] | None:
        """(head, middle, tail), or None when there is nothing to summarise.

        Head is the system message and the first user message; tail is the last
        few messages walked back to a user message, so no tool result is
        separated from its call.
        """
        first_user = next((i for i, m in enumerate(self.messages) if m.get("role") == "user"), None)
        if first_user is None:
            return None
        start = max(first_user + 1, len(self.messages) - TAIL_MESSAGES)
        while start > first_user + 1 and self.messages[start].get("role") != "user":
            start -= 1
        if start <= first_user + 1:
            return None
        head = [self.messages[0], self.messages[first_user]]
        return head, self.messages[first_user + 1 : start], self.messages[start:]

    def apply_compaction(self, summary: str) -> None:
        split = self.compaction_split()
        if split is None:
            return
        head, _middle, tail = split
        kept_tail = []
        for msg in tail:
            size = estimate_tokens(msg.get("content") or "")
            if size > TAIL_MESSAGE_MAX_TOKENS:
                msg = {**msg, "content": TRUNCATED_MARKER.format(n=size)}
            kept_tail.append(msg)
        summary_msg = {
            "role": "assistant",
            "content": f"Summary of the earlier conversation:\n\n{summary}",
            "_ts": time.time(),
        }
        self.replace([*head, summary_msg, *kept_tail])


def transcript_for_summary(messages: list[dict[str, Any]], limit_chars: int = 400_000) -> str:
    """Render messages as plain text for a summarisation prompt."""
    lines: list[str] = []
    for msg in messages:
        role = msg.get("role")
        if role == "system":
            continue
        if role == "tool":
            lines.append(f"[tool result {msg.get('name')}]: {msg.get('content')}")
            continue
        if msg.get("content"):
            lines.append(f"[{role}]: {msg['content']}")
        for call in msg.get("tool_calls") or []:
            lines.append(
                f"[{role} called {call['function']['name']}]: {call['function']['arguments']}"
            )
    text = "\n".join(lines)
    if len(text) > limit_chars:
        # Keep both ends: the request and the latest state matter most.
        half = limit_chars // 2
        text = text[:half] + "\n[... middle omitted ...]\n" + text[-half:]
    return text

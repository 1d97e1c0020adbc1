"""Scrub secrets from anything before it reaches disk, logs or the network.

Covers Hugging Face, Anthropic, OpenAI, GitHub and AWS key shapes, bearer
tokens, and `NAME=value` assignments whose name says it holds a secret. The
scrub is recursive over dicts, lists and tuples and never mutates its input.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED", "scrub", "scrub_text"]

REDACTED = "[REDACTED]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # `NAME=value` / `NAME: value` where NAME ends like a secret; keep the name.
    (
        re.compile(
            r"(?i)\b([A-Z0-9_]*(?:TOKEN|API_KEY|SECRET|PASSWORD|ACCESS_KEY_ID))"
            r"(\s*[=:]\s*)(['\"]?)([^\s'\"]+)\3"
        ),
        r"\1\2\3" + REDACTED + r"\3",
    ),
    (re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{20,}"), "Bearer " + REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), REDACTED),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{40,}"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
)


def scrub_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(value: Any) -> Any:
    """A copy of `value` with every secret-looking string replaced."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v) for v in value)
    return value

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

# Names that say "this holds a secret" (env-var style; case-insensitive).
_SECRET_NAME = (
    r"[A-Z0-9_]*(?:TOKEN|API_KEY|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|PASSWORD|ACCESS_KEY_ID)"
)
_SECRET_KEY = re.compile(rf"(?i)^{_SECRET_NAME}$")

# `NAME=value`, `NAME: value`, JSON `"NAME": "value"`, `env["NAME"] = 'value'`:
# the name and separator are kept, the value (quoted: up to the closing quote,
# spaces included) is replaced.
_ASSIGNMENT = re.compile(
    rf"(?i)\b({_SECRET_NAME})(['\"]?\]?[ \t]*[=:][ \t]*)"
    r"(?:\"([^\"\n]+)\"|'([^'\n]+)'|[^\s'\"]+)"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]{20,}"), "Bearer " + REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), REDACTED),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{40,}"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
)


def _redact_assignment(m: re.Match[str]) -> str:
    if m.group(3) is not None:
        value = f'"{REDACTED}"'
    elif m.group(4) is not None:
        value = f"'{REDACTED}'"
    else:
        value = REDACTED
    return m.group(1) + m.group(2) + value


def scrub_text(text: str) -> str:
    text = _ASSIGNMENT.sub(_redact_assignment, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(value: Any) -> Any:
    """A copy of `value` with every secret-looking string replaced."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        # {"HF_TOKEN": "..."} (e.g. a job's env or secrets) is `NAME=value` too.
        return {
            k: REDACTED
            if isinstance(k, str) and isinstance(v, str) and v and _SECRET_KEY.match(k)
            else scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v) for v in value)
    return value

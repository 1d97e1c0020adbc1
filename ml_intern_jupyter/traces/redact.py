"""Scrub secrets from anything before it reaches disk, logs or the network.

Covers Hugging Face, Anthropic, OpenAI, GitHub and AWS key shapes, bearer
tokens, and `NAME=value` assignments whose name says it holds a secret. The
scrub is recursive over dicts, lists and tuples and never mutates its input.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ahocorasick_rs

__all__ = ["REDACTED", "scrub", "scrub_text"]

REDACTED = "[REDACTED]"

# Names that say "this holds a secret" (env-var style; case-insensitive).
_SECRET_NAME = (
    r"[A-Z0-9_]*(?:TOKEN|API_KEY|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|PASSWORD|ACCESS_KEY_ID)"
)
_SECRET_KEY = re.compile(rf"(?i)^{_SECRET_NAME}$")

# `NAME=value`, `NAME: value`, JSON `"NAME": "value"`, `env["NAME"] = 'value'`:
# the name and separator are kept, the value (quoted: up to the closing quote,
# spaces included) is replaced. Env-style upper-case names take any value;
# other spellings only quoted values, so ML code such as
# `tokenizer.pad_token = tokenizer.eos_token` stays readable. Matching starts
# at the name's secret-like ending (whatever precedes it is kept anyway),
# which lets the regex engine skip most text quickly.
_KEYWORD = r"(?:TOKEN|API_KEY|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|PASSWORD|ACCESS_KEY_ID)"
_SEPARATOR = r"(['\"]?\]?[ \t]*[=:][ \t]*)"
_QUOTED = r"\"([^\"\n]+)\"|'([^'\n]+)'"
_UPPER_ASSIGNMENT = re.compile(rf"({_KEYWORD}){_SEPARATOR}(?:{_QUOTED}|[^\s'\"]+)")
_ANY_CASE_ASSIGNMENT = re.compile(rf"(?i)({_KEYWORD}){_SEPARATOR}(?:{_QUOTED})")
# For lower-cased ASCII text: find each keyword with str.find (C speed), then
# match the separator and a quoted value right after it. An IGNORECASE
# alternation has no literal prefix, so the engine tries every position.
_LOWER_KEYWORDS = (
    "token",
    "api_key",
    "secret",
    "secret_key",
    "secret_access_key",
    "password",
    "access_key_id",
)
_AFTER_KEYWORD = re.compile(rf"{_SEPARATOR}(?:{_QUOTED})")
# İ, ı and ſ: IGNORECASE matches them to i, i and s; lower() keeps ı and ſ and
# makes İ two characters. (K, the Kelvin sign, lowers to k like it matches.)
_ODD_FOLDS = ("\u0130", "\u0131", "\u017f")
# The characters `_SEPARATOR` can start with.
_SEPARATOR_START = frozenset("'\"] \t=:")


def _quoted_assignment_spans(low: str) -> list[tuple[int, re.Match[str]]]:
    """(keyword end, match of what follows) for every quoted assignment, left to right."""
    found = []
    for kw in _LOWER_KEYWORDS:
        i = low.find(kw)
        while i != -1:
            after = i + len(kw)
            # Most hits are words like "tokenizer": one character rules them out.
            if low[after : after + 1] in _SEPARATOR_START:
                m = _AFTER_KEYWORD.match(low, after)
                if m is not None:
                    found.append((i, m))
            i = low.find(kw, after)
    found.sort(key=lambda f: f[0])
    spans, end = [], 0
    for start, m in found:
        if start >= end:  # like re.sub: matches never overlap
            spans.append((m.start(), m))
            end = m.end()
    return spans


_BEARER = re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]{20,}")
# Key shapes. A leading `\b` stops the regex engine from scanning ahead for the
# literal prefix (~20x slower), so each runs only where its literal is present.
_HF = re.compile(r"\bhf_[A-Za-z0-9]{30,}")
_SK_ANT = re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}")
_SK = re.compile(r"\bsk-[A-Za-z0-9_-]{40,}")
_GH = re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}")
_GITHUB_PAT = re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}")
_AWS = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


def _redact_assignment(m: re.Match[str]) -> str:
    if m.group(3) is not None:
        value = f'"{REDACTED}"'
    elif m.group(4) is not None:
        value = f"'{REDACTED}'"
    else:
        value = REDACTED
    return m.group(1) + m.group(2) + value


def _splice(text: str, spans: list[tuple[int, re.Match[str]]]) -> str:
    """Replace the quoted values at `spans` (found in a same-length copy of `text`)."""
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for _start, m in spans:
        quote = '"' if m.group(2) is not None else "'"
        out += [text[pos : m.end(1)], quote, REDACTED, quote]
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


# What every match starts from, in lower-cased text, and which patterns it
# can start: a keyword's ending with the first character of a separator after
# it (the assignments), "bearer", or a key shape's prefix. Scrubbing only
# removes text and puts "[REDACTED]", quotes and "Bearer " in, none of which
# makes a literal that was not there, so what the original text has decides
# every pattern that runs after another.
_GATE = (
    *(
        (kw + c, "assignment")
        for kw in ("token", "secret", "password", "_key", "key_id")
        for c in _SEPARATOR_START
    ),
    ("bearer", "bearer"),
    ("hf_", "hf"),
    ("sk-", "sk"),
    *((f"gh{c}_", "gh") for c in "pousr"),
    ("github_pat_", "github_pat"),
    ("akia", "aws"),
    ("asia", "aws"),
)
_EVERY_KIND = frozenset(kind for _literal, kind in _GATE)


@functools.cache
def _gate() -> ahocorasick_rs.AhoCorasick:
    # Imported here: the store and the server load this module, and most of
    # their processes never scrub.
    import ahocorasick_rs

    return ahocorasick_rs.AhoCorasick([literal for literal, _kind in _GATE])


def _kinds(low: str) -> frozenset[str]:
    """The patterns that can match the text `low` is the lower case of (one
    pass of a multi-literal automaton instead of a `str` search per literal)."""
    try:
        hits = _gate().find_matches_as_indexes(low, overlapping=True)
    except UnicodeEncodeError:  # a lone surrogate: leave it to the patterns
        return _EVERY_KIND
    return frozenset(_GATE[pattern][1] for pattern, _start, _end in hits)


def _sub(
    pattern: re.Pattern[str],
    starts: tuple[str, ...],
    repl: Any,
    text: str,
    where: str | None = None,
) -> str:
    """`pattern.sub(repl, text)` for a pattern whose every match starts with
    one of the literals `starts`, found in `where` (`text` unless given; a
    same-length lower-cased copy for a case-insensitive pattern).

    The regex engine tries a pattern that opens with `\\b` or an alternation
    at every position; `str.find` skips to where one can start, and
    `pattern.match` there gives what `search` would (a `\\b` still sees the
    character before).
    """
    haystack = text if where is None else where
    found: list[int] = []
    for literal in starts:
        at = haystack.find(literal)
        while at != -1:
            found.append(at)
            at = haystack.find(literal, at + 1)
    if not found:
        return text
    found.sort()
    out: list[str] = []
    pos = 0
    for at in found:
        if at < pos:  # inside the last match: like re.sub, matches never overlap
            continue
        m = pattern.match(text, at)
        if m is not None:
            out += [text[pos:at], repl(m) if callable(repl) else repl]
            pos = m.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


_UPPER_STARTS = ("TOKEN", "API_KEY", "SECRET", "PASSWORD", "ACCESS_KEY_ID")
_GH_STARTS = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")


def scrub_text(text: str) -> str:
    if len(text) < 7:  # shorter than any match ("token=x")
        return text
    low = text.lower()
    # Characters that IGNORECASE matches to a keyword's letter but lower() does
    # not turn into it: with one of them only the regex finds every spelling.
    odd = not text.isascii() and any(c in text for c in _ODD_FOLDS)
    kinds = _EVERY_KIND if odd else _kinds(low)
    if not kinds:
        return text
    if "assignment" in kinds:
        if "TOKEN" in text or "SECRET" in text or "PASSWORD" in text or "_KEY" in text:
            text = _sub(_UPPER_ASSIGNMENT, _UPPER_STARTS, _redact_assignment, text)
            low = text.lower()
        if not odd:  # one character for one: spans carry over
            spliced = _splice(text, _quoted_assignment_spans(low))
            if spliced is not text:
                text, low = spliced, spliced.lower()
        else:
            text = _ANY_CASE_ASSIGNMENT.sub(_redact_assignment, text)
    if "bearer" in kinds:
        bearer = "Bearer " + REDACTED
        if not odd:  # `low` is `text` lower-cased, one character for one
            text = _sub(_BEARER, ("bearer",), bearer, text, low)
        else:
            text = _BEARER.sub(bearer, text)
    if "hf" in kinds:
        text = _sub(_HF, ("hf_",), REDACTED, text)
    if "sk" in kinds:
        text = _sub(_SK, ("sk-",), REDACTED, _sub(_SK_ANT, ("sk-ant-",), REDACTED, text))
    if "gh" in kinds:
        text = _sub(_GH, _GH_STARTS, REDACTED, text)
    if "github_pat" in kinds:
        text = _sub(_GITHUB_PAT, ("github_pat_",), REDACTED, text)
    if "aws" in kinds:
        text = _sub(_AWS, ("AKIA", "ASIA"), REDACTED, text)
    return text


def scrub(value: Any, *, keys: bool = False) -> Any:
    """A copy of `value` with every secret-looking string replaced (dict keys too if `keys`)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        # {"HF_TOKEN": "..."} (e.g. a job's env or secrets) is `NAME=value` too.
        return {
            scrub_text(k) if keys and isinstance(k, str) else k: REDACTED
            if isinstance(k, str) and isinstance(v, str) and v and _SECRET_KEY.match(k)
            else scrub(v, keys=keys)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, keys=keys) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v, keys=keys) for v in value)
    return value

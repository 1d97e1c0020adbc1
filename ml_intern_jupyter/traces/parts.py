"""What the trace formats read the same way from a history message: text of
any value, content parts, strict tool-argument JSON, token usage, timestamps."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = [
    "IMAGE_PARTS",
    "MAX_TS",
    "SPLITTERS",
    "TEXT_PARTS",
    "decode_arguments",
    "part_text",
    "text_of",
    "usage_counts",
    "valid_ts",
]

TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})
# Placeholders for the non-text, non-image parts of multi-part (OpenAI) content.
_PART_PLACEHOLDERS = {
    "input_audio": "[audio]",
    "audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
}
_OTHER_PART = "[attachment]"
# Characters `str.splitlines()` splits on that a JSON encoder may leave raw
# inside strings, with their JSON escapes: escaped, no reader can split a line in two.
SPLITTERS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
# Latest time that still has a 4-digit year: 9999-12-31T00:00:00Z.
MAX_TS = 253_402_214_400.0


def text_of(value: Any) -> str:
    """`value` as text: strings as they are, None as "", containers as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, RecursionError):  # NaN is fine here; cycles and depth are not
            return repr(value)
    return str(value)


def part_text(part: Any, image: str | None = None) -> str:
    """The text of one content part; `image` (if given) stands for an image part."""
    if not isinstance(part, dict):
        return text_of(part)
    kind = part.get("type")
    if kind in TEXT_PARTS or (kind is None and "text" in part):
        return text_of(part.get("text"))
    if image is not None and kind in IMAGE_PARTS:
        return image
    if kind == "refusal":
        return text_of(part.get("refusal"))
    return _PART_PLACEHOLDERS.get(kind, _OTHER_PART) if isinstance(kind, str) else _OTHER_PART


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e999" parses to inf, which strict JSON cannot hold
        raise ValueError(f"{text} is out of range")
    return value


# Strict JSON: NaN/Infinity literals are not arguments, they are a malformed string.
decode_arguments = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float
).decode


def usage_counts(value: Any) -> tuple[int | None, int | None] | None:
    """(input tokens, output tokens) a message recorded in `_usage`, each None
    where unusable; None when neither is there."""
    if not isinstance(value, dict):
        return None
    counts = []
    for key in ("input_tokens", "output_tokens"):
        n = value.get(key)
        ok = isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 1 << 53
        counts.append(n if ok else None)
    return None if counts == [None, None] else (counts[0], counts[1])


def valid_ts(value: Any) -> float | None:
    """`value` as a unix time with a 4-digit year, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        ts = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return ts if 0.0 <= ts <= MAX_TS else None  # the comparison also rejects NaN

"""Checks a tool call's arguments against the tool's JSON Schema.

The model's arguments are checked before a tool runs, so that a malformed
call is answered with what is wrong instead of being run. Tool schemas use a
small part of JSON Schema; this module checks that part (types, properties,
required, additionalProperties, items, enum/const, bounds, lengths, pattern,
anyOf/oneOf/allOf/not, local `$ref`) and ignores the keywords that only
annotate (`description`, `default`, `format`, `title`, ...). A keyword it
does not know never rejects a call: the tool (or the MCP server behind it)
still checks its own input.

It exists because `jsonschema` costs ~2 s to import wherever
`rfc3987-syntax` is installed (Jupyter installs it: `jupyter_events` needs
`jsonschema[format-nongpl]`, and its grammar is built at import), which put
2 s in front of a kernel's first streamed words. Messages follow
`jsonschema`'s wording, which models know.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["problems"]

Path = tuple[str | int, ...]

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


def problems(schema: Any, value: Any, limit: int = 5) -> list[tuple[Path, str]]:
    """Up to `limit` (path, message) pairs, in path order; [] when `value` fits."""
    found: list[tuple[Path, str]] = []
    _check(schema, value, (), schema, found, depth=0)
    found.sort(key=lambda item: [str(p) for p in item[0]])
    return found[:limit]


def _check(schema: Any, value: Any, path: Path, root: Any, out: list, depth: int) -> None:
    if schema is False:
        out.append((path, f"False schema does not allow {_short(value)}"))
        return
    if depth > 64 or not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(root, ref)
        if target is not None:
            _check(target, value, path, root, out, depth + 1)
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        known = [t for t in names if t in _TYPES]
        if known and not any(_TYPES[t](value) for t in known):
            shown = ", ".join(repr(t) for t in names)
            out.append((path, f"{value!r} is not of type {shown}"))
            return
    if "enum" in schema and isinstance(schema["enum"], list):
        if not any(_same(value, option) for option in schema["enum"]):
            out.append((path, f"{value!r} is not one of {schema['enum']!r}"))
    if "const" in schema and not _same(value, schema["const"]):
        out.append((path, f"{schema['const']!r} was expected"))
    if isinstance(value, dict):
        _object(schema, value, path, root, out, depth)
    elif isinstance(value, list):
        _array(schema, value, path, root, out, depth)
    elif isinstance(value, str):
        _string(schema, value, path, out)
    elif _TYPES["number"](value):
        _number(schema, value, path, out)
    _combinators(schema, value, path, root, out, depth)


def _object(schema: dict, value: dict, path: Path, root: Any, out: list, depth: int) -> None:
    raw = schema.get("properties")
    props: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for name in schema.get("required") or ():
        if name not in value:
            out.append((path, f"{name!r} is a required property"))
    extra = schema.get("additionalProperties", True)
    unexpected = []
    for key, item in value.items():
        if key in props:
            _check(props[key], item, (*path, key), root, out, depth + 1)
        elif extra is False:
            unexpected.append(key)
        elif isinstance(extra, dict):
            _check(extra, item, (*path, key), root, out, depth + 1)
    if unexpected:
        names = ", ".join(repr(k) for k in unexpected)
        verb = "was" if len(unexpected) == 1 else "were"
        out.append((path, f"Additional properties are not allowed ({names} {verb} unexpected)"))


def _array(schema: dict, value: list, path: Path, root: Any, out: list, depth: int) -> None:
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _check(items, item, (*path, i), root, out, depth + 1)
    if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
        out.append((path, f"{_short(value)} should have at least {schema['minItems']} items"))
    if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
        out.append((path, f"{_short(value)} is too long (at most {schema['maxItems']} items)"))
    if schema.get("uniqueItems") is True:
        seen: list[Any] = []
        for item in value:
            if any(_same(item, other) for other in seen):
                out.append((path, f"{_short(value)} has non-unique elements"))
                break
            seen.append(item)


def _string(schema: dict, value: str, path: Path, out: list) -> None:
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        wanted = "should be non-empty" if low == 1 else f"is too short (at least {low} characters)"
        out.append((path, f"{_short(value)} {wanted}"))
    if isinstance(high, int) and len(value) > high:
        out.append((path, f"{_short(value)} is too long (at most {high} characters)"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, value) is None:
                out.append((path, f"{_short(value)} does not match {pattern!r}"))
        except re.error:
            pass  # a pattern Python cannot read never rejects a call


def _number(schema: dict, value: float, path: Path, out: list) -> None:
    checks = (
        ("minimum", lambda b: value < b, "is less than the minimum of"),
        ("maximum", lambda b: value > b, "is greater than the maximum of"),
        ("exclusiveMinimum", lambda b: value <= b, "is less than or equal to the minimum of"),
        ("exclusiveMaximum", lambda b: value >= b, "is greater than or equal to the maximum of"),
    )
    for key, fails, words in checks:
        bound = schema.get(key)
        if _TYPES["number"](bound) and fails(bound):
            out.append((path, f"{value!r} {words} {bound!r}"))


def _combinators(schema: dict, value: Any, path: Path, root: Any, out: list, depth: int) -> None:
    for sub in schema.get("allOf") or ():
        _check(sub, value, path, root, out, depth + 1)
    for key, wanted in (("anyOf", None), ("oneOf", 1)):
        options = schema.get(key)
        if not isinstance(options, list) or not options:
            continue
        fits = sum(1 for sub in options if _fits(sub, value, root, depth))
        if fits == 0:
            out.append((path, f"{_short(value)} is not valid under any of the given schemas"))
        elif wanted == 1 and fits > 1:
            out.append((path, f"{_short(value)} is valid under each of several given schemas"))
    if isinstance(schema.get("not"), dict) and _fits(schema["not"], value, root, depth):
        out.append((path, f"{_short(value)} should not be valid under {schema['not']!r}"))


def _fits(schema: Any, value: Any, root: Any, depth: int) -> bool:
    found: list[tuple[Path, str]] = []
    _check(schema, value, (), root, found, depth + 1)
    return not found


def _resolve(root: Any, ref: str) -> Any:
    """A local reference (`#/$defs/X`); None for anything else or a dangling one."""
    if not ref.startswith("#"):
        return None
    node = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if _TYPES["number"](a) and _TYPES["number"](b):
        return a == b
    return type(a) is type(b) and a == b


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

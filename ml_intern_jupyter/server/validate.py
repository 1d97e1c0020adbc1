"""Checks of request bodies and query arguments; each failure is a `ValueError`
whose message says what was wrong (the handlers answer it with a 400).

Pure functions on parsed JSON, no tornado, so they are easy to test alone.
"""

from __future__ import annotations

import json
from typing import Any

from ..store.base import SESSION_FIELDS, UPDATABLE_FIELDS, SessionRecord
from ..store.http import SESSION_ID_PATTERN

__all__ = [
    "FIELD_KINDS",
    "append_request",
    "check_session_id",
    "generation_request",
    "json_object",
    "query_int",
    "session_record",
    "session_updates",
]

# The JSON type each `SessionRecord` field takes ("?" = may be null).
FIELD_KINDS: dict[str, str] = {
    "id": "string",
    "notebook": "string",
    "title": "string",
    "model": "string",
    "status": "string",
    "created": "number",
    "updated": "number",
    "parent_id": "string?",
    "turns": "integer",
    "prompt_tokens": "integer",
    "completion_tokens": "integer",
    "cost_usd": "number",
    "pending_approval": "object?",
    "generation": "integer",
    "metadata": "object?",
    "trace_status": "object?",
}


def _is(kind: str, value: Any) -> bool:
    if kind.endswith("?"):
        if value is None:
            return True
        kind = kind[:-1]
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    raise AssertionError(kind)


def _typename(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _check_field(name: str, value: Any) -> Any:
    kind = FIELD_KINDS[name]
    if not _is(kind, value):
        wanted = kind.rstrip("?") + (" or null" if kind.endswith("?") else "")
        raise ValueError(f"Session field {name!r} must be {wanted}, not {_typename(value)}.")
    if kind.startswith("number") and value is not None:
        return float(value)
    return value


def check_session_id(value: Any) -> str:
    if not isinstance(value, str) or not SESSION_ID_PATTERN.match(value):
        raise ValueError(
            f"Invalid session id {value!r}: ids are 1 to 64 characters, "
            "each a letter, a digit, '_' or '-'."
        )
    return value


def json_object(body: bytes) -> dict[str, Any]:
    """The request body parsed as a JSON object."""
    if not body.strip():
        raise ValueError("The request body is empty; send a JSON object.")
    try:
        value = json.loads(body)
    except UnicodeDecodeError as exc:
        raise ValueError(f"The request body is not UTF-8 text: {exc}.") from exc
    except ValueError as exc:
        raise ValueError(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(value, dict):
        raise ValueError(f"The request body must be a JSON object, not {_typename(value)}.")
    return value


def _unknown(names: set[str], valid: frozenset[str] | tuple[str, ...], what: str) -> None:
    if names:
        raise ValueError(
            f"Unknown {what} field(s) {', '.join(sorted(names))}; "
            f"valid fields: {', '.join(sorted(valid))}."
        )


def session_record(body: dict[str, Any]) -> SessionRecord:
    """A new session from a create request (`id` required, other fields optional)."""
    _unknown(set(body) - set(SESSION_FIELDS), SESSION_FIELDS, "session")
    if "id" not in body:
        raise ValueError("Missing field 'id': a new session needs an id.")
    check_session_id(body["id"])
    return SessionRecord(**{name: _check_field(name, value) for name, value in body.items()})


def session_updates(body: dict[str, Any]) -> dict[str, Any]:
    """Metadata changes from a PATCH request."""
    unknown = set(body) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(
            f"Cannot update session field(s) {', '.join(sorted(unknown))}; "
            f"updatable fields: {', '.join(sorted(UPDATABLE_FIELDS))}."
        )
    return {name: _check_field(name, value) for name, value in body.items()}


def _require(body: dict[str, Any], required: dict[str, str]) -> None:
    _unknown(set(body) - set(required), tuple(required), "request")
    for name, kind in required.items():
        if name not in body:
            raise ValueError(f"Missing field {name!r} ({kind}).")
        value = body[name]
        ok = (
            isinstance(value, list)
            if kind == "an array"
            else isinstance(value, int) and not isinstance(value, bool)
        )
        if not ok:
            raise ValueError(f"Field {name!r} must be {kind}, not {_typename(value)}.")


def append_request(body: dict[str, Any]) -> tuple[int, int, list[dict[str, Any]]]:
    """`{generation, start_index, messages}` of an append."""
    _require(
        body, {"generation": "an integer", "start_index": "an integer", "messages": "an array"}
    )
    return body["generation"], body["start_index"], body["messages"]


def generation_request(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`{messages}` of a new history generation."""
    _require(body, {"messages": "an array"})
    messages: list[dict[str, Any]] = body["messages"]
    return messages


def query_int(name: str, raw: str | None, default: int | None) -> int | None:
    """A non-negative integer query argument (None/absent: `default`)."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"Query argument {name!r} must be an integer, not {raw!r}.") from None
    if value < 0:
        raise ValueError(f"Query argument {name!r} must be >= 0, not {value}.")
    return value

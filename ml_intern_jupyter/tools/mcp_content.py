"""An MCP tool result -> what the model reads and what the card shows.

Works on the result's wire form (`model_dump(by_alias=True)`: `isError`,
`mimeType`, ...), the same in every version of the `mcp` package. Text goes
to the model and the card; images (content or embedded blobs) go to the card
inline (`display["images"]`, with their MIME type) and the model reads one
line saying an image was shown; embedded text resources are inlined with
their URI; links to resources become links in the card.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .base import ToolResult

__all__ = ["INLINE_IMAGE_TYPES", "tool_result"]

# Shown inline as <img>; SVG is left out (it is markup, not pixels).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _size(b64: str) -> int:
    return len(b64) * 3 // 4 - b64.count("=")


def _human(n: int) -> str:
    from .base import human_size

    return human_size(n)


def _valid_b64(data: Any) -> str | None:
    if not isinstance(data, str):
        return None
    clean = "".join(data.split())
    try:
        base64.b64decode(clean, validate=True)
    except (binascii.Error, ValueError):
        return None
    return clean


def tool_result(result: dict[str, Any]) -> ToolResult:
    """Convert a `CallToolResult` (wire form) to our `ToolResult`."""
    parts: list[str] = []
    images: list[dict[str, str]] = []
    links: list[dict[str, str]] = []

    def image(mime: str, data: Any, where: str) -> None:
        b64 = _valid_b64(data)
        if b64 is None:
            parts.append(f"[{where}{mime} image that is not valid base64: not shown]")
            return
        if mime in INLINE_IMAGE_TYPES:
            images.append({"mime": mime, "data": b64})
            parts.append(f"[{where}{mime} image, {_human(_size(b64))}, shown to the user]")
        else:
            parts.append(f"[{where}{mime} image, {_human(_size(b64))}: not shown]")

    for block in result.get("content") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "image":
            image(str(block.get("mimeType") or "image/png"), block.get("data"), "")
        elif kind == "audio":
            data = block.get("data")
            size = _human(_size(data)) if isinstance(data, str) else "?"
            parts.append(f"[{block.get('mimeType') or 'audio'} audio, {size}: not played]")
        elif kind == "resource":
            res = block.get("resource") or {}
            uri = str(res.get("uri", ""))
            mime = str(res.get("mimeType") or "")
            if "text" in res:
                parts.append(f"[resource {uri}" + (f" ({mime})" if mime else "") + "]")
                parts.append(str(res["text"]))
            elif mime.startswith("image/"):
                image(mime, res.get("blob"), f"resource {uri}: ")
            else:
                blob = res.get("blob")
                size = _human(_size(blob)) if isinstance(blob, str) else "?"
                parts.append(f"[resource {uri} ({mime or 'binary'}, {size}): not shown]")
            _link(links, uri, uri)
        elif kind == "resource_link":
            uri = str(block.get("uri", ""))
            label = str(block.get("title") or block.get("name") or uri)
            desc = block.get("description")
            parts.append(f"[resource link: {label} <{uri}>" + (f" — {desc}" if desc else "") + "]")
            _link(links, uri, label)
        else:
            parts.append(f"[{kind or 'unknown'} content: not shown]")
    structured = result.get("structuredContent")
    if structured is not None and not any(p.strip() for p in parts):
        import json

        parts.append(json.dumps(structured, ensure_ascii=False, indent=2))
    text = "\n".join(parts).strip() or "(no output)"
    display: dict[str, Any] = {}
    if images:
        display["images"] = images
    if links:
        display["links"] = links
    return ToolResult(text, success=not result.get("isError"), display=display or None)


def _link(links: list[dict[str, str]], uri: str, label: str) -> None:
    if uri.startswith(("http://", "https://")):
        links.append({"url": uri, "label": label})

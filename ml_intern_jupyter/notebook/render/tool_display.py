"""Rich tool results in the notebook: images, proposed cells, job links, bounded logs.

A tool's `ToolOutput.display` (never sent to the model) may carry:

* ``images``: base64 PNGs the `python` tool captured, or ``{"mime", "data"}``
  items (PNG, JPEG, GIF, WebP: what MCP tools return) -> ``<img>`` tags in the
  live card and the transcript HTML, a short "[image]" line in markdown and
  plain text, `IPython.display.Image` in text mode;
* ``links``: ``{"url", "label"}`` items (resources an MCP tool pointed to) ->
  links in the card, markdown links, "label: url" lines;
* ``proposed_cell``: code the intern wants the user to run -> highlighted,
  with a **Copy** button and the hint to use ``%intern cell``;
* ``job_url``: an HF Job's page -> a link in the card's title (while the job
  runs the link comes from its "submitted" log line);
* ``trackio_url``: the job's trackio dashboard Space -> a
  "dashboard" link in the title, and the dashboard itself (an iframe) in the
  live card; code run in the kernel that prints a trackio Space's address
  gets the link too.

The HTML widget of ipywidgets 7 and 8 sets its value with ``innerHTML`` and no
sanitiser, so the Copy button's inline handler runs in the live view (and in
the transcript of a trusted notebook). Where the clipboard API is refused
(sandboxed iframes) it falls back to ``execCommand("copy")``; the code stays
selectable in its ``<pre>`` either way. Everything here escapes what it
shows: the payload comes from user code and the model.
"""

from __future__ import annotations

import base64
import re
import struct
from typing import Any

from .markup import code_html

__all__ = [
    "CELL_HINT",
    "code_fence",
    "LOGS_KEPT",
    "LOG_LINES_SHOWN",
    "display_html",
    "display_markdown",
    "display_plain",
    "image_size",
    "image_items",
    "images_of",
    "job_link_html",
    "trackio_embed_html",
    "trackio_url_of",
    "job_url_in_log",
    "logs_preview",
    "proposed_cell_html",
    "proposed_code_of",
    "safe_url",
]

# Per card. Images travel inline (the live view, then the transcript), and
# Jupyter drops IOPub output above ~1 MB/s: bigger or further ones are counted.
MAX_IMAGES = 8
MAX_IMAGE_B64 = 1_000_000  # characters (~750 KB of PNG)
MAX_IMAGES_B64 = 1_500_000
LOGS_KEPT = 200  # log lines a card keeps in memory
LOG_LINES_SHOWN = 12  # of which the live card shows the last few
LOG_LINE_CHARS = 300
CELL_HINT = "run `%intern cell` to put it in a new cell"

_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_URL = re.compile(r"^https?://[^\s\"'<>`]+$")
_SPACE_PAGE = re.compile(r"^https://huggingface\.co/spaces/([\w.-]+)/([\w.-]+)/?$")
_SUBMITTED = re.compile(r"^Job \S+ submitted on \S+: (https?://\S+)\s*$")
_COPY_JS = (
    "(function(b){var t=b.getAttribute('data-code');"
    "function ok(){b.textContent='Copied';}"
    "function fb(){var a=document.createElement('textarea');a.value=t;"
    "document.body.appendChild(a);a.select();"
    "try{document.execCommand('copy');ok();}"
    "catch(e){b.textContent='Select the code to copy';}"
    "document.body.removeChild(a);}"
    "if(navigator.clipboard&&navigator.clipboard.writeText)"
    "{navigator.clipboard.writeText(t).then(ok,fb);}else{fb();}})(this)"
)


def _attr(text: str) -> str:
    """Escape for a double-quoted HTML attribute."""
    return (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", "&#10;")
    )


# ---------------------------------------------------------------- payloads


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def image_items(display: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The display's images as (MIME type, clean base64); anything else is dropped."""
    raw = (display or {}).get("images") or []
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        mime: Any = "image/png"
        data: Any = item
        if isinstance(item, dict):
            mime, data = item.get("mime"), item.get("data")
        if isinstance(data, str) and mime in _IMAGE_TYPES:
            b64 = "".join(data.split())
            if b64 and _B64.match(b64):
                out.append((mime, b64))
    return out


def images_of(display: dict[str, Any] | None) -> list[str]:
    """The display's images as clean base64 strings."""
    return [b64 for _mime, b64 in image_items(display)]


def links_of(display: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The display's links as (safe http(s) URL, label)."""
    raw = (display or {}).get("links") or []
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and (url := safe_url(item.get("url"))):
            out.append((url, str(item.get("label") or url)))
    return out


def proposed_code_of(display: dict[str, Any] | None) -> str | None:
    code = (display or {}).get("proposed_cell")
    return code if isinstance(code, str) else None


def safe_url(url: Any) -> str | None:
    """`url` when it is a plain http(s) URL (never javascript: and the like)."""
    return url if isinstance(url, str) and _URL.match(url) else None


def job_url_in_log(line: str) -> str | None:
    """The job page in hf_jobs' "Job <id> submitted on <flavor>: <url>" line."""
    match = _SUBMITTED.match(line)
    return safe_url(match.group(1)) if match else None


def image_size(b64: str) -> str | None:
    """'WxH' of a base64 PNG, from its header."""
    try:
        head = base64.b64decode(b64[:44])
    except ValueError:
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return f"{width}x{height}"
    return None


# -------------------------------------------------------------------- html


def images_html(images: list[str] | list[tuple[str, str]]) -> str:
    """`<img>` tags for base64 PNGs or (MIME type, base64) pairs."""
    if not images:
        return ""
    parts = []
    budget = MAX_IMAGES_B64
    for item in images[:MAX_IMAGES]:
        mime, b64 = item if isinstance(item, tuple) else ("image/png", item)
        if len(b64) > min(MAX_IMAGE_B64, budget):
            size = len(b64) * 3 / 4 / 1e6
            parts.append(f"<div class='mlij-dim'>[image of {size:.1f} MB not embedded]</div>")
        else:
            budget -= len(b64)
            parts.append(
                f'<img src="data:{mime};base64,{b64}" alt="image" '
                'style="max-width: 100%; height: auto; display: block; margin: 4px 0;"/>'
            )
    if len(images) > MAX_IMAGES:
        parts.append(f"<div class='mlij-dim'>[{len(images) - MAX_IMAGES} more images]</div>")
    return f'<div class="mlij-images">{"".join(parts)}</div>'


def proposed_cell_html(code: str) -> str:
    button = (
        f'<button class="mlij-copy" data-code="{_attr(code)}" onclick="{_attr(_COPY_JS)}" '
        'title="Copy the code to the clipboard">Copy</button>'
    )
    return (
        '<div class="mlij-cell">'
        f"<div><b>Proposed cell</b> {button}</div>"
        f"<pre>{code_html(code, 'python')}</pre>"
        "<div class='mlij-dim'>Not run. Run <code>%intern cell</code> to put it in a new "
        "cell, or copy it.</div></div>"
    )


def links_html(links: list[tuple[str, str]]) -> str:
    if not links:
        return ""
    items = "".join(
        f'<li><a href="{_attr(url)}" target="_blank" rel="noopener noreferrer">'
        f"{_attr(label)}</a></li>"
        for url, label in links
    )
    return f'<ul class="mlij-links">{items}</ul>'


def job_link_html(url: str | None, label: str = "job page") -> str:
    safe = safe_url(url)
    if safe is None:
        return ""
    return f' · <a href="{_attr(safe)}" target="_blank" rel="noopener noreferrer">{label}</a>'


def trackio_url_of(display: dict[str, Any] | None, output: str | None) -> str | None:
    """The trackio dashboard of a card: from hf_jobs' payload, or printed by kernel code."""
    from ...tools.trackio import trackio_url_in

    url = safe_url((display or {}).get("trackio_url"))
    return url or (safe_url(trackio_url_in(output)) if output else None)


def trackio_embed_html(url: str | None) -> str:
    """The dashboard of a trackio Space page `url`, for the live card (the transcript keeps
    the link only: a saved notebook should not load a page)."""
    safe = safe_url(url)
    found = _SPACE_PAGE.match(safe or "")
    if found is None:
        return ""
    host = re.sub(r"[^a-z0-9-]", "-", f"{found.group(1)}-{found.group(2)}".lower())
    return (
        f'<iframe src="https://{host}.hf.space/" title="trackio dashboard" loading="lazy" '
        'style="width:100%;height:480px;border:1px solid #ddd;border-radius:4px;"></iframe>'
    )


def display_html(display: dict[str, Any] | None) -> str:
    """Images and the proposed cell of a card (HTML; empty when there are none)."""
    parts = [images_html(image_items(display)), links_html(links_of(display))]
    code = proposed_code_of(display)
    if code is not None:
        parts.append(proposed_cell_html(code))
    return "".join(parts)


# ---------------------------------------------------------- markdown, plain


def code_fence(code: str) -> str:
    """A backtick fence longer than any run of backticks in `code`."""
    ticks = "```"
    while ticks in code:
        ticks += "`"
    return ticks


def display_markdown(display: dict[str, Any] | None) -> list[str]:
    """Markdown lines for a card's display payload."""
    lines = ["[image]" for _ in images_of(display)]
    lines += [f"[{_md_label(label)}](<{url}>)" for url, label in links_of(display)]
    code = proposed_code_of(display)
    if code is not None:
        fence = code_fence(code)
        lines += [f"{fence}python", code.rstrip("\n"), fence, f"*Not run: {CELL_HINT}.*"]
    return lines


def _md_label(label: str) -> str:
    return "".join("\\" + c if c in "[]\\`*_<>" else c for c in label)


def display_plain(display: dict[str, Any] | None) -> list[str]:
    lines = ["[image]" for _ in images_of(display)]
    lines += [f"{label}: {url}" if label != url else url for url, label in links_of(display)]
    code = proposed_code_of(display)
    if code is not None:
        lines += ["Proposed cell (not run):", *code.rstrip("\n").splitlines(), f"({CELL_HINT})"]
    return lines


# -------------------------------------------------------------------- logs


def logs_preview(logs: list[str], dropped: int, shown: int = LOG_LINES_SHOWN) -> str:
    """The last `shown` log lines (each clipped), saying how many earlier ones are hidden."""
    tail = logs[-shown:]
    hidden = dropped + len(logs) - len(tail)
    lines = [line if len(line) <= LOG_LINE_CHARS else line[:LOG_LINE_CHARS] + " …" for line in tail]
    if hidden:
        lines.insert(0, f"… {hidden:,} earlier log line{'s' if hidden != 1 else ''} not shown")
    return "\n".join(lines)

"""`hf_docs`: search the Hugging Face documentation and read its pages.

Search uses the Hub's docs search API (`/api/docs/search?q=&product=`).
Fetch reads `<endpoint>/docs/<library>/<page>.md` (the markdown the docs
are built from) and falls back to the HTML page turned into text. The
endpoint is `HF_ENDPOINT`, so public `https://huggingface.co/docs/...` URLs
from search results are read from the same place (a mirror, or the fake Hub
in tests). Only documentation pages are fetched: this is not a web browser.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from ..errors import ToolFailure
from .base import ToolContext, ToolResult, ToolSpec
from .hub_client import (
    HubSettings,
    arg,
    clip,
    get_json,
    guarded,
    hub_endpoint,
    in_thread,
    obj,
    resolve_token,
    where_from_args,
)
from .hub_errors import Where

__all__ = ["docs_path", "docs_tool", "html_to_text"]

PAGE_CHARS = 20_000
MAX_RESULTS = 20
_HF_HOSTS = {"huggingface.co", "www.huggingface.co", "hf.co"}
_NOT_FOUND = (
    "Find the page with hf_docs operation=search; page URLs look like "
    "https://huggingface.co/docs/<library>/<page>."
)


def docs_path(raw: str, endpoint: str) -> str:
    """'transformers/main_classes/trainer' from a docs URL or a docs path."""
    text = raw.strip()
    if "://" in text:
        parts, ours = urlsplit(text), urlsplit(endpoint)
        if parts.hostname not in _HF_HOSTS and parts.netloc != ours.netloc:
            raise ToolFailure(
                "hf_docs reads Hugging Face documentation only "
                "(https://huggingface.co/docs/<library>/<page>)."
            )
        text = parts.path
    text = text.split("#", 1)[0].split("?", 1)[0].strip("/")
    if text.startswith("docs/"):
        text = text[len("docs/") :]
    if text.endswith(".md"):
        text = text[:-3]
    if not text:
        raise ToolFailure("Give a docs page, e.g. 'transformers/main_classes/trainer'.")
    return text


class _HTMLText(HTMLParser):
    """Readable text from an HTML page: headings, list items, code blocks kept."""

    SKIP = {"script", "style", "nav", "header", "footer", "svg", "noscript", "head", "button"}
    BLOCK = {"p", "div", "section", "article", "br", "tr", "table", "ul", "ol", "main"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif self.skip:
            return
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "pre":
            self.pre += 1
            self.out.append("\n```\n")
        elif tag == "code" and not self.pre:
            self.out.append("`")
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(self.skip - 1, 0)
        elif self.skip:
            return
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
            self.out.append("\n```\n")
        elif tag == "code" and not self.pre:
            self.out.append("`")
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _fetch_page(url: str, token: str | None, timeout: float) -> tuple[str, str]:
    """(body, content type) of a page, raising the Hub's typed errors."""
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    response = get_session().get(
        url, headers=build_hf_headers(token=token or False), timeout=timeout
    )
    hf_raise_for_status(response)
    return response.text, response.headers.get("content-type", "")


def _read_page(path: str, token: str | None, timeout: float) -> tuple[str, str]:
    """(text, url read): the markdown source if there is one, else the HTML as text."""
    from huggingface_hub.errors import HfHubHTTPError

    base = f"{hub_endpoint()}/docs/{path}"
    try:
        body, kind = _fetch_page(base + ".md", token, timeout)
        if "html" not in kind.lower():
            return body, base + ".md"
    except HfHubHTTPError as exc:
        if exc.response is None or exc.response.status_code != 404:
            raise
    body, kind = _fetch_page(base, token, timeout)
    return (html_to_text(body) if "html" in kind.lower() else body), base


async def _docs(settings: HubSettings, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    t, token = settings.request_timeout_s, resolve_token()
    if args["operation"] == "search":
        return await _search(args, token, t)
    path = docs_path(arg(args, "page", "fetch"), hub_endpoint())
    text, url = await in_thread(_read_page, path, token, t, deadline=t)
    offset = max(int(args.get("offset") or 0), 0)
    chunk = text[offset : offset + PAGE_CHARS]
    if not chunk:
        raise ToolFailure(
            f"The page has {len(text):,} characters; offset {offset:,} is past the end."
        )
    out = f"{url} (characters {offset:,}-{offset + len(chunk):,} of {len(text):,}):\n\n{chunk}"
    if offset + len(chunk) < len(text):
        out += f"\n\n[The page continues; fetch again with offset={offset + len(chunk)}.]"
    return ToolResult(out)


async def _search(args: dict[str, Any], token: str | None, t: float) -> ToolResult:
    query = arg(args, "query", "search")
    library = args.get("library")
    limit = min(int(args.get("limit") or 8), MAX_RESULTS)
    found = await in_thread(
        get_json,
        f"{hub_endpoint()}/api/docs/search",
        params={"q": query, "product": library},
        token=token,
        request_timeout=t,
        deadline=t,
    )
    if not found:
        where = f" in {library}" if library else ""
        return ToolResult(f"No documentation found for {query!r}{where}. Try other words.")
    pages: dict[str, list[dict[str, Any]]] = {}
    for hit in found:
        url = str(hit.get("source_page_url", "")).split("#", 1)[0]
        pages.setdefault(url, []).append(hit)
    lines = [f"Documentation for {query!r}{' in ' + library if library else ''}:"]
    for n, (url, hits) in enumerate(list(pages.items())[:limit], 1):
        first = hits[0]
        title = first.get("heading1") or first.get("source_page_title") or url
        lines.append(f"{n}. [{first.get('product', '?')}] {title} — {url}")
        for hit in hits[:2]:
            section = f"{hit['heading2']}: " if hit.get("heading2") else ""
            excerpt = clip(" ".join(re.sub(r"<[^>]+>", "", str(hit.get("text", ""))).split()), 300)
            lines.append(f"   {section}{excerpt}")
    lines.append("Read a page with hf_docs operation=fetch page=<url>.")
    return ToolResult("\n".join(lines))


def docs_tool(settings: HubSettings | None = None) -> ToolSpec:
    settings = settings or HubSettings()
    t = settings.request_timeout_s

    def where(args: dict[str, Any]) -> Where:
        return replace(where_from_args("hf_docs", args, t), not_found_hint=_NOT_FOUND)

    return ToolSpec(
        name="hf_docs",
        description=(
            "Hugging Face documentation (transformers, datasets, trl, peft, diffusers, hub, "
            "huggingface_hub, accelerate, ...). operation=search finds pages for `query` "
            "(optionally within one `library`); fetch reads a page (`page`: a "
            "https://huggingface.co/docs/... URL or '<library>/<page>') as markdown, "
            f"{PAGE_CHARS:,} characters at a time (`offset` to continue). Check the docs "
            "before using an API you are not sure of."
        ),
        parameters=obj(
            {
                "operation": {"type": "string", "enum": ["search", "fetch"]},
                "query": {"type": "string"},
                "library": {"type": "string", "description": "e.g. transformers, trl, hub."},
                "page": {"type": "string", "description": "Docs URL or '<library>/<page>'."},
                "offset": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "default": 8},
            },
            ["operation"],
        ),
        handler=guarded("hf_docs", partial(_docs, settings), timeout_s=t, where=where),
        timeout=2 * t + 30,
    )

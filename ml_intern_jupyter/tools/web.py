"""`web_search` and `fetch_url`: the open web, without `bash curl`.

`web_search` needs no key: by default it reads the HTML results page of a
keyless search engine (DuckDuckGo's HTML endpoint; `ML_INTERN_SEARCH_URL`
overrides it). When `BRAVE_SEARCH_API_KEY` is set it uses Brave's search API
instead (`BRAVE_SEARCH_API_URL` overrides its address). Results can be kept
to, or kept from, given domains; at most 8 come back.

`fetch_url` reads one page as text. It refuses addresses that are not
public (loopback, private, link-local, reserved: the host is resolved and
every address checked, again after each redirect) unless the config switch
`fetch_allow_private_addresses` is on, caps what it downloads, and turns
HTML into readable text (headings, lists, code kept). httpx resolves the
name again when it connects, so a host that changes its answer between the
check and the connection is not caught; the switch is about mistakes, not a
sandbox.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from dataclasses import dataclass
from functools import partial
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from .base import ToolContext, ToolSpec, object_schema
from .web_http import Service, WebFailure, base_url, guarded_web, request

__all__ = [
    "WebSettings",
    "check_public",
    "fetch_url_tool",
    "html_to_text",
    "web_search_tool",
]

DEFAULT_SEARCH_URL = "https://html.duckduckgo.com/html/"
DEFAULT_BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"
MAX_RESULTS = 8
MAX_REDIRECTS = 5

SEARCH = Service(name="the web search backend", env_var="ML_INTERN_SEARCH_URL")
BRAVE = Service(
    name="Brave Search",
    env_var="BRAVE_SEARCH_API_URL",
    auth_hint="Check BRAVE_SEARCH_API_KEY, or unset it to use the keyless search.",
)
WEB = Service(name="the web server")


@dataclass(frozen=True)
class WebSettings:
    timeout_s: float = 30.0
    max_bytes: int = 2_000_000  # downloaded per page
    allow_private: bool = False  # fetch_url to loopback/private addresses


# ------------------------------------------------------------------ search


@dataclass
class Hit:
    title: str
    url: str
    snippet: str


def _domain(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


def _matches(url: str, domains: list[str]) -> bool:
    host = _domain(url)
    return any(host == d or host.endswith("." + d) for d in domains)


def _clean_domains(raw: Any) -> list[str]:
    out = []
    for d in raw or []:
        d = str(d).strip().lower()
        d = _domain(d) if "://" in d else d.removeprefix("www.").strip("/")
        if d:
            out.append(d)
    return out


class _ResultsParser(HTMLParser):
    """Result links and snippets of a DuckDuckGo-style HTML results page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hits: list[Hit] = []
        self._field: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._field:
            self._depth += 1
            return
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "a" and "result__a" in classes:
            self.hits.append(Hit("", _unwrap(a.get("href") or ""), ""))
            self._field, self._depth = "title", 0
        elif "result__snippet" in classes and self.hits:
            self._field, self._depth = "snippet", 0

    def handle_endtag(self, tag: str) -> None:
        if self._field:
            if self._depth == 0:
                self._field = None
            else:
                self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._field and self.hits:
            hit = self.hits[-1]
            setattr(hit, self._field, getattr(hit, self._field) + data)


def _unwrap(href: str) -> str:
    """The target of a result link (DuckDuckGo wraps them in /l/?uddg=<url>)."""
    if href.startswith("//"):
        href = "https:" + href
    parts = urlsplit(href)
    target = parse_qs(parts.query).get("uddg")
    return target[0] if target else href


async def _search_keyless(settings: WebSettings, query: str) -> list[Hit]:
    url = base_url("ML_INTERN_SEARCH_URL", DEFAULT_SEARCH_URL)
    response = await request(
        SEARCH, url, params={"q": query}, timeout_s=settings.timeout_s, max_bytes=2_000_000
    )
    parser = _ResultsParser()
    parser.feed(response.text)
    return [h for h in parser.hits if h.url.startswith(("http://", "https://"))]


async def _search_brave(settings: WebSettings, query: str, key: str) -> list[Hit]:
    url = base_url("BRAVE_SEARCH_API_URL", DEFAULT_BRAVE_URL)
    response = await request(
        BRAVE,
        url,
        params={"q": query, "count": 20},
        headers={"X-Subscription-Token": key, "Accept": "application/json"},
        timeout_s=settings.timeout_s,
    )
    data = response.json()
    results = ((data or {}).get("web") or {}).get("results") or []
    return [
        Hit(str(r.get("title") or ""), str(r.get("url") or ""), str(r.get("description") or ""))
        for r in results
        if isinstance(r, dict) and r.get("url")
    ]


def _plain(text: str) -> str:
    return " ".join(html_to_text(text).split()) if "<" in text else " ".join(text.split())


async def _web_search(settings: WebSettings, args: dict[str, Any], ctx: ToolContext) -> str:
    query = (args.get("query") or "").strip()
    if not query:
        raise WebFailure("Argument `query` is required.")
    allowed = _clean_domains(args.get("allowed_domains"))
    blocked = _clean_domains(args.get("blocked_domains"))
    limit = min(int(args.get("limit") or MAX_RESULTS), MAX_RESULTS)
    sent = query
    if len(allowed) == 1:  # let the engine do the filtering too
        sent = f"{query} site:{allowed[0]}"
    key = (os.environ.get("BRAVE_SEARCH_API_KEY") or "").strip()
    hits = await (_search_brave(settings, sent, key) if key else _search_keyless(settings, sent))
    if allowed:
        hits = [h for h in hits if _matches(h.url, allowed)]
    if blocked:
        hits = [h for h in hits if not _matches(h.url, blocked)]
    seen: set[str] = set()
    unique = []
    for h in hits:
        if h.url not in seen:
            seen.add(h.url)
            unique.append(h)
    unique = unique[:limit]
    if not unique:
        where = f" on {', '.join(allowed)}" if allowed else ""
        return f"No web results for {query!r}{where}. Try other words or fewer filters."
    lines = [f"Web results for {query!r}:"]
    for n, h in enumerate(unique, 1):
        lines.append(f"{n}. {_plain(h.title) or h.url}\n   {h.url}")
        if h.snippet:
            lines.append(f"   {_plain(h.snippet)[:300]}")
    lines.append("Read a page with fetch_url url=<url>.")
    return "\n".join(lines)


def web_search_tool(settings: WebSettings | None = None) -> ToolSpec:
    s = settings or WebSettings()
    domains = {"type": "array", "items": {"type": "string"}, "maxItems": 20}
    return ToolSpec(
        name="web_search",
        description=(
            "Search the web (blog posts, GitHub issues, forum threads, docs outside the Hub). "
            f"At most {MAX_RESULTS} results with title, URL and snippet. `allowed_domains` "
            "keeps only those sites (e.g. ['github.com']), `blocked_domains` drops sites. "
            "Read a result with fetch_url."
        ),
        parameters=object_schema(
            {
                "query": {"type": "string"},
                "allowed_domains": domains,
                "blocked_domains": domains,
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS},
            },
            ["query"],
        ),
        handler=guarded_web("web_search", partial(_web_search, s)),
        timeout=s.timeout_s + 15,
    )


# ------------------------------------------------------------------ fetch


async def check_public(url: str, allow_private: bool) -> None:
    """Raise WebFailure unless every address `url`'s host resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebFailure(f"Only http and https URLs can be fetched, not {url!r}.")
    host = parts.hostname
    if not host:
        raise WebFailure(f"Invalid URL {url!r}: it has no host.")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebFailure(f"Invalid URL {url!r}: bad port.") from None
    for found in await _resolve(host, port):
        address = ipaddress.ip_address(found.split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            address = mapped
        if not address.is_global or address.is_multicast:
            raise WebFailure(
                f"Refused: {host} resolves to {address}, which is not a public address "
                "(loopback, private, link-local or reserved). fetch_url only reads public "
                "pages; set fetch_allow_private_addresses in the config to allow this."
            )


async def _resolve(host: str, port: int) -> list[str]:
    """Every address of `host` (in a worker thread: getaddrinfo blocks)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebFailure(f"Cannot resolve {host!r} ({exc.strerror or exc}).") from None
    return [str(info[4][0]) for info in infos]


_SKIP = {"script", "style", "noscript", "svg", "head", "template", "iframe", "nav", "footer"}
_BLOCK = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "br",
    "tr",
    "table",
    "ul",
    "ol",
    "blockquote",
    "hr",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = ""
        self._skip = 0
        self._pre = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP:
            self._skip += 1
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "pre":
            self._pre += 1
            self.out.append("\n```\n")
        elif tag in ("td", "th"):
            self.out.append(" | ")
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP:
            self._skip = max(self._skip - 1, 0)
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)
            self.out.append("\n```\n")
        elif tag in _BLOCK or tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._skip:
            return
        self.out.append(data if self._pre else (_spaced(data) if data.strip() else " "))


def _spaced(data: str) -> str:
    """Collapse whitespace but keep one space at the edges, so words stay apart."""
    core = " ".join(data.split())
    return (" " if data[:1].isspace() else "") + core + (" " if data[-1:].isspace() else "")


def html_to_text(html: str) -> str:
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    text: list[str] = []
    blank, code = 0, False
    for line in "".join(parser.out).splitlines():
        if line.strip() == "```":
            code = not code
            text.append("```")
            blank = 0
            continue
        if not code:
            line = " ".join(line.split())
        blank = blank + 1 if not line.strip() else 0
        if blank <= 1:
            text.append(line.rstrip())
    body = "\n".join(text).strip()
    title = " ".join(parser.title.split())
    return f"# {title}\n\n{body}" if title and not body.startswith("# ") else body


_TEXTUAL = ("text/", "application/json", "application/xml", "application/xhtml", "+json", "+xml")


async def _fetch(settings: WebSettings, args: dict[str, Any], ctx: ToolContext) -> str:
    url = (args.get("url") or "").strip()
    if not url:
        raise WebFailure("Argument `url` is required.")
    if "://" not in url:
        url = "https://" + url
    max_chars = int(args.get("max_chars") or 20_000)
    start = int(args.get("start_char") or 0)
    for _hop in range(MAX_REDIRECTS + 1):
        await check_public(url, settings.allow_private)
        response = await request(
            WEB,
            url,
            timeout_s=settings.timeout_s,
            max_bytes=settings.max_bytes,
            follow_redirects=False,
            raise_for_status=False,
        )
        location = response.headers.get("location")
        if response.status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        break
    else:
        raise WebFailure(f"Too many redirects (more than {MAX_REDIRECTS}); stopped at {url}.")
    if response.status >= 400:
        from .web_http import status_message

        host = urlsplit(url).hostname or url
        raise WebFailure(status_message(Service(name=host), response))
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and not any(t in ctype for t in _TEXTUAL):
        raise WebFailure(
            f"{url} is {ctype}, not a text page, so it was not read. For papers use hf_papers; "
            "for files on the Hub use hf_repo_files."
        )
    raw = response.text
    text = (
        html_to_text(raw)
        if "html" in ctype or raw.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))
        else raw
    )
    total = len(text)
    if start >= total and total:
        raise WebFailure(f"start_char {start} is past the end of the text ({total:,} characters).")
    part = text[start : start + max_chars]
    notes = []
    if start + max_chars < total:
        notes.append(
            f"[Characters {start:,}-{start + len(part):,} of {total:,}; read on with "
            f"start_char={start + len(part)}.]"
        )
    if response.truncated:
        notes.append(f"[The page was cut at {settings.max_bytes:,} bytes.]")
    head = f"{url}" + (f" (redirected from {args['url'].strip()})" if url != args["url"] else "")
    return "\n".join([head, "", part or "(the page has no text)", *notes])


def fetch_url_tool(settings: WebSettings | None = None) -> ToolSpec:
    s = settings or WebSettings()
    return ToolSpec(
        name="fetch_url",
        description=(
            "Read a public web page as text (HTML is turned into readable text; JSON and plain "
            "text come as they are). Use it instead of curl. Long pages come in parts: "
            "`max_chars` per call, `start_char` to read on. Private and loopback addresses "
            "are refused."
        ),
        parameters=object_schema(
            {
                "url": {"type": "string"},
                "max_chars": {"type": "integer", "minimum": 500, "maximum": 24_000},
                "start_char": {"type": "integer", "minimum": 0},
            },
            ["url"],
        ),
        handler=guarded_web("fetch_url", partial(_fetch, s)),
        timeout=(MAX_REDIRECTS + 1) * (s.timeout_s + 5) + 10,
    )

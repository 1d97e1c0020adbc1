"""`hf_papers`: find, read and follow research papers.

Operations: search, trending, paper_details (alias: read), read_paper (by
section), citation_graph, snippet_search, recommend, find_datasets,
find_models, find_collections, find_all_resources.

The Hub's papers API (`/api/papers/search`, `/api/daily_papers`,
`/api/papers/<id>`, `/papers/<id>.md`) and its listings of the models,
datasets and collections that cite a paper (`filter=arxiv:<id>`,
`/api/collections?item=papers/<id>`) go through huggingface_hub's HTTP
session; the citation graph, snippets and recommendations come from
Semantic Scholar (`papers_s2.py`). It reads the JSON itself rather than through `PaperInfo`, which
drops the GitHub and project links when they are nested under "paper" (as
search and daily results nest them).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from functools import partial
from typing import Any

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
    short_date,
    where_from_args,
)
from .hub_errors import Where
from .papers_s2 import citation_graph, recommend, s2_details, section_text, snippet_search

__all__ = ["normalise_paper_id", "papers_tool"]

MAX_PAPERS = 50
MAX_AUTHORS = 12
MAX_FULL_TEXT = 20_000
OPERATIONS = [
    "search",
    "trending",
    "paper_details",
    "read",
    "read_paper",
    "citation_graph",
    "snippet_search",
    "recommend",
    "find_datasets",
    "find_models",
    "find_collections",
    "find_all_resources",
]
_ARXIV_ID = re.compile(r"(\d{4}\.\d{4,5})(v\d+)?")


def normalise_paper_id(raw: str) -> str:
    """'2401.12345' from an id, an arXiv URL or a Hub papers URL."""
    found = _ARXIV_ID.search(raw)
    return found.group(1) if found else raw.strip().rstrip("/").split("/")[-1]


def _flatten(item: dict[str, Any]) -> dict[str, Any]:
    merged = dict(item.get("paper") or {})
    for key, value in item.items():
        if key != "paper" and value is not None:
            merged.setdefault(key, value)
    return merged


def _links(paper: dict[str, Any]) -> list[str]:
    pid = paper.get("id", "")
    links = [f"arXiv: https://arxiv.org/abs/{pid}", f"Hub: {hub_endpoint()}/papers/{pid}"]
    if paper.get("githubRepo"):
        links.append(f"GitHub: {paper['githubRepo']}")
    if paper.get("projectPage"):
        links.append(f"Project: {paper['projectPage']}")
    return links


def _list_text(header: str, items: list[dict[str, Any]]) -> str:
    lines = [header]
    for n, paper in enumerate(items, 1):
        meta = ", ".join(
            x
            for x in (
                short_date(paper.get("publishedAt")),
                f"{paper['upvotes']} upvotes" if paper.get("upvotes") is not None else "",
            )
            if x
        )
        lines.append(f"{n}. {paper.get('id')} — {clip(paper.get('title') or '?', 150)} ({meta})")
        extra = _links(paper)[2:]
        if extra:
            lines.append(f"   {' · '.join(extra)}")
        gist = paper.get("ai_summary") or paper.get("summary")
        if gist:
            lines.append(f"   {clip(' '.join(str(gist).split()), 240)}")
    lines.append(
        "Details: hf_papers operation=paper_details paper_id=<id>; sections: operation=read_paper."
    )
    return "\n".join(lines)


async def _papers(settings: HubSettings, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    op, t, token = args["operation"], settings.request_timeout_s, resolve_token()
    base = hub_endpoint()
    limit = min(int(args.get("limit") or 10), MAX_PAPERS)

    def fetch(path: str, **params: Any) -> Any:
        return get_json(f"{base}{path}", params=params, token=token, request_timeout=t)

    if op == "search":
        query = arg(args, "query", op)
        found = await in_thread(fetch, "/api/papers/search", q=query, limit=limit, deadline=t)
        items = [_flatten(i) for i in found][:limit]
        if not items:
            return ToolResult(f"No papers found for {query!r}. Try other or fewer words.")
        return ToolResult(_list_text(f"Papers matching {query!r}:", items))
    if op == "trending":
        date = args.get("date")
        found = await in_thread(fetch, "/api/daily_papers", limit=limit, date=date, deadline=t)
        items = [_flatten(i) for i in found][:limit]
        if not items:
            return ToolResult(f"No daily papers{' on ' + date if date else ''}.")
        return ToolResult(_list_text(f"Trending papers{' on ' + date if date else ''}:", items))
    if op == "snippet_search":
        pid = args.get("paper_id")
        pid = normalise_paper_id(pid) if pid else None
        return ToolResult(await snippet_search(arg(args, "query", op), pid, limit, t))
    if op in ("paper_details", "read"):
        return await _read(args, fetch, base, token, t)
    pid = normalise_paper_id(arg(args, "paper_id", op))
    if op == "read_paper":
        text = await in_thread(_full_text, f"{base}/papers/{pid}.md", token, t, deadline=t)
        return ToolResult(section_text(text, args.get("section"), pid, MAX_FULL_TEXT))
    if op == "citation_graph":
        direction = args.get("direction") or "both"
        return ToolResult(await citation_graph(pid, direction, limit, t))
    if op == "recommend":
        return ToolResult(await recommend(pid, limit, t))
    kinds = {
        "find_models": ["models"],
        "find_datasets": ["datasets"],
        "find_collections": ["collections"],
    }.get(op, ["models", "datasets", "collections"])
    parts = await asyncio.gather(*(_linked(fetch, kind, pid, limit, t) for kind in kinds))
    return ToolResult("\n\n".join(parts))


async def _linked(fetch: Any, kind: str, pid: str, limit: int, t: float) -> str:
    """The Hub models, datasets or collections that cite the paper."""
    if kind == "collections":
        found = await in_thread(
            fetch, "/api/collections", item=f"papers/{pid}", limit=limit, deadline=t
        )
        if not found:
            return f"No collections contain arXiv {pid}."
        lines = [f"Collections with arXiv {pid}:"]
        for c in found[:limit]:
            slug = c.get("slug", "?")
            lines.append(
                f"- {c.get('title') or slug} ({hub_endpoint()}/collections/{slug}, "
                f"{c.get('upvotes', 0)} upvotes, {len(c.get('items') or [])} items)"
            )
        return "\n".join(lines)
    found = await in_thread(
        fetch, f"/api/{kind}", filter=f"arxiv:{pid}", sort="downloads", limit=limit, deadline=t
    )
    if not found:
        return f"No {kind} on the Hub cite arXiv {pid}."
    lines = [f"{kind.capitalize()} citing arXiv {pid} (by downloads):"]
    for r in found[:limit]:
        meta = ", ".join(
            x
            for x in (
                f"{r['downloads']:,} downloads" if r.get("downloads") is not None else "",
                f"{r['likes']} likes" if r.get("likes") is not None else "",
                r.get("pipeline_tag") or "",
            )
            if x
        )
        lines.append(f"- {r.get('id') or r.get('modelId') or '?'}" + (f" ({meta})" if meta else ""))
    return "\n".join(lines)


async def _read(
    args: dict[str, Any], fetch: Any, base: str, token: str | None, t: float
) -> ToolResult:
    pid = normalise_paper_id(arg(args, "paper_id", args["operation"]))
    paper = _flatten(await in_thread(fetch, f"/api/papers/{pid}", deadline=t))
    authors = [a.get("name", "?") for a in paper.get("authors") or [] if isinstance(a, dict)]
    more = len(authors) - MAX_AUTHORS
    lines = [
        paper.get("title") or pid,
        ", ".join(
            x
            for x in (
                f"arXiv {pid}",
                f"published {short_date(paper.get('publishedAt'))}"
                if paper.get("publishedAt")
                else "",
                f"{paper['upvotes']} upvotes" if paper.get("upvotes") is not None else "",
            )
            if x
        ),
    ]
    if authors:
        lines.append(
            "Authors: "
            + ", ".join(authors[:MAX_AUTHORS])
            + (f" (+{more} more)" if more > 0 else "")
        )
    lines.append("Links: " + " · ".join(_links({**paper, "id": pid})))
    if paper.get("summary"):
        lines += ["Abstract:", " ".join(str(paper["summary"]).split())]
    if paper.get("ai_summary"):
        lines.append(f"AI summary: {paper['ai_summary']}")
    if paper.get("ai_keywords"):
        lines.append(f"Keywords: {', '.join(map(str, paper['ai_keywords']))}")
    try:
        lines += await s2_details(pid, t)
    except Exception as exc:  # reception figures are a bonus: say why they are missing
        lines.append(f"(No Semantic Scholar figures: {exc})")
    lines.append(
        "Next: operation=read_paper for its sections, citation_graph for who built on it, "
        "find_all_resources for its models and datasets on the Hub."
    )
    if args.get("full_text"):
        text = await in_thread(_full_text, f"{base}/papers/{pid}.md", token, t, deadline=t)
        cut = len(text) > MAX_FULL_TEXT
        lines += ["Full text:", text[:MAX_FULL_TEXT]]
        if cut:
            lines.append(f"[Full text cut at {MAX_FULL_TEXT:,} of {len(text):,} characters.]")
    return ToolResult("\n".join(lines))


def _full_text(url: str, token: str | None, timeout: float) -> str:
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    response = get_session().get(
        url, headers=build_hf_headers(token=token or False), timeout=timeout
    )
    hf_raise_for_status(response)
    return response.text


def papers_tool(settings: HubSettings | None = None) -> ToolSpec:
    settings = settings or HubSettings()
    t = settings.request_timeout_s

    def where(args: dict[str, Any]) -> Where:
        hint = "Check the arXiv id (e.g. 2401.12345), or find the paper with operation=search."
        return replace(where_from_args("hf_papers", args, t), not_found_hint=hint)

    return ToolSpec(
        name="hf_papers",
        description=(
            "Research papers (Hugging Face papers + Semantic Scholar). `paper_id` is an arXiv "
            "id or URL. search: papers matching `query`. trending: the daily papers, "
            "optionally for a `date` (YYYY-MM-DD). paper_details (or read): abstract, "
            "authors, links (arXiv, GitHub, project page), citation counts; full_text=true "
            "adds the text. read_paper: the list of sections, or one `section` (title or "
            "number, e.g. 'Method', '4.2'). citation_graph: papers citing it and/or its "
            "references (`direction`), influential ones flagged. snippet_search: full-text "
            "passages matching `query` (optionally within `paper_id`). recommend: similar "
            "papers. find_models / find_datasets / find_collections / find_all_resources: "
            "what on the Hub is linked to the paper."
        ),
        parameters=obj(
            {
                "operation": {"type": "string", "enum": OPERATIONS},
                "query": {"type": "string"},
                "paper_id": {"type": "string", "description": "arXiv id, e.g. 2401.12345."},
                "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAPERS, "default": 10},
                "full_text": {"type": "boolean", "default": False},
                "section": {"type": "string", "description": "For read_paper."},
                "direction": {
                    "type": "string",
                    "enum": ["citations", "references", "both"],
                    "default": "both",
                },
            },
            ["operation"],
        ),
        handler=guarded("hf_papers", partial(_papers, settings), timeout_s=t, where=where),
        timeout=3 * t + 30,
    )

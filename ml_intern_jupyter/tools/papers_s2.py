"""The research operations of `hf_papers`: sections, citation graph, snippets, recommendations.

Semantic Scholar (`SEMANTIC_SCHOLAR_API_URL`, default the public API;
`SEMANTIC_SCHOLAR_API_KEY` optional, sent as `x-api-key`) answers the
citation graph (with its influence flags and citation intents), full-text
snippet search, recommendations and citation counts. Papers are named by
arXiv id (`arXiv:2401.12345` there), so results carry arXiv ids the model
can pass on to the next call. Reading a paper by section splits the Hub's
markdown rendering of it (`/papers/<id>.md`) at its headings.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .web_http import Service, WebFailure, base_url, request

__all__ = [
    "S2",
    "citation_graph",
    "recommend",
    "s2_details",
    "section_text",
    "snippet_search",
    "split_sections",
]

DEFAULT_S2 = "https://api.semanticscholar.org"
S2 = Service(
    name="Semantic Scholar",
    env_var="SEMANTIC_SCHOLAR_API_URL",
    auth_hint="Check SEMANTIC_SCHOLAR_API_KEY (or unset it to use the shared public rate).",
    rate_hint=(
        "Without a key Semantic Scholar shares a small rate among all users: wait a few "
        "seconds before the next call, or set SEMANTIC_SCHOLAR_API_KEY."
    ),
)
_PAPER_FIELDS = "title,year,externalIds,citationCount,influentialCitationCount,venue"
_NOT_FOUND = (
    "Semantic Scholar does not know this paper (it may be too recent). Check the arXiv id, "
    "or find the paper with operation=search."
)


def s2_id(paper_id: str) -> str:
    """Semantic Scholar's name for a paper: arXiv:<id> for arXiv ids, else as given."""
    if re.fullmatch(r"\d{4}\.\d{4,5}", paper_id):
        return f"arXiv:{paper_id}"
    return paper_id


async def _get(path: str, timeout_s: float, **params: Any) -> Any:
    headers = {"Accept": "application/json"}
    key = (os.environ.get("SEMANTIC_SCHOLAR_API_KEY") or "").strip()
    if key:
        headers["x-api-key"] = key
    url = f"{base_url('SEMANTIC_SCHOLAR_API_URL', DEFAULT_S2)}{path}"
    response = await request(
        S2, url, params=params, headers=headers, timeout_s=timeout_s, not_found=_NOT_FOUND
    )
    return response.json()


def _label(paper: dict[str, Any]) -> str:
    ids = paper.get("externalIds") or {}
    arxiv = ids.get("ArXiv")
    ref = f"arXiv {arxiv}" if arxiv else f"S2 {paper.get('paperId') or '?'}"
    bits = [
        str(paper.get("year") or ""),
        f"{paper['citationCount']} citations" if paper.get("citationCount") is not None else "",
    ]
    meta = ", ".join(b for b in bits if b)
    return f"{paper.get('title') or '?'} ({ref}{', ' + meta if meta else ''})"


async def s2_details(paper_id: str, timeout_s: float) -> list[str]:
    """Lines about a paper's reception: citations, influential citations, venue, TL;DR."""
    data = await _get(
        f"/graph/v1/paper/{s2_id(paper_id)}", timeout_s, fields=f"{_PAPER_FIELDS},tldr"
    )
    lines = []
    counts = [
        f"{data['citationCount']} citations" if data.get("citationCount") is not None else "",
        f"{data['influentialCitationCount']} influential"
        if data.get("influentialCitationCount") is not None
        else "",
        f"venue {data['venue']}" if data.get("venue") else "",
    ]
    if any(counts):
        lines.append("Semantic Scholar: " + ", ".join(c for c in counts if c))
    tldr = (data.get("tldr") or {}).get("text") if isinstance(data.get("tldr"), dict) else None
    if tldr:
        lines.append(f"TL;DR: {tldr}")
    return lines


async def citation_graph(paper_id: str, direction: str, limit: int, timeout_s: float) -> str:
    fields = f"isInfluential,intents,contexts,{_PAPER_FIELDS}"
    sections = []
    for kind in ("citations", "references") if direction == "both" else (direction,):
        data = await _get(
            f"/graph/v1/paper/{s2_id(paper_id)}/{kind}", timeout_s, fields=fields, limit=100
        )
        key = "citingPaper" if kind == "citations" else "citedPaper"
        edges = [e for e in data.get("data") or [] if isinstance(e, dict) and e.get(key)]
        edges.sort(key=lambda e: (not e.get("isInfluential"), -(e[key].get("citationCount") or 0)))
        title = "Cited by" if kind == "citations" else "References"
        influential = sum(1 for e in edges if e.get("isInfluential"))
        lines = [f"{title} ({len(edges)} shown, {influential} influential; influential first):"]
        for n, edge in enumerate(edges[:limit], 1):
            flag = " [influential]" if edge.get("isInfluential") else ""
            intents = edge.get("intents") or []
            why = f" — {', '.join(intents)}" if intents else ""
            lines.append(f"{n}. {_label(edge[key])}{flag}{why}")
            contexts = [c for c in edge.get("contexts") or [] if isinstance(c, str)]
            if contexts and edge.get("isInfluential"):
                lines.append(f"   “{' '.join(contexts[0].split())[:240]}”")
        if not edges:
            lines.append("(none known to Semantic Scholar)")
        sections.append("\n".join(lines))
    sections.append(
        "Influential = the citing paper builds on this one's methods or results. Read a method "
        "section with operation=read_paper paper_id=<arXiv id> section=<name>."
    )
    return f"Citation graph of arXiv {paper_id}:\n\n" + "\n\n".join(sections)


async def snippet_search(query: str, paper_id: str | None, limit: int, timeout_s: float) -> str:
    params: dict[str, Any] = {"query": query, "limit": limit}
    if paper_id:
        params["paperIds"] = s2_id(paper_id)
    data = await _get("/graph/v1/snippet/search", timeout_s, **params)
    hits = [h for h in data.get("data") or [] if isinstance(h, dict)]
    if not hits:
        return f"No passages found for {query!r}. Try other words."
    lines = [f"Passages matching {query!r}:"]
    for n, hit in enumerate(hits[:limit], 1):
        snip = hit.get("snippet") or {}
        paper = hit.get("paper") or {}
        section = snip.get("section") or snip.get("snippetKind") or ""
        ids = paper.get("externalIds") or {}
        ref = f"arXiv {ids['ArXiv']}" if ids.get("ArXiv") else f"corpus {paper.get('corpusId')}"
        lines.append(
            f"{n}. {paper.get('title') or '?'} ({ref}){' — ' + section if section else ''}"
        )
        lines.append(f"   {' '.join(str(snip.get('text') or '').split())[:600]}")
    return "\n".join(lines)


async def recommend(paper_id: str, limit: int, timeout_s: float) -> str:
    data = await _get(
        f"/recommendations/v1/papers/forpaper/{s2_id(paper_id)}",
        timeout_s,
        fields=_PAPER_FIELDS,
        limit=limit,
    )
    papers = [p for p in data.get("recommendedPapers") or [] if isinstance(p, dict)]
    if not papers:
        return f"No recommendations for arXiv {paper_id}."
    lines = [f"Papers like arXiv {paper_id}:"]
    lines += [f"{n}. {_label(p)}" for n, p in enumerate(papers[:limit], 1)]
    return "\n".join(lines)


# --------------------------------------------------------------- sections

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def split_sections(markdown: str) -> list[tuple[int, str, str]]:
    """(level, title, text) for every heading of a markdown paper, text including subsections."""
    lines = markdown.splitlines()
    heads = []
    in_code = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        found = None if in_code else _HEADING.match(line)
        if found:
            heads.append((i, len(found.group(1)), found.group(2).strip()))
    out = []
    for k, (i, level, title) in enumerate(heads):
        end = next((j for j, lvl, _ in heads[k + 1 :] if lvl <= level), len(lines))
        out.append((level, title, "\n".join(lines[i:end]).strip()))
    return out


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9. ]+", " ", text.lower()).split())


def section_text(markdown: str, wanted: str | None, paper_id: str, max_chars: int) -> str:
    sections = split_sections(markdown)
    if not wanted:
        if not sections:
            return markdown[:max_chars]
        toc = [f"Sections of arXiv {paper_id} (read one with section=<title or number>):"]
        for level, title, text in sections:
            toc.append(f"{'  ' * (level - 1)}- {title} ({len(text):,} chars)")
        first = next((t for _, title, t in sections if "abstract" in title.lower()), "")
        return "\n".join(toc) + (f"\n\n{first[:4000]}" if first else "")
    key = _norm(wanted)
    exact = [s for s in sections if _norm(s[1]) == key]
    numbered = [s for s in sections if _norm(s[1]).split(" ")[0].rstrip(".") == key.rstrip(".")]
    partial = [s for s in sections if key and key in _norm(s[1])]
    matches = exact or numbered or partial
    if not matches:
        titles = "; ".join(t for _, t, _ in sections[:40]) or "(no headings)"
        raise WebFailure(f"No section matching {wanted!r} in arXiv {paper_id}. Sections: {titles}.")
    text = matches[0][2]
    if len(text) > max_chars:
        text = text[:max_chars] + (
            f"\n[Section cut at {max_chars:,} of {len(matches[0][2]):,} characters; ask for one of "
            "its subsections.]"
        )
    return text

"""A fake Semantic Scholar API on loopback (graph, snippet search, recommendations).

with FakeS2() as s2:
    s2.add("2401.00001", title="...", citations=[("2402.00002", True, ["methodology"])])
    monkeypatch.setenv("SEMANTIC_SCHOLAR_API_URL", s2.url)
"""

from __future__ import annotations

from typing import Any

from tests.fakes.routes import Reply, Request, RoutedFake

__all__ = ["FakeS2"]


class FakeS2(RoutedFake):
    routes = [
        ("GET", r"^/graph/v1/paper/arXiv:([^/]+)$", "r_paper"),
        ("GET", r"^/graph/v1/paper/arXiv:([^/]+)/(citations|references)$", "r_edges"),
        ("GET", r"^/graph/v1/snippet/search$", "r_snippets"),
        ("GET", r"^/recommendations/v1/papers/forpaper/arXiv:([^/]+)$", "r_recommend"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.papers: dict[str, dict[str, Any]] = {}
        self.snippets: list[dict[str, Any]] = []

    def add(self, arxiv: str, **fields: Any) -> None:
        fields.setdefault("citations", [])
        fields.setdefault("references", [])
        fields.setdefault("recommended", [])
        self.papers[arxiv] = {"arxiv": arxiv, **fields}

    def _public(self, arxiv: str) -> dict[str, Any]:
        p = self.papers.get(arxiv, {"title": f"Paper {arxiv}"})
        return {
            "paperId": f"s2-{arxiv}",
            "externalIds": {"ArXiv": arxiv},
            "title": p.get("title"),
            "year": p.get("year", 2024),
            "citationCount": p.get("citationCount", 0),
            "influentialCitationCount": p.get("influentialCitationCount", 0),
            "venue": p.get("venue", ""),
        }

    def _missing(self) -> Reply:
        return Reply(404, {"error": "Paper with id not found"})

    def r_paper(self, req: Request, arxiv: str) -> Any:
        if arxiv not in self.papers:
            return self._missing()
        out = self._public(arxiv)
        if "tldr" in (req.param("fields") or "") and self.papers[arxiv].get("tldr"):
            out["tldr"] = {"model": "tldr@v2", "text": self.papers[arxiv]["tldr"]}
        return out

    def r_edges(self, req: Request, arxiv: str, kind: str) -> Any:
        if arxiv not in self.papers:
            return self._missing()
        key = "citingPaper" if kind == "citations" else "citedPaper"
        data = [
            {
                "isInfluential": influential,
                "intents": intents,
                "contexts": [f"we build on {arxiv}"] if influential else [],
                key: self._public(other),
            }
            for other, influential, intents in self.papers[arxiv][kind]
        ]
        return {"offset": 0, "data": data[: int(req.param("limit") or 100)]}

    def r_snippets(self, req: Request) -> Any:
        q = (req.param("query") or "").lower()
        only = req.param("paperIds")
        hits = [
            {
                "score": 0.9,
                "snippet": {"text": s["text"], "snippetKind": "body", "section": s["section"]},
                "paper": {"corpusId": 1, "title": s["title"], "externalIds": {"ArXiv": s["arxiv"]}},
            }
            for s in self.snippets
            if q in s["text"].lower() and (not only or only == f"arXiv:{s['arxiv']}")
        ]
        return {"data": hits[: int(req.param("limit") or 10)]}

    def r_recommend(self, req: Request, arxiv: str) -> Any:
        if arxiv not in self.papers:
            return self._missing()
        recs = [self._public(o) for o in self.papers[arxiv]["recommended"]]
        return {"recommendedPapers": recs[: int(req.param("limit") or 10)]}

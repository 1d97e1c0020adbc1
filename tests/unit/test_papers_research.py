"""hf_papers' research operations against the fake Hub and a fake Semantic Scholar."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml_intern_jupyter.tools.papers import OPERATIONS, papers_tool
from ml_intern_jupyter.tools.papers_s2 import split_sections
from tests.fakes.hub_server import FakeHub
from tests.fakes.s2_server import FakeS2
from tests.hub_harness import FAST, call, closed_port_url

PAPER_MD = """# LoRA Done Right

## Abstract
We fine-tune with low-rank adapters.

## 1 Introduction
Adapters are cheap.

## 3 Method
We use rank 16.

### 3.1 Training recipe
lr 2e-4, 3 epochs on Alpaca.

```python
# not a heading
```

## 4 Experiments
Table 1: 71.2 on MMLU.
"""


@pytest.fixture
def s2(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeS2]:
    fake = FakeS2().start()
    monkeypatch.setenv("SEMANTIC_SCHOLAR_API_URL", fake.url)
    monkeypatch.delenv("SEMANTIC_SCHOLAR_API_KEY", raising=False)
    fake.add(
        "2401.00001",
        title="LoRA Done Right",
        citationCount=120,
        influentialCitationCount=9,
        tldr="Low-rank adapters match full fine-tuning.",
        citations=[
            ("2402.00002", False, ["background"]),
            ("2403.00003", True, ["methodology"]),
        ],
        references=[("2106.09685", True, ["methodology"])],
        recommended=["2403.00003", "2402.00002"],
    )
    fake.add("2403.00003", title="QLoRA Follow-up", citationCount=50)
    fake.add("2402.00002", title="Adapters Survey", citationCount=500)
    fake.snippets = [
        {
            "text": "We train with learning rate 2e-4 for 3 epochs.",
            "section": "3.1 Training",
            "title": "LoRA Done Right",
            "arxiv": "2401.00001",
        },
        {
            "text": "A learning rate of 1e-5 was used.",
            "section": "Setup",
            "title": "Other",
            "arxiv": "2405.00005",
        },
    ]
    yield fake
    fake.stop()


@pytest.fixture
def paper_hub(hub: FakeHub) -> FakeHub:
    hub.add_paper("2401.00001", title="LoRA Done Right", summary="Adapters.", markdown=PAPER_MD)
    tag = ["arxiv:2401.00001"]
    hub.add_repo("org/lora-7b", downloads=900, likes=5, tags=tag, pipeline_tag="text-generation")
    hub.add_repo("org/lora-13b", downloads=100, tags=tag)
    hub.add_repo("org/unrelated", downloads=10**6)
    hub.add_repo("org/alpaca-clean", repo_type="dataset", downloads=50, tags=tag)
    hub.collections.append(
        {
            "slug": "org/peft-papers-abc",
            "title": "PEFT papers",
            "upvotes": 7,
            "items": [{"type": "paper", "id": "2401.00001"}],
        }
    )
    return hub


def test_all_of_upstreams_operations_are_offered() -> None:
    assert set(OPERATIONS) >= {
        "search", "trending", "paper_details", "read_paper", "citation_graph", "snippet_search",
        "recommend", "find_datasets", "find_models", "find_collections", "find_all_resources",
    }  # fmt: skip


async def test_paper_details_adds_semantic_scholar_figures(paper_hub: FakeHub, s2: FakeS2) -> None:
    result = await call(papers_tool(FAST), operation="paper_details", paper_id="2401.00001")
    assert result.success, result.output
    assert "Semantic Scholar: 120 citations, 9 influential" in result.output
    assert "TL;DR: Low-rank adapters match full fine-tuning." in result.output


async def test_paper_details_without_semantic_scholar_still_answers(
    paper_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMANTIC_SCHOLAR_API_URL", closed_port_url())
    result = await call(papers_tool(FAST), operation="paper_details", paper_id="2401.00001")
    assert result.success and "LoRA Done Right" in result.output
    assert "(No Semantic Scholar figures: Cannot reach Semantic Scholar" in result.output


def test_split_sections_nests_and_skips_code() -> None:
    titles = [(lvl, t) for lvl, t, _ in split_sections(PAPER_MD)]
    assert (3, "3.1 Training recipe") in titles and (1, "not a heading") not in titles
    method = dict((t, x) for _, t, x in split_sections(PAPER_MD))["3 Method"]
    assert "lr 2e-4" in method and "MMLU" not in method


async def test_read_paper_lists_sections_then_reads_one(paper_hub: FakeHub) -> None:
    toc = await call(papers_tool(FAST), operation="read_paper", paper_id="2401.00001")
    assert toc.success, toc.output
    assert (
        "Sections of arXiv 2401.00001" in toc.output and "    - 3.1 Training recipe" in toc.output
    )
    assert "We fine-tune with low-rank adapters." in toc.output  # the abstract
    by_name = await call(
        papers_tool(FAST), operation="read_paper", paper_id="2401.00001", section="method"
    )
    assert by_name.output.startswith("## 3 Method") and "lr 2e-4" in by_name.output
    by_number = await call(
        papers_tool(FAST), operation="read_paper", paper_id="2401.00001", section="3.1"
    )
    assert by_number.output.startswith("### 3.1 Training recipe")
    missing = await call(
        papers_tool(FAST), operation="read_paper", paper_id="2401.00001", section="Appendix Z"
    )
    assert not missing.success and "No section matching 'Appendix Z'" in missing.output
    assert "3 Method" in missing.output


async def test_citation_graph_flags_influential_first(s2: FakeS2) -> None:
    result = await call(
        papers_tool(FAST), operation="citation_graph", paper_id="arxiv.org/abs/2401.00001"
    )
    assert result.success, result.output
    cited_by = result.output.split("Cited by")[1].split("References")[0]
    assert "(2 shown, 1 influential; influential first)" in cited_by
    lines = [line for line in cited_by.splitlines() if line[:2] in ("1.", "2.")]
    assert lines[0].startswith("1. QLoRA Follow-up (arXiv 2403.00003, 2024, 50 citations)")
    assert "[influential] — methodology" in lines[0]
    assert "[influential]" not in lines[1]
    assert "2106.09685" in result.output.split("References")[1]
    only = await call(
        papers_tool(FAST), operation="citation_graph", paper_id="2401.00001", direction="references"
    )
    assert "Cited by" not in only.output


async def test_snippet_search_and_recommend(s2: FakeS2) -> None:
    snips = await call(papers_tool(FAST), operation="snippet_search", query="learning rate")
    assert "1. LoRA Done Right (arXiv 2401.00001) — 3.1 Training" in snips.output
    assert "2e-4 for 3 epochs" in snips.output
    within = await call(
        papers_tool(FAST), operation="snippet_search", query="learning rate", paper_id="2405.00005"
    )
    assert "LoRA Done Right" not in within.output and "1e-5" in within.output
    recs = await call(papers_tool(FAST), operation="recommend", paper_id="2401.00001")
    assert "1. QLoRA Follow-up (arXiv 2403.00003" in recs.output


async def test_unknown_paper_and_rate_limit_on_semantic_scholar(s2: FakeS2) -> None:
    missing = await call(papers_tool(FAST), operation="recommend", paper_id="2999.99999")
    assert not missing.success and "Semantic Scholar does not know this paper" in missing.output
    s2.inject(429, "/citations", headers={"Retry-After": "5"})
    limited = await call(papers_tool(FAST), operation="citation_graph", paper_id="2401.00001")
    assert not limited.success
    assert (
        "Semantic Scholar rate limit reached (429); the server asks to wait 5 s" in limited.output
    )
    assert "SEMANTIC_SCHOLAR_API_KEY" in limited.output


async def test_api_key_is_sent(s2: FakeS2, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMANTIC_SCHOLAR_API_KEY", "s2-key")
    await call(papers_tool(FAST), operation="recommend", paper_id="2401.00001")
    assert s2.requests[-1].headers["x-api-key"] == "s2-key"


async def test_linked_models_datasets_collections(paper_hub: FakeHub) -> None:
    models = await call(papers_tool(FAST), operation="find_models", paper_id="2401.00001")
    assert models.success, models.output
    assert models.output.index("org/lora-7b") < models.output.index("org/lora-13b")
    assert "org/unrelated" not in models.output
    everything = await call(
        papers_tool(FAST), operation="find_all_resources", paper_id="2401.00001"
    )
    assert "org/alpaca-clean" in everything.output
    assert "PEFT papers" in everything.output and "/collections/org/peft-papers-abc" in (
        everything.output
    )
    none = await call(papers_tool(FAST), operation="find_datasets", paper_id="2402.99999")
    assert none.success and "No datasets on the Hub cite arXiv 2402.99999" in none.output

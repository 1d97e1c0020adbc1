"""The Hub tools (search, repo files, repo git, datasets, papers, docs) against the fake Hub.

Every call goes through the real huggingface_hub client to a loopback
`FakeHub`; failures (missing repo, 401/403, 429, 5xx, network down, timeout)
must come back as failed results with advice, never as exceptions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml_intern_jupyter.config import Config
from ml_intern_jupyter.tools.base import Approval
from ml_intern_jupyter.tools.datasets import describe_feature, inspect_dataset_tool
from ml_intern_jupyter.tools.docs import docs_path, docs_tool, html_to_text
from ml_intern_jupyter.tools.hub import repo_files_tool, repo_git_tool, search_tool
from ml_intern_jupyter.tools.hub_client import HubSettings
from ml_intern_jupyter.tools.papers import normalise_paper_id, papers_tool
from ml_intern_jupyter.tools.registry import default_router
from ml_intern_jupyter.tools.router import ToolRouter
from tests.fakes.hub_server import FakeHub
from tests.hub_harness import FAST, Ctx, call, closed_port_url


@pytest.fixture
def demo(hub: FakeHub) -> FakeHub:
    hub.add_repo(
        "test-user/demo",
        files={
            "README.md": "# Demo\nline 2\nline 3\n",
            "config.json": '{"hidden_size": 8}',
            "data/train.csv": "a,b\n1,2\n",
            "weights.bin": b"\x00\x01binary",
        },
        downloads=120,
        likes=3,
        pipeline_tag="text-classification",
        library_name="transformers",
        tags=["transformers", "en"],
    )
    hub.add_repo(
        "google/big-bert",
        downloads=5_000_000,
        likes=2100,
        pipeline_tag="fill-mask",
        library_name="transformers",
        tags=["transformers"],
    )
    hub.add_repo("test-user/gguf-thing", downloads=10, library_name="gguf", tags=["gguf"])
    return hub


# ---------------------------------------------------------------- registry


def test_default_router_registers_the_hf_tools() -> None:
    router = default_router(Config(model_name="vllm/x"))
    for name in (
        "hf_search",
        "hf_repo_files",
        "hf_repo_git",
        "hf_inspect_dataset",
        "hf_papers",
        "hf_docs",
        "hf_jobs",
    ):
        spec = router.get(name)
        assert spec is not None, name
        assert spec.schema()["function"]["parameters"]["type"] == "object"


def test_building_the_tools_does_not_import_huggingface_hub() -> None:
    code = (
        "import sys\n"
        "from ml_intern_jupyter.config import Config\n"
        "from ml_intern_jupyter.tools.registry import default_router\n"
        "default_router(Config(model_name='vllm/x'))\n"
        "print([m for m in ('huggingface_hub', 'httpx') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- hf_search


async def test_search_models_with_filters_sends_them_and_lists_compactly(demo: FakeHub) -> None:
    result = await call(
        search_tool(FAST),
        kind="models",
        query="bert",
        author="google",
        task="fill-mask",
        library="transformers",
        sort="likes",
        limit=5,
    )
    assert result.success
    assert "1. google/big-bert  [fill-mask, transformers]" in result.output
    assert "downloads 5M" in result.output and "likes 2.1k" in result.output
    assert "test-user/demo" not in result.output
    req = demo.calls("GET", "/api/models")[-1]
    assert req.query["search"] == ["bert"]
    assert req.query["author"] == ["google"]
    assert req.query["pipeline_tag"] == ["fill-mask"]
    assert req.query["filter"] == ["transformers"]
    assert req.query["sort"] == ["likes"]
    assert req.query["limit"] == ["5"]


async def test_search_defaults_sort_by_downloads_and_limit_10(demo: FakeHub) -> None:
    result = await call(search_tool(FAST))
    lines = [ln for ln in result.output.splitlines() if ln[:2] in ("1.", "2.", "3.")]
    assert [ln.split()[1] for ln in lines] == [
        "google/big-bert",
        "test-user/demo",
        "test-user/gguf-thing",
    ]
    req = demo.calls("GET", "/api/models")[-1]
    assert req.query["sort"] == ["downloads"] and req.query["limit"] == ["10"]


async def test_search_datasets_maps_task_to_a_task_category_filter(hub: FakeHub) -> None:
    hub.add_repo(
        "org/reviews", "dataset", tags=["task_categories:text-classification"], downloads=9
    )
    hub.add_repo("org/images", "dataset", tags=["task_categories:image-classification"])
    result = await call(search_tool(FAST), kind="datasets", task="text-classification")
    assert "org/reviews" in result.output and "org/images" not in result.output
    assert "hf_inspect_dataset" in result.output
    req = hub.calls("GET", "/api/datasets")[-1]
    assert req.query["filter"] == ["task_categories:text-classification"]


async def test_search_spaces_sorts_by_likes_instead_of_downloads(hub: FakeHub) -> None:
    hub.add_repo("org/demo-app", "space", likes=40, sdk="gradio")
    result = await call(search_tool(FAST), kind="spaces", sort="downloads")
    assert "org/demo-app  [gradio]" in result.output
    assert "sorted by likes" in result.output
    assert hub.calls("GET", "/api/spaces")[-1].query["sort"] == ["likes"]


async def test_search_with_no_match_says_what_to_try(demo: FakeHub) -> None:
    result = await call(search_tool(FAST), query="zzz-nothing")
    assert result.success
    assert "No models found" in result.output and "fewer filters" in result.output


def test_search_limit_above_50_is_rejected_by_the_schema() -> None:
    router = ToolRouter([search_tool(FAST)])
    assert router.validate("hf_search", {"limit": 51}) is not None
    assert router.validate("hf_search", {"limit": 50, "kind": "datasets"}) is None


# ------------------------------------------------------------ hf_repo_files


def test_repo_files_approval_rule() -> None:
    spec = repo_files_tool(FAST)
    assert spec.approval({"operation": "list", "repo_id": "a/b"}) is Approval.NO
    assert spec.approval({"operation": "read", "repo_id": "a/b"}) is Approval.NO
    assert spec.approval({"operation": "upload", "repo_id": "a/b"}) is Approval.ASK
    assert spec.approval({"operation": "delete", "repo_id": "a/b"}) is Approval.ASK


async def test_list_files_recursively_with_sizes(demo: FakeHub) -> None:
    result = await call(repo_files_tool(FAST), operation="list", repo_id="test-user/demo")
    assert result.success
    assert "4 files in test-user/demo (revision main" in result.output
    assert "data/train.csv  8 B" in result.output
    narrowed = await call(
        repo_files_tool(FAST), operation="list", repo_id="test-user/demo", path="data"
    )
    assert "1 files in test-user/demo/data" in narrowed.output
    assert "README.md" not in narrowed.output


async def test_read_file_shows_lines_and_pages(demo: FakeHub) -> None:
    spec = repo_files_tool(FAST)
    result = await call(spec, operation="read", repo_id="test-user/demo", path="README.md")
    assert result.success
    assert result.output.splitlines()[1:] == ["# Demo", "line 2", "line 3"]
    page = await call(
        spec, operation="read", repo_id="test-user/demo", path="README.md", offset=2, limit=1
    )
    assert "line 2" in page.output and "line 3" not in page.output
    assert "offset=3" in page.output


async def test_read_binary_file_is_refused_with_a_hint(demo: FakeHub) -> None:
    result = await call(
        repo_files_tool(FAST), operation="read", repo_id="test-user/demo", path="weights.bin"
    )
    assert "binary file" in result.output and "hf_hub_download" in result.output


async def test_read_missing_file_says_how_to_list_files(demo: FakeHub) -> None:
    result = await call(
        repo_files_tool(FAST), operation="read", repo_id="test-user/demo", path="nope.txt"
    )
    assert not result.success
    assert "File 'nope.txt' not found in 'test-user/demo'" in result.output
    assert "hf_repo_files operation=list" in result.output


async def test_missing_repo_says_check_the_id_with_hf_search(hub: FakeHub) -> None:
    result = await call(repo_files_tool(FAST), operation="list", repo_id="x/y")
    assert not result.success
    assert result.output.startswith("Repository 'x/y' (model) not found.")
    assert "hf_search" in result.output


async def test_missing_revision_says_list_refs(demo: FakeHub) -> None:
    result = await call(
        repo_files_tool(FAST), operation="list", repo_id="test-user/demo", revision="v9"
    )
    assert not result.success
    assert "Revision 'v9' not found" in result.output and "list_refs" in result.output


async def test_upload_text_content_commits_the_file(demo: FakeHub) -> None:
    result = await call(
        repo_files_tool(FAST),
        operation="upload",
        repo_id="test-user/demo",
        path="notes/eval.md",
        content="accuracy: 0.91\n",
        commit_message="Add eval",
    )
    assert result.success, result.output
    assert "Uploaded notes/eval.md" in result.output and "/commit/" in result.output
    assert demo.repo("test-user/demo").files()["notes/eval.md"] == b"accuracy: 0.91\n"
    commit = demo.calls("POST", "/commit/")[-1]
    assert json.loads(commit.body.splitlines()[0])["value"]["summary"] == "Add eval"


async def test_upload_local_file_from_the_workdir(demo: FakeHub, tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"tensor-bytes")
    result = await call(
        repo_files_tool(FAST),
        Ctx(tmp_path),
        operation="upload",
        repo_id="test-user/demo",
        local_path="model.safetensors",
    )
    assert result.success, result.output
    assert demo.repo("test-user/demo").files()["model.safetensors"] == b"tensor-bytes"


async def test_upload_needs_exactly_one_source(demo: FakeHub) -> None:
    result = await call(
        repo_files_tool(FAST), operation="upload", repo_id="test-user/demo", path="a.txt"
    )
    assert not result.success and "exactly one of `content`" in result.output
    assert not demo.calls("POST", "/commit/")


async def test_upload_as_pull_request_leaves_main_untouched(demo: FakeHub) -> None:
    result = await call(
        repo_files_tool(FAST),
        operation="upload",
        repo_id="test-user/demo",
        path="README.md",
        content="# New\n",
        create_pr=True,
    )
    assert "Opened pull request" in result.output and "/discussions/1" in result.output
    repo = demo.repo("test-user/demo")
    assert repo.files()["README.md"].startswith(b"# Demo")
    assert repo.files("refs/pr/1")["README.md"] == b"# New\n"


async def test_delete_file_and_folder(demo: FakeHub) -> None:
    spec = repo_files_tool(FAST)
    one = await call(spec, operation="delete", repo_id="test-user/demo", path="config.json")
    folder = await call(spec, operation="delete", repo_id="test-user/demo", path="data/")
    assert one.success and folder.success
    assert sorted(demo.repo("test-user/demo").files()) == ["README.md", "weights.bin"]


async def test_delete_missing_file_is_a_readable_failure(demo: FakeHub) -> None:
    result = await call(
        repo_files_tool(FAST), operation="delete", repo_id="test-user/demo", path="ghost.txt"
    )
    assert not result.success
    assert "ghost.txt" in result.output and "hf_repo_files operation=list" in result.output


# -------------------------------------------------------------- hf_repo_git


def test_repo_git_approval_rule() -> None:
    spec = repo_git_tool(FAST)
    asks = {"delete_branch", "delete_tag", "merge_pr", "create_repo", "update_repo"}
    for op in ("list_refs", "list_prs", "create_branch", "create_tag", "create_pr", *asks):
        expected = Approval.ASK if op in asks else Approval.NO
        assert spec.approval({"operation": op, "repo_id": "a/b"}) is expected, op


async def test_branches_and_tags_round_trip(demo: FakeHub) -> None:
    spec = repo_git_tool(FAST)
    rid = "test-user/demo"
    made = await call(spec, operation="create_branch", repo_id=rid, branch="exp")
    tagged = await call(spec, operation="create_tag", repo_id=rid, tag="v1", message="first")
    assert made.success and tagged.success
    refs = await call(spec, operation="list_refs", repo_id=rid)
    assert "Branches: main (" in refs.output and "exp (" in refs.output
    assert "Tags: v1 (" in refs.output
    assert demo.calls("POST", "/tag/main")[-1].json() == {"tag": "v1", "message": "first"}
    await call(spec, operation="delete_branch", repo_id=rid, branch="exp")
    await call(spec, operation="delete_tag", repo_id=rid, tag="v1")
    repo = demo.repo(rid)
    assert "exp" not in repo.branches and "v1" not in repo.tags


async def test_create_branch_needs_a_name(demo: FakeHub) -> None:
    result = await call(repo_git_tool(FAST), operation="create_branch", repo_id="test-user/demo")
    assert not result.success
    assert result.output == "Argument `branch` is required for operation=create_branch."


async def test_pull_request_create_list_merge(demo: FakeHub) -> None:
    spec, files, rid = repo_git_tool(FAST), repo_files_tool(FAST), "test-user/demo"
    opened = await call(spec, operation="create_pr", repo_id=rid, title="Better README")
    assert opened.success and "#1" in opened.output and "refs/pr/1" in opened.output
    await call(
        files,
        operation="upload",
        repo_id=rid,
        path="README.md",
        content="# v2\n",
        revision="refs/pr/1",
    )
    listed = await call(spec, operation="list_prs", repo_id=rid)
    assert "#1 [open] Better README (by test-user" in listed.output
    merged = await call(spec, operation="merge_pr", repo_id=rid, pr_number=1)
    assert merged.success
    assert demo.repo(rid).files()["README.md"] == b"# v2\n"


async def test_create_repo_is_private_by_default_and_update_flips_it(hub: FakeHub) -> None:
    spec = repo_git_tool(FAST)
    made = await call(spec, operation="create_repo", repo_id="test-user/new", repo_type="dataset")
    assert made.success and "private dataset repo test-user/new" in made.output
    assert hub.repo("test-user/new", "dataset").private is True
    updated = await call(
        spec, operation="update_repo", repo_id="test-user/new", repo_type="dataset", private=False
    )
    assert updated.success
    assert hub.repo("test-user/new", "dataset").private is False


async def test_create_existing_repo_is_a_conflict_with_advice(demo: FakeHub) -> None:
    result = await call(repo_git_tool(FAST), operation="create_repo", repo_id="test-user/demo")
    assert not result.success
    assert "Conflict (409)" in result.output and "already" in result.output


async def test_update_repo_without_changes_is_refused(demo: FakeHub) -> None:
    result = await call(repo_git_tool(FAST), operation="update_repo", repo_id="test-user/demo")
    assert not result.success and "needs `private` and/or `gated`" in result.output


# ----------------------------------------------------------- hf_inspect_dataset


@pytest.fixture
def imdb(hub: FakeHub) -> FakeHub:
    hub.add_viewer_dataset(
        "stanfordnlp/imdb",
        config="plain_text",
        features={
            "text": {"dtype": "string", "_type": "Value"},
            "label": {"names": ["neg", "pos"], "_type": "ClassLabel"},
        },
        splits={
            "train": [{"text": "long review " * 100, "label": 0}, {"text": "great", "label": 1}],
            "test": [{"text": "meh", "label": 0}],
        },
    )
    return hub


async def test_inspect_dataset_shows_splits_features_and_cut_rows(imdb: FakeHub) -> None:
    result = await call(inspect_dataset_tool(FAST), dataset="stanfordnlp/imdb", rows=2)
    assert result.success, result.output
    out = result.output
    assert "plain_text: train (2 rows), test (1 rows)" in out
    assert "  text: string" in out and "  label: ClassLabel(neg, pos)" in out
    assert "First 2 rows of plain_text/train" in out
    first = out.split("[0] ", 1)[1].splitlines()[0]
    assert len(json.loads(first)["text"]) == 300  # the 1,200-char cell was cut
    assert json.loads(out.split("[1] ", 1)[1].splitlines()[0]) == {"text": "great", "label": 1}
    req = imdb.calls("GET", "/first-rows")[-1]
    assert req.query == {
        "dataset": ["stanfordnlp/imdb"],
        "config": ["plain_text"],
        "split": ["train"],
    }


async def test_inspect_dataset_unknown_split_lists_the_available_ones(imdb: FakeHub) -> None:
    result = await call(inspect_dataset_tool(FAST), dataset="stanfordnlp/imdb", split="dev")
    assert not result.success
    assert "No split in config 'plain_text' 'dev'. Available: train, test." in result.output


async def test_inspect_missing_dataset_says_check_with_hf_search(hub: FakeHub) -> None:
    result = await call(inspect_dataset_tool(FAST), dataset="nobody/nothing")
    assert not result.success
    assert "Not found (404)" in result.output
    assert "hf_search kind=datasets" in result.output


async def test_inspect_dataset_still_answers_when_info_fails(imdb: FakeHub) -> None:
    imdb.inject(500, match="/info")
    result = await call(inspect_dataset_tool(FAST), dataset="stanfordnlp/imdb")
    assert result.success
    assert "  label: ClassLabel(neg, pos)" in result.output  # from /first-rows
    assert "Split sizes unavailable" in result.output


def test_describe_feature_handles_nested_types() -> None:
    feature = {
        "tokens": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"},
        "meta": {"lang": {"dtype": "string", "_type": "Value"}},
        "image": {"_type": "Image"},
    }
    assert describe_feature(feature) == "{tokens: list[string], meta: {lang: string}, image: Image}"


# ------------------------------------------------------------------ hf_papers


@pytest.fixture
def papers(hub: FakeHub) -> FakeHub:
    hub.add_paper(
        "2401.00001",
        daily=True,
        title="Tiny Transformers Learn Fast",
        summary="We show that tiny transformers learn fast.",
        authors=[{"name": f"Author {i}"} for i in range(15)],
        publishedAt="2024-01-02T00:00:00.000Z",
        upvotes=42,
        githubRepo="https://github.com/org/tiny",
        projectPage="https://tiny.example",
        ai_summary="Small models, quick training.",
        ai_keywords=["transformers", "efficiency"],
    )
    hub.add_paper("2402.00002", title="Diffusion for Audio", summary="Audio diffusion.")
    return hub


async def test_papers_search_lists_matches_with_links(papers: FakeHub) -> None:
    result = await call(papers_tool(FAST), operation="search", query="transformers", limit=5)
    assert result.success
    assert "1. 2401.00001 — Tiny Transformers Learn Fast (2024-01-02, 42 upvotes)" in result.output
    assert "GitHub: https://github.com/org/tiny" in result.output
    assert "Diffusion" not in result.output
    assert papers.calls("GET", "/api/papers/search")[-1].query == {
        "q": ["transformers"],
        "limit": ["5"],
    }


async def test_papers_trending_reads_nested_daily_entries(papers: FakeHub) -> None:
    result = await call(papers_tool(FAST), operation="trending")
    assert "Trending papers:" in result.output
    assert "2401.00001" in result.output and "Project: https://tiny.example" in result.output


async def test_papers_read_shows_abstract_authors_and_links(papers: FakeHub) -> None:
    result = await call(
        papers_tool(FAST), operation="read", paper_id="https://arxiv.org/abs/2401.00001v2"
    )
    out = result.output
    assert out.startswith("Tiny Transformers Learn Fast\narXiv 2401.00001, published 2024-01-02")
    assert "Author 11 (+3 more)" in out
    assert "arXiv: https://arxiv.org/abs/2401.00001" in out
    assert f"Hub: {papers.url}/papers/2401.00001" in out
    assert "GitHub: https://github.com/org/tiny" in out
    assert "Abstract:\nWe show that tiny transformers learn fast." in out
    assert "Keywords: transformers, efficiency" in out


async def test_papers_read_full_text(papers: FakeHub) -> None:
    result = await call(papers_tool(FAST), operation="read", paper_id="2402.00002", full_text=True)
    assert "Full text:\n# Diffusion for Audio" in result.output


async def test_papers_read_unknown_id_suggests_search(papers: FakeHub) -> None:
    result = await call(papers_tool(FAST), operation="read", paper_id="9999.99999")
    assert not result.success
    assert "Not found (404)" in result.output and "operation=search" in result.output


def test_normalise_paper_id() -> None:
    assert normalise_paper_id("https://huggingface.co/papers/2401.12345") == "2401.12345"
    assert normalise_paper_id("2401.12345v3") == "2401.12345"


# -------------------------------------------------------------------- hf_docs


@pytest.fixture
def docs(hub: FakeHub) -> FakeHub:
    hub.add_doc(
        "transformers/main_classes/trainer",
        title="Trainer",
        markdown="# Trainer\n\nThe Trainer class runs training loops.\n" + "x" * 25_000,
    )
    hub.add_doc(
        "peft/quicktour",
        title="Quicktour",
        html=(
            "<html><head><title>t</title><script>var x=1;</script></head><body>"
            "<nav>menu</nav><h1>PEFT quicktour</h1><p>Use <code>LoraConfig</code> to "
            "train adapters.</p><pre>from peft import LoraConfig\nconfig = LoraConfig()</pre>"
            "<ul><li>one</li><li>two</li></ul></body></html>"
        ),
    )
    return hub


async def test_docs_search_groups_hits_by_page(docs: FakeHub) -> None:
    result = await call(docs_tool(FAST), operation="search", query="trainer training")
    assert result.success
    assert (
        "1. [transformers] Trainer — https://huggingface.co/docs/transformers/main_classes/trainer"
        in result.output
    )
    assert "operation=fetch" in result.output


async def test_docs_fetch_public_url_reads_markdown_from_the_endpoint(docs: FakeHub) -> None:
    result = await call(
        docs_tool(FAST),
        operation="fetch",
        page="https://huggingface.co/docs/transformers/main_classes/trainer#trainer",
    )
    assert result.success
    assert "# Trainer\n\nThe Trainer class runs training loops." in result.output
    assert "fetch again with offset=20000" in result.output
    assert docs.calls("GET", "/docs/transformers/main_classes/trainer.md")
    rest = await call(
        docs_tool(FAST), operation="fetch", page="transformers/main_classes/trainer", offset=20000
    )
    assert "characters 20,000-" in rest.output and "offset=" not in rest.output.split("\n", 1)[1]


async def test_docs_fetch_falls_back_to_html_as_text(docs: FakeHub) -> None:
    result = await call(docs_tool(FAST), operation="fetch", page="peft/quicktour")
    assert result.success
    out = result.output
    assert "# PEFT quicktour" in out
    assert "Use `LoraConfig` to train adapters." in out
    assert "```\nfrom peft import LoraConfig\nconfig = LoraConfig()\n```" in out
    assert "- one\n- two" in out
    assert "var x" not in out and "menu" not in out


async def test_docs_fetch_refuses_other_sites(docs: FakeHub) -> None:
    result = await call(docs_tool(FAST), operation="fetch", page="https://example.com/docs/x")
    assert not result.success and "Hugging Face documentation only" in result.output
    assert not docs.calls("GET", "/docs/")


async def test_docs_fetch_missing_page_suggests_search(docs: FakeHub) -> None:
    result = await call(docs_tool(FAST), operation="fetch", page="trl/nope")
    assert not result.success
    assert "Not found (404)" in result.output and "operation=search" in result.output


def test_docs_path_and_html_to_text() -> None:
    assert docs_path("/docs/trl/sft_trainer.md", "http://x") == "trl/sft_trainer"
    assert docs_path("http://x/docs/hub/index", "http://x") == "hub/index"
    assert html_to_text("<h2>A</h2><p>b  c</p>") == "## A\n\nb c"


# --------------------------------------------------------------------- errors


async def test_401_says_log_in(demo: FakeHub) -> None:
    demo.inject(401, match="/api/models", message="Invalid credentials in Authorization header")
    result = await call(search_tool(FAST), query="bert")
    assert not result.success
    assert "Not authorised (401)" in result.output
    assert "%intern login" in result.output and "HF_TOKEN" in result.output


async def test_invalid_token_is_reported_as_401(
    demo: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_wrong_token_wrong")
    result = await call(repo_files_tool(FAST), operation="list", repo_id="test-user/demo")
    assert not result.success and "Not authorised (401)" in result.output


async def test_403_says_token_lacks_permission(demo: FakeHub) -> None:
    demo.inject(403, match="/commit/", message="You don't have the rights")
    result = await call(
        repo_files_tool(FAST), operation="upload", repo_id="test-user/demo", path="a", content="b"
    )
    assert not result.success
    assert "Forbidden (403): You don't have the rights" in result.output
    assert "write access" in result.output


async def test_gated_repo_points_to_its_page_to_accept_terms(hub: FakeHub) -> None:
    hub.add_repo("meta/gated-llm", files={"config.json": "{}"}, gated="denied")
    result = await call(
        repo_files_tool(FAST), operation="read", repo_id="meta/gated-llm", path="config.json"
    )
    assert not result.success
    assert result.output.startswith("Not authorised: 'meta/gated-llm' is a gated repository.")
    assert f"{hub.url}/meta/gated-llm" in result.output


async def test_429_says_wait_and_shows_retry_after(demo: FakeHub) -> None:
    demo.inject(429, match="/api/models", headers={"Retry-After": "30"})
    result = await call(search_tool(FAST), query="bert")
    assert not result.success
    assert "Rate limited" in result.output and "wait 30 s" in result.output


async def test_500_says_try_again_later(demo: FakeHub) -> None:
    demo.inject(500, match="/tree/", message="internal boom")
    result = await call(repo_files_tool(FAST), operation="list", repo_id="test-user/demo")
    assert not result.success
    assert "internal error (500): internal boom" in result.output
    assert "try again" in result.output


async def test_network_down_says_cannot_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    url = closed_port_url()
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_DATASETS_SERVER_URL", url)
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    for spec, args in (
        (search_tool(FAST), {"query": "bert"}),
        (inspect_dataset_tool(FAST), {"dataset": "a/b"}),
        (papers_tool(FAST), {"operation": "trending"}),
    ):
        result = await call(spec, **args)
        assert not result.success
        assert result.output.startswith(f"Cannot reach {url}"), result.output
        assert "network" in result.output


async def test_slow_hub_times_out_with_a_readable_result(demo: FakeHub) -> None:
    demo.slow("/api/models", seconds=5)
    quick = HubSettings(request_timeout_s=0.2, upload_timeout_s=0.2)
    try:
        result = await call(search_tool(quick), query="bert")
    finally:
        demo.release()
    assert not result.success
    assert result.output.startswith("hf_search timed out after 0.2 s")


async def test_slow_datasets_server_times_out(imdb: FakeHub) -> None:
    imdb.slow("/splits", seconds=5)
    quick = HubSettings(request_timeout_s=0.2, upload_timeout_s=0.2)
    try:
        result = await call(inspect_dataset_tool(quick), dataset="stanfordnlp/imdb")
    finally:
        imdb.release()
    assert not result.success and "timed out after 0.2 s" in result.output

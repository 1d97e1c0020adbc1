"""The GitHub tools against a fake GitHub API on loopback (real httpx client)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ml_intern_jupyter.tools.github import GithubSettings, github_tools, score_path
from tests.fakes.github_server import FakeGitHub
from tests.hub_harness import call, closed_port_url

SFT = "\n".join(f"line {n}" for n in range(1, 21))
FILES = {
    "README.md": "# trl",
    "trl/trainer/sft_trainer.py": "class SFTTrainer: ...",
    "examples/scripts/sft.py": SFT,
    "examples/scripts/dpo.py": "dpo",
    "tests/test_sft_trainer.py": "test",
    "docs/source/sft_trainer.md": "doc",
}


@pytest.fixture
def gh(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    fake.add_repo("huggingface/trl", FILES, stars=9000, description="RL for transformers")
    fake.add_repo("huggingface/transformers", {"README.md": "x"}, stars=120000)
    fake.add_repo("huggingface/trl-examples", {"README.md": "x"}, stars=3)
    yield fake
    fake.stop()


def tools(version: str | None = None) -> dict[str, object]:
    settings = GithubSettings(timeout_s=5, version_of=lambda _name: version)
    return {t.name: t for t in github_tools(settings)}


async def test_find_examples_ranks_example_dirs_first(gh: FakeGitHub) -> None:
    result = await call(tools()["github_find_examples"], repo="trl", keyword="sft")
    assert result.success, result.output
    lines = result.output.splitlines()
    assert "huggingface/trl on the default branch main" in lines[0]
    assert lines[1] == "1. examples/scripts/sft.py"
    assert "examples/scripts/dpo.py" not in result.output  # no keyword match
    # tests and docs rank below the library code
    assert result.output.index("trl/trainer/sft_trainer.py") < result.output.index(
        "tests/test_sft_trainer.py"
    )
    assert gh.calls("/git/trees/main")[0].param("recursive") == "1"


def test_score_path_prefers_example_directories() -> None:
    assert score_path("examples/sft.py", "sft") > score_path("trl/sft.py", "sft")
    assert score_path("trl/dpo.py", "sft") == 0


async def test_find_examples_reads_at_the_installed_versions_tag(gh: FakeGitHub) -> None:
    gh.add_repo(
        "huggingface/trl",
        FILES,
        tags={"v0.9.0": {"examples/old_sft.py": "old api"}},
    )
    result = await call(tools("0.9.0")["github_find_examples"], repo="trl", keyword="sft")
    assert "at tag v0.9.0, the version of trl installed in this kernel" in result.output
    assert "examples/old_sft.py" in result.output
    assert "examples/scripts/sft.py" not in result.output
    read = await call(tools("0.9.0")["github_read_file"], repo="trl", path="examples/old_sft.py")
    assert "old api" in read.output and "v0.9.0" in read.output


async def test_find_examples_without_a_tag_for_the_version_says_so(gh: FakeGitHub) -> None:
    result = await call(tools("0.42.0")["github_find_examples"], repo="trl", keyword="sft")
    assert "no tag found for the installed trl 0.42.0" in result.output
    assert "examples/scripts/sft.py" in result.output


async def test_find_examples_404_suggests_similar_repos(gh: FakeGitHub) -> None:
    result = await call(tools()["github_find_examples"], repo="trll", keyword="sft")
    assert not result.success
    assert "huggingface/trll not found" in result.output
    assert "huggingface/trl" in result.output.split("Similar repositories:")[1]


async def test_list_repos_by_stars_and_query(gh: FakeGitHub) -> None:
    result = await call(tools()["github_list_repos"], org="huggingface")
    lines = result.output.splitlines()
    assert lines[1].startswith("- huggingface/transformers (★ 120000")
    assert lines[2].startswith("- huggingface/trl (★ 9000")
    filtered = await call(tools()["github_list_repos"], query="trl")
    assert "transformers" not in filtered.output.replace("RL for transformers", "")


async def test_read_file_line_range(gh: FakeGitHub) -> None:
    result = await call(
        tools()["github_read_file"],
        repo="huggingface/trl",
        path="examples/scripts/sft.py",
        start_line=3,
        end_line=5,
    )
    assert result.success, result.output
    assert "(lines 3-5 of 20)" in result.output
    assert "\n3  line 3\n4  line 4\n5  line 5\n" in result.output
    assert "line 6" not in result.output.replace("start_line=6", "")
    assert "read more with start_line=6" in result.output


async def test_read_file_bad_range_and_missing_file(gh: FakeGitHub) -> None:
    bad = await call(
        tools()["github_read_file"], repo="trl", path="README.md", start_line=5, end_line=2
    )
    assert not bad.success and "end_line (2) is before start_line (5)" in bad.output
    missing = await call(tools()["github_read_file"], repo="trl", path="nope.py", ref="main")
    assert not missing.success and "No file 'nope.py'" in missing.output


async def test_token_is_sent_when_set(gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_faketoken")
    await call(tools()["github_list_repos"])
    assert gh.requests[-1].headers["authorization"] == "Bearer ghp_faketoken"


async def test_rate_limit_message_says_when_it_resets(gh: FakeGitHub) -> None:
    reset = int(time.time()) + 600
    gh.inject(
        403,
        "/users/",
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        body={"message": "API rate limit exceeded for 127.0.0.1."},
    )
    result = await call(tools()["github_list_repos"])
    assert not result.success
    assert "GitHub rate limit reached (403); it resets in" in result.output
    assert "set GITHUB_TOKEN" in result.output


async def test_429_with_retry_after(gh: FakeGitHub) -> None:
    gh.inject(429, "/users/", headers={"Retry-After": "42"})
    result = await call(tools()["github_list_repos"])
    assert "the server asks to wait 42 s" in result.output


async def test_unreachable_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", closed_port_url())
    result = await call(tools()["github_list_repos"])
    assert not result.success
    assert result.output.startswith("Cannot reach GitHub at 127.0.0.1:")
    assert "GITHUB_API_URL" in result.output


async def test_invalid_repo_argument(gh: FakeGitHub) -> None:
    result = await call(tools()["github_find_examples"], repo="a/b/c", keyword="x")
    assert not result.success and "Invalid repo 'a/b/c'" in result.output

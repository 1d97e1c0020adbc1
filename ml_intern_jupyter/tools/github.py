"""GitHub reading tools: find example code in a repo, list an org's repos, read a file.

Working example code is what the model should copy from, not its memory of
an API. `github_find_examples` lists a repository's tree and ranks its paths
against a keyword, favouring example directories (examples/, scripts/,
notebooks/ ...). When the library is installed in this kernel (`trl` at
0.19.1) the tree and files are read at its release tag (`v0.19.1`), so the
examples match the API the user's code will run against.

`GITHUB_API_URL` overrides the API base (tests use a fake on loopback);
`GITHUB_TOKEN` is optional and raises the rate limit from 60 to 5,000
requests an hour.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from .base import ToolContext, ToolSpec, object_schema
from .web_http import Service, WebFailure, base_url, guarded_web, request

__all__ = ["GithubSettings", "github_tools", "installed_version", "score_path"]

DEFAULT_API = "https://api.github.com"
DEFAULT_ORG = "huggingface"
EXAMPLE_DIRS = ("examples", "example", "scripts", "notebooks", "recipes", "tutorials", "demo")
CODE_EXT = (".py", ".ipynb", ".md", ".sh", ".yaml", ".yml", ".json", ".toml", ".txt", ".rst")
MAX_LINES = 400

SERVICE = Service(
    name="GitHub",
    env_var="GITHUB_API_URL",
    auth_hint="Check GITHUB_TOKEN (it may be invalid or lack access to this repository).",
    rate_hint=(
        "Unauthenticated calls get 60 requests an hour: set GITHUB_TOKEN for 5,000, "
        "or wait until the limit resets."
    ),
)


def installed_version(repo_name: str) -> str | None:
    """The version of the distribution named like the repo, if installed in this kernel."""
    from importlib import metadata

    for name in (repo_name, repo_name.replace("-", "_"), repo_name.replace("_", "-")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # a broken installation must not break the tool
            return None
    return None


@dataclass(frozen=True)
class GithubSettings:
    timeout_s: float = 30.0
    # Injected by tests; by default the kernel's installed distributions.
    version_of: Callable[[str], str | None] = installed_version


def _api() -> str:
    return base_url("GITHUB_API_URL", DEFAULT_API)


def _headers(raw: bool = False) -> dict[str, str]:
    headers = {
        "Accept": "application/vnd.github.raw" if raw else "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    token = (os.environ.get("GITHUB_TOKEN") or "").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _split_repo(repo: str, org: str) -> tuple[str, str]:
    repo = repo.strip().removeprefix("https://github.com/").strip("/")
    if repo.endswith(".git"):
        repo = repo[:-4]
    if not repo:
        raise WebFailure("Argument `repo` is required (a name like 'trl' or 'huggingface/trl').")
    parts = repo.split("/")
    if len(parts) == 1:
        return org, parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise WebFailure(f"Invalid repo {repo!r}: use 'name' (in org {org!r}) or 'owner/name'.")


async def _get(settings: GithubSettings, path: str, *, raw: bool = False, **kw: Any) -> Any:
    return await request(
        SERVICE, f"{_api()}{path}", headers=_headers(raw), timeout_s=settings.timeout_s, **kw
    )


def score_path(path: str, keyword: str) -> float:
    """How well a file path fits a keyword: words matched, example dirs, code files."""
    low = path.lower()
    words = [w for w in re.split(r"[^a-z0-9]+", keyword.lower()) if w]
    parts = re.split(r"[/_.\-]+", low)
    score = 0.0
    for word in words:
        if word in parts:
            score += 3
        elif word in low:
            score += 2
    if words and score == 0:
        return 0.0
    segments = low.split("/")
    if any(seg in EXAMPLE_DIRS for seg in segments[:-1]):
        score += 2
    if low.endswith((".py", ".ipynb")):
        score += 1
    if any(seg in ("tests", "test", "docs") for seg in segments[:-1]):
        score -= 1
    return score - 0.01 * len(segments)  # shallower first among equals


async def _similar(settings: GithubSettings, owner: str, name: str) -> list[str]:
    try:
        found = await _get(settings, f"/users/{quote(owner)}/repos", params={"per_page": 100})
        repos = [r.get("name", "") for r in found.json() if isinstance(r, dict)]
    except WebFailure:
        return []
    close = difflib.get_close_matches(name, repos, n=5, cutoff=0.4)
    contains = [r for r in repos if name.lower() in r.lower() and r not in close]
    return [f"{owner}/{r}" for r in [*close, *contains][:5]]


async def _repo_or_404(settings: GithubSettings, owner: str, name: str) -> dict[str, Any]:
    response = await _get(settings, f"/repos/{owner}/{name}", raise_for_status=False)
    if response.status == 404:
        similar = await _similar(settings, owner, name)
        hint = f" Similar repositories: {', '.join(similar)}." if similar else ""
        raise WebFailure(
            f"Repository {owner}/{name} not found on GitHub (404).{hint} "
            "List an organisation's repositories with github_list_repos."
        )
    if response.status >= 400:
        from .web_http import status_message

        raise WebFailure(status_message(SERVICE, response))
    return response.json()


async def _pick_ref(
    settings: GithubSettings, owner: str, name: str, ref: str | None, default: str
) -> tuple[str, str]:
    """(ref, note): the given ref, else the installed version's tag, else the default branch."""
    if ref:
        return ref, ""
    version = settings.version_of(name)
    if version and re.fullmatch(r"\d+(\.\d+)*", version):
        for tag in (f"v{version}", version):
            response = await _get(
                settings, f"/repos/{owner}/{name}/git/ref/tags/{tag}", raise_for_status=False
            )
            if response.status == 200:
                return tag, f"at tag {tag}, the version of {name} installed in this kernel"
        return default, (
            f"on {default}: no tag found for the installed {name} {version}, so the code may "
            "use a newer API than yours"
        )
    if version:
        return default, f"on {default} (installed {name} {version} is not a release)"
    return default, f"on the default branch {default}"


async def _find_examples(settings: GithubSettings, args: dict[str, Any], ctx: ToolContext) -> str:
    org = (args.get("org") or DEFAULT_ORG).strip()
    owner, name = _split_repo(args.get("repo") or "", org)
    keyword = (args.get("keyword") or "").strip()
    limit = int(args.get("limit") or 20)
    info = await _repo_or_404(settings, owner, name)
    ref, note = await _pick_ref(
        settings, owner, name, args.get("ref"), info.get("default_branch") or "main"
    )
    tree = (
        await _get(
            settings,
            f"/repos/{owner}/{name}/git/trees/{quote(ref, safe='')}",
            params={"recursive": "1"},
            not_found=f"Ref {ref!r} does not exist in {owner}/{name}.",
        )
    ).json()
    files = [
        e["path"]
        for e in tree.get("tree", [])
        if e.get("type") == "blob" and str(e.get("path", "")).lower().endswith(CODE_EXT)
    ]
    ranked = sorted(((score_path(p, keyword), p) for p in files), key=lambda sp: (-sp[0], sp[1]))
    hits = [p for s, p in ranked if s > 0][:limit]
    head = f"{owner}/{name} {note}" if note else f"{owner}/{name} at {ref}"
    if not hits:
        dirs = sorted({p.split("/")[0] for p in files if "/" in p})[:30]
        return (
            f"No example files matching {keyword!r} in {head}. Top-level directories: "
            f"{', '.join(dirs) or '(none)'}. Try another keyword."
        )
    lines = [f"Example files in {head} matching {keyword!r} (best first):"]
    lines += [f"{n}. {p}" for n, p in enumerate(hits, 1)]
    if tree.get("truncated"):
        lines.append("[GitHub truncated the tree listing of this large repository.]")
    lines.append(
        f"Read one with github_read_file repo={owner}/{name} path=<path> ref={ref} "
        "(start_line/end_line for a range)."
    )
    return "\n".join(lines)


async def _list_repos(settings: GithubSettings, args: dict[str, Any], ctx: ToolContext) -> str:
    owner = (args.get("org") or DEFAULT_ORG).strip()
    query = (args.get("query") or "").strip().lower()
    limit = int(args.get("limit") or 30)
    sort = args.get("sort") or "stars"
    found = await _get(
        settings,
        f"/users/{quote(owner)}/repos",
        params={"per_page": 100, "sort": "updated" if sort == "updated" else "full_name"},
        not_found=f"No GitHub user or organisation named {owner!r}.",
    )
    repos = [r for r in found.json() if isinstance(r, dict)]
    if query:
        repos = [
            r
            for r in repos
            if query in (r.get("name") or "").lower()
            or query in (r.get("description") or "").lower()
        ]
    if sort == "stars":
        repos.sort(key=lambda r: -(r.get("stargazers_count") or 0))
    if not repos:
        return f"No repositories of {owner}{' matching ' + repr(query) if query else ''}."
    lines = [f"Repositories of {owner} (by {sort}):"]
    for r in repos[:limit]:
        desc = " ".join((r.get("description") or "").split())[:160]
        lines.append(
            f"- {r.get('full_name') or owner + '/' + str(r.get('name'))} "
            f"(★ {r.get('stargazers_count', 0)}, {r.get('language') or '?'})"
            + (f": {desc}" if desc else "")
        )
    return "\n".join(lines)


async def _read_file(settings: GithubSettings, args: dict[str, Any], ctx: ToolContext) -> str:
    owner, name = _split_repo(args.get("repo") or "", (args.get("org") or DEFAULT_ORG).strip())
    path = (args.get("path") or "").strip().strip("/")
    if not path:
        raise WebFailure("Argument `path` is required (a file path inside the repository).")
    ref, note = args.get("ref"), ""
    if not ref:
        info = await _repo_or_404(settings, owner, name)
        ref, note = await _pick_ref(
            settings, owner, name, None, info.get("default_branch") or "main"
        )
    response = await _get(
        settings,
        f"/repos/{owner}/{name}/contents/{quote(path)}",
        raw=True,
        params={"ref": ref},
        not_found=(
            f"No file {path!r} in {owner}/{name} at {ref}. Find paths with github_find_examples."
        ),
    )
    text = response.text
    if text.lstrip().startswith("[") and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        raise WebFailure(f"{path!r} is a directory in {owner}/{name}; give a file path.")
    lines = text.splitlines()
    total = len(lines)
    start = max(int(args.get("start_line") or 1), 1)
    end = int(args.get("end_line") or min(total, start + MAX_LINES - 1))
    if end < start:
        raise WebFailure(f"end_line ({end}) is before start_line ({start}).")
    end = min(end, total, start + MAX_LINES - 1)
    where = f"{owner}/{name}/{path} {note}" if note else f"{owner}/{name}/{path} at {ref}"
    if total == 0:
        return f"{where}: the file is empty."
    if start > total:
        raise WebFailure(f"start_line {start} is past the end of {path} ({total} lines).")
    width = len(str(end))
    body = "\n".join(f"{n:>{width}}  {lines[n - 1]}" for n in range(start, end + 1))
    more = (
        f"\n[Lines {start}-{end} of {total}; read more with start_line={end + 1}.]"
        if end < total
        else ""
    )
    return f"{where} (lines {start}-{end} of {total}):\n{body}{more}"


def github_tools(settings: GithubSettings | None = None) -> list[ToolSpec]:
    s = settings or GithubSettings()
    timeout = 4 * s.timeout_s + 30
    repo = {"type": "string", "description": "'trl' (in `org`) or 'owner/name'."}
    org = {"type": "string", "description": f"Owner for bare repo names; default {DEFAULT_ORG}."}
    ref = {
        "type": "string",
        "description": "Branch, tag or commit. Default: the installed version's tag, else the "
        "default branch.",
    }
    return [
        ToolSpec(
            name="github_find_examples",
            description=(
                "Find working example code in a GitHub repository (default org huggingface): "
                "lists the repo's files ranked against `keyword` (e.g. 'sft', 'dpo lora', "
                "'image classification'), example directories first. Reads at the tag of the "
                "library version installed in this kernel when there is one. Use it before "
                "writing training code, then read the best file with github_read_file."
            ),
            parameters=object_schema(
                {
                    "repo": repo,
                    "keyword": {"type": "string"},
                    "org": org,
                    "ref": ref,
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                ["repo", "keyword"],
            ),
            handler=guarded_web("github_find_examples", partial(_find_examples, s)),
            timeout=timeout,
        ),
        ToolSpec(
            name="github_list_repos",
            description=(
                "List a GitHub organisation's or user's repositories (default huggingface), "
                "by stars or last update, optionally filtered by `query` in name or description."
            ),
            parameters=object_schema(
                {
                    "org": org,
                    "query": {"type": "string"},
                    "sort": {"type": "string", "enum": ["stars", "updated"], "default": "stars"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 30},
                },
                [],
            ),
            handler=guarded_web("github_list_repos", partial(_list_repos, s)),
            timeout=timeout,
        ),
        ToolSpec(
            name="github_read_file",
            description=(
                "Read a file from a GitHub repository with line numbers, optionally a line "
                f"range (start_line, end_line; at most {MAX_LINES} lines per call)."
            ),
            parameters=object_schema(
                {
                    "repo": repo,
                    "path": {"type": "string"},
                    "org": org,
                    "ref": ref,
                    "start_line": {"type": "integer", "minimum": 1},
                    "end_line": {"type": "integer", "minimum": 1},
                },
                ["repo", "path"],
            ),
            handler=guarded_web("github_read_file", partial(_read_file, s)),
            timeout=timeout,
        ),
    ]

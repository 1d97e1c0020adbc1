"""A fake GitHub REST API on loopback: repos, trees, refs/tags and raw file contents.

with FakeGitHub() as gh:
    gh.add_repo("huggingface/trl", {"examples/sft.py": "..."}, tags={"v0.9.0": {...}})
    monkeypatch.setenv("GITHUB_API_URL", gh.url)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.fakes.routes import Reply, Request, RoutedFake

__all__ = ["FakeGitHub"]


@dataclass
class _Repo:
    owner: str
    name: str
    files: dict[str, dict[str, str]]  # ref -> path -> text
    default_branch: str = "main"
    stars: int = 0
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class FakeGitHub(RoutedFake):
    routes = [
        ("GET", r"^/repos/([^/]+)/([^/]+)$", "r_repo"),
        ("GET", r"^/repos/([^/]+)/([^/]+)/git/trees/(.+)$", "r_tree"),
        ("GET", r"^/repos/([^/]+)/([^/]+)/git/ref/tags/(.+)$", "r_tag"),
        ("GET", r"^/repos/([^/]+)/([^/]+)/contents/(.+)$", "r_contents"),
        ("GET", r"^/users/([^/]+)/repos$", "r_list"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.repos: dict[tuple[str, str], _Repo] = {}

    def add_repo(
        self,
        full_name: str,
        files: dict[str, str],
        *,
        tags: dict[str, dict[str, str]] | None = None,
        stars: int = 0,
        description: str = "",
        default_branch: str = "main",
    ) -> None:
        owner, name = full_name.split("/")
        refs = {default_branch: files, **(tags or {})}
        self.repos[(owner, name)] = _Repo(owner, name, refs, default_branch, stars, description)

    def _get(self, owner: str, name: str) -> _Repo | None:
        return self.repos.get((owner, name))

    def r_repo(self, req: Request, owner: str, name: str) -> Any:
        repo = self._get(owner, name)
        if repo is None:
            return Reply(404, {"message": "Not Found"})
        return {
            "full_name": f"{owner}/{name}",
            "name": name,
            "default_branch": repo.default_branch,
            "stargazers_count": repo.stars,
        }

    def r_tree(self, req: Request, owner: str, name: str, ref: str) -> Any:
        repo = self._get(owner, name)
        files = repo.files.get(unquote(ref)) if repo else None
        if files is None:
            return Reply(404, {"message": "Not Found"})
        dirs = sorted(
            {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
        )
        tree = [{"path": d, "type": "tree"} for d in dirs]
        tree += [{"path": p, "type": "blob", "size": len(t)} for p, t in files.items()]
        return {"sha": "abc", "tree": tree, "truncated": False}

    def r_tag(self, req: Request, owner: str, name: str, tag: str) -> Any:
        repo = self._get(owner, name)
        if repo is None or tag not in repo.files or tag == repo.default_branch:
            return Reply(404, {"message": "Not Found"})
        return {"ref": f"refs/tags/{tag}", "object": {"sha": "def", "type": "commit"}}

    def r_contents(self, req: Request, owner: str, name: str, path: str) -> Any:
        repo = self._get(owner, name)
        ref = req.param("ref") or (repo.default_branch if repo else "main")
        files = repo.files.get(ref) if repo else None
        path = unquote(path)
        if files is None or path not in files:
            return Reply(404, {"message": "Not Found"})
        if "raw" not in req.headers.get("accept", ""):
            return Reply(415, {"message": "the fake serves raw contents only"})
        return Reply(body=files[path], content_type="text/plain; charset=utf-8")

    def r_list(self, req: Request, owner: str) -> Any:
        found = [r for (o, _), r in self.repos.items() if o == owner]
        if not found:
            return Reply(404, {"message": "Not Found"})
        return [
            {
                "name": r.name,
                "full_name": f"{r.owner}/{r.name}",
                "stargazers_count": r.stars,
                "description": r.description,
                "language": "Python",
            }
            for r in found
        ]

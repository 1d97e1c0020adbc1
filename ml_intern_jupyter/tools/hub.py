"""Hub repository tools: `hf_search`, `hf_repo_files`, `hf_repo_git`.

Reads never ask; uploads, deletions, merges and repo creation/settings ask
first (as upstream). Every call goes through huggingface_hub's `HfApi`
bound to `HF_ENDPOINT`, in a worker thread under a deadline.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from ..errors import ToolFailure
from .base import Approval, ToolContext, ToolResult, ToolSpec
from .hub_client import (
    HubSettings,
    arg,
    clip,
    guarded,
    hub_endpoint,
    human_count,
    human_size,
    in_thread,
    make_api,
    obj,
    resolve_token,
    short_date,
)
from .hub_errors import repo_url

__all__ = ["hub_tools", "repo_files_tool", "repo_git_tool", "search_tool"]

REPO_TYPES = ["model", "dataset", "space"]
MAX_SEARCH = 50
MAX_LIST_ENTRIES = 1000
READ_MAX_BYTES = 1_000_000
READ_DEFAULT_LINES = 500
_SORT = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trending_score",
    "last_modified": "last_modified",
    "created": "created_at",
}

_REPO_ID = {"type": "string", "description": "Repository id, 'namespace/name'."}
_REPO_TYPE = {
    "type": "string",
    "enum": REPO_TYPES,
    "default": "model",
    "description": "Kind of repository (default model).",
}
_REVISION = {"type": "string", "description": "Branch, tag, commit or 'refs/pr/N' (default main)."}


def _repo_type(args: dict[str, Any]) -> str:
    return args.get("repo_type") or "model"


# ------------------------------------------------------------------ hf_search


def _search_sync(api: Any, args: dict[str, Any]) -> tuple[list[Any], list[str]]:
    kind = args.get("kind") or "models"
    limit = min(int(args.get("limit") or 10), MAX_SEARCH)
    sort = _SORT[args.get("sort") or "downloads"]
    tags = list(args.get("tags") or [])
    task, library = args.get("task"), args.get("library")
    common = {"search": args.get("query") or None, "author": args.get("author") or None}
    notes: list[str] = []
    if kind == "models":
        if library:
            tags.append(library)
        items = api.list_models(
            **common, pipeline_tag=task, filter=tags or None, sort=sort, limit=limit
        )
    elif kind == "datasets":
        if task:
            tags.append(f"task_categories:{task}")
        if library:
            tags.append(f"library:{library}")
        items = api.list_datasets(**common, filter=tags or None, sort=sort, limit=limit)
    else:
        if sort == "downloads":
            sort = "likes"
            notes.append("Spaces have no download counts: sorted by likes.")
        if task:
            notes.append("`task` does not apply to spaces and was ignored.")
        if library:
            tags.append(library)  # e.g. the SDK: gradio, streamlit, docker
        items = api.list_spaces(**common, filter=tags or None, sort=sort, limit=limit)
    return list(items)[:limit], notes


def _search_line(n: int, item: Any, kind: str) -> str:
    facets = [
        x
        for x in (
            getattr(item, "pipeline_tag", None),
            getattr(item, "library_name", None),
            getattr(item, "sdk", None),
        )
        if x
    ]
    stats = []
    if getattr(item, "downloads", None) is not None and kind != "spaces":
        stats.append(f"downloads {human_count(item.downloads)}")
    if getattr(item, "likes", None) is not None:
        stats.append(f"likes {human_count(item.likes)}")
    when = short_date(getattr(item, "last_modified", None) or getattr(item, "created_at", None))
    if when:
        stats.append(
            f"updated {when}" if getattr(item, "last_modified", None) else f"created {when}"
        )
    flags = [f for f in ("private", "gated") if getattr(item, f, None)]
    head = f"{n}. {item.id}"
    if facets:
        head += f"  [{', '.join(facets)}]"
    if flags:
        head += f"  ({', '.join(flags)})"
    return head + (f"  {' · '.join(stats)}" if stats else "")


async def _search(settings: HubSettings, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    kind = args.get("kind") or "models"
    api = make_api(resolve_token())
    items, notes = await in_thread(_search_sync, api, args, deadline=settings.request_timeout_s)
    shown = {k: args[k] for k in ("query", "author", "task", "library", "tags") if args.get(k)}
    criteria = ", ".join(f"{k}={v!r}" for k, v in shown.items()) or "no filters"
    if not items:
        return ToolResult(
            f"No {kind} found for {criteria}. Try fewer filters, other key words, or "
            "a broader query (search matches repo ids)."
        )
    sort = args.get("sort") or "downloads"
    lines = [f"{len(items)} {kind} for {criteria}, sorted by {sort}:"]
    lines += [_search_line(n, item, kind) for n, item in enumerate(items, 1)]
    lines += notes
    prefix = {"models": "", "datasets": "datasets/", "spaces": "spaces/"}[kind]
    lines.append(f"Pages: {hub_endpoint()}/{prefix}<id>.")
    if kind == "datasets":
        lines.append("Look inside one with hf_inspect_dataset; list files with hf_repo_files.")
    else:
        lines.append("List a repo's files with hf_repo_files operation=list.")
    return ToolResult("\n".join(lines))


def search_tool(settings: HubSettings | None = None) -> ToolSpec:
    settings = settings or HubSettings()
    return ToolSpec(
        name="hf_search",
        description=(
            "Search the Hugging Face Hub for models, datasets or spaces. Filter by text "
            "(matched against repo ids), author, task (pipeline tag such as "
            "text-classification), library (transformers, diffusers, peft, gguf...) and "
            "tags; sort by downloads, likes, trending, last_modified or created. Returns "
            f"a compact list (limit default 10, max {MAX_SEARCH})."
        ),
        parameters=obj(
            {
                "kind": {
                    "type": "string",
                    "enum": ["models", "datasets", "spaces"],
                    "default": "models",
                },
                "query": {"type": "string", "description": "Words to find in repo ids."},
                "author": {"type": "string", "description": "User or organisation."},
                "task": {"type": "string", "description": "Pipeline tag / task category."},
                "library": {"type": "string", "description": "Library (or a space's SDK)."},
                "tags": {"type": "array", "items": {"type": "string"}},
                "sort": {"type": "string", "enum": list(_SORT), "default": "downloads"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH, "default": 10},
            },
            [],
        ),
        handler=guarded(
            "hf_search", partial(_search, settings), timeout_s=settings.request_timeout_s
        ),
        timeout=settings.request_timeout_s + 30,
    )


# -------------------------------------------------------------- hf_repo_files


def _files_approval(args: dict[str, Any]) -> Approval:
    return Approval.ASK if args.get("operation") in ("upload", "delete") else Approval.NO


def _list_sync(api: Any, args: dict[str, Any]) -> list[Any]:
    from huggingface_hub.hf_api import RepoFile

    entries = api.list_repo_tree(
        args["repo_id"],
        path_in_repo=(args.get("path") or "").strip("/") or None,
        recursive=True,
        revision=args.get("revision"),
        repo_type=_repo_type(args),
    )
    files = []
    for entry in entries:
        if isinstance(entry, RepoFile):
            files.append(entry)
            if len(files) > MAX_LIST_ENTRIES:
                break
    return files


async def _files_list(settings: HubSettings, args: dict[str, Any]) -> ToolResult:
    api = make_api(resolve_token())
    files = await in_thread(_list_sync, api, args, deadline=settings.request_timeout_s)
    where = f"{args['repo_id']}" + (f"/{args['path'].strip('/')}" if args.get("path") else "")
    rev = args.get("revision") or "main"
    if not files:
        return ToolResult(f"No files in {where} ({_repo_type(args)}, revision {rev}).")
    more = len(files) > MAX_LIST_ENTRIES
    files = files[:MAX_LIST_ENTRIES]
    total = sum(f.size or 0 for f in files)
    lines = [
        f"{len(files)}{'+' if more else ''} files in {where} (revision {rev}, {human_size(total)}):"
    ]
    for f in files:
        lfs = "  [lfs]" if f.lfs else ""
        lines.append(f"{f.path}  {human_size(f.size)}{lfs}")
    if more:
        lines.append(f"[Only the first {MAX_LIST_ENTRIES} shown; pass `path` to list a folder.]")
    return ToolResult("\n".join(lines))


def _read_sync(args: dict[str, Any], token: str | None, timeout: float) -> tuple[bytes, bool]:
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(
        args["repo_id"],
        args["path"],
        repo_type=_repo_type(args),
        revision=args.get("revision"),
        endpoint=hub_endpoint(),
    )
    headers = build_hf_headers(token=token or False)
    data = bytearray()
    with get_session().stream("GET", url, headers=headers, timeout=timeout) as response:
        if response.status_code >= 400:
            response.read()
        hf_raise_for_status(response)
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > READ_MAX_BYTES:
                return bytes(data[:READ_MAX_BYTES]), True
    return bytes(data), False


async def _files_read(settings: HubSettings, args: dict[str, Any]) -> ToolResult:
    arg(args, "path", "read")
    data, truncated = await in_thread(
        _read_sync,
        args,
        resolve_token(),
        settings.request_timeout_s,
        deadline=settings.request_timeout_s,
    )
    name = f"{args['repo_id']}/{args['path']}"
    if b"\0" in data[:8192]:
        return ToolResult(
            f"{name} is a binary file ({human_size(len(data))}{'+' if truncated else ''}); it "
            "cannot be shown as text. Download it with huggingface_hub.hf_hub_download in Python."
        )
    lines = data.decode("utf-8", "replace").splitlines()
    offset = max(int(args.get("offset") or 1), 1)
    limit = max(int(args.get("limit") or READ_DEFAULT_LINES), 1)
    chunk = lines[offset - 1 : offset - 1 + limit]
    if not chunk:
        return ToolResult(f"{name} has {len(lines)} lines; offset {offset} is past the end.")
    head = f"{name} (lines {offset}-{offset + len(chunk) - 1} of {len(lines)}"
    head += f"{'+, file cut at ' + human_size(READ_MAX_BYTES) if truncated else ''}):"
    text = "\n".join(chunk)
    if offset - 1 + len(chunk) < len(lines):
        text += f"\n[More lines follow; read again with offset={offset + len(chunk)}.]"
    return ToolResult(f"{head}\n{text}")


def _upload_source(args: dict[str, Any], workdir: Path) -> tuple[Any, str]:
    """(what to upload, path in the repo) from `content` or `local_path`."""
    content, local = args.get("content"), args.get("local_path")
    if (content is None) == (local is None):
        raise ToolFailure(
            "Give exactly one of `content` (text) or `local_path` (a file) to upload."
        )
    if local is None:
        return str(content).encode("utf-8"), arg(args, "path", "upload")
    source = Path(local).expanduser()
    if not source.is_absolute():
        source = Path(workdir) / source
    if not source.is_file():
        raise ToolFailure(f"Local file not found: {source}.")
    return str(source), args.get("path") or source.name


async def _files_upload(
    settings: HubSettings, args: dict[str, Any], ctx: ToolContext
) -> ToolResult:
    payload, path = _upload_source(args, ctx.workdir)
    api = make_api(resolve_token())
    info = await in_thread(
        api.upload_file,
        path_or_fileobj=payload,
        path_in_repo=path,
        repo_id=args["repo_id"],
        repo_type=_repo_type(args),
        revision=args.get("revision"),
        commit_message=args.get("commit_message") or f"Upload {path}",
        create_pr=bool(args.get("create_pr")),
        deadline=settings.upload_timeout_s,
    )
    out = f"Uploaded {path} to {args['repo_id']} ({_repo_type(args)}). Commit: {info.commit_url}"
    if getattr(info, "pr_url", None):
        out += f"\nOpened pull request: {info.pr_url}"
    return ToolResult(out, display={"url": info.pr_url or info.commit_url})


async def _files_delete(settings: HubSettings, args: dict[str, Any]) -> ToolResult:
    path = arg(args, "path", "delete")
    api = make_api(resolve_token())
    kwargs = dict(
        repo_id=args["repo_id"],
        repo_type=_repo_type(args),
        revision=args.get("revision"),
        commit_message=args.get("commit_message") or f"Delete {path}",
        create_pr=bool(args.get("create_pr")),
    )
    if path.endswith("/"):
        info = await in_thread(
            api.delete_folder,
            path_in_repo=path.rstrip("/"),
            **kwargs,
            deadline=settings.upload_timeout_s,
        )
    else:
        info = await in_thread(
            api.delete_file, path_in_repo=path, **kwargs, deadline=settings.upload_timeout_s
        )
    return ToolResult(f"Deleted {path} from {args['repo_id']}. Commit: {info.commit_url}")


async def _repo_files(settings: HubSettings, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    op = args["operation"]
    if op == "list":
        return await _files_list(settings, args)
    if op == "read":
        return await _files_read(settings, args)
    if op == "upload":
        return await _files_upload(settings, args, ctx)
    return await _files_delete(settings, args)


def repo_files_tool(settings: HubSettings | None = None) -> ToolSpec:
    settings = settings or HubSettings()
    return ToolSpec(
        name="hf_repo_files",
        description=(
            "Files of a Hub repo (model, dataset or space). operation=list lists files "
            "(recursive, sizes; `path` narrows to a folder); read shows a text file "
            f"(`offset`/`limit` lines, default {READ_DEFAULT_LINES}); upload writes `content` "
            "(text) or `local_path` (a file in the workdir) to `path`; delete removes `path` "
            "(a trailing '/' deletes a folder). upload and delete ask the user first; "
            "create_pr=true proposes the change as a pull request instead."
        ),
        parameters=obj(
            {
                "operation": {"type": "string", "enum": ["list", "read", "upload", "delete"]},
                "repo_id": _REPO_ID,
                "repo_type": _REPO_TYPE,
                "revision": _REVISION,
                "path": {"type": "string", "description": "Path in the repo."},
                "content": {"type": "string", "description": "upload: the file's text."},
                "local_path": {"type": "string", "description": "upload: a local file."},
                "commit_message": {"type": "string"},
                "create_pr": {"type": "boolean", "default": False},
                "offset": {"type": "integer", "minimum": 1, "description": "read: first line."},
                "limit": {"type": "integer", "minimum": 1, "description": "read: max lines."},
            },
            ["operation", "repo_id"],
        ),
        handler=guarded(
            "hf_repo_files", partial(_repo_files, settings), timeout_s=settings.request_timeout_s
        ),
        approval=_files_approval,
        timeout=settings.upload_timeout_s + 30,
        always_allowable=True,
    )


# ---------------------------------------------------------------- hf_repo_git

GIT_ASK = frozenset({"delete_branch", "delete_tag", "merge_pr", "create_repo", "update_repo"})
GIT_OPERATIONS = [
    "list_refs",
    "list_prs",
    "create_branch",
    "delete_branch",
    "create_tag",
    "delete_tag",
    "create_pr",
    "merge_pr",
    "create_repo",
    "update_repo",
]


def _git_approval(args: dict[str, Any]) -> Approval:
    return Approval.ASK if args.get("operation") in GIT_ASK else Approval.NO


def _refs_text(repo_id: str, refs: Any) -> str:
    def names(items: list[Any]) -> str:
        return ", ".join(f"{r.name} ({r.target_commit[:7]})" for r in items) or "none"

    lines = [
        f"Refs of {repo_id}:",
        f"Branches: {names(refs.branches)}",
        f"Tags: {names(refs.tags)}",
    ]
    if refs.pull_requests:
        lines.append(f"Pull request refs: {', '.join(r.ref for r in refs.pull_requests)}")
    return "\n".join(lines)


def _prs_sync(api: Any, args: dict[str, Any]) -> list[Any]:
    found = api.get_repo_discussions(
        args["repo_id"], discussion_type="pull_request", repo_type=_repo_type(args)
    )
    out = []
    for discussion in found:
        out.append(discussion)
        if len(out) >= 50:
            break
    return out


async def _repo_git(settings: HubSettings, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    op, repo_id, rtype = args["operation"], args["repo_id"], _repo_type(args)
    api = make_api(resolve_token())
    t = settings.request_timeout_s
    common = {"repo_id": repo_id, "repo_type": rtype}

    if op == "list_refs":
        refs = await in_thread(api.list_repo_refs, **common, include_pull_requests=True, deadline=t)
        return ToolResult(_refs_text(repo_id, refs))
    if op == "list_prs":
        prs = await in_thread(_prs_sync, api, args, deadline=t)
        if not prs:
            return ToolResult(f"No pull requests on {repo_id}.")
        lines = [f"Pull requests on {repo_id}:"]
        lines += [
            f"#{p.num} [{p.status}] {clip(p.title, 100)} (by {p.author}, {short_date(p.created_at)})"
            for p in prs
        ]
        return ToolResult("\n".join(lines))
    if op == "create_branch":
        branch = arg(args, "branch", op)
        await in_thread(
            api.create_branch, **common, branch=branch, revision=args.get("revision"), deadline=t
        )
        start = args.get("revision") or "main"
        return ToolResult(
            f"Created branch '{branch}' from '{start}' in {repo_id}. Upload to it with "
            f"hf_repo_files revision={branch}."
        )
    if op == "delete_branch":
        branch = arg(args, "branch", op)
        await in_thread(api.delete_branch, **common, branch=branch, deadline=t)
        return ToolResult(f"Deleted branch '{branch}' of {repo_id}.")
    if op == "create_tag":
        tag = arg(args, "tag", op)
        await in_thread(
            api.create_tag,
            **common,
            tag=tag,
            revision=args.get("revision"),
            tag_message=args.get("message"),
            deadline=t,
        )
        return ToolResult(f"Tagged {args.get('revision') or 'main'} of {repo_id} as '{tag}'.")
    if op == "delete_tag":
        tag = arg(args, "tag", op)
        await in_thread(api.delete_tag, **common, tag=tag, deadline=t)
        return ToolResult(f"Deleted tag '{tag}' of {repo_id}.")
    if op == "create_pr":
        title = arg(args, "title", op)
        pr = await in_thread(
            api.create_pull_request,
            **common,
            title=title,
            description=args.get("description"),
            deadline=t,
        )
        return ToolResult(
            f"Opened pull request #{pr.num} on {repo_id}: {pr.url}\nAdd files to it with "
            f"hf_repo_files operation=upload revision=refs/pr/{pr.num}.",
            display={"url": pr.url},
        )
    if op == "merge_pr":
        num = arg(args, "pr_number", op)
        await in_thread(api.merge_pull_request, **common, discussion_num=int(num), deadline=t)
        return ToolResult(f"Merged pull request #{num} into {repo_id}.")
    if op == "create_repo":
        private = args.get("private", True)
        url = await in_thread(
            api.create_repo,
            **common,
            private=private,
            space_sdk=args.get("space_sdk") if rtype == "space" else None,
            deadline=t,
        )
        vis = "private" if private else "public"
        return ToolResult(f"Created {vis} {rtype} repo {repo_id}: {url}", display={"url": str(url)})
    # update_repo
    changes = {k: args[k] for k in ("private", "gated") if k in args}
    if not changes:
        raise ToolFailure("update_repo needs `private` and/or `gated`.")
    gated = changes.get("gated")
    if gated == "false":
        changes["gated"] = False
    await in_thread(api.update_repo_settings, **common, **changes, deadline=t)
    said = ", ".join(f"{k}={v}" for k, v in changes.items())
    return ToolResult(
        f"Updated {repo_id}: {said}. Page: {repo_url(hub_endpoint(), rtype, repo_id)}"
    )


def repo_git_tool(settings: HubSettings | None = None) -> ToolSpec:
    settings = settings or HubSettings()
    return ToolSpec(
        name="hf_repo_git",
        description=(
            "Git-level operations on a Hub repo: list_refs (branches, tags, PR refs), "
            "list_prs, create_branch (from `revision`), delete_branch, create_tag (on "
            "`revision`), delete_tag, create_pr (`title`, `description`; then upload to "
            "refs/pr/N), merge_pr (`pr_number`), create_repo (private unless private=false; "
            "`space_sdk` for spaces), update_repo (`private`, `gated`). Deleting, merging, "
            "creating and updating repos ask the user first."
        ),
        parameters=obj(
            {
                "operation": {"type": "string", "enum": GIT_OPERATIONS},
                "repo_id": _REPO_ID,
                "repo_type": _REPO_TYPE,
                "branch": {"type": "string"},
                "tag": {"type": "string"},
                "revision": _REVISION,
                "message": {"type": "string", "description": "create_tag: tag message."},
                "title": {"type": "string", "description": "create_pr: title."},
                "description": {"type": "string", "description": "create_pr: body."},
                "pr_number": {"type": "integer", "minimum": 1},
                "private": {"type": "boolean"},
                "gated": {"type": "string", "enum": ["auto", "manual", "false"]},
                "space_sdk": {
                    "type": "string",
                    "enum": ["gradio", "streamlit", "docker", "static"],
                },
            },
            ["operation", "repo_id"],
        ),
        handler=guarded(
            "hf_repo_git", partial(_repo_git, settings), timeout_s=settings.request_timeout_s
        ),
        approval=_git_approval,
        timeout=settings.request_timeout_s + 30,
    )


def hub_tools(settings: HubSettings | None = None) -> list[ToolSpec]:
    return [search_tool(settings), repo_files_tool(settings), repo_git_tool(settings)]

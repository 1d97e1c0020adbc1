"""A fake Hugging Face Hub on loopback, for the real huggingface_hub client.

Standard library only. ``ThreadingHTTPServer`` in a daemon thread on
``127.0.0.1`` answers the endpoints huggingface_hub (1.x) calls for the Hub
tools, plus the datasets-server, papers and docs endpoints, from in-memory
state::

    with FakeHub() as hub:
        hub.add_repo("test-user/demo", files={"README.md": b"# demo"})
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        ...  # HfApi(endpoint=hub.url).list_repo_files("test-user/demo")
        assert hub.calls("GET", "/tree/")

State: repos (files per commit, branches, tags, discussions/PRs, repo info
with `private` and `siblings`), jobs with
a scripted stage progression and logs (`script_job`), scheduled jobs, the
hardware listing with prices, viewer data (`/splits`, `/info`,
`/first-rows`), papers, docs pages. Switches: `inject(status, match=...)`
fails matching requests (404/401/403/429/500...), `slow(match, seconds)`
delays them; `release()` wakes delayed requests. Every request is recorded
in `requests`.

Jobs advance one step of their script each time their status is read
(``GET /api/jobs/<ns>/<id>``); logs of the steps reached so far are served
by ``/logs``. The last step repeats, so a script ending in RUNNING runs until
cancelled.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.loopback import LoopbackHTTPServer, LoopbackServer

__all__ = ["Fault", "FakeHub", "FakeJob", "FakeRepo", "HubRequest", "JobStep"]

PUBLIC_HOST = "https://huggingface.co"  # what the real docs search returns in its URLs
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REPO_ACTIONS = {
    "tree",
    "refs",
    "branch",
    "tag",
    "discussions",
    "preupload",
    "commit",
    "settings",
    "paths-info",
}


def iso(dt: datetime | None = None) -> str:
    dt = dt or datetime.now(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class HTTPFail(Exception):
    """Raised by a route to answer with an error."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.extra = extra or {}  # more fields of the JSON error body


# ----------------------------------------------------------------- state


@dataclass
class FakeRepo:
    repo_id: str
    repo_type: str = "model"
    private: bool = False
    gated: bool | str = False
    meta: dict[str, Any] = field(default_factory=dict)  # downloads, likes, tags, ...
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha
    tags: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> files
    discussions: list[dict[str, Any]] = field(default_factory=list)
    settings_updates: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(default_factory=iso)

    def sha_of(self, revision: str) -> str | None:
        for table in (self.branches, self.tags):
            if revision in table:
                return table[revision]
        return revision if revision in self.snapshots else None

    def files(self, revision: str = "main") -> dict[str, bytes]:
        sha = self.sha_of(revision)
        if sha is None:
            raise HTTPFail(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.snapshots[sha]

    def commit(self, branch: str, files: dict[str, bytes]) -> str:
        sha = hashlib.sha1(f"{self.repo_id}:{len(self.snapshots)}:{sorted(files)}".encode())
        oid = sha.hexdigest()
        self.snapshots[oid] = dict(files)
        self.branches[branch] = oid
        return oid

    def listing(self) -> dict[str, Any]:
        author = self.repo_id.split("/")[0] if "/" in self.repo_id else None
        item = {
            "_id": hashlib.md5(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id,
            "author": author,
            "private": self.private,
            "gated": self.gated,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "createdAt": self.created_at,
            "lastModified": self.created_at,
        }
        item.update(self.meta)
        return item


@dataclass
class JobStep:
    stage: str
    logs: tuple[str, ...] | list[str] = ()
    message: str | None = None
    running_secs: int | None = None


DEFAULT_JOB_SCRIPT = (
    JobStep("SCHEDULING"),
    JobStep("RUNNING", ["Starting training", "epoch 1/2 loss=0.9"]),
    JobStep("RUNNING", ["epoch 2/2 loss=0.4"]),
    JobStep("COMPLETED", ["Training done"], running_secs=180),
)


@dataclass
class FakeJob:
    id: str
    owner: str
    spec: dict[str, Any]
    script: list[JobStep]
    pos: int = 0
    cancelled: bool = False
    created_at: str = field(default_factory=iso)
    started_at: str | None = None
    finished_at: str | None = None
    reads: int = 0

    @property
    def stage(self) -> str:
        return "CANCELED" if self.cancelled else self.script[self.pos].stage

    def advance(self) -> None:
        self.reads += 1
        if not self.cancelled and self.pos < len(self.script) - 1:
            self.pos += 1
        self._stamp()

    def _stamp(self) -> None:
        if self.stage == "RUNNING" and self.started_at is None:
            self.started_at = iso()
        if self.stage in ("COMPLETED", "ERROR", "CANCELED") and self.finished_at is None:
            self.started_at = self.started_at or iso()
            self.finished_at = iso()

    def logs(self) -> list[str]:
        lines: list[str] = []
        for step in self.script[: self.pos + 1]:
            lines.extend(step.logs)
        return lines

    def to_json(self, user_id: str) -> dict[str, Any]:
        step = self.script[self.pos]
        running = next(
            (s.running_secs for s in reversed(self.script[: self.pos + 1]) if s.running_secs),
            None,
        )
        data: dict[str, Any] = {
            "id": self.id,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "dockerImage": self.spec.get("dockerImage"),
            "spaceId": self.spec.get("spaceId"),
            "command": self.spec.get("command"),
            "arguments": self.spec.get("arguments", []),
            "environment": self.spec.get("environment", {}),
            "secrets": {k: None for k in self.spec.get("secrets") or {}},
            "flavor": self.spec.get("flavor"),
            "labels": self.spec.get("labels"),
            "status": {
                "stage": self.stage,
                "message": None if self.cancelled else step.message,
            },
            "owner": {"id": user_id, "name": self.owner, "type": "user"},
        }
        if running is not None:
            data["durations"] = {"runningSecs": running, "totalSecs": running + 5}
        return data


@dataclass
class Fault:
    """An injected failure (status set) or delay, for requests whose path contains `match`."""

    status: int | None = 500
    match: str = ""
    method: str | None = None
    times: int | None = 1  # None: every matching request
    message: str = "fake hub: injected error"
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        return (self.method is None or self.method == method) and self.match in path


@dataclass
class HubRequest:
    method: str
    path: str  # raw (still URL-quoted), without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


# ----------------------------------------------------------------- server


class _HTTPServer(LoopbackHTTPServer):
    hub: FakeHub


class FakeHub(LoopbackServer):
    """In-memory Hub, datasets-server, papers and docs on 127.0.0.1."""

    def __init__(self, user: str = "test-user", token: str = "hf_fake_test_token_abcdefghijkl"):
        self.user = user
        self.user_id = "u" + hashlib.md5(user.encode()).hexdigest()[:23]
        self.token = token
        self.orgs: list[str] = ["test-org"]
        self.repos: dict[tuple[str, str], FakeRepo] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.job_scripts: deque[list[JobStep]] = deque()
        self.scheduled: dict[str, dict[str, Any]] = {}
        self.hardware: list[dict[str, Any]] = _default_hardware()
        self.viewer: dict[str, dict[str, dict[str, Any]]] = {}
        self.papers: dict[str, dict[str, Any]] = {}
        self.daily: list[str] = []
        self.docs: dict[str, dict[str, Any]] = {}
        self.collections: list[dict[str, Any]] = []  # each with "items": [{"id": ...}]
        self.faults: list[Fault] = []
        self.requests: list[HubRequest] = []
        self.errors: list[BaseException] = []
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._release = threading.Event()
        self._listen(_Handler, _HTTPServer).hub = self

    # -- lifecycle (the rest is LoopbackServer's) -------------------------

    def _before_stop(self) -> None:
        self._release.set()

    # -- setup -------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        repo_type: str = "model",
        *,
        files: dict[str, bytes | str] | None = None,
        private: bool = False,
        gated: bool | str = False,
        **meta: Any,
    ) -> FakeRepo:
        repo = FakeRepo(repo_id, repo_type, private=private, gated=gated, meta=meta)
        content = {k: v.encode() if isinstance(v, str) else v for k, v in (files or {}).items()}
        repo.commit("main", content)
        with self.lock:
            self.repos[(repo_type, repo_id)] = repo
        return repo

    def repo(self, repo_id: str, repo_type: str = "model") -> FakeRepo:
        return self.repos[(repo_type, repo_id)]

    def script_job(self, *steps: JobStep) -> None:
        """The stage progression (and logs) of the next job created."""
        self.job_scripts.append(list(steps))

    def add_viewer_dataset(
        self,
        dataset: str,
        *,
        config: str = "default",
        features: dict[str, Any],
        splits: dict[str, list[dict[str, Any]]],
    ) -> None:
        self.viewer.setdefault(dataset, {})[config] = {"features": features, "splits": splits}

    def add_paper(self, paper_id: str, *, daily: bool = False, **fields: Any) -> None:
        self.papers[paper_id] = {"id": paper_id, **fields}
        if daily:
            self.daily.append(paper_id)

    def add_doc(
        self, path: str, *, title: str, markdown: str | None = None, html: str | None = None
    ) -> None:
        """A docs page at /docs/<path> (HTML) and /docs/<path>.md (markdown)."""
        self.docs[path.strip("/")] = {"title": title, "markdown": markdown, "html": html}

    def inject(self, status: int, match: str = "", **kw: Any) -> Fault:
        fault = Fault(status=status, match=match, **kw)
        self.faults.append(fault)
        return fault

    def slow(self, match: str, seconds: float, times: int | None = None) -> Fault:
        fault = Fault(status=None, match=match, delay=seconds, times=times)
        self.faults.append(fault)
        return fault

    def release(self) -> None:
        """Wake every delayed request now."""
        self._release.set()

    def calls(self, method: str, contains: str = "") -> list[HubRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and contains in r.path]

    # -- helpers for routes ------------------------------------------------

    def next_id(self) -> str:
        return f"{next(self._ids):024x}"

    def authorised(self, req: HubRequest) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.token}"

    def check_token(self, req: HubRequest) -> None:
        """A token that is present must be valid; writes need one."""
        auth = req.headers.get("authorization")
        if auth is not None and auth != f"Bearer {self.token}":
            raise HTTPFail(401, "Invalid credentials in Authorization header")

    def require_write(self, req: HubRequest, namespace: str) -> None:
        if not self.authorised(req):
            raise HTTPFail(401, "You must be authenticated to do this")
        if namespace not in (self.user, *self.orgs):
            raise HTTPFail(403, f"You don't have the rights to write to {namespace}")

    def find_repo(self, req: HubRequest, repo_type: str, repo_id: str) -> FakeRepo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self.authorised(req)):
            raise HTTPFail(404, "Repository not found", "RepoNotFound")
        return repo


def _default_hardware() -> list[dict[str, Any]]:
    def hw(name: str, per_hour: float, gpu: str | None = None) -> dict[str, Any]:
        per_minute = per_hour / 60
        return {
            "name": name,
            "prettyName": name,
            "cpu": "8 vCPU",
            "ram": "32 GB",
            "accelerator": (
                {"type": "gpu", "model": gpu, "quantity": "1", "vram": "24 GB", "manufacturer": "N"}
                if gpu
                else None
            ),
            "unitCostMicroUSD": round(per_minute * 1e6),
            "unitCostUSD": per_minute,
            "unitLabel": "minute",
        }

    return [
        hw("cpu-basic", 0.012),
        hw("cpu-upgrade", 0.036),
        hw("t4-small", 0.48, "T4"),
        hw("a10g-large", 1.8, "A10G"),
        hw("fake-gpu", 6.0, "FAKE"),
    ]


# ----------------------------------------------------------------- handler


Route = Callable[["_Handler", HubRequest, "re.Match[str]"], Any]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY each small
    # response waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def hub(self) -> FakeHub:
        return self.server.hub

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        req = HubRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        hub = self.hub
        with hub.lock:
            hub.requests.append(req)
            fault = next((f for f in hub.faults if f.matches(method, req.path)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
        try:
            if fault is not None:
                if fault.delay:
                    hub._release.wait(fault.delay)
                if fault.status is not None:
                    raise HTTPFail(fault.status, fault.message, fault.error_code)
            for route_method, pattern, route in _ROUTES:
                if route_method != method and not (route_method == "GET" and method == "HEAD"):
                    continue
                match = pattern.match(req.path)
                if match:
                    with hub.lock:
                        result = route(self, req, match)
                    if result is not None:
                        self._send_json(200, result)
                    return
            raise HTTPFail(404, f"fake hub: no route for {method} {req.path}")
        except HTTPFail as fail:
            headers = dict(fault.headers) if fault is not None and fault.status else {}
            if fail.code:
                headers["X-Error-Code"] = fail.code
            headers.setdefault("X-Error-Message", fail.message)
            self._send_json(fail.status, {"error": fail.message, **fail.extra}, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake: make it visible to the test
            hub.errors.append(exc)
            self._send_json(500, {"error": f"fake hub bug: {exc!r}"})

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers or {})

    def send_text(self, text: str | bytes, content_type: str, **headers: str) -> None:
        data = text.encode() if isinstance(text, str) else text
        self._send(200, data, content_type, headers)


# ----------------------------------------------------------------- routes


def _repo_parts(hub: FakeHub, repo_type: str, rest: str) -> tuple[str, list[str]]:
    segs = rest.split("/")
    if len(segs) >= 2 and ((repo_type, f"{segs[0]}/{segs[1]}") in hub.repos):
        return f"{segs[0]}/{segs[1]}", segs[2:]
    if len(segs) >= 2 and segs[1] in _REPO_ACTIONS:
        return segs[0], segs[1:]
    if len(segs) >= 2:
        return f"{segs[0]}/{segs[1]}", segs[2:]
    return segs[0], []


def r_whoami(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    if not h.hub.authorised(req):
        raise HTTPFail(401, "Invalid credentials in Authorization header")
    return {
        "type": "user",
        "id": h.hub.user_id,
        "name": h.hub.user,
        "fullname": "Test User",
        "orgs": [{"name": o, "type": "org"} for o in h.hub.orgs],
        "auth": {"type": "access_token", "accessToken": {"role": "write"}},
    }


_SORT_KEYS = {
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trendingScore",
    "lastModified": "lastModified",
    "createdAt": "createdAt",
}


def r_list(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    hub = h.hub
    hub.check_token(req)
    repo_type = _TYPES[m.group(1)]
    items = [
        r.listing()
        for (t, _), r in hub.repos.items()
        if t == repo_type and (not r.private or hub.authorised(req))
    ]
    for term in req.query.get("search", []):
        items = [i for i in items if term.lower() in i["id"].lower()]
    author = req.param("author")
    if author:
        items = [i for i in items if i["id"].startswith(author + "/")]
    pipeline = req.param("pipeline_tag")
    if pipeline:
        items = [i for i in items if i.get("pipeline_tag") == pipeline]
    for tag in req.query.get("filter", []):
        items = [
            i
            for i in items
            if tag in i.get("tags", []) or tag in (i.get("library_name"), i.get("pipeline_tag"))
        ]
    sort = req.param("sort")
    if sort in _SORT_KEYS:
        items.sort(key=lambda i: i.get(_SORT_KEYS[sort]) or 0, reverse=True)
    limit = req.param("limit")
    return items[: int(limit)] if limit else items


def r_repo_api(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    hub = h.hub
    hub.check_token(req)
    repo_type = _TYPES[m.group(1)]
    repo_id, action = _repo_parts(hub, repo_type, m.group(2))
    verb = action[0] if action else ""
    rest = [unquote(s) for s in action[1:]]
    handler = _REPO_ROUTES.get((req.method if req.method != "HEAD" else "GET", verb))
    if handler is None:
        raise HTTPFail(404, f"fake hub: no repo route for {req.method} {verb!r}")
    return handler(h, req, repo_type, repo_id, rest)


def _tree(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    repo = h.hub.find_repo(req, rtype, rid)
    revision, path = rest[0], "/".join(rest[1:]).strip("/")
    files = repo.files(revision)
    recursive = req.param("recursive") in ("true", "True", "1")
    prefix = path + "/" if path else ""
    if path and path not in files and not any(f.startswith(prefix) for f in files):
        raise HTTPFail(404, f"{path} does not exist on {revision}", "EntryNotFound")
    entries: dict[str, dict[str, Any]] = {}
    for name, data in sorted(files.items()):
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix) :].split("/")
        for depth in range(1, len(parts)):
            folder = prefix + "/".join(parts[:depth])
            if recursive or depth == 1:
                entries.setdefault(folder, {"type": "directory", "oid": "0" * 40, "path": folder})
            if not recursive:
                break
        if recursive or len(parts) == 1:
            oid = hashlib.sha1(data).hexdigest()
            entries[name] = {"type": "file", "oid": oid, "size": len(data), "path": name}
    return list(entries.values())


def _refs(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    repo = h.hub.find_repo(req, rtype, rid)
    branches = [
        {"name": n, "ref": f"refs/heads/{n}", "targetCommit": sha}
        for n, sha in repo.branches.items()
        if not n.startswith("refs/pr/")
    ]
    prs = [
        {"name": n, "ref": n, "targetCommit": sha}
        for n, sha in repo.branches.items()
        if n.startswith("refs/pr/")
    ]
    tags = [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": s} for n, s in repo.tags.items()]
    return {"branches": branches, "converts": [], "tags": tags, "pullRequests": prs}


def _create_branch(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    h.hub.require_write(req, rid.split("/")[0])
    repo = h.hub.find_repo(req, rtype, rid)
    name = rest[0]
    if name in repo.branches:
        raise HTTPFail(409, f"Reference already exists: refs/heads/{name}")
    start = (req.json() or {}).get("startingPoint") or "main"
    sha = repo.sha_of(start)
    if sha is None:
        raise HTTPFail(404, f"Invalid rev id: {start}", "RevisionNotFound")
    repo.branches[name] = sha
    return {}


def _delete_branch(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    h.hub.require_write(req, rid.split("/")[0])
    repo = h.hub.find_repo(req, rtype, rid)
    name = rest[0]
    if name == "main":
        raise HTTPFail(400, "Cannot delete the default branch")
    if repo.branches.pop(name, None) is None:
        raise HTTPFail(404, f"Invalid rev id: {name}", "RevisionNotFound")
    return {}


def _create_tag(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    h.hub.require_write(req, rid.split("/")[0])
    repo = h.hub.find_repo(req, rtype, rid)
    body = req.json() or {}
    sha = repo.sha_of(rest[0])
    if sha is None:
        raise HTTPFail(404, f"Invalid rev id: {rest[0]}", "RevisionNotFound")
    if body["tag"] in repo.tags:
        raise HTTPFail(409, f"Tag {body['tag']} already exists")
    repo.tags[body["tag"]] = sha
    return {}


def _delete_tag(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    h.hub.require_write(req, rid.split("/")[0])
    repo = h.hub.find_repo(req, rtype, rid)
    if repo.tags.pop(rest[0], None) is None:
        raise HTTPFail(404, f"Invalid rev id: {rest[0]}", "RevisionNotFound")
    return {}


def _preupload(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    h.hub.require_write(req, rid.split("/")[0])
    h.hub.find_repo(req, rtype, rid)
    files = (req.json() or {}).get("files", [])
    return {
        "files": [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
        ]
    }


def _commit(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    hub = h.hub
    hub.require_write(req, rid.split("/")[0])
    repo = hub.find_repo(req, rtype, rid)
    revision = rest[0] if rest else "main"
    files = dict(repo.files(revision))
    summary = ""
    for line in req.body.splitlines():
        item = json.loads(line)
        key, value = item["key"], item["value"]
        if key == "header":
            summary = value["summary"]
        elif key == "file":
            files[value["path"]] = base64.b64decode(value["content"])
        elif key == "deletedFile":
            if value["path"] not in files:
                raise HTTPFail(404, "A file with this name doesn't exist", "EntryNotFound")
            del files[value["path"]]
        elif key == "deletedFolder":
            prefix = value["path"].rstrip("/") + "/"
            files = {k: v for k, v in files.items() if not k.startswith(prefix)}
        else:
            raise HTTPFail(400, f"fake hub does not support {key}")
    base_url = f"{hub.url}/{_PREFIX[rtype]}{rid}"
    if req.param("create_pr") == "1":
        num = _open_discussion(hub, repo, summary, is_pr=True)
        sha = repo.commit(f"refs/pr/{num}", files)
        return {
            "commitUrl": f"{base_url}/commit/{sha}",
            "commitOid": sha,
            "pullRequestUrl": f"{base_url}/discussions/{num}",
        }
    sha = repo.commit(revision, files)
    return {"commitUrl": f"{base_url}/commit/{sha}", "commitOid": sha}


def _open_discussion(hub: FakeHub, repo: FakeRepo, title: str, *, is_pr: bool) -> int:
    num = len(repo.discussions) + 1
    repo.discussions.append(
        {
            "num": num,
            "title": title,
            "status": "open",
            "createdAt": iso(),
            "author": {"name": hub.user},
            "repo": {"name": repo.repo_id, "type": repo.repo_type},
            "isPullRequest": is_pr,
            "numComments": 1,
        }
    )
    if is_pr:
        repo.branches[f"refs/pr/{num}"] = repo.branches["main"]
    return num


def _discussions(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    repo = h.hub.find_repo(req, rtype, rid)
    items = repo.discussions
    kind = req.param("type")
    if kind == "pull_request":
        items = [d for d in items if d["isPullRequest"]]
    elif kind == "discussion":
        items = [d for d in items if not d["isPullRequest"]]
    status = req.param("status")
    if status and status != "all":
        items = [d for d in items if d["status"] == status]
    if rest:  # details of one discussion
        num = int(rest[0])
        found = next((d for d in repo.discussions if d["num"] == num), None)
        if found is None:
            raise HTTPFail(404, "Discussion not found")
        return {
            **found,
            "events": [],
            "changes": {"base": "refs/heads/main"},
            "filesWithConflicts": [],
            "diff": "",
        }
    page = int(req.param("p") or 0)
    return {"discussions": items[page * 50 : page * 50 + 50], "count": len(items), "start": 0}


def _new_discussion(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    hub = h.hub
    repo = hub.find_repo(req, rtype, rid)
    if not hub.authorised(req):
        raise HTTPFail(401, "You must be authenticated to open a discussion")
    if rest:  # POST discussions/<num>/<resource>
        return _discussion_change(hub, repo, int(rest[0]), rest[1], req)
    body = req.json() or {}
    num = _open_discussion(hub, repo, body["title"], is_pr=bool(body.get("pullRequest")))
    return {"num": num}


def _discussion_change(hub: FakeHub, repo: FakeRepo, num: int, what: str, req: HubRequest) -> Any:
    hub.require_write(req, repo.repo_id.split("/")[0])
    found = next((d for d in repo.discussions if d["num"] == num), None)
    if found is None:
        raise HTTPFail(404, "Discussion not found")
    if what == "merge":
        if not found["isPullRequest"] or found["status"] != "open":
            raise HTTPFail(400, "This pull request cannot be merged")
        repo.commit("main", repo.files(f"refs/pr/{num}"))
        found["status"] = "merged"
        return {}
    if what == "status":
        found["status"] = (req.json() or {})["status"]
        return {"newStatus": {"id": "e1", "type": "status-change", "createdAt": iso(), "data": {}}}
    raise HTTPFail(404, f"fake hub: no discussion action {what}")


def _settings(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    h.hub.require_write(req, rid.split("/")[0])
    repo = h.hub.find_repo(req, rtype, rid)
    body = req.json() or {}
    repo.settings_updates.append(body)
    if "visibility" in body:
        repo.private = body["visibility"] == "private"
    if "private" in body:
        repo.private = bool(body["private"])
    if "gated" in body:
        repo.gated = body["gated"]
    return {}


def _repo_info(h: _Handler, req: HubRequest, rtype: str, rid: str, rest: list[str]) -> Any:
    """GET /api/<type>s/<id>: repo info (`private`, `sha`, `siblings`) of the main branch."""
    repo = h.hub.find_repo(req, rtype, rid)
    files = repo.files("main")
    return {
        **repo.listing(),
        "sha": repo.branches.get("main"),
        "siblings": [
            {"rfilename": name, "size": len(data)} for name, data in sorted(files.items())
        ],
    }


_REPO_ROUTES: dict[tuple[str, str], Callable[..., Any]] = {
    ("GET", ""): _repo_info,
    ("GET", "tree"): _tree,
    ("GET", "refs"): _refs,
    ("POST", "branch"): _create_branch,
    ("DELETE", "branch"): _delete_branch,
    ("POST", "tag"): _create_tag,
    ("DELETE", "tag"): _delete_tag,
    ("POST", "preupload"): _preupload,
    ("POST", "commit"): _commit,
    ("GET", "discussions"): _discussions,
    ("POST", "discussions"): _new_discussion,
    ("PUT", "settings"): _settings,
}


def r_resolve(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    hub = h.hub
    hub.check_token(req)
    repo_type = {"datasets/": "dataset", "spaces/": "space"}.get(m.group(1) or "", "model")
    repo = hub.find_repo(req, repo_type, m.group(2))
    revision, path = unquote(m.group(3)), unquote(m.group(4))
    if repo.gated and not hub.authorised(req):
        raise HTTPFail(401, "Access to this gated repo requires a token", "GatedRepo")
    if repo.gated == "denied":
        raise HTTPFail(403, "You have not accepted the conditions of this repo", "GatedRepo")
    files = repo.files(revision)
    if path not in files:
        raise HTTPFail(404, "Entry not found", "EntryNotFound")
    sha = repo.sha_of(revision) or ""
    h.send_text(
        files[path],
        "application/octet-stream",
        **{"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha1(files[path]).hexdigest()}"'},
    )


def r_create_repo(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    hub = h.hub
    body = req.json() or {}
    namespace = body.get("organization") or hub.user
    hub.require_write(req, namespace)
    repo_type = body.get("type") or "model"
    repo_id = f"{namespace}/{body['name']}"
    if (repo_type, repo_id) in hub.repos:
        # The Hub's 409 carries the repo's url; create_repo(exist_ok=True) reads it.
        url = f"{hub.url}/{_PREFIX[repo_type]}{repo_id}"
        raise HTTPFail(409, f"You already created this {repo_type} repo", extra={"url": url})
    private = body.get("visibility") == "private" or bool(body.get("private"))
    meta = {"sdk": body["sdk"]} if body.get("sdk") else {}
    hub.add_repo(repo_id, repo_type, private=private, **meta)
    return {"url": f"{hub.url}/{_PREFIX[repo_type]}{repo_id}", "name": repo_id}


def r_validate_yaml(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    return {"errors": [], "warnings": []}


# -- jobs


def _job(hub: FakeHub, req: HubRequest, namespace: str, job_id: str) -> FakeJob:
    if not hub.authorised(req):
        raise HTTPFail(401, "Invalid credentials in Authorization header")
    job = hub.jobs.get(job_id)
    if job is None or job.owner != namespace:
        raise HTTPFail(404, f"Job {job_id} not found")
    return job


def r_hardware(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    return h.hub.hardware


def r_job_create(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    hub = h.hub
    hub.require_write(req, m.group(1))
    spec = req.json() or {}
    script = hub.job_scripts.popleft() if hub.job_scripts else list(DEFAULT_JOB_SCRIPT)
    job = FakeJob(hub.next_id(), m.group(1), spec, script)
    job._stamp()
    hub.jobs[job.id] = job
    return job.to_json(hub.user_id)


def r_job_list(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    hub = h.hub
    if not hub.authorised(req):
        raise HTTPFail(401, "Invalid credentials in Authorization header")
    return [j.to_json(hub.user_id) for j in hub.jobs.values() if j.owner == m.group(1)]


def r_job_get(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    job = _job(h.hub, req, m.group(1), m.group(2))
    job.advance()
    return job.to_json(h.hub.user_id)


def r_job_logs(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    job = _job(h.hub, req, m.group(1), m.group(2))
    lines = job.logs()
    tail = req.param("tail")
    if tail:
        lines = lines[-int(tail) :]
    # Logs are history: every line is stamped before the request (the client
    # stops a no-follow replay at the first event later than the reply's Date).
    events = [""] + lines
    start = datetime.now(timezone.utc) - timedelta(milliseconds=len(events))
    events[0] = f"===== Job started at {iso(start)} ====="
    body = "".join(
        "data: "
        + json.dumps({"data": line, "timestamp": iso(start + timedelta(milliseconds=n))})
        + "\n\n"
        for n, line in enumerate(events)
    )
    h.send_text(body, "text/event-stream")


def r_job_cancel(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    job = _job(h.hub, req, m.group(1), m.group(2))
    if job.stage not in ("COMPLETED", "ERROR"):
        job.cancelled = True
        job._stamp()
    return {}


def r_sched_create(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    hub = h.hub
    hub.require_write(req, m.group(1))
    body = req.json() or {}
    sid = hub.next_id()
    hub.scheduled[sid] = {
        "id": sid,
        "createdAt": iso(),
        "jobSpec": body["jobSpec"],
        "schedule": body["schedule"],
        "suspend": bool(body.get("suspend", False)),
        "concurrency": bool(body.get("concurrency", False)),
        "status": {
            "lastJob": None,
            "nextJobRunAt": iso(datetime.now(timezone.utc) + timedelta(hours=1)),
        },
        "owner": {"id": hub.user_id, "name": m.group(1), "type": "user"},
    }
    return hub.scheduled[sid]


def r_sched_list(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    if not h.hub.authorised(req):
        raise HTTPFail(401, "Invalid credentials in Authorization header")
    return [s for s in h.hub.scheduled.values() if s["owner"]["name"] == m.group(1)]


def _sched(hub: FakeHub, req: HubRequest, namespace: str, sid: str) -> dict[str, Any]:
    if not hub.authorised(req):
        raise HTTPFail(401, "Invalid credentials in Authorization header")
    found = hub.scheduled.get(sid)
    if found is None or found["owner"]["name"] != namespace:
        raise HTTPFail(404, f"Scheduled job {sid} not found")
    return found


def r_sched_get(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    return _sched(h.hub, req, m.group(1), m.group(2))


def r_sched_delete(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    _sched(h.hub, req, m.group(1), m.group(2))
    del h.hub.scheduled[m.group(2)]
    return {}


def r_sched_action(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    found = _sched(h.hub, req, m.group(1), m.group(2))
    found["suspend"] = m.group(3) == "suspend"
    return {}


# -- datasets server


def _viewer(hub: FakeHub, req: HubRequest) -> dict[str, dict[str, Any]]:
    name = req.param("dataset") or ""
    if name not in hub.viewer:
        raise HTTPFail(
            404,
            "The dataset does not exist, or is not accessible without authentication "
            "(private or gated). Please check the spelling of the dataset name or retry "
            "with authentication.",
            "ResponseNotFound",
        )
    return hub.viewer[name]


def _viewer_config(hub: FakeHub, req: HubRequest) -> tuple[str, dict[str, Any]]:
    configs = _viewer(hub, req)
    config = req.param("config") or ""
    if config not in configs:
        raise HTTPFail(404, "Not found.", "ResponseNotFound")
    return config, configs[config]


def r_splits(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    name = req.param("dataset")
    configs = _viewer(h.hub, req)
    splits = [
        {"dataset": name, "config": c, "split": s}
        for c, data in configs.items()
        for s in data["splits"]
    ]
    return {"splits": splits, "pending": [], "failed": []}


def _info_of(name: str, config: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "config_name": config,
        "features": data["features"],
        "splits": {
            s: {
                "name": s,
                "num_examples": len(rows),
                "num_bytes": 100 * len(rows),
                "dataset_name": name,
            }
            for s, rows in data["splits"].items()
        },
    }


def r_info(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    name = req.param("dataset") or ""
    if req.param("config") is None:
        configs = _viewer(h.hub, req)
        return {
            "dataset_info": {c: _info_of(name, c, d) for c, d in configs.items()},
            "pending": [],
            "failed": [],
            "partial": False,
        }
    config, data = _viewer_config(h.hub, req)
    return {"dataset_info": _info_of(name, config, data), "partial": False}


def r_first_rows(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    config, data = _viewer_config(h.hub, req)
    split = req.param("split") or ""
    if split not in data["splits"]:
        raise HTTPFail(404, "Not found.", "ResponseNotFound")
    features = [
        {"feature_idx": i, "name": k, "type": v}
        for i, (k, v) in enumerate(data["features"].items())
    ]
    rows = [
        {"row_idx": i, "row": row, "truncated_cells": []}
        for i, row in enumerate(data["splits"][split][:100])
    ]
    return {
        "dataset": req.param("dataset"),
        "config": config,
        "split": split,
        "features": features,
        "rows": rows,
        "truncated": len(data["splits"][split]) > 100,
    }


# -- papers and docs


def _paper_flat(paper: dict[str, Any]) -> dict[str, Any]:
    return dict(paper)


def _paper_nested(paper: dict[str, Any]) -> dict[str, Any]:
    # Search and daily papers nest the paper (links included) under "paper".
    return {
        "paper": dict(paper),
        "title": paper.get("title"),
        "publishedAt": paper.get("publishedAt"),
        "numComments": 0,
    }


def r_paper_search(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    q = (req.param("q") or "").lower()
    found = [
        _paper_nested(p)
        for p in h.hub.papers.values()
        if q in (p.get("title", "") + " " + p.get("summary", "")).lower()
    ]
    limit = req.param("limit")
    return found[: int(limit)] if limit else found


def r_daily(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    found = [_paper_nested(h.hub.papers[i]) for i in h.hub.daily]
    limit = req.param("limit")
    return found[: int(limit)] if limit else found


def r_paper(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    paper = h.hub.papers.get(unquote(m.group(1)))
    if paper is None:
        raise HTTPFail(404, "Paper not found")
    return _paper_flat(paper)


def r_paper_md(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    paper = h.hub.papers.get(unquote(m.group(1)))
    if paper is None:
        raise HTTPFail(404, "Paper not found")
    text = paper.get("markdown") or f"# {paper.get('title')}\n\n{paper.get('summary', '')}\n"
    h.send_text(text, "text/markdown; charset=utf-8")


def r_collections(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    item = req.param("item") or ""
    kind, _, item_id = item.partition("/")
    found = [
        c
        for c in h.hub.collections
        if not item
        or any(
            i.get("id") == item_id and i.get("type", "paper") + "s" == kind
            for i in c.get("items", [])
        )
    ]
    limit = req.param("limit")
    return found[: int(limit)] if limit else found


def r_doc_search(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    words = [w for w in (req.param("q") or "").lower().split() if len(w) >= 3]
    product = req.param("product")
    results = []
    for path, doc in h.hub.docs.items():
        lib = path.split("/")[0]
        if product and lib != product:
            continue
        text = doc.get("markdown") or doc.get("html") or ""
        if words and any(w in text.lower() for w in words):
            results.append(
                {
                    "text": text[:400],
                    "product": lib,
                    "heading1": doc["title"],
                    "source_page_url": f"{PUBLIC_HOST}/docs/{path}",
                    "source_page_title": doc["title"],
                }
            )
    return results


def r_doc(h: _Handler, req: HubRequest, m: re.Match[str]) -> Any:
    path = unquote(m.group(1)).strip("/")
    if path.endswith(".md"):
        doc = h.hub.docs.get(path[:-3])
        if doc is None or doc.get("markdown") is None:
            raise HTTPFail(404, "Not found")
        h.send_text(doc["markdown"], "text/markdown; charset=utf-8")
        return None
    doc = h.hub.docs.get(path)
    if doc is None or doc.get("html") is None:
        raise HTTPFail(404, "Not found")
    h.send_text(doc["html"], "text/html; charset=utf-8")
    return None


_ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    (method, re.compile(pattern), fn)
    for method, pattern, fn in [
        ("GET", r"^/api/whoami-v2$", r_whoami),
        ("GET", r"^/api/(models|datasets|spaces)$", r_list),
        ("POST", r"^/api/repos/create$", r_create_repo),
        ("POST", r"^/api/validate-yaml$", r_validate_yaml),
        ("GET", r"^/api/jobs/hardware$", r_hardware),
        ("POST", r"^/api/jobs/([^/]+)$", r_job_create),
        ("GET", r"^/api/jobs/([^/]+)$", r_job_list),
        ("GET", r"^/api/jobs/([^/]+)/([^/]+)$", r_job_get),
        ("GET", r"^/api/jobs/([^/]+)/([^/]+)/logs$", r_job_logs),
        ("POST", r"^/api/jobs/([^/]+)/([^/]+)/cancel$", r_job_cancel),
        ("POST", r"^/api/scheduled-jobs/([^/]+)$", r_sched_create),
        ("GET", r"^/api/scheduled-jobs/([^/]+)$", r_sched_list),
        ("GET", r"^/api/scheduled-jobs/([^/]+)/([^/]+)$", r_sched_get),
        ("DELETE", r"^/api/scheduled-jobs/([^/]+)/([^/]+)$", r_sched_delete),
        ("POST", r"^/api/scheduled-jobs/([^/]+)/([^/]+)/(suspend|resume)$", r_sched_action),
        ("GET", r"^/api/papers/search$", r_paper_search),
        ("GET", r"^/api/daily_papers$", r_daily),
        ("GET", r"^/api/papers/([^/]+)$", r_paper),
        ("GET", r"^/papers/([^/]+)\.md$", r_paper_md),
        ("GET", r"^/api/collections$", r_collections),
        ("GET", r"^/api/docs/search$", r_doc_search),
        ("GET", r"^/docs/(.+)$", r_doc),
        ("GET", r"^/splits$", r_splits),
        ("GET", r"^/info$", r_info),
        ("GET", r"^/first-rows$", r_first_rows),
        ("GET", r"^/api/(models|datasets|spaces)/(.+)$", r_repo_api),
        ("POST", r"^/api/(models|datasets|spaces)/(.+)$", r_repo_api),
        ("PUT", r"^/api/(models|datasets|spaces)/(.+)$", r_repo_api),
        ("DELETE", r"^/api/(models|datasets|spaces)/(.+)$", r_repo_api),
        ("GET", r"^/(datasets/|spaces/)?(.+?)/resolve/([^/]+)/(.+)$", r_resolve),
    ]
]

"""The user's trace dataset on the Hub: where traces go, and its visibility.

Traces go to `{hf_user}/ml-intern-sessions` (the `personal_trace_repo_template`
setting), a dataset created **private** with a card saying what it holds. An
existing repo keeps the visibility its owner chose; only `set_visibility`
(the `%intern share-traces public|private` command) changes it.

The `*_blocking` functions call the Hub directly (run them in a worker
thread); `share_traces_info` and `set_visibility` are coroutines that run
those calls through `hub_client.in_thread`, under a deadline, because the
HTTP client has no timeout of its own.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import TraceShareError
from ..tools.hub_client import (
    HubSettings,
    hub_endpoint,
    in_thread,
    make_api,
    namespace_of,
    resolve_token,
)
from .redact import scrub_text

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "CARD_PATH",
    "RepoState",
    "create_repo_blocking",
    "dataset_card",
    "dataset_url",
    "describe_share_status",
    "file_url",
    "is_unauthorised",
    "push_trace_blocking",
    "repo_state_blocking",
    "set_visibility",
    "share_traces_info",
    "short_error",
    "trace_path",
    "trace_repo_id",
]

CARD_PATH = "README.md"
REPO_TYPE = "dataset"
_ERROR_CHARS = 300
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


# ----------------------------------------------------------------- names


def trace_repo_id(config: Config, user: str) -> str:
    """The dataset id for `user`'s traces; a template without a namespace gets the user's."""
    repo = config.personal_trace_repo_template.replace("{hf_user}", user).strip().strip("/")
    return repo if "/" in repo else f"{user}/{repo}"


def trace_path(session_id: str, started: float) -> str:
    """`sessions/<YYYY-MM-DD>/<session_id>.jsonl`, dated by the session's start (UTC)."""
    day = datetime.datetime.fromtimestamp(started, tz=datetime.timezone.utc).strftime("%Y-%m-%d")
    # Ids are generated, but a path must never climb out of `sessions/`.
    name = _UNSAFE.sub("_", session_id).lstrip(".") or "session"
    return f"sessions/{day}/{name}.jsonl"


def dataset_url(repo_id: str) -> str:
    return f"{hub_endpoint()}/datasets/{repo_id}"


def file_url(repo_id: str, path: str) -> str:
    return f"{dataset_url(repo_id)}/blob/main/{path}"


def dataset_card(repo_id: str) -> str:
    """The README of a new trace dataset."""
    return f"""---
pretty_name: ML Intern sessions
tags:
- agent-traces
- ml-intern
---

# ML Intern sessions

Conversation traces of ML Intern sessions (`ml-intern-jupyter`, an ML
engineering agent that runs in a Jupyter kernel): what was asked, what the agent answered, and the tools it called
with their results. One file per session, at
`sessions/<YYYY-MM-DD>/<session_id>.jsonl` (the date the session started),
in the Claude Code JSONL format that the Hugging Face Agent Trace Viewer
reads. Each file is replaced as the session goes on.

## Secrets and privacy

Secrets are scrubbed automatically before a trace is uploaded (Hugging Face,
OpenAI, Anthropic, GitHub and AWS keys, bearer tokens, and `NAME=value`
assignments whose name ends in TOKEN, API_KEY, SECRET or PASSWORD). The
scrubbing is **not comprehensive**: other credentials, personal data or
private code can remain. Review the files before making this dataset public.

## Visibility

This dataset (`{repo_id}`) was created **private**. From a notebook with the
intern loaded, run `%intern share-traces public` to make it public, or
`%intern share-traces private` to make it private again (or change it in the
repository settings). Set `share_traces` to `false` in the ml-intern config to
stop uploading.
"""


# ----------------------------------------------------------------- errors


def is_unauthorised(exc: BaseException) -> bool:
    """Whether the Hub refused the token (401)."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) == 401


def short_error(exc: BaseException, limit: int = _ERROR_CHARS) -> str:
    """One scrubbed line about a failure, for a status record or a message."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError on 3.11+
        text = f"timed out ({exc})" if str(exc) else "timed out"
    elif isinstance(exc, RepositoryNotFoundError):
        text = "repository not found (404)"
    elif isinstance(exc, HfHubHTTPError) and exc.response is not None:
        server = getattr(exc, "server_message", None) or str(exc).splitlines()[0]
        text = f"HTTP {exc.response.status_code}: {server}"
    else:
        first = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__
    text = scrub_text(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------- blocking Hub calls


@dataclass(frozen=True)
class RepoState:
    exists: bool
    private: bool | None = None
    has_card: bool = False


def repo_state_blocking(api: Any, repo_id: str) -> RepoState:
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.dataset_info(repo_id)
    except RepositoryNotFoundError:
        return RepoState(exists=False)
    names = {s.rfilename for s in info.siblings or []}
    return RepoState(exists=True, private=info.private, has_card=CARD_PATH in names)


def create_repo_blocking(api: Any, repo_id: str, *, private: bool) -> None:
    """Create the dataset with its card. `exist_ok`: if someone created it meanwhile,
    their repo (and its visibility) stays as it is."""
    from huggingface_hub import CommitOperationAdd

    api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    state = repo_state_blocking(api, repo_id)
    if not state.has_card:
        api.create_commit(
            repo_id,
            repo_type=REPO_TYPE,
            operations=[CommitOperationAdd(CARD_PATH, dataset_card(repo_id).encode())],
            commit_message="Add dataset card",
        )


def push_trace_blocking(api: Any, repo_id: str, path: str, data: bytes, message: str) -> None:
    """Upload one trace file, creating the dataset (private, with its card) if it is missing.

    A dataset without a card (e.g. its creation was interrupted) gets the card
    in the same commit; an existing card is never replaced.
    """
    from huggingface_hub import CommitOperationAdd

    state = repo_state_blocking(api, repo_id)
    if not state.exists:
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=True, exist_ok=True)
    operations = [CommitOperationAdd(path, data)]
    if not state.has_card:
        card = dataset_card(repo_id).encode()
        operations.append(CommitOperationAdd(CARD_PATH, card))
    api.create_commit(repo_id, repo_type=REPO_TYPE, operations=operations, commit_message=message)


# ----------------------------------------------------------------- the share-traces command


async def _account(settings: HubSettings) -> tuple[Any, str | None, str | None, str | None]:
    """(api, token, user, reason); reason is "no_token" or "no_username" when unknown."""
    token = await in_thread(resolve_token, deadline=settings.request_timeout_s)
    if not token:
        return None, None, None, "no_token"
    api = make_api(token)
    try:
        user = await in_thread(namespace_of, api, token, deadline=settings.request_timeout_s)
    except Exception as exc:
        if is_unauthorised(exc):
            return api, token, None, "no_username"
        raise
    return api, token, user, None


async def share_traces_info(
    config: Config, *, settings: HubSettings | None = None
) -> dict[str, Any]:
    """Where traces go and the dataset's visibility, for `%intern share-traces`.

    Keys: `enabled` (config.share_traces), `user`, `repo`, `url`, `exists`,
    `private` (None when unknown), `reason` ("no_token" / "no_username" when
    nothing can be shared) and `error` (a Hub failure; the other keys are then
    what could be found out). Never raises for Hub or login problems.
    """
    settings = settings or HubSettings()
    info: dict[str, Any] = {
        "enabled": config.share_traces,
        "user": None,
        "repo": None,
        "url": None,
        "exists": None,
        "private": None,
        "reason": None,
        "error": None,
    }
    try:
        api, _token, user, reason = await _account(settings)
        info["reason"] = reason
        if user is None:
            return info
        repo = trace_repo_id(config, user)
        info.update(user=user, repo=repo, url=dataset_url(repo))
        state = await in_thread(repo_state_blocking, api, repo, deadline=settings.request_timeout_s)
    except Exception as exc:
        info["error"] = short_error(exc)
        return info
    info.update(exists=state.exists, private=state.private)
    return info


async def set_visibility(
    config: Config, private: bool, *, settings: HubSettings | None = None
) -> dict[str, Any]:
    """Make the trace dataset private or public, creating it (with its card) if missing.

    Returns `share_traces_info` afterwards. Raises `TraceShareError` with a
    message for the user when not logged in or when the Hub refuses.
    """
    settings = settings or HubSettings()
    try:
        api, _token, user, reason = await _account(settings)
    except Exception as exc:
        raise TraceShareError(f"Could not reach the Hub: {short_error(exc)}") from exc
    if user is None:
        raise TraceShareError(_LOGIN_NEEDED[reason or "no_token"])
    repo = trace_repo_id(config, user)
    try:
        state = await in_thread(repo_state_blocking, api, repo, deadline=settings.request_timeout_s)
        if not state.exists:
            await in_thread(
                create_repo_blocking,
                api,
                repo,
                private=private,
                deadline=settings.request_timeout_s,
            )
        elif state.private != private:
            await in_thread(
                api.update_repo_settings,
                repo,
                repo_type=REPO_TYPE,
                private=private,
                deadline=settings.request_timeout_s,
            )
    except Exception as exc:
        what = "private" if private else "public"
        raise TraceShareError(
            f"Could not make the trace dataset {repo} {what}: {short_error(exc)}"
        ) from exc
    return await share_traces_info(config, settings=settings)


_LOGIN_NEEDED = {
    "no_token": "Not logged in to Hugging Face: log in with `%intern login` (or "
    "`huggingface-cli login`), or set HF_TOKEN, to share traces.",
    "no_username": "Your Hugging Face token was not accepted, so the trace dataset's owner is "
    "unknown: log in again with `%intern login` (or `huggingface-cli login`).",
}


def describe_share_status(info: dict[str, Any]) -> str:
    """One line for the view footer, from `share_traces_info`."""
    if not info.get("enabled"):
        return "Traces: off"
    if info.get("reason") or not info.get("url"):
        if info.get("error"):
            return f"Traces: status unknown ({info['error']})"
        return "Traces: not shared — log in to share"
    url = info["url"]
    if info.get("error"):
        return f"Traces: {url} (could not check: {info['error']})"
    if not info.get("exists"):
        return f"Traces: private dataset {url} (created on the first upload)"
    private = info.get("private")
    visibility = "private " if private is True else "public " if private is False else ""
    return f"Traces: {visibility}dataset {url}"

"""Turn Hub failures into messages the model can act on.

Every Hugging Face tool catches what its call raised and returns a failed
`ToolResult` made here: what failed, why, and what to try next (check the id
with `hf_search`, log in, accept a gated repo's terms, wait out a rate limit).
Exception classes come from huggingface_hub and the HTTP library it is built on
(httpx, or httpx2 for huggingface_hub 2.x), imported lazily so this module
stays importable without them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..errors import ToolFailure
from .base import ToolResult

__all__ = ["Where", "describe", "error_result"]

LOGIN_HINT = "log in with `%intern login` or set HF_TOKEN"
_MAX_SERVER_MESSAGE = 300


@dataclass(frozen=True)
class Where:
    """What a failed call was about, to name it in the message."""

    action: str  # e.g. "hf_repo_files read"
    endpoint: str  # the base URL that was called
    repo_id: str | None = None
    repo_type: str | None = None
    path: str | None = None
    revision: str | None = None
    job_id: str | None = None
    timeout_s: float | None = None
    not_found_hint: str | None = None  # replaces the generic "check the id" advice


def error_result(exc: BaseException, where: Where) -> ToolResult:
    return ToolResult(describe(exc, where), success=False)


def repo_url(endpoint: str, repo_type: str | None, repo_id: str) -> str:
    prefix = {"dataset": "datasets/", "space": "spaces/"}.get(repo_type or "model", "")
    return f"{endpoint.rstrip('/')}/{prefix}{repo_id}"


def describe(exc: BaseException, where: Where) -> str:
    """One or two sentences: what failed and what to try."""
    if isinstance(exc, ToolFailure):
        return str(exc)
    try:
        from huggingface_hub import errors as hf

        from .hub_http import http_module

        httpx = http_module()
    except ImportError:  # pragma: no cover - both are dependencies
        return f"{where.action} failed: {type(exc).__name__}: {exc}"

    if isinstance(exc, hf.GatedRepoError):
        url = repo_url(where.endpoint, where.repo_type, _repo(exc, where))
        return (
            f"Not authorised: '{_repo(exc, where)}' is a gated repository. Accept its terms at "
            f"{url} with the account of your token, and make sure you are logged in "
            f"({LOGIN_HINT}); then retry."
        )
    if isinstance(exc, hf.RepositoryNotFoundError):
        kind = where.repo_type or "model"
        hint = where.not_found_hint or (
            f"Check the id and repo_type with hf_search; for a private repo {LOGIN_HINT}."
        )
        return f"Repository '{_repo(exc, where)}' ({kind}) not found. {hint}"
    if isinstance(exc, hf.RevisionNotFoundError):
        return (
            f"Revision '{where.revision or 'main'}' not found in '{_repo(exc, where)}'. "
            "List its branches and tags with hf_repo_git operation=list_refs."
        )
    if isinstance(exc, hf.EntryNotFoundError):
        return (
            f"File '{where.path or '?'}' not found in '{_repo(exc, where)}' at revision "
            f"'{where.revision or 'main'}'. List the files with hf_repo_files operation=list."
        )
    # JobNotFoundError is newer than some accepted versions; there a missing
    # job is a plain 404 on a job call.
    job_not_found = getattr(hf, "JobNotFoundError", None)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if (job_not_found is not None and isinstance(exc, job_not_found)) or (
        where.job_id and status == 404
    ):
        job = where.job_id or getattr(exc, "job_id", None) or "?"
        return (
            f"Job '{job}' not found. List your jobs with hf_jobs operation=ps (or 'scheduled ps')."
        )
    if isinstance(exc, hf.LocalTokenNotFoundError):
        return f"Not logged in to Hugging Face: {LOGIN_HINT}, then retry."
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, so the Hub cannot be reached. Unset it to use this tool."
    if isinstance(exc, hf.HfHubHTTPError) and exc.response is not None:
        return _http_status(exc, where)
    if isinstance(exc, httpx.HTTPStatusError):
        return _status_text(where, exc.response.status_code, _body_message(exc.response), None)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, httpx.TimeoutException)):
        limit = f" after {where.timeout_s:g} s" if where.timeout_s else ""
        return (
            f"{where.action} timed out{limit}: {where.endpoint} did not answer in time. "
            "Try again in a moment, or ask for less (a smaller limit, a narrower query)."
        )
    if isinstance(exc, (httpx.TransportError, ConnectionError)):
        return (
            f"Cannot reach {where.endpoint} ({_short(str(exc)) or type(exc).__name__}). Check the "
            "network connection (and HF_ENDPOINT if you set it), then retry."
        )
    if isinstance(exc, (ValueError, TypeError)):
        return f"Invalid request for {where.action}: {_short(str(exc))}"
    return f"{where.action} failed: {type(exc).__name__}: {_short(str(exc))}"


def _repo(exc: BaseException, where: Where) -> str:
    return where.repo_id or getattr(exc, "repo_id", None) or "?"


def _http_status(exc: BaseException, where: Where) -> str:
    response = exc.response  # type: ignore[attr-defined]
    server = getattr(exc, "server_message", None) or ""
    return _status_text(where, response.status_code, server, response.headers.get("Retry-After"))


def _status_text(where: Where, status: int, server: str, retry_after: str | None) -> str:
    detail = f": {_short(server)}" if server else "."
    if status == 401:
        return (
            f"Not authorised (401){detail} Your Hugging Face token is missing or invalid: "
            f"{LOGIN_HINT}, then retry."
        )
    if status == 402:
        return (
            f"Payment required (402){detail} This needs a PRO account or an organisation "
            "with billing set up (HF Jobs are paid)."
        )
    if status == 403:
        return (
            f"Forbidden (403){detail} Your token lacks permission for this ({where.action}). "
            f"Use a token with write access ({LOGIN_HINT}); for a gated repo accept its terms "
            "on its Hub page first."
        )
    if status == 404:
        hint = where.not_found_hint or "Check the name or id (hf_search finds repos)."
        return f"Not found (404){detail} {hint}"
    if status == 409:
        return f"Conflict (409){detail} It may already exist; list what is there first."
    if status == 429:
        wait = f" (the server asks to wait {retry_after} s)" if retry_after else ""
        return (
            f"Rate limited by {where.endpoint} (429){wait}. Wait a minute before calling "
            "again, and make fewer, larger requests."
        )
    if status >= 500:
        return (
            f"{where.endpoint} had an internal error ({status}){detail} This is on the "
            "server side: try again in a little while."
        )
    return f"{where.action} was refused ({status}){detail} Check the arguments."


def _body_message(response: object) -> str:
    try:
        data = response.json()  # type: ignore[attr-defined]
    except Exception:
        return ""
    if isinstance(data, dict):
        msg = data.get("error") or data.get("message") or ""
        return msg if isinstance(msg, str) else str(msg)
    return ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_SERVER_MESSAGE:
        text = text[: _MAX_SERVER_MESSAGE - 3] + "..."
    return text

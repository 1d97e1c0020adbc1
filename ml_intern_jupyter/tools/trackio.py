"""Trackio for HF Jobs: send a job's metrics to a trackio dashboard Space.

`hf_jobs` run/uv take `trackio_space_id` (``"user/name"``, or ``"name"`` in
the job's namespace) and `trackio_project`. `prepare` readies the job so
what its code logs with trackio lands in that Space: ``TRACKIO_SPACE_ID``
and ``TRACKIO_PROJECT`` in its environment (``trackio.init`` reads the
Space from the first; the code passes ``project=os.environ[...]``), the
user's token as the ``HF_TOKEN`` secret (trackio creates the Space, with
its dashboard app, on first use and writes to it), and for `uv` scripts the
``trackio`` package. The card links the dashboard; the live view embeds it.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ToolFailure

__all__ = ["dashboard", "prepare", "trackio_url_in"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_SPACE_URL = re.compile(r"https://huggingface\.co/spaces/[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def space_id_of(raw: str, namespace: str) -> str:
    parts = raw.strip().strip("/").split("/")
    if len(parts) == 1:
        parts = [namespace, parts[0]]
    if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
        raise ToolFailure(
            f"trackio_space_id '{raw}' is not a Space id: use 'user/name' or just 'name' "
            "(letters, digits, '-', '_', '.')."
        )
    return "/".join(parts)


def dashboard(space_id: str, project: str) -> dict[str, str]:
    """The dashboard Space and its page (a card links it, the live view embeds it)."""
    return {
        "trackio_space_id": space_id,
        "trackio_project": project,
        "trackio_url": f"https://huggingface.co/spaces/{space_id}",
    }


def prepare(
    spec: dict[str, Any], args: dict[str, Any], namespace: str, token: str | None
) -> dict[str, str] | None:
    """Point the job (`spec`, as given to run_job) at the dashboard; None without trackio."""
    raw = str(args.get("trackio_space_id") or "").strip()
    project = str(args.get("trackio_project") or "").strip()
    if not raw:
        if project:
            raise ToolFailure(
                "trackio_project needs trackio_space_id (the Space that shows the dashboard)."
            )
        return None
    space_id = space_id_of(raw, namespace)
    project = project or space_id.split("/")[1]
    env = dict(spec.get("env") or {})
    env.update(TRACKIO_SPACE_ID=space_id, TRACKIO_PROJECT=project)
    spec["env"] = env
    secrets = dict(spec.get("secrets") or {})
    if "HF_TOKEN" not in secrets:
        if not token:
            raise ToolFailure(
                "Logging to a trackio Space needs your Hugging Face token in the job, and you "
                "are not logged in: run `%intern login` (or set HF_TOKEN)."
            )
        secrets["HF_TOKEN"] = token
    spec["secrets"] = secrets
    return dashboard(space_id, project)


def with_trackio_dependency(args: dict[str, Any]) -> dict[str, Any]:
    """A uv job logging to trackio needs the package."""
    deps = [str(d) for d in args.get("dependencies") or []]
    if args.get("trackio_space_id") and not any(re.match(r"^trackio\b", d.strip()) for d in deps):
        return {**args, "dependencies": [*deps, "trackio"]}
    return args


def trackio_url_in(text: str) -> str | None:
    """A trackio dashboard Space's address printed by code (e.g. by `trackio.init`)."""
    if "trackio" not in text.lower():
        return None
    found = _SPACE_URL.search(text)
    return found.group(0) if found else None

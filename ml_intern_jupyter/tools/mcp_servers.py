"""Which MCP servers a session connects to, and with what: env, headers, approval.

The Hugging Face MCP server is added (as upstream's `hf-mcp-server`) when
`share_hf_mcp` is on, unless the user configured a server of that name. The
user's Hugging Face token is sent as a bearer token **only** to Hugging Face
hosts over https (upstream sent it to every server); a header the user wrote
is always kept as written. `${VAR}` in a server's entry is filled from the
environment when the session connects; an unset variable (without a
`${VAR:-default}`) is an error that names it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..config import Config, McpServer, substitute
from .base import Approval

__all__ = [
    "HF_DUPLICATES",
    "HF_SERVER",
    "ResolvedServer",
    "approval_rule",
    "configured_servers",
    "display_target",
    "hf_token",
    "is_hf_host",
    "resolve",
]

HF_SERVER = "hf-mcp-server"
# Tools of the Hugging Face MCP server that our built-in tools already cover
# (hf_jobs, hf_docs, the session's own login).
HF_DUPLICATES = frozenset({"hf_jobs", "hf_doc_search", "hf_doc_fetch", "hf_whoami"})
_HF_HOSTS = ("huggingface.co", "hf.co")
# What OpenAI-compatible APIs accept as a function name.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VAR_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class ResolvedServer:
    """A server's entry with `${VAR}` filled in and the headers to send."""

    name: str
    spec: McpServer
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Values filled in from the environment (and the token): kept out of messages.
    secrets: list[str] = field(default_factory=list)

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def display_target(spec: McpServer) -> str:
    """What to show for a server: its URL without the query, or its command line,
    as configured (`${VAR}` not filled in, so no secret is shown)."""
    if spec.transport == "http":
        parts = urlsplit(spec.url or "")
        return f"{parts.scheme}://{parts.netloc}{parts.path}"
    return " ".join([spec.command or "", *spec.args]).strip()


def configured_servers(config: Config) -> dict[str, McpServer]:
    """Every server the config names, the Hugging Face one included when shared."""
    servers: dict[str, McpServer] = {}
    if config.share_hf_mcp and HF_SERVER not in config.mcp_servers:
        servers[HF_SERVER] = McpServer.model_validate(
            {"transport": "http", "url": config.hf_mcp_url}
        )
    servers.update(config.mcp_servers)
    return servers


def is_hf_host(url: str) -> bool:
    """True for https URLs on huggingface.co / hf.co or their subdomains."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if parts.scheme != "https" or not host:
        return False
    return any(host == h or host.endswith("." + h) for h in _HF_HOSTS)


def hf_token(env: Mapping[str, str] | None = None) -> str | None:
    """The user's Hugging Face token: HF_TOKEN, else huggingface_hub's saved login."""
    env = os.environ if env is None else env
    token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:
        return None


def resolve(
    name: str,
    spec: McpServer,
    *,
    env: Mapping[str, str] | None = None,
    token: Callable[[], str | None] = hf_token,
) -> ResolvedServer:
    """Fill in `${VAR}` and the headers; ValueError (naming what is unset) on a missing variable."""
    env = os.environ if env is None else env
    missing: list[str] = []
    fill: Callable[[Any], Any] = lambda v: substitute(v, env, missing)  # noqa: E731
    server = ResolvedServer(
        name,
        spec,
        command=fill(spec.command),
        args=fill(list(spec.args)),
        env=fill(dict(spec.env)),
        cwd=fill(spec.cwd),
        url=fill(spec.url),
        headers=fill(dict(spec.headers)),
    )
    server.secrets = _filled(spec, env)
    if missing:
        names = ", ".join(f"${{{m}}}" for m in dict.fromkeys(missing))
        raise ValueError(f"{names} in its config {'is' if len(missing) == 1 else 'are'} not set")
    if spec.transport == "http" and server.url and is_hf_host(server.url):
        if not any(k.lower() == "authorization" for k in server.headers):
            found = token()
            if found:
                server.headers["Authorization"] = f"Bearer {found}"
                server.secrets.append(found)
    return server


def _filled(spec: McpServer, env: Mapping[str, str]) -> list[str]:
    """The environment values `${VAR}` in this entry refer to (long enough to be secrets)."""
    raw = json.dumps(spec.model_dump(mode="json"))
    names = {m.group(1) for m in _VAR_NAME.finditer(raw)}
    return [v for n in names if len(v := env.get(n) or "") >= 4]


_RULES = {"ask": Approval.ASK, "trusted": Approval.NO, "always_ask": Approval.ALWAYS_ASK}


def approval_rule(spec: McpServer, tool: str) -> Callable[[dict[str, Any]], Approval]:
    """The approval rule of one MCP tool: its `tool_approval` entry, else the server's."""
    rule = _RULES[spec.tool_approval.get(tool, spec.approval)]
    return lambda _args: rule

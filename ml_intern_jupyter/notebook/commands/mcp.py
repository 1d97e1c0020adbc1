"""`%intern mcp`: the session's MCP servers, their state and tools; enable/disable one.

Turning a server off or on is a `configure{mcp_disabled}` operation in the
session's queue, like every setting: it applies between turns. Enabling
connects in the background; the next turn waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from ...errors import InternError

__all__ = ["format_servers", "mcp_command"]

_RULES = {"ask": "asks before each call", "trusted": "trusted", "always_ask": "always asks"}


def mcp_command(
    sessions: Any,
    name: str,
    args: list[str],
    *,
    conductor: Callable[..., Any],
    configure: Callable[..., bool],
) -> None:
    if not args:
        print(_listing(sessions, name))
        return
    action, server = args[0].lower(), args[1]
    found = conductor(sessions, name)  # the session (started if needed)
    session = found.session
    known = list(sessions.runtime.call(_describe(session)))
    names = [s["name"] for s in known]
    if server not in names:
        valid = ", ".join(names) or "none are configured"
        raise UsageError(f"No MCP server '{server}' in session '{name}'. Servers: {valid}.")
    off = action == "disable"
    disabled = list(session.describe().mcp_disabled)
    if (server in disabled) == off:
        print(f"MCP server '{server}' is already {'off' if off else 'on'} in session '{name}'.")
        return
    value = [d for d in disabled if d != server] + ([server] if off else [])
    busy = configure(sessions, found, "mcp_disabled", value)
    when = " from the next turn (a turn is running)" if busy else ""
    if off:
        print(f"MCP server '{server}' is off in session '{name}'{when}: its tools are gone.")
    else:
        print(
            f"MCP server '{server}' is on in session '{name}'{when}: it connects in the "
            "background (`%intern mcp` shows when)."
        )


async def _describe(session: Any) -> list[dict[str, Any]]:
    return session.mcp.describe()


def _listing(sessions: Any, name: str) -> str:
    conductor = sessions.get(name)
    if conductor is not None:
        servers = sessions.runtime.call(_describe(conductor.session))
        if not servers:
            return _none_configured()
        return f"MCP servers of session '{name}':\n" + format_servers(servers)
    from ...config import load_config
    from ...tools.mcp_servers import configured_servers, display_target

    try:
        configured = configured_servers(load_config())
    except InternError as exc:
        raise UsageError(str(exc)) from None
    if not configured:
        return _none_configured()
    lines = [f"MCP servers (not connected yet: the first %%intern cell of '{name}' connects them):"]
    for server, spec in configured.items():
        lines.append(
            f"• {server} — {spec.transport} {display_target(spec)} — {_RULES[spec.approval]}"
        )
    return "\n".join(lines)


def _none_configured() -> str:
    from ...config import user_config_path

    return (
        "No MCP servers are configured. Add them under `mcp_servers` in "
        f"{user_config_path()} (`share_hf_mcp: true` adds the Hugging Face one)."
    )


def format_servers(servers: list[dict[str, Any]]) -> str:
    lines = []
    for s in servers:
        head = f"• {s['name']} — {s['transport']} {s['target']}".rstrip()
        state = s["state"]
        if state == "connected":
            tools = s["tools"]
            lines.append(
                f"{head} — connected, {_RULES[s['approval']]} · {len(tools)} tool"
                f"{'s' if len(tools) != 1 else ''}: {', '.join(tools) or '(none)'}"
            )
            special = {t: r for t, r in s["tool_approval"].items() if r != s["approval"]}
            if special:
                rules = ", ".join(f"{t} {_RULES[r]}" for t, r in special.items())
                lines.append(f"    per tool: {rules}")
        elif state == "failed":
            lines.append(f"{head} — failed: {s['error']}")
        elif state == "disabled":
            lines.append(f"{head} — off in this session (`%intern mcp enable {s['name']}`)")
        else:
            lines.append(f"{head} — {state}")
        if s["skipped"]:
            skipped = "; ".join(f"{t} ({why})" for t, why in s["skipped"].items())
            lines.append(f"    skipped: {skipped}")
    return "\n".join(lines)

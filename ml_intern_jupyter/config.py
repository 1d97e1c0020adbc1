"""Settings: packaged defaults < user file < environment < per-session overrides.

The user file is `$ML_INTERN_CONFIG`, else `~/.config/ml-intern-jupyter/config.json`.
Every field can be set from the environment as `ML_INTERN_<FIELD>` (upper
case); `ML_INTERN_MODEL` is short for `ML_INTERN_MODEL_NAME`. String values in
the user file may use `${VAR}` and `${VAR:-default}`; in `mcp_servers` they are
kept as written and substituted when a session connects (`tools/mcp_servers.py`),
so a secret in a header never sits in the config object. Upstream's
`mcpServers` key is read as `mcp_servers`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

__all__ = [
    "Config",
    "Destination",
    "McpServer",
    "Messaging",
    "ModelPrice",
    "load_config",
    "user_config_path",
]

_PACKAGE_DIR = Path(__file__).resolve().parent
# Installed wheel: ml_intern_jupyter/configs/; source checkout: configs/ at the root.
_DEFAULT_CANDIDATES = (
    _PACKAGE_DIR / "configs" / "default.json",
    _PACKAGE_DIR.parent / "configs" / "default.json",
)
_ENV_ALIASES = {"ML_INTERN_MODEL": "model_name"}
# Keys accepted for upstream compatibility -> our field names.
_KEY_ALIASES = {"mcpServers": "mcp_servers"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    # Prompt-cache rates; unset: see `LLMClient.cost`.
    cache_read_per_mtok: float | None = Field(None, ge=0)
    cache_write_per_mtok: float | None = Field(None, ge=0)


NotifyEvent = Literal["approval_required", "error", "turn_complete"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("approval_required", "error", "turn_complete")


class Destination(BaseModel):
    """Where notifications go. Secrets come from the environment only: name the
    variables (`token_env`, `url_env`); a literal `token` or `url` is refused."""

    model_config = ConfigDict(extra="forbid")
    provider: Literal["slack", "webhook"]
    channel: str | None = None  # slack; else the `channel_env` variable
    channel_env: str = "SLACK_CHANNEL_ID"
    token_env: str = "SLACK_BOT_TOKEN"  # slack: a bot token (chat.postMessage)
    url_env: str | None = None  # webhook: the variable holding the URL to POST to
    allow_agent_tool: bool = False  # the `notify` tool may send here
    allow_auto_events: bool = True  # approval_required / error / long turn_complete

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, instead in (("token", "token_env"), ("url", "url_env")):
                if key in data:
                    raise ValueError(
                        f"'{key}' may not be written in the config: put it in an environment "
                        f"variable and name that variable with '{instead}'."
                    )
            if data.get("provider") == "webhook" and not data.get("url_env"):
                raise ValueError(
                    "a webhook destination needs 'url_env' (the variable with its URL)"
                )
        return data


class Messaging(BaseModel):
    """Notifications to Slack and/or webhooks (upstream's `messaging` block)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    auto_event_types: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS))
    destinations: dict[str, Destination] = Field(default_factory=dict)
    turn_complete_min_s: float = Field(60, ge=0)  # only turns at least this long are sent
    timeout_s: float = Field(10, gt=0)  # per attempt
    retry_waits_s: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0])


McpApproval = Literal["ask", "trusted", "always_ask"]
_TRANSPORTS = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamable_http": "http",
    "streamableHttp": "http",
}


class McpServer(BaseModel):
    """One MCP server: a command (stdio) or a URL (streamable HTTP).

    `approval` applies to every tool of the server ("ask" before each call,
    "trusted": never ask, "always_ask": even in yolo); `tool_approval`
    overrides it per tool name."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["stdio", "http"]
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    approval: McpApproval = "ask"
    tool_approval: dict[str, McpApproval] = Field(default_factory=dict)
    connect_timeout_s: float = Field(30, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        # Upstream's entries say `type` or `transport`, or neither (inferred).
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind = data.pop("type", None)
        kind = data.get("transport", kind)
        if kind is None:
            kind = "http" if "url" in data else "stdio" if "command" in data else None
        if kind == "sse":
            raise ValueError("the SSE transport is not supported; use streamable HTTP (a URL)")
        if kind is not None:
            data["transport"] = _TRANSPORTS.get(str(kind), kind)
        return data

    @model_validator(mode="after")
    def _complete(self) -> McpServer:
        if self.transport == "stdio" and not self.command:
            raise ValueError("a stdio MCP server needs `command`")
        if self.transport == "http" and not self.url:
            raise ValueError("an HTTP MCP server needs `url`")
        return self


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model_name: str = Field(min_length=1)
    # The model of `research` sub-agents (None: the session's model).
    research_model: str | None = Field(None, min_length=1)
    research_max_iterations: int = Field(60, ge=1)  # model calls of one research sub-agent
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = "high"
    max_iterations: int = Field(300, ge=-1)
    yolo_mode: bool = False
    yolo_budget_usd: float | None = Field(None, ge=0)
    # Session spend (inference + jobs) at which a turn first pauses for the
    # user's go-ahead, then at each doubling; 0 or null: never.
    spend_pause_usd: float | None = Field(5.0, ge=0)
    confirm_cpu_jobs: bool = True
    job_poll_interval_s: float = Field(5, gt=0)  # a followed HF Job's state and new logs
    save_sessions: bool = True
    share_traces: bool = True
    personal_trace_repo_template: str = "{hf_user}/ml-intern-sessions"
    home: Path | None = None
    workdir: Path | None = None
    tool_timeout_s: float = Field(120, gt=0)
    tool_output_limit: int = Field(25_000, gt=100)
    context_window: int | None = Field(None, gt=0)
    compaction_threshold: float = Field(0.9, gt=0, le=1)
    llm_attempts: int = Field(3, ge=1)
    retry_rate_limit_waits_s: list[float] = Field(default_factory=lambda: [30.0, 60.0])
    retry_transient_waits_s: list[float] = Field(default_factory=lambda: [5.0, 15.0, 30.0])
    retry_after_max_s: float = Field(120, ge=0)
    llm_timeout_s: float = Field(600, gt=0)
    continuation_nudges: int = Field(2, ge=0)
    model_prices: dict[str, ModelPrice] = Field(default_factory=dict)
    messaging: Messaging = Field(default_factory=lambda: Messaging.model_validate({}))
    # fetch_url may read loopback/private/link-local addresses (off: refused)
    fetch_allow_private_addresses: bool = False
    # MCP servers whose tools sessions get (upstream's `mcpServers` is accepted).
    mcp_servers: dict[str, McpServer] = Field(default_factory=dict)
    # Connect the Hugging Face MCP server too (the packaged defaults turn it on).
    share_hf_mcp: bool = False
    hf_mcp_url: str = "https://huggingface.co/mcp?login"
    # Servers turned off (`%intern mcp disable NAME` sets this for one session).
    mcp_disabled: list[str] = Field(default_factory=list)
    # How long a session's first turn waits for its MCP servers to connect.
    # 0: not at all — they connect once the first reply streams (or the session
    # has been idle a few seconds) and their tools join at the next model call,
    # so the first words never wait for `mcp`'s import or a remote server.
    mcp_wait_s: float = Field(0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _upstream_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in _KEY_ALIASES):
            data = {_KEY_ALIASES.get(k, k): v for k, v in data.items()}
        return data

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with per-session overrides applied and validated."""
        return _validate(
            {**self.model_dump(exclude_unset=False), **overrides},
            {k: "per-session overrides" for k in overrides},
        )

    def resolved_home(self) -> Path:
        if self.home is not None:
            return self.home.expanduser()
        from jupyter_core.paths import jupyter_data_dir

        return Path(jupyter_data_dir()) / "ml_intern_jupyter"


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get("ML_INTERN_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return Path.home() / ".config" / "ml-intern-jupyter" / "config.json"


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    user_file: Path | None = None,
) -> Config:
    """Merge every layer and validate; raises ConfigError naming field and source."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}

    default_path = next((p for p in _DEFAULT_CANDIDATES if p.is_file()), None)
    if default_path is not None:
        _layer(
            merged, sources, _read_json(default_path, env), f"packaged defaults ({default_path})"
        )

    path = user_file if user_file is not None else user_config_path(env)
    if path.is_file():
        data = _read_json(path, env)
        if not isinstance(data, dict):
            raise ConfigError(
                f"Config file {path} must contain a JSON object, not {type(data).__name__}."
            )
        _layer(merged, sources, data, str(path))
    elif env.get("ML_INTERN_CONFIG"):
        raise ConfigError(f"ML_INTERN_CONFIG points to {path}, which does not exist.")

    _layer(merged, sources, _from_env(env), None)
    if overrides:
        _layer(merged, sources, dict(overrides), "per-session overrides")
    return _validate(merged, sources)


def _layer(
    merged: dict[str, Any], sources: dict[str, str], data: dict[str, Any], source: str | None
) -> None:
    for key, value in data.items():
        key = _KEY_ALIASES.get(key, key)
        merged[key] = value
        sources[key] = source if source is not None else f"environment variable {_env_name(key)}"


def _env_name(field: str) -> str:
    for alias, target in _ENV_ALIASES.items():
        if target == field:
            return alias
    return f"ML_INTERN_{field.upper()}"


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in Config.model_fields:
        raw = env.get(f"ML_INTERN_{name.upper()}")
        if raw is not None:
            out[name] = _parse_env_value(raw)
    for alias, name in _ENV_ALIASES.items():
        if alias in env:
            out[name] = env[alias]
    return out


def _parse_env_value(raw: str) -> Any:
    # Numbers, booleans, lists and objects come as JSON; anything else is a string.
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _read_json(path: Path, env: Mapping[str, str]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"Config file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if not isinstance(data, dict):
        return _substitute(data, env)
    # MCP server entries are substituted when a session connects, not here.
    return {
        k: v if _KEY_ALIASES.get(k, k) == "mcp_servers" else _substitute(v, env)
        for k, v in data.items()
    }


def substitute(value: Any, env: Mapping[str, str], missing: list[str] | None = None) -> Any:
    """`${VAR}` / `${VAR:-default}` in the strings of `value`; unset names go to `missing`."""

    def one(m: re.Match[str]) -> str:
        found = env.get(m.group(1))
        if found:
            return found
        if m.group(2) is None and missing is not None:
            missing.append(m.group(1))
        return m.group(2) or ""

    if isinstance(value, str):
        return _VAR.sub(one, value)
    if isinstance(value, list):
        return [substitute(v, env, missing) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env, missing) for k, v in value.items()}
    return value


def _substitute(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [_substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, env) for k, v in value.items()}
    return value


def _validate(data: dict[str, Any], sources: Mapping[str, str]) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        where = ".".join(str(p) for p in err["loc"])
        source = sources.get(field, "the configuration")
        if err["type"] == "extra_forbidden":
            valid = ", ".join(sorted(Config.model_fields))
            raise ConfigError(
                f"Unknown config field '{field}' in {source}. Valid fields: {valid}."
            ) from None
        # A messaging value may hold a secret someone pasted in: never echo it.
        got = "" if field == "messaging" else f" (got {err.get('input')!r})"
        raise ConfigError(
            f"Invalid config value for '{where}' in {source}: {err['msg']}{got}."
        ) from None

"""`%%intern` and `%intern`: the commands and their argument parsing.

Bad input raises `UsageError` with one line that names what is valid;
IPython shows it without a traceback. The work itself is in `run`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from IPython.core.error import UsageError

__all__ = [
    "CELL_FLAGS",
    "COMMANDS",
    "CellOptions",
    "LineCommand",
    "parse_cell_line",
    "parse_line",
]

CELL_FLAGS = (
    "-s/--session NAME, -m/--model ID, -w/--wait, --yolo, --new, --catch-up, --restore, --fresh"
)
# After a kernel restart: how to continue this notebook's saved session.
RESUME_FLAGS = {"--catch-up": "catch_up", "--restore": "restore", "--fresh": "fresh"}
EXPORT_FORMATS = ("claude_code", "hf_session", "markdown", "json")
# command -> (argument usage, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("", "show this help"),
    "status": ("", "the session's model, state, tokens and cost"),
    "sessions": ("", "sessions in this kernel and saved ones (this notebook's, then all)"),
    "new": ("", "start a new session (the old one stops)"),
    "model": ("[ID]", "set the session's model, or list the router's suggested ones"),
    "effort": ("[LEVEL]", "show or set the reasoning effort: none, minimal, low, medium, high"),
    "yolo": ("[on|off]", "show or set auto-approval of tool calls for the session"),
    "compact": ("", "summarise the conversation so far to free context"),
    "undo": ("", "remove the last exchange"),
    "stop": ("", "stop the running turn and drop queued ones"),
    "wait": ("", "block until the current turn ends"),
    "history": ("", "the conversation as markdown"),
    "cell": ("", "put the last cell the intern proposed in a new cell below"),
    "cost": ("", "tokens and cost so far: the session, and the notebook in total and today"),
    "mcp": ("[enable|disable NAME]", "MCP servers, their state and tools; turn one on or off"),
    "login": ("", "log in to Hugging Face"),
    "share-traces": ("[public|private]", "where traces go; make the dataset public or private"),
    "export": (
        "PATH [--format F] [-s ID]",
        "write a saved session (default: the current one) to a file; "
        "F: claude_code, hf_session, markdown or json",
    ),
    "resume": ("ID", "continue a saved session here (full history if it fits, else a summary)"),
}
NOT_YET: tuple[str, ...] = ()
EFFORTS = ("none", "minimal", "low", "medium", "high")
_MAX_ARGS = {
    "mcp": 2,
    "model": 1,
    "effort": 1,
    "yolo": 1,
    "share-traces": 1,
    "export": 1,
    "resume": 1,
}


def valid_commands() -> str:
    return ", ".join(COMMANDS)


@dataclass
class CellOptions:
    session: str | None = None
    model: str | None = None
    wait: bool = False
    yolo: bool = False
    new: bool = False
    resume: str | None = None  # catch_up | restore | fresh (see RESUME_FLAGS)


@dataclass
class LineCommand:
    name: str
    args: list[str] = field(default_factory=list)
    session: str | None = None
    format: str | None = None  # export only


def _split(line: str, what: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Cannot read the {what} arguments ({exc}): check the quotes.") from None


def _take_value(tokens: list[str], i: int, flag: str, what: str, example: str) -> tuple[str, int]:
    token = tokens[i]
    if "=" in token and token.startswith("--"):
        value = token.split("=", 1)[1]
        if value:
            return value, i + 1
    elif i + 1 < len(tokens) and tokens[i + 1].strip() and not tokens[i + 1].startswith("-"):
        return tokens[i + 1], i + 2
    raise UsageError(f"{flag} needs {what}, e.g. `{example}`.")


def _flag_name(token: str) -> str:
    return token.split("=", 1)[0]


def parse_cell_line(line: str) -> CellOptions:
    """Flags of `%%intern` (the prompt is the cell body, never on this line)."""
    opts = CellOptions()
    tokens = _split(line, "%%intern")
    i = 0
    while i < len(tokens):
        token = tokens[i]
        flag = _flag_name(token)
        if flag in ("-s", "--session"):
            opts.session, i = _take_value(tokens, i, flag, "a session name", "%%intern -s research")
        elif flag in ("-m", "--model"):
            opts.model, i = _take_value(tokens, i, flag, "a model id", "%%intern -m vllm/my-model")
        elif token in ("-w", "--wait"):
            opts.wait, i = True, i + 1
        elif token == "--yolo":
            opts.yolo, i = True, i + 1
        elif token == "--new":
            opts.new, i = True, i + 1
        elif token in RESUME_FLAGS:
            if opts.resume is not None and opts.resume != RESUME_FLAGS[token]:
                raise UsageError(
                    "Choose one of --catch-up, --restore or --fresh: how to continue this "
                    "notebook's earlier session after a kernel restart."
                )
            opts.resume, i = RESUME_FLAGS[token], i + 1
        elif token.startswith("-"):
            raise UsageError(f"Unknown option '{token}' for %%intern. Valid options: {CELL_FLAGS}.")
        else:
            raise UsageError(
                f"Unexpected '{token}' after %%intern: the request goes in the cell body. "
                f"Valid options: {CELL_FLAGS}."
            )
    if opts.new and opts.resume is not None:
        flag = {v: k for k, v in RESUME_FLAGS.items()}[opts.resume]
        raise UsageError(
            f"--new starts an empty session without looking for an earlier one, so it cannot "
            f"go with {flag} (how to continue after a kernel restart): use one or the other."
        )
    return opts


def parse_line(line: str) -> LineCommand:
    """`%intern [-s NAME] COMMAND [ARGS]`; no command means `help`."""
    tokens = _split(line, "%intern")
    session = None
    fmt = None
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        flag = _flag_name(tokens[i])
        if flag in ("-s", "--session"):
            session, i = _take_value(
                tokens, i, flag, "a session name", "%intern -s research status"
            )
        elif flag == "--format":
            fmt, i = _take_value(
                tokens, i, flag, "a format", "%intern export notes.md --format markdown"
            )
        else:
            rest.append(tokens[i])
            i += 1
    if not rest:
        return LineCommand("help", session=session)
    name, args = rest[0].lower(), rest[1:]
    if name.startswith("-"):
        raise UsageError(
            f"Unknown option '{rest[0]}' for %intern. The only option is -s/--session NAME; "
            f"commands: {valid_commands()}."
        )
    if name not in COMMANDS:
        raise UsageError(
            f"Unknown command '{rest[0]}'. Valid commands: {valid_commands()}. "
            "To ask the intern something, put it in the body of a %%intern cell."
        )
    limit = _MAX_ARGS.get(name, 0)
    if len(args) > limit:
        usage = f"%intern {name} {COMMANDS[name][0]}".rstrip()
        raise UsageError(f"Too many arguments for `{name}`: usage is `{usage}`.")
    if name == "effort" and args and args[0].lower() not in EFFORTS:
        raise UsageError(f"Unknown effort '{args[0]}'. Valid levels: {', '.join(EFFORTS)}.")
    if name == "yolo" and args and args[0].lower() not in ("on", "off"):
        raise UsageError(f"`%intern yolo` takes on or off, not '{args[0]}'.")
    if name == "mcp" and args and (args[0].lower() not in ("enable", "disable") or len(args) < 2):
        raise UsageError(
            "`%intern mcp` lists the MCP servers; `%intern mcp enable NAME` or "
            "`%intern mcp disable NAME` turns one on or off for the session."
        )
    if name in ("export", "resume") and not args:
        usage = f"%intern {name} {COMMANDS[name][0]}".rstrip()
        raise UsageError(
            f"`%intern {name}` needs {'a file path' if name == 'export' else 'a session id'}: "
            f"usage is `{usage}`; `%intern sessions` lists the saved sessions and their ids."
        )
    if fmt is not None:
        if name != "export":
            raise UsageError("--format only goes with `%intern export`.")
        if fmt not in EXPORT_FORMATS:
            raise UsageError(
                f"Unknown export format '{fmt}'. Valid formats: {', '.join(EXPORT_FORMATS)}."
            )
    return LineCommand(name, args, session, fmt)


def help_text() -> str:
    width = max(len(f"{n} {u}".strip()) for n, (u, _h) in COMMANDS.items())
    lines = [
        "%%intern [-s/--session NAME] [-m/--model ID] [-w/--wait] [--yolo] [--new]",
        "         [--catch-up | --restore | --fresh]",
        "    <your request in the cell body>",
        "",
        "  -s, --session NAME  use the named session of this notebook (default: default)",
        "  -m, --model ID      set the session's model, e.g. vllm/my-model or org/model:provider",
        "  -w, --wait          block until the turn ends and render as text (no buttons)",
        "  --yolo              approve this turn's tool calls without asking",
        "  --new               start a new session first",
        "  After a kernel restart, how to continue this notebook's saved session (without a",
        "  flag the live view asks; text mode catches up):",
        "  --catch-up          from a summary of it",
        "  --restore           with its full history (a summary if it does not fit)",
        "  --fresh             not at all: archive it and start a new session",
        "",
        "%intern [-s NAME] COMMAND:",
    ]
    for name, (usage, text) in COMMANDS.items():
        lines.append(f"  {f'{name} {usage}'.strip():<{width}}  {text}")
    return "\n".join(lines)

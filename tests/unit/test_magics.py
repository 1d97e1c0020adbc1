"""`%%intern` / `%intern` on a bare IPython shell: parsing, commands, text mode."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ml_intern_jupyter.notebook.commands.parse import (
    COMMANDS,
    CellOptions,
    LineCommand,
    parse_cell_line,
    parse_line,
)
from ml_intern_jupyter.notebook.conductor import sessions as sessions_module
from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall

FAKE_MODEL = "vllm/test-model"


@pytest.fixture
def fake(llm_env: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, fresh_sessions: None) -> Any:
    monkeypatch.setenv("ML_INTERN_MODEL", FAKE_MODEL)
    return llm_env


# ------------------------------------------------------------------- parsing


def test_cell_flags_parse_in_every_spelling() -> None:
    assert parse_cell_line("") == CellOptions()
    assert parse_cell_line("-s research -m vllm/x -w --yolo --new") == CellOptions(
        session="research", model="vllm/x", wait=True, yolo=True, new=True
    )
    assert parse_cell_line("--session=a --model=ollama/llama3.1 --wait") == CellOptions(
        session="a", model="ollama/llama3.1", wait=True
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("--fast", "Unknown option '--fast' for %%intern. Valid options: -s/--session NAME"),
        ("-m", "-m needs a model id, e.g. `%%intern -m vllm/my-model`."),
        ("-m ''", "-m needs a model id"),
        ("--model=", "--model needs a model id"),
        ("--session", "--session needs a session name"),
        ("fix the bug", "Unexpected 'fix' after %%intern: the request goes in the cell body."),
        ('-s "unclosed', "Cannot read the %%intern arguments"),
    ],
)
def test_bad_cell_flags_name_what_is_valid(line: str, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_cell_line(line)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_restart_choice_flags_parse() -> None:
    assert parse_cell_line("--catch-up").resume == "catch_up"
    assert parse_cell_line("-w --restore").resume == "restore"
    opts = parse_cell_line("--fresh -w -s a")
    assert (opts.resume, opts.wait, opts.session) == ("fresh", True, "a")
    assert parse_cell_line("--fresh --fresh").resume == "fresh"  # repeating one is harmless
    assert parse_cell_line("").resume is None  # the live view asks; text mode catches up


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("--catch-up --fresh", "Choose one of --catch-up, --restore or --fresh"),
        ("--restore --catch-up -w", "Choose one of --catch-up, --restore or --fresh"),
        ("--new --restore", "--new starts an empty session without looking for an earlier"),
        ("--catch-up --new", "cannot go with --catch-up (how to continue after a kernel restart)"),
        ("--fresh --new", "cannot go with --fresh"),
        ("--resume", "Unknown option '--resume' for %%intern. Valid options:"),
    ],
)
def test_bad_restart_flag_combinations_are_one_clear_line(line: str, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_cell_line(line)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_saved_session_commands_parse() -> None:
    assert parse_line("sessions") == LineCommand("sessions")
    assert parse_line("resume 3f2a") == LineCommand("resume", ["3f2a"])
    assert parse_line("export out.md") == LineCommand("export", ["out.md"])
    assert parse_line("export t.jsonl --format claude_code -s abc") == LineCommand(
        "export", ["t.jsonl"], "abc", "claude_code"
    )
    assert parse_line("export --format=json out") == LineCommand("export", ["out"], None, "json")
    assert parse_line("export t.jsonl --format hf_session") == LineCommand(
        "export", ["t.jsonl"], None, "hf_session"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("resume", "`%intern resume` needs a session id: usage is `%intern resume ID`"),
        ("export", "`%intern export` needs a file path"),
        (
            "export out.md --format html",
            "Unknown export format 'html'. Valid formats: claude_code, hf_session, markdown, json.",
        ),
        ("export out.md --format", "--format needs a format"),
        ("status --format json", "--format only goes with `%intern export`."),
        ("resume a b", "Too many arguments for `resume`: usage is `%intern resume ID`."),
    ],
)
def test_bad_saved_session_commands_are_one_clear_line(line: str, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_line(line)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_line_commands_parse() -> None:
    assert parse_line("") == LineCommand("help")
    assert parse_line("status") == LineCommand("status")
    assert parse_line("-s other model vllm/x") == LineCommand("model", ["vllm/x"], "other")
    assert parse_line("yolo on --session s2") == LineCommand("yolo", ["on"], "s2")
    assert parse_line("EFFORT low") == LineCommand("effort", ["low"])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("frobnicate", "Unknown command 'frobnicate'. Valid commands: help, status, sessions"),
        ("fix my code", "put it in the body of a %%intern cell"),
        (
            "effort extreme",
            "Unknown effort 'extreme'. Valid levels: none, minimal, low, medium, high.",
        ),
        ("yolo maybe", "`%intern yolo` takes on or off"),
        ("status now", "Too many arguments for `status`: usage is `%intern status`."),
        ("model a b", "usage is `%intern model [ID]`"),
        ("--bogus", "Unknown option '--bogus' for %intern"),
    ],
)
def test_bad_line_commands_are_one_clear_line(line: str, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_line(line)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------ the extension


def test_load_ext_registers_both_magics_and_twice_is_harmless(ip: InteractiveShell) -> None:
    ip.extension_manager.reload_extension("ml_intern_jupyter")
    assert ip.find_cell_magic("intern") is not None
    assert ip.find_line_magic("intern") is not None


def test_unload_removes_the_magics() -> None:
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("ml_intern_jupyter")
    shell.extension_manager.unload_extension("ml_intern_jupyter")
    assert shell.find_line_magic("intern") is None
    assert shell.find_cell_magic("intern") is None


def test_help_lists_every_command_and_flag(ip: InteractiveShell, capsys: Any) -> None:
    ip.run_line_magic("intern", "help")
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    for flag in ("--session", "--model", "--wait", "--yolo", "--new"):
        assert flag in out
    for flag in ("--catch-up", "--restore", "--fresh", "--format"):
        assert flag in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "not available yet" not in lines["export"] + lines["resume"]


def test_share_traces_answers_without_reaching_the_hub(ip: InteractiveShell, capsys: Any) -> None:
    # Sharing is off in the test environment (tests/conftest.py), so nothing is asked of a Hub.
    ip.run_line_magic("intern", "share-traces")
    assert capsys.readouterr().out.startswith("Traces: off")
    ip.run_line_magic("intern", "share-traces sideways")
    assert "takes nothing" in capsys.readouterr().out


def test_empty_cell_is_an_error_with_a_hint(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="cell is empty.*%intern help"):
        ip.run_cell_magic("intern", "", "  \n\t\n")


def test_run_cell_shows_usage_errors_without_traceback(ip: InteractiveShell, capsys: Any) -> None:
    result = ip.run_cell("%intern frobnicate")
    captured = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError)
    assert "Traceback" not in captured.out + captured.err


def test_status_and_cost_before_any_session(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer
) -> None:
    ip.run_line_magic("intern", "status")
    ip.run_line_magic("intern", "cost")
    out = capsys.readouterr().out
    assert f"No session 'default' yet; a %%intern cell starts one (model: {FAKE_MODEL})." in out
    assert "No session yet: nothing spent." in out
    with pytest.raises(UsageError, match="no session 'default' in this kernel yet"):
        ip.run_line_magic("intern", "history")


def test_login_uses_the_terminal_prompt_outside_a_kernel(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    calls: list[str] = []
    monkeypatch.setattr(huggingface_hub, "interpreter_login", lambda: calls.append("terminal"))
    monkeypatch.setattr(huggingface_hub, "notebook_login", lambda: calls.append("notebook"))
    ip.run_line_magic("intern", "login")
    assert calls == ["terminal"]


# -------------------------------------------------------------- text mode


def test_cell_in_a_terminal_shell_blocks_and_prints_the_answer(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer
) -> None:
    fake.script(Reply(content="Hello from the intern.", chunk_size=4))
    ip.run_cell_magic("intern", "", "Say hello.")
    out = capsys.readouterr().out
    assert "Hello from the intern.\n" in out
    assert "done ·" in out
    assert fake.requests[-1].body["messages"][-1]["content"] == "Say hello."


def test_text_mode_rejects_approvals_with_a_visible_reason(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer
) -> None:
    fake.script(
        Reply(tool_calls=[ToolCall("bash", {"command": "touch x"})]),
        Reply(content="Skipped."),
    )
    ip.run_cell_magic("intern", "--wait", "Make a file.")
    out = capsys.readouterr().out
    assert "**bash** `touch x`" in out and "nothing can be clicked" in out
    tool = [m for m in fake.requests[-1].body["messages"] if m["role"] == "tool"][-1]
    assert "text mode" in tool["content"]


def test_session_commands(ip: InteractiveShell, capsys: Any, fake: FakeLLMServer) -> None:
    fake.script(Reply(content="First answer."))
    ip.run_cell_magic("intern", "-s work", "First question.")
    capsys.readouterr()
    # `-s` made "work" the current session for later commands.
    ip.run_line_magic("intern", "model vllm/other-model")
    ip.run_line_magic("intern", "effort low")
    ip.run_line_magic("intern", "yolo on")
    ip.run_line_magic("intern", "status")
    out = capsys.readouterr().out
    assert "Model for session 'work' is now vllm/other-model." in out
    assert "Reasoning effort for session 'work' is now low." in out
    assert "Yolo for session 'work' is now on." in out
    assert "session work (" in out and "effort low" in out and "yolo on" in out
    assert "1 turn(s)" in out

    with pytest.raises(UsageError, match="Invalid config value for 'reasoning_effort'"):
        from ml_intern_jupyter.notebook.commands import run as commands

        commands._setting(
            sessions_module.notebook_sessions(), "work", "reasoning_effort", "max", "x"
        )

    ip.run_line_magic("intern", "sessions")
    ip.run_line_magic("intern", "cost")
    ip.run_line_magic("intern", "stop")
    out = capsys.readouterr().out
    assert "* session work" in out
    assert "Session 'work': 15 tokens" in out
    assert "Nothing is running." in out


def test_history_hides_system_notes(ip: InteractiveShell, capsys: Any, fake: FakeLLMServer) -> None:
    fake.script(Reply(content="Visible answer."))
    ip.run_cell_magic("intern", "", "Visible question.")
    conductor = sessions_module.notebook_sessions().get("default")
    assert conductor is not None

    async def add_note() -> None:
        conductor.session.history.add_user("[SYSTEM: hidden note for the model]")

    sessions_module.notebook_sessions().runtime.call(add_note())
    capsys.readouterr()
    ip.run_line_magic("intern", "history")
    out = capsys.readouterr().out
    assert "> Visible question." in out and "Visible answer." in out
    assert "SYSTEM" not in out and "hidden note" not in out


def test_undo_compact_and_new(ip: InteractiveShell, capsys: Any, fake: FakeLLMServer) -> None:
    fake.script(Reply(content="An answer."))
    ip.run_cell_magic("intern", "", "A question.")
    first = sessions_module.notebook_sessions().get("default")
    assert first is not None
    capsys.readouterr()
    ip.run_line_magic("intern", "compact")
    ip.run_line_magic("intern", "undo")
    ip.run_line_magic("intern", "undo")
    ip.run_line_magic("intern", "new")
    out = capsys.readouterr().out
    assert "Nothing to compact yet" in out
    assert "Removed the last exchange (2 messages)." in out
    assert "Nothing to undo." in out
    assert "Started a new session 'default'" in out
    second = sessions_module.notebook_sessions().get("default")
    assert second is not None and second.session.id != first.session.id
    deadline = time.monotonic() + 10
    while not first.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.closed and first.session.state == "ended"


def test_cost_shows_the_notebooks_total_and_today_across_sessions(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime
    import json

    from ml_intern_jupyter.config import load_config
    from ml_intern_jupyter.store.base import SessionRecord

    prices = {FAKE_MODEL: {"input_per_mtok": 1000, "output_per_mtok": 1000}}
    monkeypatch.setenv("ML_INTERN_MODEL_PRICES", json.dumps(prices))
    fake.script(Reply(content="Priced."))  # 15 tokens at $1000/M: $0.015
    ip.run_cell_magic("intern", "", "Spend a little.")
    sessions = sessions_module.notebook_sessions()
    store = sessions.saving.get(load_config())
    assert store is not None
    today = datetime.date.today()
    yesterday = time.time() - 86400 * 2
    notebook = sessions.notebook()
    spread = {"by_day": {"2000-01-01": 1.5, today.isoformat(): 0.5}}
    store.create_session(SessionRecord(id="old-spread", notebook=notebook, created=yesterday))
    store.update_session("old-spread", cost_usd=2.0, metadata={"spend": spread})
    store.create_session(SessionRecord(id="old-today", notebook=notebook))
    store.update_session("old-today", cost_usd=0.25)  # saved before spend by day existed
    store.create_session(SessionRecord(id="old-before", notebook=notebook, created=yesterday))
    store.update_session("old-before", cost_usd=4.0)
    store.create_session(SessionRecord(id="elsewhere", notebook="other.ipynb"))
    store.update_session("elsewhere", cost_usd=100.0)
    capsys.readouterr()

    ip.run_line_magic("intern", "cost")
    out = capsys.readouterr().out
    assert "· $0.0150 (inference $0.0150, jobs $0.0000)" in out
    assert "Next spend pause at $5.00 of session spend." in out
    # 2.0 + 0.25 + 4.0 + 0.015 in total; 0.5 + 0.25 + 0.015 today; not the other notebook.
    assert "This notebook: $6.2650 across 4 session(s), $0.7650 today" in out


@pytest.fixture
def router(fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    from ml_intern_jupyter.agent import catalog
    from tests.fakes.llm_server import router_provider

    monkeypatch.setenv("ML_INTERN_ROUTER_BASE_URL", fake.url)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    fake.catalog = {
        "moonshotai/Kimi-K2.6": {
            "providers": [router_provider("novita", input=0.6, output=2.5, context=262144)]
        },
        "org/no-tools": {"providers": [router_provider("solo", tools=False)]},
    }
    catalog._catalogs.clear()
    yield fake
    catalog._catalogs.clear()


def test_model_lists_the_live_catalog_as_text(
    ip: InteractiveShell, capsys: Any, router: FakeLLMServer
) -> None:
    ip.run_line_magic("intern", "model")
    out = capsys.readouterr().out
    assert f"Model: {FAKE_MODEL} (default; no session yet)" in out
    assert "Suggested models (router catalog" in out
    row = next(line for line in out.splitlines() if "moonshotai/Kimi-K2.6" in line)
    assert "novita" in row and "$0.6 / $2.5" in row and "262k" in row and "yes" in row
    assert "org/no-tools" not in out  # no tool support: not suggested


def test_model_id_is_checked_against_the_catalog(
    ip: InteractiveShell, capsys: Any, router: FakeLLMServer
) -> None:
    ip.run_line_magic("intern", "model moonshotai/Kimi-K2.5")
    out = capsys.readouterr().out
    assert "'moonshotai/Kimi-K2.5' is not in the router's live catalog." in out
    assert "Did you mean: moonshotai/Kimi-K2.6?" in out and "was not changed" in out
    assert sessions_module.notebook_sessions().get("default") is None

    ip.run_line_magic("intern", "model org/no-tools")
    out = capsys.readouterr().out
    assert "Model for session 'default' is now org/no-tools." in out
    assert "Warning: No live provider of org/no-tools supports tool calls" in out
    assert "solo: $1 in / $2 out per M tokens · 131,072 context · no tools" in out

    ip.run_line_magic("intern", "model moonshotai/Kimi-K2.6:groq")
    out = capsys.readouterr().out
    assert "is now moonshotai/Kimi-K2.6:groq" in out
    assert "Warning: Provider 'groq' does not serve moonshotai/Kimi-K2.6" in out
    conductor = sessions_module.notebook_sessions().get("default")
    assert conductor is not None
    assert conductor.session.config.model_name == "moonshotai/Kimi-K2.6:groq"
    assert router.catalog_requests == 1  # one copy for every check


def test_model_without_a_catalog_still_works(
    ip: InteractiveShell, capsys: Any, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    monkeypatch.setenv("ML_INTERN_ROUTER_BASE_URL", closed)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    ip.run_line_magic("intern", "model")
    out = capsys.readouterr().out
    assert "Could not read the router's model catalog (" in out
    assert "Set a model with `%intern model ID`." in out
    ip.run_line_magic("intern", "model org/anything")
    out = capsys.readouterr().out
    assert "Model for session 'default' is now org/anything." in out
    assert "The model is set without checking it." in out
    assert "Traceback" not in out

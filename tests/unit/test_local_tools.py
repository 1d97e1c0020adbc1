"""The local tools: bash, read, write, edit."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.tools import local
from ml_intern_jupyter.tools.base import Approval, ToolContext, ToolResult, ToolSpec
from ml_intern_jupyter.tools.local import local_tools


@pytest.fixture
def tools() -> dict[str, ToolSpec]:
    return {spec.name: spec for spec in local_tools(default_timeout=10)}


@pytest.fixture
def logs() -> list[str]:
    return []


@pytest.fixture
def ctx(tmp_path: Path, logs: list[str]) -> ToolContext:
    return ToolContext(session_id="s", tool_call_id="c", workdir=tmp_path, log=logs.append)


@pytest.fixture
def call(tools: dict[str, ToolSpec], ctx: ToolContext):
    async def run(name: str, **args: Any) -> ToolResult:
        result = await tools[name].handler(args, ctx)
        assert isinstance(result, ToolResult)
        return result

    return run


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# ------------------------------------------------------------------- specs


def test_tool_names_and_approval_rules(tools: dict[str, ToolSpec]) -> None:
    assert list(tools) == ["bash", "read", "write", "edit"]
    assert tools["bash"].approval({"command": "ls"}) is Approval.ASK
    assert tools["write"].approval({"path": "a", "content": ""}) is Approval.ASK
    assert tools["edit"].approval({"path": "a", "old_str": "x", "new_str": "y"}) is Approval.ASK
    assert tools["read"].approval({"path": "a"}) is Approval.NO
    assert tools["bash"].always_allowable
    assert tools["write"].always_allowable
    assert tools["edit"].always_allowable
    assert not tools["read"].always_allowable
    # bash enforces its own timeout (and kills the process group).
    assert tools["bash"].timeout is None


def test_schemas_are_openai_tools(tools: dict[str, ToolSpec]) -> None:
    for spec in tools.values():
        schema = spec.schema()
        assert schema["type"] == "function"
        assert schema["function"]["name"] == spec.name
        params = schema["function"]["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) <= set(params["properties"])
    assert tools["bash"].parameters["required"] == ["command"]
    assert tools["edit"].parameters["required"] == ["path", "old_str", "new_str"]
    assert "default 10" in tools["bash"].description


# -------------------------------------------------------------------- bash


async def test_bash_output_and_success(call, tmp_path: Path) -> None:
    result = await call("bash", command="echo hello; echo oops >&2; pwd")
    assert result.success
    lines = result.output.splitlines()
    assert lines[0] == "hello"
    assert "oops" in lines  # stderr is merged
    assert lines[-1] == str(tmp_path)  # runs in the workdir


async def test_bash_nonzero_exit_code(call) -> None:
    result = await call("bash", command="echo before; exit 3")
    assert not result.success
    assert result.output == "before\nExit code: 3"


async def test_bash_no_output(call) -> None:
    result = await call("bash", command="true")
    assert result.success
    assert result.output == "(no output)"


async def test_bash_has_no_stdin(call) -> None:
    result = await call("bash", command="cat; echo done", timeout=5)
    assert result.success
    assert result.output == "done"


async def test_bash_lines_are_logged(call, logs: list[str]) -> None:
    await call("bash", command="printf 'a\\nb\\nc'")
    assert logs == ["a", "b", "c"]


async def test_bash_log_is_bounded(call, logs: list[str]) -> None:
    result = await call("bash", command="seq 1 1000")
    assert result.output.splitlines()[-1] == "1000"
    assert len(logs) == local._MAX_LOG_LINES + 1
    assert logs[-1].startswith("[further output is not streamed")


async def test_bash_carriage_returns_are_collapsed(call) -> None:
    result = await call("bash", command="printf '10%%\\r50%%\\r100%%\\ndone\\n'")
    assert result.output == "100%\ndone"


async def test_bash_timeout_kills_the_process_group(call, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    result = await call(
        "bash",
        command=f"sleep 30 & echo $! > {pid_file}; echo started; wait",
        timeout=0.5,
    )
    elapsed = time.monotonic() - started
    assert not result.success
    assert result.output.startswith("started")
    assert "Command timed out after 0.5 s." in result.output
    assert elapsed < 5
    child = int(pid_file.read_text())
    for _ in range(50):
        if not _pid_alive(child):
            break
        await asyncio.sleep(0.02)
    assert not _pid_alive(child), "the background child survived the timeout"


async def test_bash_background_child_holding_output_is_stopped(call, tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    started = time.monotonic()
    result = await call("bash", command=f"(sleep 30 & echo $! > {pid_file}); echo ok", timeout=10)
    assert time.monotonic() - started < 5
    assert result.success
    assert result.output.startswith("ok")
    assert "Background processes that kept the output open were stopped" in result.output
    child = int(pid_file.read_text())
    for _ in range(50):
        if not _pid_alive(child):
            break
        await asyncio.sleep(0.02)
    assert not _pid_alive(child)


async def test_bash_returns_even_if_an_escaped_child_holds_the_output(call, tmp_path: Path) -> None:
    # `setsid` leaves the process group, so killing the group cannot stop it.
    pid_file = tmp_path / "escaped.pid"
    started = time.monotonic()
    result = await call("bash", command=f"setsid sleep 30 & echo $! > {pid_file}; echo ok")
    try:
        assert time.monotonic() - started < 5
        assert result.success
        assert result.output.startswith("ok")
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


async def test_bash_cancel_kills_the_process_group(
    tools: dict[str, ToolSpec], ctx: ToolContext, tmp_path: Path
) -> None:
    pid_file = tmp_path / "p.pid"
    task = asyncio.create_task(
        tools["bash"].handler({"command": f"echo $$ > {pid_file}; sleep 30"}, ctx)
    )
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.01)
    shell = int(pid_file.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _pid_alive(shell)


async def test_bash_large_output_is_shortened_in_the_middle(call) -> None:
    # 60,000 numbered lines: far more than head + tail keep.
    result = await call("bash", command="seq 1 60000")
    out = result.output
    assert result.success
    assert out.startswith("1\n2\n3\n")
    assert out.endswith("\n60000")
    assert "bytes of output omitted" in out
    assert len(out) <= 2 * local._KEEP_BYTES + 100
    omitted = int(out.split("... [", 1)[1].split(" bytes", 1)[0])
    total = len("\n".join(str(i) for i in range(1, 60001))) + 1
    assert omitted == total - 2 * local._KEEP_BYTES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "`command` must be a string"),
        ({"command": "  "}, "`command` is empty"),
        ({"command": "ls", "timeout": 0}, "`timeout` must be a positive number"),
        ({"command": "ls", "timeout": "5"}, "`timeout` must be a positive number"),
        ({"command": "ls", "timeout": True}, "`timeout` must be a positive number"),
    ],
)
async def test_bash_bad_arguments(call, args: dict[str, Any], message: str) -> None:
    result = await call("bash", **args)
    assert not result.success
    assert message in result.output


async def test_bash_missing_workdir(tools: dict[str, ToolSpec], tmp_path: Path) -> None:
    ctx = ToolContext(session_id="s", tool_call_id="c", workdir=tmp_path / "gone")
    result = await tools["bash"].handler({"command": "ls"}, ctx)
    assert isinstance(result, ToolResult)
    assert not result.success
    assert "does not exist" in result.output


# -------------------------------------------------------------------- read


async def test_read_numbers_lines(call, ctx: ToolContext, tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("alpha\nbeta\r\ngamma")
    result = await call("read", path="a.txt")
    assert result.success
    assert result.output == "     1\talpha\n     2\tbeta\n     3\tgamma"
    assert ctx.read_files[str(f.resolve())] == f.stat().st_mtime


async def test_read_offset_and_limit(call, tmp_path: Path) -> None:
    (tmp_path / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    result = await call("read", path=str(tmp_path / "n.txt"), offset=4, limit=3)
    assert result.output.splitlines() == [
        "     4\tline 4",
        "     5\tline 5",
        "     6\tline 6",
        "[More lines follow; call read with offset=7 to continue.]",
    ]
    tail = await call("read", path="n.txt", offset=9)
    assert tail.output == "     9\tline 9\n    10\tline 10"


async def test_read_offset_past_the_end(call, tmp_path: Path) -> None:
    (tmp_path / "n.txt").write_text("one\ntwo\n")
    result = await call("read", path="n.txt", offset=5)
    assert not result.success
    assert "has only 2 lines; offset 5 is past the end" in result.output


async def test_read_truncates_very_long_lines(call, tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("x" * 5000 + "\nshort\n")
    result = await call("read", path="long.txt")
    first, second = result.output.splitlines()
    assert first.endswith("... [line truncated, 5000 chars]")
    assert len(first) < 2100
    assert second == "     2\tshort"


async def test_read_empty_file(call, tmp_path: Path) -> None:
    (tmp_path / "e.txt").write_text("")
    result = await call("read", path="e.txt")
    assert result.success
    assert result.output.endswith("is empty.")


async def test_read_directory_lists_entries(call, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    result = await call("read", path=".")
    assert result.success
    assert result.output.splitlines()[1:] == ["a.txt", "b.txt", "sub/"]
    assert "is a directory" in result.output


async def test_read_empty_directory(call, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = await call("read", path="empty")
    assert "(empty directory)" in result.output


async def test_read_binary_file_is_refused(call, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\x00\x01\x02weights")
    result = await call("read", path="model.bin")
    assert not result.success
    assert "binary file (10 bytes)" in result.output
    assert ctx.read_files == {}


async def test_read_missing_file(call, tmp_path: Path) -> None:
    result = await call("read", path="nope.txt")
    assert not result.success
    assert "File not found" in result.output
    assert str(tmp_path) in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"path": ""}, "`path` is empty"),
        ({"path": 3}, "`path` must be a string"),
        ({"path": "a", "offset": 0}, "`offset` must be >= 1"),
        ({"path": "a", "limit": 1.5}, "`limit` must be an integer"),
        ({"path": "a", "limit": "10"}, "`limit` must be an integer"),
    ],
)
async def test_read_bad_arguments(call, args: dict[str, Any], message: str) -> None:
    result = await call("read", **args)
    assert not result.success
    assert message in result.output


# ------------------------------------------------------------------- write


async def test_write_creates_file_and_parents(call, ctx: ToolContext, tmp_path: Path) -> None:
    result = await call("write", path="out/deep/new.txt", content="a\nb\nc")
    target = tmp_path / "out" / "deep" / "new.txt"
    assert result.success
    assert target.read_text() == "a\nb\nc"
    assert result.output == f"Wrote 5 bytes (3 lines) to {target}"
    # A file the session wrote may be written again without reading it.
    assert str(target) in ctx.read_files
    again = await call("write", path="out/deep/new.txt", content="z\n")
    assert again.success
    assert target.read_text() == "z\n"
    assert "(1 lines)" in again.output


async def test_write_refuses_to_overwrite_unread_file(call, tmp_path: Path) -> None:
    f = tmp_path / "keep.txt"
    f.write_text("precious")
    result = await call("write", path="keep.txt", content="clobbered")
    assert not result.success
    assert "has not been read" in result.output
    assert f.read_text() == "precious"


async def test_write_after_read_works(call, tmp_path: Path) -> None:
    f = tmp_path / "keep.txt"
    f.write_text("old")
    await call("read", path="keep.txt")
    result = await call("write", path="keep.txt", content="new")
    assert result.success
    assert f.read_text() == "new"


async def test_write_refuses_file_changed_since_read(call, tmp_path: Path) -> None:
    f = tmp_path / "keep.txt"
    f.write_text("old")
    await call("read", path="keep.txt")
    f.write_text("changed by someone else")
    os.utime(f, (time.time() + 5, time.time() + 5))
    result = await call("write", path="keep.txt", content="new")
    assert not result.success
    assert "changed on disk" in result.output
    assert f.read_text() == "changed by someone else"


async def test_write_to_a_directory_is_refused(call, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    result = await call("write", path="d", content="x")
    assert not result.success
    assert "is a directory" in result.output


async def test_write_keeps_content_exact(call, tmp_path: Path) -> None:
    content = "unicode: é ✓\r\nno trailing newline"
    await call("write", path="u.txt", content=content)
    assert (tmp_path / "u.txt").read_bytes() == content.encode("utf-8")


# -------------------------------------------------------------------- edit


async def test_edit_requires_a_prior_read(call, tmp_path: Path) -> None:
    f = tmp_path / "code.py"
    f.write_text("x = 1\n")
    result = await call("edit", path="code.py", old_str="x = 1", new_str="x = 2")
    assert not result.success
    assert "has not been read" in result.output
    assert f.read_text() == "x = 1\n"


async def test_edit_replaces_a_unique_match(call, tmp_path: Path) -> None:
    f = tmp_path / "code.py"
    f.write_text("".join(f"line{i}\n" for i in range(1, 11)))
    await call("read", path="code.py")
    result = await call("edit", path="code.py", old_str="line5\n", new_str="five\nFIVE\n")
    assert result.success
    assert f.read_text().splitlines()[3:7] == ["line4", "five", "FIVE", "line6"]
    assert result.output.startswith(f"Edited {f}: 1 replacement.")
    assert "     5\tfive" in result.output  # snippet with line numbers
    # The session may edit again: its own edit does not count as "changed on disk".
    second = await call("edit", path="code.py", old_str="FIVE", new_str="5")
    assert second.success


async def test_edit_detects_change_on_disk(call, tmp_path: Path) -> None:
    f = tmp_path / "code.py"
    f.write_text("a = 1\n")
    await call("read", path="code.py")
    f.write_text("a = 1\nb = 2\n")
    os.utime(f, (time.time() + 5, time.time() + 5))
    result = await call("edit", path="code.py", old_str="a = 1", new_str="a = 3")
    assert not result.success
    assert "changed on disk" in result.output
    assert f.read_text() == "a = 1\nb = 2\n"


async def test_edit_ambiguous_match_needs_replace_all(call, tmp_path: Path) -> None:
    f = tmp_path / "c.txt"
    f.write_text("foo\nbar\nfoo\nfoo\n")
    await call("read", path="c.txt")
    result = await call("edit", path="c.txt", old_str="foo", new_str="baz")
    assert not result.success
    assert "occurs 3 times" in result.output
    assert "replace_all" in result.output
    assert f.read_text() == "foo\nbar\nfoo\nfoo\n"

    result = await call("edit", path="c.txt", old_str="foo", new_str="baz", replace_all=True)
    assert result.success
    assert "3 replacements" in result.output
    assert f.read_text() == "baz\nbar\nbaz\nbaz\n"


async def test_edit_not_found_message(call, tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("def f():\n    return 1\n")
    await call("read", path="c.txt")
    result = await call("edit", path="c.txt", old_str="return 2", new_str="return 3")
    assert not result.success
    assert "`old_str` was not found" in result.output
    assert "must match exactly" in result.output


async def test_edit_crlf_file_with_lf_arguments(call, tmp_path: Path) -> None:
    f = tmp_path / "win.txt"
    f.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    await call("read", path="win.txt")
    result = await call("edit", path="win.txt", old_str="one\ntwo", new_str="1\n2")
    assert result.success
    assert f.read_bytes() == b"1\r\n2\r\nthree\r\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"old_str": "", "new_str": "x"}, "`old_str` is empty"),
        ({"old_str": "a", "new_str": "a"}, "identical"),
        ({"old_str": "a", "new_str": "b", "replace_all": "yes"}, "must be a boolean"),
        ({"old_str": "a"}, "`new_str` must be a string"),
    ],
)
async def test_edit_bad_arguments(call, tmp_path: Path, args: dict[str, Any], message: str) -> None:
    (tmp_path / "f.txt").write_text("a\n")
    await call("read", path="f.txt")
    result = await call("edit", path="f.txt", **args)
    assert not result.success
    assert message in result.output
    assert (tmp_path / "f.txt").read_text() == "a\n"


async def test_edit_missing_file_or_directory(call, tmp_path: Path) -> None:
    missing = await call("edit", path="nope.txt", old_str="a", new_str="b")
    assert not missing.success
    assert "not found" in missing.output and "use `write` to create" in missing.output
    (tmp_path / "d").mkdir()
    directory = await call("edit", path="d", old_str="a", new_str="b")
    assert "is a directory" in directory.output


async def test_edit_non_utf8_file_is_refused(call, tmp_path: Path) -> None:
    f = tmp_path / "latin1.txt"
    f.write_bytes("caf\xe9\n".encode("latin-1"))
    await call("read", path="latin1.txt")
    result = await call("edit", path="latin1.txt", old_str="caf", new_str="tea")
    assert not result.success
    assert "not UTF-8" in result.output
    assert f.read_bytes() == "caf\xe9\n".encode("latin-1")

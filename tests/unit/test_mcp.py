"""MCP servers in a session, against real servers the tests start.

`tests/fakes/mcp_server.py` is a real MCP server (the `mcp` package's server
API): over stdio as a child process, or over streamable HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.agent import messages as ev
from ml_intern_jupyter.agent.approvals import ApprovalPolicy
from ml_intern_jupyter.config import Config, McpServer, load_config
from ml_intern_jupyter.errors import ConfigError
from ml_intern_jupyter.tools.base import ToolResult, ToolSpec
from ml_intern_jupyter.tools.mcp_content import tool_result
from ml_intern_jupyter.tools.mcp_servers import (
    HF_SERVER,
    approval_rule,
    configured_servers,
    is_hf_host,
    resolve,
)
from tests.agent_harness import make_session as _make_session
from tests.agent_harness import run_input
from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall
from tests.fakes.mcp_server import PNG, McpHttpServer, stdio_entry

# Spawning the fake (a Python process importing `mcp`) takes seconds on a busy machine.
CONNECT = 90


def make_session(*args: Any, **kw: Any) -> Any:
    """A session whose first turn waits for its servers (`mcp_wait_s`), so a
    scripted first reply can call their tools."""
    kw.setdefault("mcp_wait_s", CONNECT)
    return _make_session(*args, **kw)


@pytest.fixture
def http_mcp() -> Iterator[McpHttpServer]:
    server = McpHttpServer(prefix="web_").start()
    try:
        yield server
    finally:
        server.stop()


def servers(**entries: Any) -> dict[str, Any]:
    return {
        name: {"connect_timeout_s": CONNECT, **entry} if "connect_timeout_s" not in entry else entry
        for name, entry in entries.items()
    }


async def approve_all(session: Any, rec: Any) -> None:
    pending = rec.of("approval_required")[-1]
    session.submit(
        ev.ExecApproval(
            approvals=[
                ev.ApprovalDecision(tool_call_id=p.tool_call_id, approved=True)
                for p in pending.tools
            ]
        )
    )
    await session.wait_idle()
    await session.flush_events()


# ------------------------------------------------------------ connections


async def test_stdio_and_http_tools_are_listed_called_and_ask_first(
    fake_llm: FakeLLMServer, tmp_path: Path, http_mcp: McpHttpServer
) -> None:
    fake_llm.script(
        Reply(
            tool_calls=[
                ToolCall("echo", {"text": "hi"}),
                ToolCall("picture", {}),
                ToolCall("web_add", {"a": 2, "b": 3}),
            ]
        ),
        Reply(content="done"),
    )
    session, rec = make_session(
        fake_llm,
        tmp_path,
        mcp_servers=servers(local=stdio_entry(), remote={"url": http_mcp.url}),
    )
    await run_input(session, "use the MCP tools")
    states = {s["name"]: s for s in session.mcp.describe()}
    assert states["local"]["state"] == "connected"
    assert states["remote"]["state"] == "connected"
    assert {"echo", "add", "picture", "note", "pid", "hf_whoami"} <= set(states["local"]["tools"])
    assert {"web_echo", "web_add", "web_picture"} <= set(states["remote"]["tools"])
    # the model was offered them
    offered = {t["function"]["name"] for t in fake_llm.requests[0].body["tools"]}
    assert {"echo", "picture", "web_add"} <= offered
    # every MCP call asked first (the default rule)
    pending = rec.of("approval_required")[0]
    assert [p.tool for p in pending.tools] == ["echo", "picture", "web_add"]
    assert all(p.always_allowable for p in pending.tools)
    assert not rec.of("tool_output")
    await approve_all(session, rec)
    outs = {o.tool: o for o in rec.of("tool_output")}
    assert outs["echo"].output == "fake-stdio says: hi" and outs["echo"].success
    assert outs["web_add"].output == "5"
    image = outs["picture"]
    png_b64 = base64.b64encode(PNG).decode()
    assert "image/png image" in image.output and "shown to the user" in image.output
    assert image.display == {"images": [{"mime": "image/png", "data": png_b64}]}
    assert rec.of("turn_complete")[0].final_response == "done"
    assert not [e for e in rec.of("tool_log") if e.tool == "mcp"]  # nothing failed
    session.submit(ev.Shutdown())
    await session.wait_idle()


async def test_a_server_that_fails_is_one_line_and_the_session_goes_on(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(content="fine without it"), Reply(content="still fine"))
    session, rec = make_session(
        fake_llm,
        tmp_path,
        mcp_servers={
            "missing": {"command": "/nonexistent/mcp-server-binary"},
            "refused": {"url": "http://127.0.0.1:9/mcp"},
        },
    )
    await run_input(session, "hello")
    lines = [e.log for e in rec.of("tool_log") if e.tool == "mcp"]
    assert len(lines) == 2
    assert lines[0].startswith("MCP server 'missing' is not available: cannot start")
    assert "/nonexistent/mcp-server-binary" in lines[0]
    assert lines[1].startswith("MCP server 'refused' is not available: cannot connect")
    assert all("\n" not in line for line in lines)
    assert rec.of("turn_complete")[0].final_response == "fine without it"
    assert not rec.of("error")
    # reported once, not at every turn
    await run_input(session, "again")
    assert len([e for e in rec.of("tool_log") if e.tool == "mcp"]) == 2
    assert rec.of("turn_complete")[1].final_response == "still fine"


async def test_a_server_that_hangs_fails_after_its_connect_timeout(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(content="ok"))
    # `sleep` never answers
    session, rec = make_session(
        fake_llm,
        tmp_path,
        mcp_servers={"mute": {"command": "sleep", "args": ["60"], "connect_timeout_s": 0.5}},
    )
    await run_input(session, "hello")
    lines = [e.log for e in rec.of("tool_log") if e.tool == "mcp"]
    assert lines == [
        "MCP server 'mute' is not available: it did not connect within 0.5 s. "
        "The session goes on without its tools (`%intern mcp` shows the servers)."
    ]
    assert rec.of("turn_complete")[0].final_response == "ok"


async def test_env_substitution_reaches_the_server_and_a_missing_variable_is_named(
    fake_llm: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLIJ_TEST_SECRET", "s3cret")
    monkeypatch.delenv("MLIJ_TEST_UNSET", raising=False)
    fake_llm.script(
        Reply(tool_calls=[ToolCall("env_value", {"var": "FROM_CONFIG"})]),
        Reply(content="done"),
    )
    session, rec = make_session(
        fake_llm,
        tmp_path,
        mcp_servers=servers(
            local=stdio_entry(env={"FROM_CONFIG": "${MLIJ_TEST_SECRET}-${MLIJ_TEST_UNSET:-dflt}"}),
            broken={"url": "http://127.0.0.1:9/${MLIJ_TEST_UNSET}"},
        ),
    )
    # the config object keeps the reference, not the secret
    assert session.config.mcp_servers["local"].env["FROM_CONFIG"].startswith("${")
    await run_input(session, "go")
    lines = [e.log for e in rec.of("tool_log") if e.tool == "mcp"]
    assert len(lines) == 1 and "'broken'" in lines[0]
    assert "${MLIJ_TEST_UNSET} in its config is not set" in lines[0]
    await approve_all(session, rec)
    assert rec.of("tool_output")[0].output == "s3cret-dflt"


async def test_the_hf_token_is_not_sent_to_other_hosts(
    fake_llm: FakeLLMServer,
    tmp_path: Path,
    http_mcp: McpHttpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    fake_llm.script(Reply(content="ok"))
    # the built-in Hugging Face entry, pointed at loopback, and a user server
    session, rec = make_session(
        fake_llm,
        tmp_path,
        share_hf_mcp=True,
        hf_mcp_url=http_mcp.url,
        mcp_servers={"mine": {"url": http_mcp.url + "?x=1", "headers": {"X-Team": "blue"}}},
    )
    await run_input(session, "hi")
    assert {s["name"]: s["state"] for s in session.mcp.describe()} == {
        HF_SERVER: "connected",
        "mine": "connected",
    }
    assert http_mcp.requests
    assert not any("authorization" in h for h in http_mcp.requests)
    assert not any("hf_secret_token_value" in json.dumps(h) for h in http_mcp.requests)
    assert any(h.get("x-team") == "blue" for h in http_mcp.requests)
    # the HF server's tools that duplicate built-ins are skipped, not another server's
    hf, mine = session.mcp.describe()
    assert "hf_whoami" in hf["skipped"] and "hf_whoami" not in hf["tools"]
    assert "hf_whoami" in mine["tools"]  # another server's tool of that name is kept
    assert mine["skipped"]["web_echo"] == f"server '{HF_SERVER}' has a tool of that name"


def test_the_hf_token_goes_only_to_hugging_face_hosts_over_https() -> None:
    spec = McpServer(transport="http", url="https://huggingface.co/mcp?login")
    token = lambda: "hf_tok"  # noqa: E731
    assert resolve("hf", spec, env={}, token=token).headers == {"Authorization": "Bearer hf_tok"}
    for url in (
        "https://hf.co/mcp",
        "https://api.huggingface.co/mcp",
        "https://HUGGINGFACE.CO./mcp",
    ):
        assert is_hf_host(url), url
    for url in (
        "http://huggingface.co/mcp",  # not over https
        "https://huggingface.co.evil.example/mcp",
        "https://evilhuggingface.co/mcp",
        "https://example.com/huggingface.co",
        "https://huggingface.co@evil.example/mcp",
        "http://127.0.0.1:8000/mcp",
    ):
        assert not is_hf_host(url), url
        other = McpServer(transport="http", url=url)
        assert "Authorization" not in resolve("x", other, env={}, token=token).headers
    # a header the user wrote is kept as written, even on the Hugging Face host
    own = McpServer(
        transport="http", url="https://huggingface.co/mcp", headers={"authorization": "Bearer mine"}
    )
    assert resolve("hf", own, env={}, token=token).headers == {"authorization": "Bearer mine"}


async def test_shutdown_closes_the_connections(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.script(Reply(tool_calls=[ToolCall("pid", {})]), Reply(content="ok"))
    session, rec = make_session(
        fake_llm,
        tmp_path,
        mcp_servers=servers(local=stdio_entry(approval="trusted")),
    )
    await run_input(session, "pid?")
    assert not rec.of("approval_required")  # trusted: never asks
    pid = int(rec.of("tool_output")[0].output)
    os.kill(pid, 0)  # running
    session.submit(ev.Shutdown())
    await session.wait_idle()
    assert session.mcp.describe()[0]["state"] == "closed"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_disabling_a_server_removes_its_tools_and_enabling_reconnects(
    fake_llm: FakeLLMServer, tmp_path: Path, http_mcp: McpHttpServer
) -> None:
    fake_llm.script(Reply(content="one"), Reply(content="two"), Reply(content="three"))
    session, rec = make_session(
        fake_llm, tmp_path, mcp_servers=servers(remote={"url": http_mcp.url})
    )
    await run_input(session, "one")
    assert session.tools.get("web_echo") is not None
    session.submit(ev.Configure(settings={"mcp_disabled": ["remote"]}))
    await run_input(session, "two")
    assert session.mcp.describe()[0]["state"] == "disabled"
    assert session.tools.get("web_echo") is None
    assert "web_echo" not in {t["function"]["name"] for t in fake_llm.requests[1].body["tools"]}
    session.submit(ev.Configure(settings={"mcp_disabled": []}))
    await run_input(session, "three")
    assert session.mcp.describe()[0]["state"] == "connected"
    assert "web_echo" in {t["function"]["name"] for t in fake_llm.requests[2].body["tools"]}


# ------------------------------------------------------------------ rules

ASK, TRUSTED = "ask", "trusted"
APPROVAL_ROWS: list[tuple[dict[str, Any], str, bool, bool]] = [
    # server entry, tool, asks in normal mode?, asks in yolo?
    ({}, "echo", True, False),  # the default: ask (yolo approves)
    ({"approval": ASK}, "echo", True, False),
    ({"approval": TRUSTED}, "echo", False, False),
    ({"approval": "always_ask"}, "echo", True, True),
    ({"tool_approval": {"echo": TRUSTED}}, "echo", False, False),
    ({"tool_approval": {"echo": TRUSTED}}, "add", True, False),
    ({"approval": TRUSTED, "tool_approval": {"boom": ASK}}, "boom", True, False),
    ({"approval": TRUSTED, "tool_approval": {"boom": ASK}}, "echo", False, False),
    ({"tool_approval": {"rm": "always_ask"}}, "rm", True, True),
]


@pytest.mark.parametrize(("entry", "tool", "asks", "asks_yolo"), APPROVAL_ROWS)
def test_mcp_approval_rows(entry: dict[str, Any], tool: str, asks: bool, asks_yolo: bool) -> None:
    spec = McpServer.model_validate({"command": "x", **entry})

    async def handler(_a: dict[str, Any], _c: Any) -> str:
        return ""

    tool_spec = ToolSpec(tool, "", {"type": "object"}, handler, approval=approval_rule(spec, tool))
    decide = lambda **p: ApprovalPolicy(**p).decide(tool_spec, {}, "c").needs_approval  # noqa: E731
    assert decide() is asks
    assert decide(yolo=True) is asks_yolo


def test_an_unknown_approval_value_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="mcp_servers.x.approval"):
        Config(model_name="m").with_overrides(
            mcp_servers={"x": {"command": "c", "approval": "sometimes"}}
        )


# ------------------------------------------------------------------ config


def test_upstream_mcpservers_key_and_entry_shapes_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLIJ_TOKEN", "abc")
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "a": {"transport": "stdio", "command": "srv", "args": ["--x"]},
                    "b": {"type": "http", "url": "https://example.org/mcp"},
                    "c": {
                        "transport": "streamable-http",
                        "url": "https://e.org",
                        "headers": {"Authorization": "Bearer ${MLIJ_TOKEN}"},
                    },
                    "d": {"command": "inferred"},
                }
            }
        )
    )
    config = load_config(env={"ML_INTERN_CONFIG": str(path), "ML_INTERN_SHARE_HF_MCP": "false"})
    kinds = {n: s.transport for n, s in config.mcp_servers.items()}
    assert kinds == {"a": "stdio", "b": "http", "c": "http", "d": "stdio"}
    assert config.mcp_servers["c"].headers == {"Authorization": "Bearer ${MLIJ_TOKEN}"}
    assert resolve("c", config.mcp_servers["c"]).headers == {"Authorization": "Bearer abc"}
    assert set(configured_servers(config)) == {"a", "b", "c", "d"}
    assert (
        Config(model_name="m", mcpServers={"z": {"command": "q"}}).mcp_servers["z"].command == "q"
    )


def test_the_hugging_face_server_is_on_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    env = {"ML_INTERN_CONFIG": str(missing)}
    missing.write_text("{}")
    on = load_config(env=env)
    assert on.share_hf_mcp is True
    hf = configured_servers(on)[HF_SERVER]
    assert hf.transport == "http" and hf.url == "https://huggingface.co/mcp?login"
    off = load_config(env={**env, "ML_INTERN_SHARE_HF_MCP": "false"})
    assert HF_SERVER not in configured_servers(off)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"transport": "sse", "url": "u"}, "SSE transport is not supported"),
        ({"transport": "stdio"}, "needs `command`"),
        ({"transport": "http"}, "needs `url`"),
    ],
)
def test_bad_server_entries_say_what_is_wrong(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(model_name="m").with_overrides(mcp_servers={"x": entry})


# ------------------------------------------------------------------ content


def test_result_content_for_the_model_and_the_card() -> None:
    b64 = "iVBORw0KGgo="
    result = tool_result(
        {
            "content": [
                {"type": "text", "text": "hello"},
                {"type": "image", "data": b64, "mimeType": "image/jpeg"},
                {"type": "image", "data": b64, "mimeType": "image/svg+xml"},
                {"type": "image", "data": "not base64!!", "mimeType": "image/png"},
                {
                    "type": "resource",
                    "resource": {"uri": "file:///a.txt", "mimeType": "text/plain", "text": "A"},
                },
                {
                    "type": "resource",
                    "resource": {"uri": "mem://p", "mimeType": "image/png", "blob": b64},
                },
                {"type": "resource_link", "uri": "https://e.org/x", "name": "X"},
                {"type": "resource_link", "uri": "javascript:alert(1)", "name": "bad"},
                {"type": "audio", "data": b64, "mimeType": "audio/wav"},
            ],
            "isError": False,
        }
    )
    assert isinstance(result, ToolResult) and result.success
    lines = result.output.splitlines()
    assert lines[0] == "hello"
    assert "[image/jpeg image, 8 B, shown to the user]" in lines
    assert "[image/svg+xml image, 8 B: not shown]" in lines
    assert "[image/png image that is not valid base64: not shown]" in lines
    assert "[resource file:///a.txt (text/plain)]" in lines and "A" in lines
    assert "[resource mem://p: image/png image, 8 B, shown to the user]" in lines
    assert "[audio/wav audio, 8 B: not played]" in lines
    assert "[Image:" not in result.output
    assert result.display == {
        "images": [{"mime": "image/jpeg", "data": b64}, {"mime": "image/png", "data": b64}],
        "links": [{"url": "https://e.org/x", "label": "X"}],
    }
    assert tool_result({"content": [], "isError": True}).success is False
    assert tool_result({"content": [], "structuredContent": {"n": 1}}).output == '{\n  "n": 1\n}'


def test_mcp_images_and_links_show_inline_in_the_card_and_transcript() -> None:
    from ml_intern_jupyter.notebook.render.tool_display import (
        display_html,
        display_markdown,
        display_plain,
    )

    display = {
        "images": [{"mime": "image/jpeg", "data": "AAAA"}, {"mime": "text/html", "data": "AAAA"}],
        "links": [{"url": "https://e.org/x?a=1&b=2", "label": "<X>"}, {"url": "javascript:x"}],
    }
    html = display_html(display)
    assert html.count("<img") == 1 and 'src="data:image/jpeg;base64,AAAA"' in html
    assert 'href="https://e.org/x?a=1&amp;b=2"' in html and "&lt;X&gt;" in html
    assert "javascript" not in html
    assert display_markdown(display) == ["[image]", "[\\<X\\>](<https://e.org/x?a=1&b=2>)"]
    assert display_plain(display) == ["[image]", "<X>: https://e.org/x?a=1&b=2"]


async def test_secrets_filled_in_from_the_environment_stay_out_of_the_failure_line(
    fake_llm: FakeLLMServer,
    tmp_path: Path,
    http_mcp: McpHttpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLIJ_KEY", "k3y-very-secret")
    fake_llm.script(Reply(content="ok"))
    base = http_mcp.url.rsplit("/", 1)[0]
    session, rec = make_session(
        fake_llm,
        tmp_path,
        mcp_servers={"wrong-path": {"url": base + "/nope?key=${MLIJ_KEY}"}},
    )
    await run_input(session, "hi")
    lines = [e.log for e in rec.of("tool_log") if e.tool == "mcp"]
    assert len(lines) == 1 and "'wrong-path' is not available" in lines[0]
    assert "k3y-very-secret" not in lines[0]
    assert "k3y-very-secret" not in json.dumps(session.mcp.describe())


def test_filled_in_values_and_the_token_are_scrubbed_from_messages() -> None:
    spec = McpServer(
        transport="http",
        url="https://huggingface.co/mcp?k=${MLIJ_KEY}",
        headers={"X-Short": "${MLIJ_SHORT}"},
    )
    env = {"MLIJ_KEY": "k3y-very-secret", "MLIJ_SHORT": "ab"}
    server = resolve("hf", spec, env=env, token=lambda: "hf_tokenvalue")
    assert server.url == "https://huggingface.co/mcp?k=k3y-very-secret"
    message = f"Client error for url '{server.url}' with Bearer hf_tokenvalue"
    assert (
        server.scrub(message)
        == "Client error for url 'https://huggingface.co/mcp?k=***' with Bearer ***"
    )


async def test_a_server_disabled_while_it_connects_stays_off_and_registers_nothing() -> None:
    from ml_intern_jupyter.tools.mcp_client import McpConnections
    from ml_intern_jupyter.tools.router import ToolRouter

    config = Config(model_name="m", mcp_servers=servers(local=stdio_entry()))
    connections = McpConnections(config)
    router = ToolRouter()
    connections.start(router)
    assert connections.describe()[0]["state"] == "connecting"
    connections.apply(config.with_overrides(mcp_disabled=["local"]))
    await connections.wait_ready()
    assert connections.describe()[0]["state"] == "disabled"
    assert router.names == []
    # on again: a new connection whose tools are registered
    connections.apply(config)
    await connections.wait_ready()
    assert connections.describe()[0]["state"] == "connected"
    assert "echo" in router.names
    await connections.close()
    assert router.names == [] and connections.describe()[0]["state"] == "closed"


async def test_by_default_the_first_turn_does_not_wait_for_its_servers(
    fake_llm: FakeLLMServer, tmp_path: Path, http_mcp: McpHttpServer
) -> None:
    # mcp_wait_s 0 (the default): the first model call goes out at once, without
    # the servers' tools; they connect once the reply streams and join the next call.
    fake_llm.script(
        Reply(content="Looking.", delay=0.05),
        Reply(content="Done."),
    )
    session, rec = _make_session(
        fake_llm, tmp_path, mcp_servers=servers(remote={"url": http_mcp.url}), mcp_wait_s=0
    )
    assert session.mcp.describe()[0]["state"] != "connected"
    await run_input(session, "first")
    first_tools = [t["function"]["name"] for t in fake_llm.requests[0].body.get("tools", [])]
    assert "web_echo" not in first_tools
    deadline = asyncio.get_running_loop().time() + CONNECT
    while session.mcp.describe()[0]["state"] != "connected":
        assert asyncio.get_running_loop().time() < deadline, session.mcp.describe()
        await asyncio.sleep(0.05)
    await run_input(session, "second")
    later_tools = [t["function"]["name"] for t in fake_llm.requests[1].body.get("tools", [])]
    assert "web_echo" in later_tools

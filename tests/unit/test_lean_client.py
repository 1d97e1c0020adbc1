"""The lean OpenAI-compatible client: SSE edge cases, the router catalog, and
that router and local turns never import litellm."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.agent import llm
from ml_intern_jupyter.agent.llm import DEFAULT_CONTEXT_WINDOW, LLMClient, RetryableLLMError
from ml_intern_jupyter.config import Config, ModelPrice
from ml_intern_jupyter.errors import LLMError
from tests.fakes.llm_server import FakeLLMServer, RawStream, Reply, ToolCall

USER = [{"role": "user", "content": "hi"}]
REPO = Path(__file__).resolve().parents[2]


class Waits:
    def __init__(self) -> None:
        self.waits: list[float] = []
        self.retries: list[str] = []
        self.chunks: list[str] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture(autouse=True)
def _fresh_catalog() -> Iterator[None]:
    llm._catalogs.clear()
    llm._catalog_failed_at.clear()
    yield
    llm._catalogs.clear()
    llm._catalog_failed_at.clear()


def client(config: Config, waits: Waits, env: dict[str, str], **overrides: Any) -> LLMClient:
    overrides.setdefault("reasoning_effort", None)  # an effort would add a probe call first
    return LLMClient(config.with_overrides(**overrides), "sess-1", sleep=waits.sleep, env=env)


async def stream(c: LLMClient, waits: Waits, tools: Any = None) -> llm.LLMResponse:
    return await c.stream(USER, tools, on_chunk=waits.chunks.append, on_retry=waits.retries.append)


def sse(*events: str) -> bytes:
    return "".join(events).encode()


def chunk(content: str) -> str:
    return (
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": content}}]}) + "\n\n"
    )


# ------------------------------------------------------------------ SSE


async def test_comments_multiline_data_and_a_missing_done_are_read(
    fake_llm: FakeLLMServer, fast_retry_config: Config, waits: Waits
) -> None:
    payload = json.dumps({"choices": [{"index": 0, "delta": {"content": "two"}}]}, indent=1)
    body = sse(
        ": keep-alive\n\n",
        chunk("one "),
        "event: message\n" + "".join(f"data: {line}\n" for line in payload.splitlines()) + "\n",
        'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}',
    )  # the last event lacks its blank line and no [DONE] follows
    fake_llm.script(RawStream(body))
    response = await stream(
        client(fast_retry_config, waits, {"VLLM_BASE_URL": fake_llm.url}), waits
    )
    assert response.content == "one two"
    assert waits.chunks == ["one ", "two"]
    assert (response.prompt_tokens, response.completion_tokens) == (3, 2)


async def test_an_error_inside_the_stream_is_classified(
    fake_llm: FakeLLMServer, fast_retry_config: Config, waits: Waits
) -> None:
    overloaded = {"error": {"message": "Model is overloaded", "code": 503}}
    overflow = {
        "error": {
            "message": "This model's maximum context length is 4096 tokens",
            "code": "context_length_exceeded",
        }
    }
    fake_llm.script(
        RawStream(sse(chunk("par"), f"data: {json.dumps(overloaded)}\n\n")),
        Reply(content="recovered"),
        RawStream(sse(f"event: error\ndata: {json.dumps(overflow)}\n\n")),
    )
    c = client(fast_retry_config, waits, {"VLLM_BASE_URL": fake_llm.url})
    assert (await stream(c, waits)).content == "recovered"
    assert len(waits.retries) == 1 and "overloaded" in waits.retries[0]
    with pytest.raises(LLMError) as info:
        await stream(c, waits)
    assert info.value.kind == "context_overflow"


async def test_unreadable_event_is_a_retryable_server_fault(
    fake_llm: FakeLLMServer, fast_retry_config: Config, waits: Waits
) -> None:
    fake_llm.script(RawStream(b"data: {not json\n\n"), Reply(content="ok"))
    c = client(fast_retry_config, waits, {"VLLM_BASE_URL": fake_llm.url})
    assert (await stream(c, waits)).content == "ok"
    assert waits.waits == [0.001]


async def test_refused_connection_is_transient_and_retried(
    fast_retry_config: Config, waits: Waits
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = client(fast_retry_config, waits, {"VLLM_BASE_URL": f"http://127.0.0.1:{port}/v1"})
    with pytest.raises(LLMError) as info:
        await stream(c, waits)
    assert not isinstance(info.value, RetryableLLMError)
    assert info.value.kind == "transient"
    assert "gave up after 3 attempts" in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert waits.waits == [0.001, 0.002]


async def test_requests_carry_the_key_and_no_litellm_artefacts(
    fake_llm: FakeLLMServer, fast_retry_config: Config, waits: Waits
) -> None:
    fake_llm.script(Reply(content="ok"))
    env = {"VLLM_BASE_URL": fake_llm.url, "VLLM_API_KEY": "local-key"}
    await stream(client(fast_retry_config, waits, env), waits)
    request = fake_llm.requests[-1]
    assert request.headers["authorization"] == "Bearer local-key"
    assert request.headers["user-agent"].startswith("ml-intern-jupyter/")
    assert request.path == "/v1/chat/completions"
    assert set(request.body) == {
        "model",
        "messages",
        "stream",
        "stream_options",
    }  # no reasoning_effort: local servers never get one


# ------------------------------------------------------------ router catalog

PROVIDERS = [
    {
        "provider": "prov-a",
        "status": "live",
        "context_length": 32768,
        "pricing": {"input": 1.0, "output": 2.0},
    },
    {
        "provider": "prov-b",
        "status": "live",
        "context_length": 131072,
        "pricing": {"input": 3.0, "output": 6.0},
    },
    {"provider": "prov-c", "status": "offline", "pricing": {"input": 0.1, "output": 0.1}},
]


@pytest.fixture
def router_env(fake_llm: FakeLLMServer) -> dict[str, str]:
    fake_llm.catalog = {"org/m": {"providers": PROVIDERS}}
    return {"ML_INTERN_ROUTER_BASE_URL": fake_llm.url, "HF_TOKEN": "hf_testtoken"}


@pytest.mark.parametrize(
    ("model_id", "usd"),
    [
        ("org/m:prov-b", (1000 * 3.0 + 500 * 6.0) / 1e6),  # the named provider
        ("org/m:cheapest", (1000 * 1.0 + 500 * 2.0) / 1e6),  # the cheapest live one
        ("org/m", (1000 * 3.0 + 500 * 6.0) / 1e6),  # router's choice: the upper bound
        ("org/m:fastest", (1000 * 3.0 + 500 * 6.0) / 1e6),
    ],
)
async def test_router_cost_comes_from_the_catalog(
    model_id: str,
    usd: float,
    fake_llm: FakeLLMServer,
    fast_retry_config: Config,
    waits: Waits,
    router_env: dict[str, str],
) -> None:
    fake_llm.script(Reply(content="ok", usage=(1000, 500)))
    response = await stream(
        client(fast_retry_config, waits, router_env, model_name=model_id), waits
    )
    assert response.cost_usd == pytest.approx(usd)
    assert fake_llm.catalog_requests == 1


async def test_catalog_is_read_once_and_gives_the_context_window(
    fake_llm: FakeLLMServer, fast_retry_config: Config, waits: Waits, router_env: dict[str, str]
) -> None:
    c = client(fast_retry_config, waits, router_env, model_name="org/m:prov-a")
    assert c.context_window() == DEFAULT_CONTEXT_WINDOW  # not read before the first call
    fake_llm.script(Reply(content="1"), Reply(content="2"))
    await stream(c, waits)
    await stream(c, waits)
    assert fake_llm.catalog_requests == 1
    assert c.context_window() == 32768
    both = client(fast_retry_config, waits, router_env, model_name="org/m")
    assert both.context_window() == 32768  # the smallest live provider's


async def test_configured_prices_win_and_unknown_models_cost_nothing_known(
    fake_llm: FakeLLMServer, fast_retry_config: Config, waits: Waits, router_env: dict[str, str]
) -> None:
    prices = {"org/m": ModelPrice(input_per_mtok=10.0, output_per_mtok=10.0)}
    fake_llm.script(Reply(content="a", usage=(100, 100)), Reply(content="b", usage=(100, 100)))
    mine = client(fast_retry_config, waits, router_env, model_name="org/m", model_prices=prices)
    assert (await stream(mine, waits)).cost_usd == pytest.approx(2000 / 1e6)
    other = client(fast_retry_config, waits, router_env, model_name="org/unlisted")
    assert (await stream(other, waits)).cost_usd is None


async def test_an_unreachable_catalog_leaves_calls_alone_and_is_not_retried_at_once(
    fake_llm: FakeLLMServer, fast_retry_config: Config, waits: Waits
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = f"http://127.0.0.1:{port}/v1"
    await llm._fetch_catalog(closed, "hf_x")
    assert closed in llm._catalog_failed_at and closed not in llm._catalogs
    # A base whose catalog just failed is not asked again on the next call.
    llm._catalog_failed_at[fake_llm.url] = time.monotonic()
    fake_llm.script(Reply(content="fine", usage=(5, 5)))
    env = {"ML_INTERN_ROUTER_BASE_URL": fake_llm.url, "HF_TOKEN": "hf_x"}
    response = await stream(client(fast_retry_config, waits, env, model_name="org/m"), waits)
    assert response.content == "fine" and response.cost_usd is None
    assert fake_llm.catalog_requests == 0


# ------------------------------------------- no litellm on router/local turns

TURN_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, tempfile
    from pathlib import Path
    from tests.agent_harness import make_session, run_input
    from tests.fakes.llm_server import FakeLLMServer, Reply, ToolCall

    async def main():
        out = {}
        with FakeLLMServer() as server:
            for name, model, env in [
                ("local", "vllm/test-model", {"VLLM_BASE_URL": server.url}),
                ("router", "org/test-model:fastest",
                 {"ML_INTERN_ROUTER_BASE_URL": server.url, "HF_TOKEN": "hf_test"}),
            ]:
                work = Path(tempfile.mkdtemp())
                (work / "a.txt").write_text("alpha")
                server.script(
                    Reply(content="Reading.", tool_calls=[ToolCall("read", {"path": "a.txt"})]),
                    Reply(content="It says alpha."),
                )
                session, rec = make_session(server, work, env=env, model_name=model)
                await run_input(session, "read a.txt")
                out[name] = {
                    "final": [e.final_response for e in rec.of("turn_complete")],
                    "tool_ok": [e.success for e in rec.of("tool_output")],
                    "errors": [e.error for e in rec.of("error")],
                }
        out["litellm"] = "litellm" in sys.modules
        out["openai"] = "openai" in sys.modules
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def test_router_and_local_turns_with_tools_never_import_litellm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ML_INTERN_HOME": str(tmp_path)}
    env.pop("HF_TOKEN", None)
    out = subprocess.run(
        [sys.executable, "-c", TURN_SCRIPT],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for path in ("local", "router"):
        assert result[path] == {"final": ["It says alpha."], "tool_ok": [True], "errors": []}
    assert result["litellm"] is False
    assert result["openai"] is False


async def test_a_litellm_id_does_import_litellm_and_works(
    fake_llm: FakeLLMServer, fast_retry_config: Config, waits: Waits
) -> None:
    fake_llm.script(Reply(content="via litellm", tool_calls=[ToolCall("read", {"path": "x"})]))
    env = {"ML_INTERN_LITELLM_BASE_URL": fake_llm.url, "ML_INTERN_LITELLM_API_KEY": "k"}
    c = client(fast_retry_config, waits, env, model_name="litellm/openai/test-model")
    response = await stream(c, waits)
    assert response.content == "via litellm"
    assert response.tool_calls[0]["name"] == "read"
    assert "litellm" in sys.modules
    assert fake_llm.requests[-1].headers["authorization"] == "Bearer k"

"""Model-id resolution, and LLMClient through both clients (lean and litellm) against the loopback fake."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from ml_intern_jupyter.agent import llm
from ml_intern_jupyter.agent.llm import (
    DEFAULT_CONTEXT_WINDOW,
    LOCAL_PREFIXES,
    ROUTER_BASE_URL,
    VIA_LITELLM,
    VIA_OPENAI,
    LLMClient,
    LLMResponse,
    RetryableLLMError,
    classify,
    resolve_model,
)
from ml_intern_jupyter.config import Config, ModelPrice
from ml_intern_jupyter.errors import LLMError, MissingTokenError
from tests.fakes.llm_server import Disconnect, ErrorReply, FakeLLMServer, Reply, ToolCall

USER = [{"role": "user", "content": "hi"}]


def no_token() -> str | None:
    return None


def must_not_be_called() -> str | None:
    raise AssertionError("token_getter must not be called")


# ============================================================ resolve_model


@pytest.mark.parametrize(
    "model_id", ["moonshotai/Kimi-K2.6", "org/m:novita", "org/m:fastest", "org/m:cheapest"]
)
def test_router_ids(model_id: str) -> None:
    target = resolve_model(model_id, session_id="sess-1", env={"HF_TOKEN": "hf_abc"})
    assert target.is_router
    assert target.model_id == model_id
    assert target.model == model_id  # the router is asked for the id as written
    assert target.via == VIA_OPENAI
    assert target.api_base == ROUTER_BASE_URL
    assert target.api_key == "hf_abc"
    assert target.extra_headers == {"X-HF-Session-id": "sess-1"}
    assert target.price_key == model_id.split(":")[0]


def test_router_base_url_override() -> None:
    env = {"HF_TOKEN": "hf_abc", "ML_INTERN_ROUTER_BASE_URL": "http://127.0.0.1:9/v1"}
    target = resolve_model("org/m", session_id="s", env=env)
    assert target.api_base == "http://127.0.0.1:9/v1"


def test_router_token_from_getter_when_no_env_token() -> None:
    target = resolve_model("org/m", session_id="s", env={}, token_getter=lambda: "hf_from_login")
    assert target.api_key == "hf_from_login"


def test_env_token_wins_over_getter() -> None:
    target = resolve_model(
        "org/m", session_id="s", env={"HF_TOKEN": "hf_env"}, token_getter=must_not_be_called
    )
    assert target.api_key == "hf_env"


@pytest.mark.parametrize("getter", [no_token, lambda: ""])
def test_missing_token_is_friendly(getter: Callable[[], str | None]) -> None:
    with pytest.raises(MissingTokenError) as info:
        resolve_model("org/m:fastest", session_id="s", env={"HF_TOKEN": ""}, token_getter=getter)
    err = info.value
    assert isinstance(err, LLMError)
    assert err.kind == "auth"
    assert err.login_required is True
    assert err.model == "org/m:fastest"
    message = str(err)
    assert "No Hugging Face token" in message
    assert "%intern login" in message
    assert "HF_TOKEN" in message
    assert "ollama/" in message  # points at the local alternative


@pytest.mark.parametrize("prefix", list(LOCAL_PREFIXES))
def test_local_prefix_specific_env_vars(prefix: str) -> None:
    base_var, key_var, _default = LOCAL_PREFIXES[prefix]
    env = {
        base_var: "http://specific/v1",
        key_var: "specific-key",
        "LOCAL_LLM_BASE_URL": "http://generic/v1",
        "LOCAL_LLM_API_KEY": "generic-key",
    }
    target = resolve_model(
        f"{prefix}my-model:7b", session_id="s", env=env, token_getter=must_not_be_called
    )
    assert target.model == "my-model:7b"
    assert target.via == VIA_OPENAI
    assert target.api_base == "http://specific/v1"
    assert target.api_key == "specific-key"
    assert target.extra_headers == {}
    assert not target.is_router


@pytest.mark.parametrize("prefix", list(LOCAL_PREFIXES))
def test_local_prefix_falls_back_to_local_llm_vars(prefix: str) -> None:
    env = {"LOCAL_LLM_BASE_URL": "http://generic/v1", "LOCAL_LLM_API_KEY": "generic-key"}
    target = resolve_model(f"{prefix}m", session_id="s", env=env, token_getter=must_not_be_called)
    assert (target.api_base, target.api_key) == ("http://generic/v1", "generic-key")


@pytest.mark.parametrize("prefix", list(LOCAL_PREFIXES))
def test_local_prefix_defaults(prefix: str) -> None:
    target = resolve_model(f"{prefix}m", session_id="s", env={}, token_getter=must_not_be_called)
    assert target.api_base == LOCAL_PREFIXES[prefix][2]
    assert target.api_base.startswith("http://localhost:")
    assert target.api_key == "not-needed"


def test_local_prefix_env_var_names() -> None:
    assert {p: v[:2] for p, v in LOCAL_PREFIXES.items()} == {
        "ollama/": ("OLLAMA_BASE_URL", "OLLAMA_API_KEY"),
        "vllm/": ("VLLM_BASE_URL", "VLLM_API_KEY"),
        "lm_studio/": ("LMSTUDIO_BASE_URL", "LMSTUDIO_API_KEY"),
        "llamacpp/": ("LLAMACPP_BASE_URL", "LLAMACPP_API_KEY"),
    }


def test_model_id_is_stripped() -> None:
    target = resolve_model("  vllm/m \n", session_id="s", env={})
    assert target.model_id == "vllm/m"
    assert target.model == "m"


def test_litellm_ids_go_through_litellm() -> None:
    target = resolve_model(
        "litellm/anthropic/claude-x", session_id="s", env={}, token_getter=must_not_be_called
    )
    assert (target.via, target.model) == (VIA_LITELLM, "anthropic/claude-x")
    # No override: litellm reads the provider's own key variables itself.
    assert (target.api_base, target.api_key, target.is_router) == (None, None, False)
    env = {"ML_INTERN_LITELLM_BASE_URL": "http://x/v1", "ML_INTERN_LITELLM_API_KEY": "k"}
    target = resolve_model("litellm/openai/m", session_id="s", env=env)
    assert (target.api_base, target.api_key) == ("http://x/v1", "k")


@pytest.mark.parametrize(
    "model_id", ["", "gpt4", "   ", "vllm/", "ollama/", "litellm/", "litellm/gpt-4o"]
)
def test_invalid_ids(model_id: str) -> None:
    with pytest.raises(LLMError) as info:
        resolve_model(model_id, session_id="s", env={"HF_TOKEN": "hf_x"})
    assert info.value.kind == "model_not_found"
    assert not isinstance(info.value, MissingTokenError)


def test_unrecognised_id_message_lists_the_options() -> None:
    with pytest.raises(LLMError) as info:
        resolve_model("gpt4", session_id="s", env={})
    message = str(info.value)
    assert "'gpt4'" in message
    for word in (":fastest", "ollama/", "vllm/", "lm_studio/", "llamacpp/", "litellm/"):
        assert word in message


# ================================================ stream accumulation (unit)


def _chunk(
    *,
    content: str | None = None,
    tool_calls: list[Any] | None = None,
    finish: str | None = None,
    usage: Any = None,
) -> Any:
    delta = SimpleNamespace(content=content, tool_calls=tool_calls)
    choice = SimpleNamespace(delta=delta, finish_reason=finish)
    return SimpleNamespace(choices=[choice], usage=usage)


def _tc(index: int | None, id: str | None = None, name: str | None = None, args: str | None = None):
    return SimpleNamespace(index=index, id=id, function=SimpleNamespace(name=name, arguments=args))


def test_accumulator_ids_and_names_repeated_on_every_delta_are_not_doubled() -> None:
    acc = llm._Accumulator()
    acc.feed(_chunk(tool_calls=[_tc(0, "call_a", "read", '{"pa')]))
    acc.feed(_chunk(tool_calls=[_tc(0, "call_a", "read", 'th": 1}')]))
    acc.feed(_chunk(finish="tool_calls"))
    result = acc.result()
    assert result.tool_calls == [{"id": "call_a", "name": "read", "arguments": '{"path": 1}'}]
    assert result.finish_reason == "tool_calls"


def test_accumulator_assigns_ids_when_missing_and_reads_usage() -> None:
    acc = llm._Accumulator()
    assert acc.feed(_chunk(content="he")) == "he"
    assert acc.feed(_chunk(content="y", tool_calls=[_tc(0, None, "bash", "{}")])) == "y"
    acc.feed(
        SimpleNamespace(choices=[], usage=SimpleNamespace(prompt_tokens=3, completion_tokens=4))
    )
    result = acc.result()
    assert result.content == "hey"
    assert result.tool_calls[0]["id"].startswith("call_0_")
    assert (result.prompt_tokens, result.completion_tokens, result.usage_known) == (3, 4, True)


# ======================================================== classify (unit)


def test_classify_plain_connection_errors_are_transient() -> None:
    target = resolve_model("vllm/m", session_id="s", env={})
    for exc in (ConnectionResetError("reset"), TimeoutError("slow"), EOFError()):
        err = classify(exc, target)
        assert isinstance(err, RetryableLLMError)
        assert err.kind == "transient"


def test_classify_unknown_exception_and_passthrough() -> None:
    target = resolve_model("vllm/m", session_id="s", env={})
    err = classify(RuntimeError("boom"), target)
    assert not isinstance(err, RetryableLLMError)
    assert err.kind == "bad_response"
    assert "boom" in str(err)
    mine = LLMError("mine", kind="billing")
    assert classify(mine, target) is mine


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("garbage", None), ("", None)],
)
def test_retry_after_header_parsing(value: str, expected: float | None) -> None:
    exc = SimpleNamespace(response=SimpleNamespace(headers={"retry-after": value}))
    assert llm._retry_after(exc) == expected  # type: ignore[arg-type]


def test_retry_after_http_date() -> None:
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    exc = SimpleNamespace(headers={"Retry-After": future})
    wait = llm._retry_after(exc)  # type: ignore[arg-type]
    assert wait is not None and 25 <= wait <= 31
    past = SimpleNamespace(headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"})
    assert llm._retry_after(past) == 0.0  # type: ignore[arg-type]


# ============================== LLMClient through both clients, against the fake
#
# Tests marked `both_paths` run twice: through the lean OpenAI-compatible client
# (`vllm/test-model`) and through real litellm (`litellm/openai/test-model` with
# ML_INTERN_LITELLM_BASE_URL), so typed errors and retries are the same on both.

both_paths = pytest.mark.parametrize("via", [VIA_OPENAI, VIA_LITELLM])
MODEL_FOR = {VIA_OPENAI: "vllm/test-model", VIA_LITELLM: "litellm/openai/test-model"}


@pytest.fixture
def via() -> str:
    """The client a test's model id goes through (tests marked `both_paths` override it)."""
    return VIA_OPENAI


class ClientCalls:
    """Collects on_chunk / on_retry calls and the waits the client asked for."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.retries: list[str] = []
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def rec() -> ClientCalls:
    return ClientCalls()


@pytest.fixture
def make_client(
    fake_llm: FakeLLMServer, fast_retry_config: Config, rec: ClientCalls, via: str
) -> Iterator[Callable[..., LLMClient]]:
    """Builds clients aimed at the fake; afterwards checks the fake's script ran cleanly."""

    def make(config: Config | None = None, env: dict[str, str] | None = None, **overrides: Any):
        overrides.setdefault("model_name", MODEL_FOR[via])
        # No effort unless a test asks: with one, the first call is preceded by a probe.
        overrides.setdefault("reasoning_effort", None)
        cfg = (config or fast_retry_config).with_overrides(**overrides)
        default_env = {
            "VLLM_BASE_URL": fake_llm.url,
            "ML_INTERN_LITELLM_BASE_URL": fake_llm.url,
            "ML_INTERN_LITELLM_API_KEY": "test-key",
        }
        return LLMClient(
            cfg, "sess-42", sleep=rec.sleep, env=env if env is not None else default_env
        )

    yield make
    assert fake_llm.errors == []


async def stream(client: LLMClient, rec: ClientCalls, tools: Any = None) -> LLMResponse:
    return await client.stream(USER, tools, on_chunk=rec.chunks.append, on_retry=rec.retries.append)


@both_paths
async def test_streamed_text_reaches_on_chunk(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    text = "Hello there, this reply arrives in small pieces."
    fake_llm.script(Reply(content=text, chunk_size=5, usage=(12, 7)))
    response = await stream(make_client(), rec)
    assert response.content == text
    assert "".join(rec.chunks) == text
    assert len(rec.chunks) >= 5  # really streamed, not one blob
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert (response.prompt_tokens, response.completion_tokens) == (12, 7)
    assert response.usage_known
    assert response.cost_usd is None  # no price known for the fake model
    assert response.latency_ms > 0
    assert rec.retries == [] and rec.waits == []

    body = fake_llm.requests[-1].body
    assert body["model"] == "test-model"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == USER
    assert "tools" not in body


@both_paths
async def test_tool_call_deltas_are_accumulated_per_index(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    calls = [
        ToolCall("read", {"path": "data/train.csv", "offset": 10}, id="call_r"),
        ToolCall("bash", {"command": "python -c 'print(1 + 1)'"}, id="call_b"),
        ToolCall("write", '{"path": "x.txt", "content": "a\\nb"}'),
    ]
    fake_llm.script(Reply(content="Let me look.", tool_calls=calls, chunk_size=4))
    tools = [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}]
    response = await stream(make_client(), rec, tools)

    assert response.content == "Let me look."
    assert response.finish_reason == "tool_calls"
    assert [c["name"] for c in response.tool_calls] == ["read", "bash", "write"]
    assert response.tool_calls[0]["id"] == "call_r"
    assert response.tool_calls[1]["id"] == "call_b"
    assert response.tool_calls[2]["id"]  # assigned by the server
    assert json.loads(response.tool_calls[0]["arguments"]) == {
        "path": "data/train.csv",
        "offset": 10,
    }
    assert json.loads(response.tool_calls[1]["arguments"]) == {
        "command": "python -c 'print(1 + 1)'"
    }
    assert json.loads(response.tool_calls[2]["arguments"]) == {"path": "x.txt", "content": "a\nb"}
    assert "".join(rec.chunks) == "Let me look."

    body = fake_llm.requests[-1].body
    assert body["tools"] == tools
    assert body["tool_choice"] == "auto"


@both_paths
async def test_malformed_tool_arguments_are_passed_through_raw(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(Reply(tool_calls=[ToolCall("bash", '{"command": ')], chunk_size=3))
    response = await stream(make_client(), rec)
    assert response.tool_calls[0]["arguments"] == '{"command": '
    assert response.content == ""


@both_paths
async def test_cost_from_model_prices(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    prices = {MODEL_FOR[via]: ModelPrice(input_per_mtok=2.0, output_per_mtok=10.0)}
    fake_llm.script(Reply(content="ok", usage=(1_000, 500)))
    response = await stream(make_client(model_prices=prices), rec)
    assert response.cost_usd == pytest.approx((1_000 * 2.0 + 500 * 10.0) / 1e6)


@both_paths
async def test_complete_non_streaming(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    prices = {MODEL_FOR[via]: ModelPrice(input_per_mtok=1.0, output_per_mtok=1.0)}
    fake_llm.script(Reply(content="A summary.", usage=(100, 20)))
    response = await make_client(model_prices=prices).complete(
        USER, max_tokens=64, on_retry=rec.retries.append
    )
    assert response.content == "A summary."
    assert (response.prompt_tokens, response.completion_tokens) == (100, 20)
    assert response.cost_usd == pytest.approx(120 / 1e6)
    body = fake_llm.requests[-1].body
    assert body.get("stream") in (None, False)
    assert body["max_completion_tokens"] == 64


async def test_complete_is_retried_too(
    fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply.server_error(502), Reply(content="fine"))
    response = await make_client().complete(USER, max_tokens=None, on_retry=rec.retries.append)
    assert response.content == "fine"
    assert len(rec.waits) == 1
    assert "max_completion_tokens" not in fake_llm.requests[-1].body


# ---------------------------------------------------------------- retries


@both_paths
async def test_rate_limit_honours_retry_after(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply.rate_limit(retry_after=2), Reply(content="after the wait"))
    response = await stream(make_client(), rec)
    assert response.content == "after the wait"
    assert rec.waits == [2.0]
    assert len(rec.retries) == 1
    assert rec.retries[0].startswith("LLM connection error, retrying in 2s...")
    assert len(fake_llm.requests) == 2


async def test_retry_after_is_capped(
    fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply.rate_limit(retry_after=3600), Reply(content="ok"))
    await stream(make_client(retry_after_max_s=0.01), rec)
    assert rec.waits == [0.01]


@both_paths
async def test_rate_limit_without_retry_after_uses_configured_waits(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(
        ErrorReply.rate_limit(retry_after=None),
        ErrorReply.rate_limit(retry_after=None),
        Reply(content="third time"),
    )
    response = await stream(make_client(), rec)
    assert response.content == "third time"
    assert rec.waits == [0.001, 0.002]  # retry_rate_limit_waits_s, in order
    assert [r.split("...")[0] for r in rec.retries] == [
        "LLM connection error, retrying in 0.001s",
        "LLM connection error, retrying in 0.002s",
    ]


async def test_unparseable_retry_after_falls_back_to_configured_wait(
    fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(
        ErrorReply(429, "slow down", headers={"Retry-After": "soon-ish"}), Reply(content="ok")
    )
    response = await stream(make_client(), rec)
    assert response.content == "ok"
    assert rec.waits == [0.001]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried_then_succeed(
    status: int,
    fake_llm: FakeLLMServer,
    make_client: Callable[..., LLMClient],
    rec: ClientCalls,
) -> None:
    fake_llm.script(ErrorReply.server_error(status), Reply(content="recovered"))
    response = await stream(make_client(), rec)
    assert response.content == "recovered"
    assert rec.waits == [0.001]  # first retry_transient_waits_s entry
    assert rec.retries[0].startswith("LLM connection error, retrying in 0.001s...")
    assert len(fake_llm.requests) == 2


@both_paths
async def test_gives_up_after_llm_attempts(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(*[ErrorReply.server_error(503)] * 4)
    with pytest.raises(LLMError) as info:
        await stream(make_client(llm_attempts=3), rec)
    assert not isinstance(info.value, RetryableLLMError)
    assert info.value.kind == "transient"
    assert "gave up after 3 attempts" in str(info.value)
    assert len(fake_llm.requests) == 3
    assert rec.waits == [0.001, 0.002]
    assert len(rec.retries) == 2
    assert fake_llm.pending == 1


async def test_rate_limit_gives_up_with_kind_rate_limit(
    fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(*[ErrorReply.rate_limit(retry_after=0)] * 2)
    with pytest.raises(LLMError) as info:
        await stream(make_client(llm_attempts=2), rec)
    assert info.value.kind == "rate_limit"
    assert "gave up after 2 attempts" in str(info.value)
    assert rec.waits == [0.0]


async def test_single_attempt_does_not_retry(
    fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply.server_error(500), Reply(content="never reached"))
    with pytest.raises(LLMError, match="gave up after 1 attempts"):
        await stream(make_client(llm_attempts=1), rec)
    assert rec.waits == [] and rec.retries == []
    assert len(fake_llm.requests) == 1


async def test_waits_reuse_the_last_entry_when_attempts_exceed_the_list(
    fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(*[ErrorReply.server_error(500)] * 3, Reply(content="ok"))
    await stream(make_client(llm_attempts=4, retry_transient_waits_s=[0.001]), rec)
    assert rec.waits == [0.001, 0.001, 0.001]


@both_paths
async def test_connection_dropped_before_response_is_retried(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(Disconnect(), Reply(content="back"))
    response = await stream(make_client(), rec)
    assert response.content == "back"
    assert len(rec.waits) == 1
    assert rec.retries[0].startswith("LLM connection error, retrying in")


@both_paths
async def test_disconnect_mid_stream_is_retried_as_transient(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(
        Reply(content="partial text that is cut", chunk_size=4, disconnect_after_chunks=2),
        Reply(content="complete answer"),
    )
    response = await stream(make_client(), rec)
    assert response.content == "complete answer"  # nothing of the broken attempt
    assert rec.waits == [0.001]
    assert len(rec.retries) == 1
    # The broken attempt's chunks did reach on_chunk, before on_retry fired.
    assert "".join(rec.chunks).endswith("complete answer")
    assert len(fake_llm.requests) == 2


async def test_on_retry_text_carries_the_reason(
    fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply.server_error(503), Reply(content="ok"))
    await stream(make_client(), rec)
    assert "overloaded" in rec.retries[0]


# ------------------------------------------------------ non-retried errors


@both_paths
async def test_context_overflow(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply.context_overflow(), Reply(content="unused"))
    with pytest.raises(LLMError) as info:
        await stream(make_client(), rec)
    assert info.value.kind == "context_overflow"
    assert "context" in str(info.value)
    assert len(fake_llm.requests) == 1
    assert rec.waits == []


@both_paths
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_local(
    via: str,
    status: int,
    fake_llm: FakeLLMServer,
    make_client: Callable[..., LLMClient],
    rec: ClientCalls,
) -> None:
    reply = ErrorReply.auth() if status == 401 else ErrorReply(403, "forbidden")
    fake_llm.script(reply, Reply(content="unused"))
    with pytest.raises(LLMError) as info:
        await stream(make_client(), rec)
    assert info.value.kind == "auth"
    assert info.value.login_required is False
    hint = "LOCAL_LLM_API_KEY" if via == VIA_OPENAI else "ML_INTERN_LITELLM_API_KEY"
    assert hint in str(info.value)
    assert len(fake_llm.requests) == 1
    assert rec.waits == []


@both_paths
async def test_model_not_found(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply.not_found_model())
    with pytest.raises(LLMError) as info:
        await stream(make_client(), rec)
    assert info.value.kind == "model_not_found"
    assert MODEL_FOR[via] in str(info.value)
    assert "%intern model" in str(info.value)
    assert len(fake_llm.requests) == 1


@both_paths
async def test_billing(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply(402, "You have run out of credits"))
    with pytest.raises(LLMError) as info:
        await stream(make_client(), rec)
    assert info.value.kind == "billing"
    assert "credits" in str(info.value)


@both_paths
async def test_bad_request_is_not_retried(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(ErrorReply(400, "messages[0].role is invalid"), Reply(content="unused"))
    with pytest.raises(LLMError) as info:
        await stream(make_client(), rec)
    assert info.value.kind == "bad_request"
    assert "role is invalid" in str(info.value)
    assert len(fake_llm.requests) == 1


@both_paths
async def test_cancellation_propagates(
    via: str, fake_llm: FakeLLMServer, make_client: Callable[..., LLMClient], rec: ClientCalls
) -> None:
    fake_llm.script(Reply(content="x" * 40, chunk_size=1, delay=0.02))
    first_chunk = asyncio.Event()
    client = make_client()

    def on_chunk(text: str) -> None:
        rec.chunks.append(text)
        first_chunk.set()

    task = asyncio.create_task(
        client.stream(USER, None, on_chunk=on_chunk, on_retry=rec.retries.append)
    )
    await asyncio.wait_for(first_chunk.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.retries == []
    assert 0 < len(rec.chunks) < 40


# ------------------------------------------------------------- router path


async def test_router_request_carries_session_header_and_reasoning_effort(
    fake_llm: FakeLLMServer,
    make_client: Callable[..., LLMClient],
    rec: ClientCalls,
    router_env: dict[str, str],
) -> None:
    fake_llm.script(Reply(content="probed"), Reply(content="routed"))
    client = make_client(
        env=router_env, model_name="org/test-model:fastest", reasoning_effort="high"
    )
    response = await stream(client, rec)
    assert response.content == "routed"
    probe, req = fake_llm.requests
    assert probe.body["reasoning_effort"] == "high" and probe.body["max_completion_tokens"] == 64
    assert req.headers["x-hf-session-id"] == "sess-42"
    assert req.headers["authorization"] == "Bearer hf_testtoken"
    assert req.body["model"] == "org/test-model:fastest"
    assert req.body["reasoning_effort"] == "high"


@pytest.mark.parametrize("effort", ["none", None])
async def test_no_reasoning_effort_when_off(
    effort: str | None,
    fake_llm: FakeLLMServer,
    make_client: Callable[..., LLMClient],
    rec: ClientCalls,
    router_env: dict[str, str],
) -> None:
    fake_llm.script(Reply(content="ok"))
    await stream(make_client(env=router_env, model_name="org/m", reasoning_effort=effort), rec)
    assert "reasoning_effort" not in fake_llm.requests[-1].body


async def test_router_price_lookup_ignores_the_policy_suffix(
    fake_llm: FakeLLMServer,
    make_client: Callable[..., LLMClient],
    rec: ClientCalls,
    router_env: dict[str, str],
) -> None:
    prices = {"org/m": ModelPrice(input_per_mtok=1.0, output_per_mtok=3.0)}
    fake_llm.script(Reply(content="ok", usage=(10, 10)))
    client = make_client(env=router_env, model_name="org/m:cheapest", model_prices=prices)
    response = await stream(client, rec)
    assert response.cost_usd == pytest.approx(40 / 1e6)


async def test_router_auth_error_asks_for_login(
    fake_llm: FakeLLMServer,
    make_client: Callable[..., LLMClient],
    rec: ClientCalls,
    router_env: dict[str, str],
) -> None:
    fake_llm.script(ErrorReply.auth())
    with pytest.raises(LLMError) as info:
        await stream(make_client(env=router_env, model_name="org/m"), rec)
    assert info.value.kind == "auth"
    assert info.value.login_required is True
    assert "%intern login" in str(info.value)


async def test_router_without_token_raises_before_any_request(
    fake_llm: FakeLLMServer,
    make_client: Callable[..., LLMClient],
    rec: ClientCalls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(llm, "_cached_hf_token", no_token)
    client = make_client(env={"ML_INTERN_ROUTER_BASE_URL": fake_llm.url}, model_name="org/m")
    with pytest.raises(MissingTokenError):
        await stream(client, rec)
    assert fake_llm.requests == []


# ---------------------------------------------------------- context window


def test_context_window_from_config_or_default(fast_retry_config: Config) -> None:
    assert (
        LLMClient(fast_retry_config.with_overrides(context_window=4096), "s").context_window()
        == 4096
    )
    assert LLMClient(fast_retry_config, "s", env={}).context_window() == DEFAULT_CONTEXT_WINDOW


# ------------------------------------------------------ conftest's llm_env


def test_llm_env_sets_up_the_process_environment(llm_env: FakeLLMServer) -> None:
    import os
    from pathlib import Path

    from ml_intern_jupyter.config import load_config

    assert os.environ["VLLM_BASE_URL"] == llm_env.url
    assert "HF_TOKEN" not in os.environ
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    home = Path(os.environ["ML_INTERN_HOME"])
    assert home.is_dir()
    assert load_config(user_file=home / "absent.json").resolved_home() == home


async def test_llm_env_points_the_client_at_the_fake(
    llm_env: FakeLLMServer, fast_retry_config: Config, rec: ClientCalls
) -> None:
    llm_env.script(Reply(content="via os.environ"))
    client = LLMClient(fast_retry_config, "s", sleep=rec.sleep)  # no env=: reads os.environ
    response = await stream(client, rec)
    assert response.content == "via os.environ"
    assert len(llm_env.requests) == 1

"""Prompt caching: markers on the outgoing request only, prompt_cache_key, and
cache-read/write tokens parsed and priced. Real Session against the scripted fake_llm."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest

from ml_intern_jupyter.agent import caching
from ml_intern_jupyter.agent.llm import LLMClient, resolve_model
from ml_intern_jupyter.config import ModelPrice
from ml_intern_jupyter.notebook.commands import run as commands
from tests.agent_harness import make_config, make_session, run_input
from tests.fakes.llm_server import Reply, ToolCall

CLAUDE = "anthropic/claude-sonnet-4-5:prov"
EPHEMERAL = {"type": "ephemeral"}


def marked(messages):
    return [
        i
        for i, m in enumerate(messages)
        if isinstance(m.get("content"), list)
        and any("cache_control" in b for b in m["content"] if isinstance(b, dict))
    ]


def no_markers_anywhere(value) -> bool:
    return "cache_control" not in json.dumps(value)


async def test_claude_requests_carry_markers_and_the_history_stays_plain(
    fake_llm, router_env, tmp_path
):
    (tmp_path / "a.txt").write_text("alpha")
    fake_llm.script(
        Reply(tool_calls=[ToolCall("read", {"path": "a.txt"})]),
        Reply(content="It says alpha."),
    )
    session, rec = make_session(fake_llm, tmp_path, env=router_env, model_name=CLAUDE)
    await run_input(session, "read a.txt")
    assert rec.of("turn_complete")[0].final_response == "It says alpha."
    first, second = (r.body for r in fake_llm.requests)
    for body in (first, second):
        assert body["tools"][-1]["cache_control"] == EPHEMERAL
        assert all("cache_control" not in t for t in body["tools"][:-1])
        assert body["cache_control"] == EPHEMERAL  # the router needs the top-level one too
        # One marked message: the nearest system/user one before the end (the user's).
        assert marked(body["messages"]) == [1]
        block = body["messages"][1]["content"]
        assert block == [{"type": "text", "text": "read a.txt", "cache_control": EPHEMERAL}]
    assert second["messages"][-1]["role"] == "tool"  # marked message is an earlier one
    # The saved history and the tool specs were never touched.
    assert no_markers_anywhere(session.history.messages)
    assert session.history.messages[1]["content"] == "read a.txt"
    assert no_markers_anywhere(session.tools.schemas())


@pytest.mark.parametrize(
    "model, env_key",
    [("org/plain-model", "router"), ("vllm/test-model", "local")],
)
async def test_other_models_get_no_markers_and_no_cache_key(
    fake_llm, router_env, tmp_path, model, env_key
):
    env = router_env if env_key == "router" else {"VLLM_BASE_URL": fake_llm.url}
    fake_llm.script(Reply(content="ok"))
    session, _rec = make_session(fake_llm, tmp_path, env=env, model_name=model)
    await run_input(session, "hi")
    body = fake_llm.requests[0].body
    assert no_markers_anywhere(body) and "prompt_cache_key" not in body


def _target(model_id):
    return resolve_model(
        model_id,
        session_id="sess-9",
        env={"HF_TOKEN": "t", "ML_INTERN_LITELLM_API_KEY": "k"},
    )


def test_outgoing_rule_per_model_and_inputs_unchanged():
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "a",
            "reasoning_content": "r",
            "thinking_blocks": [{"type": "thinking", "thinking": "r", "signature": "s"}],
        },
    ]
    tools = [{"type": "function", "function": {"name": f"t{i}"}} for i in range(3)]
    before = copy.deepcopy((messages, tools))
    claude = _target("litellm/anthropic/claude-sonnet-4-5")
    out, out_tools, extra = caching.outgoing(claude, messages, tools, session_id="sess-9")
    assert marked(out) == [1] and out_tools[-1]["cache_control"] == EPHEMERAL
    assert extra == {}  # litellm talks to Anthropic directly: no router-level marker
    assert out[2]["thinking_blocks"]  # litellm ids get their signed blocks back
    bedrock = _target("litellm/bedrock/anthropic.claude-3-7-sonnet")
    assert caching.style(bedrock) == caching.ANTHROPIC
    _out, _t, extra = caching.outgoing(
        _target("litellm/openai/gpt-5"), messages, tools, session_id="sess-9"
    )
    assert extra == {"prompt_cache_key": "sess-9"}
    out, _t, extra = caching.outgoing(_target("org/other"), messages, tools, session_id="sess-9")
    assert extra == {} and "thinking_blocks" not in out[2] and out[2]["reasoning_content"] == "r"
    stripped, _t, _e = caching.outgoing(
        claude, messages, tools, session_id="sess-9", strip_reasoning=True
    )
    assert not any(k in stripped[2] for k in caching.REASONING_KEYS)
    assert (messages, tools) == before


async def test_openai_models_via_litellm_send_the_session_as_prompt_cache_key(fake_llm, tmp_path):
    env = {"ML_INTERN_LITELLM_BASE_URL": fake_llm.url, "ML_INTERN_LITELLM_API_KEY": "k"}
    fake_llm.script(Reply(content="ok"))
    session, rec = make_session(fake_llm, tmp_path, env=env, model_name="litellm/openai/test-model")
    await run_input(session, "hi")
    assert rec.of("turn_complete")[0].final_response == "ok"
    assert fake_llm.requests[0].body["prompt_cache_key"] == session.id


async def test_cached_tokens_are_priced_at_the_cache_rates(fake_llm, router_env, tmp_path):
    prices = {
        "org/priced": ModelPrice(
            input_per_mtok=2.0,
            output_per_mtok=10.0,
            cache_read_per_mtok=0.5,
            cache_write_per_mtok=3.0,
        )
    }
    fake_llm.script(
        Reply(
            content="ok",
            usage=(1000, 100),
            usage_extra={"prompt_tokens_details": {"cached_tokens": 600}},
        )
    )
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name="org/priced", model_prices=prices
    )
    await run_input(session, "hi")
    call = rec.of("llm_call")[0]
    assert (call.prompt_tokens, call.cache_read_tokens, call.cache_write_tokens) == (1000, 600, 0)
    assert call.cost_usd == pytest.approx((400 * 2.0 + 600 * 0.5 + 100 * 10.0) / 1e6)
    assert session.totals.cache_read_tokens == 600


async def test_anthropic_usage_counts_cache_tokens_and_uses_anthropics_multipliers(
    fake_llm, router_env, tmp_path
):
    prices = {"anthropic/claude-sonnet-4-5": ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0)}
    # Anthropic's own shape: input tokens exclude the cache reads and writes.
    fake_llm.script(
        Reply(
            content="ok",
            usage=(100, 50),
            usage_extra={"cache_read_input_tokens": 700, "cache_creation_input_tokens": 200},
        )
    )
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=CLAUDE, model_prices=prices
    )
    await run_input(session, "hi")
    call = rec.of("llm_call")[0]
    assert (call.prompt_tokens, call.cache_read_tokens, call.cache_write_tokens) == (1000, 700, 200)
    expected = (100 * 3.0 + 700 * 0.3 + 200 * 3.75 + 50 * 15.0) / 1e6
    assert call.cost_usd == pytest.approx(expected)


async def test_litellm_price_table_prices_cache_reads(fake_llm):
    client = LLMClient(make_config(model_name="litellm/anthropic/claude-sonnet-4-5"), "s")
    from ml_intern_jupyter.agent.llm import ensure_litellm

    await ensure_litellm()
    target = _target("litellm/anthropic/claude-sonnet-4-5")
    full = client.cost(target, 1000, 0)
    if full is None:  # older litellm releases (the lowest accepted) predate this model
        pytest.skip("this litellm's price table does not list claude-sonnet-4-5")
    cached = client.cost(target, 1000, 0, cache_read=800)
    assert cached is not None and cached < full * 0.5


async def test_intern_cost_reports_the_cache(fake_llm, router_env, tmp_path, capsys):
    fake_llm.script(
        Reply(
            content="ok",
            usage=(1000, 10),
            usage_extra={"prompt_tokens_details": {"cached_tokens": 900}},
        )
    )
    session, _rec = make_session(fake_llm, tmp_path, env=router_env, model_name="org/m")
    await run_input(session, "hi")
    conductor = SimpleNamespace(session=session)
    sessions = SimpleNamespace(
        get=lambda name: conductor,
        items=lambda: [("work", conductor)],
        saving=SimpleNamespace(get=lambda config: None, why_not=lambda config: "no store here"),
        notebook=lambda: "nb.ipynb",
    )
    commands._cost(sessions, "work", [])
    out = capsys.readouterr().out
    assert "1,010 tokens" in out and "900 prompt tokens read from it" in out

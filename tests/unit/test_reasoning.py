"""Reasoning effort (probe, cascade, store, 400 recovery) and reasoning kept in
the history, against the scripted model server with a real Session."""

from __future__ import annotations

import json

import pytest

from ml_intern_jupyter.agent.persistence import Recorder
from ml_intern_jupyter.store.sqlite import SqliteStore
from tests.agent_harness import make_session, run_input
from tests.fakes.llm_server import ErrorReply, RecordedRequest, Reply, ToolCall

ROUTER_MODEL = "org/thinker:prov"


def is_probe(request: RecordedRequest) -> bool:
    return request.body.get("max_completion_tokens") == 64 and not request.body.get("stream")


def refuse_effort_above(top: str):
    """A server that takes efforts up to `top` and answers probes with 'ok'."""
    order = ["minimal", "low", "medium", "high"]

    def answer(request: RecordedRequest):
        effort = request.body.get("reasoning_effort")
        if effort is not None and order.index(effort) > order.index(top):
            return ErrorReply(400, f"Unsupported value: reasoning_effort '{effort}'")
        return Reply(content="ok" if is_probe(request) else "answered")

    return answer


async def test_probe_cascades_to_the_highest_level_and_the_store_remembers_it(
    fake_llm, router_env, tmp_path
):
    store = SqliteStore.open(tmp_path / "home")
    answer = refuse_effort_above("medium")
    fake_llm.script(answer, answer, answer)
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    session.recorder = Recorder(store)
    await run_input(session, "hi")
    efforts = [(is_probe(r), r.body.get("reasoning_effort")) for r in fake_llm.requests]
    assert efforts == [(True, "high"), (True, "medium"), (False, "medium")]
    assert rec.of("turn_complete")[0].final_response == "answered"
    assert [e.kind for e in rec.of("llm_call")] == ["probe", "turn"]
    assert session.totals.llm_calls == 2  # the refused probe cost nothing
    assert json.loads(store.get_setting("effort:" + ROUTER_MODEL))["level"] == "medium"
    store.close()

    # A new session after a restart (a fresh store object on the same file): no probe.
    fake_llm.requests.clear()
    again = SqliteStore.open(tmp_path / "home")
    fake_llm.script(Reply(content="second"))
    other, rec2 = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    other.recorder = Recorder(again)
    await run_input(other, "hi")
    assert len(fake_llm.requests) == 1 and fake_llm.requests[0].body["reasoning_effort"] == "medium"
    again.close()


async def test_a_lower_ceiling_is_kept_and_a_model_switch_probes_the_new_model(
    fake_llm, router_env, tmp_path
):
    fake_llm.script(
        Reply(content="ok"), Reply(content="a"), Reply(content="ok"), Reply(content="b")
    )
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="low"
    )
    await run_input(session, "hi")
    session.update_config(model_name="org/other")
    await run_input(session, "hi again")
    sent = [
        (is_probe(r), r.body["model"], r.body.get("reasoning_effort")) for r in fake_llm.requests
    ]
    assert sent == [
        (True, ROUTER_MODEL, "high"),
        (False, ROUTER_MODEL, "low"),  # the ceiling, below what the model takes
        (True, "org/other", "high"),
        (False, "org/other", "low"),
    ]


async def test_a_model_refusing_every_level_gets_no_effort(fake_llm, router_env, tmp_path):
    def answer(request):
        if "reasoning_effort" in request.body:
            return ErrorReply(400, "This model does not support reasoning (thinking unsupported)")
        return Reply(content="plain")

    fake_llm.fallback = answer
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    await run_input(session, "hi")
    # high, medium, low ("minimal" is sent as "low" on the router: not probed twice)
    assert [r.body.get("reasoning_effort") for r in fake_llm.requests] == [
        "high",
        "medium",
        "low",
        None,
    ]
    assert rec.of("turn_complete")[0].final_response == "plain"
    assert session.effort_memo.known(ROUTER_MODEL) == "none"


async def test_a_400_naming_the_effort_mid_run_lowers_it_and_retries_once(
    fake_llm, router_env, tmp_path
):
    fake_llm.script(
        ErrorReply(400, "reasoning_effort 'high' is not supported for this provider"),
        Reply(content="recovered"),
    )
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    await session.effort_memo.put(ROUTER_MODEL, "high")  # probed earlier
    await run_input(session, "hi")
    assert [r.body.get("reasoning_effort") for r in fake_llm.requests] == ["high", "medium"]
    assert rec.of("turn_complete")[0].final_response == "recovered"
    assert any("retrying with 'medium'" in e.log for e in rec.of("tool_log"))
    assert session.effort_memo.known(ROUTER_MODEL) == "medium"


async def test_the_recovery_is_tried_once_then_the_error_shows(fake_llm, router_env, tmp_path):
    refusal = ErrorReply(400, "reasoning_effort is not supported")
    fake_llm.script(refusal, refusal)
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    await session.effort_memo.put(ROUTER_MODEL, "high")
    await run_input(session, "hi")
    assert len(fake_llm.requests) == 2
    assert rec.of("error")[0].kind == "bad_request"


async def test_an_unrelated_400_is_not_retried(fake_llm, router_env, tmp_path):
    fake_llm.script(ErrorReply(400, "messages[1].content must be a string"))
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    await session.effort_memo.put(ROUTER_MODEL, "high")
    await run_input(session, "hi")
    assert len(fake_llm.requests) == 1 and rec.of("error")[0].kind == "bad_request"


@pytest.mark.parametrize("model", ["vllm/test-model", "ollama/qwen3", "llamacpp/m"])
async def test_local_servers_never_get_an_effort_nor_a_probe(fake_llm, tmp_path, model):
    env = {
        "VLLM_BASE_URL": fake_llm.url,
        "OLLAMA_BASE_URL": fake_llm.url,
        "LLAMACPP_BASE_URL": fake_llm.url,
    }
    fake_llm.script(Reply(content="local"))
    session, rec = make_session(
        fake_llm, tmp_path, env=env, model_name=model, reasoning_effort="high"
    )
    await run_input(session, "hi")
    assert len(fake_llm.requests) == 1
    assert "reasoning_effort" not in fake_llm.requests[0].body


async def test_reasoning_streams_and_stays_in_the_history(fake_llm, tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    fake_llm.script(
        Reply(
            reasoning="I should read the file first.",
            tool_calls=[ToolCall("read", {"path": "a.txt"})],
            chunk_size=6,
        ),
        Reply(content="It says alpha.", reasoning="Done reading."),
    )
    session, rec = make_session(fake_llm, tmp_path)
    await run_input(session, "read a.txt")
    assert "".join(e.content for e in rec.of("assistant_reasoning")) == (
        "I should read the file first.Done reading."
    )
    assistants = [m for m in session.history.messages if m["role"] == "assistant"]
    assert [m.get("reasoning_content") for m in assistants] == [
        "I should read the file first.",
        "Done reading.",
    ]
    # Sent back with the message on the next call.
    second = fake_llm.requests[1].body["messages"]
    assert [m.get("reasoning_content") for m in second if m["role"] == "assistant"] == [
        "I should read the file first."
    ]


async def test_reasoning_refused_by_signature_is_stripped_from_the_request_only(fake_llm, tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    fake_llm.script(
        Reply(reasoning="thinking...", tool_calls=[ToolCall("read", {"path": "a.txt"})]),
        ErrorReply(400, "Invalid `signature` in `thinking` block"),
        Reply(content="fine"),
        Reply(content="still fine"),
    )
    session, rec = make_session(fake_llm, tmp_path)
    await run_input(session, "read a.txt")
    assert rec.of("turn_complete")[0].final_response == "fine"
    refused, retried = fake_llm.requests[1].body, fake_llm.requests[2].body
    assert any("reasoning_content" in m for m in refused["messages"])
    assert not any("reasoning_content" in m for m in retried["messages"])
    # The history keeps it; later calls to this model leave it out at once.
    assert session.history.messages[2]["reasoning_content"] == "thinking..."
    await run_input(session, "again")
    assert len(fake_llm.requests) == 4
    assert not any("reasoning_content" in m for m in fake_llm.requests[3].body["messages"])


async def test_effort_probe_survives_a_store_that_keeps_no_settings(fake_llm, router_env, tmp_path):
    class Forgetful:
        def get_setting(self, key):
            raise OSError("disk gone")

        def put_setting(self, key, value):
            raise OSError("disk gone")

    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    session.effort_memo._store_getter = lambda: Forgetful()
    fake_llm.script(Reply(content="ok"), Reply(content="works"))
    await run_input(session, "hi")
    assert rec.of("turn_complete")[0].final_response == "works"
    assert session.effort_memo.known(ROUTER_MODEL) == "high"


async def test_the_probe_is_priced_from_the_router_catalog_like_the_call(
    fake_llm, router_env, tmp_path
):
    from ml_intern_jupyter.agent import llm

    llm._catalogs.clear()
    llm._catalog_failed_at.clear()
    fake_llm.catalog["org/thinker"] = {
        "providers": [
            {"provider": "prov", "status": "live", "pricing": {"input": 1.0, "output": 2.0}}
        ]
    }
    fake_llm.script(Reply(content="ok", usage=(20, 10)), Reply(content="done", usage=(100, 50)))
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    try:
        await run_input(session, "hi")
    finally:
        llm._catalogs.clear()
        llm._catalog_failed_at.clear()
    probe, turn = rec.of("llm_call")
    assert probe.kind == "probe" and probe.cost_usd == pytest.approx((20 * 1 + 10 * 2) / 1e6)
    assert turn.cost_usd == pytest.approx((100 * 1 + 50 * 2) / 1e6)
    assert session.totals.cost_known


async def test_a_probe_before_a_failing_call_is_still_counted(fake_llm, router_env, tmp_path):
    fake_llm.script(Reply(content="ok", usage=(20, 10)), ErrorReply(400, "messages are malformed"))
    session, rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="high"
    )
    await run_input(session, "hi")
    assert [e.kind for e in rec.of("llm_call")] == ["probe"]
    assert rec.of("error")[0].kind == "bad_request"
    assert session.totals.prompt_tokens == 20


async def test_minimal_is_sent_as_low_where_the_provider_lacks_it(fake_llm, router_env, tmp_path):
    fake_llm.script(Reply(content="ok"), Reply(content="answered"))
    session, _rec = make_session(
        fake_llm, tmp_path, env=router_env, model_name=ROUTER_MODEL, reasoning_effort="minimal"
    )
    await run_input(session, "hi")
    assert fake_llm.requests[-1].body["reasoning_effort"] == "low"


async def test_litellm_openai_ids_take_the_effort_through_litellm_minimal_included(
    fake_llm, tmp_path
):
    env = {"ML_INTERN_LITELLM_BASE_URL": fake_llm.url, "ML_INTERN_LITELLM_API_KEY": "k"}
    fake_llm.script(Reply(content="ok"), Reply(content="via litellm"))
    session, rec = make_session(
        fake_llm,
        tmp_path,
        env=env,
        model_name="litellm/openai/test-model",
        reasoning_effort="minimal",
    )
    await run_input(session, "hi")
    assert rec.of("turn_complete")[0].final_response == "via litellm"
    probe, call = (r.body for r in fake_llm.requests)
    assert probe["reasoning_effort"] == "high" and call["reasoning_effort"] == "minimal"

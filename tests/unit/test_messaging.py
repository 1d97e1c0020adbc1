"""Notifications (webhook, Slack) and the `notify` tool, against a loopback
server that records requests, with a real Session on the scripted model server."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from ml_intern_jupyter.agent.messaging import Notifier
from ml_intern_jupyter.config import Destination, Messaging, load_config
from ml_intern_jupyter.errors import ConfigError
from ml_intern_jupyter.tools.base import Approval
from tests.agent_harness import make_session, run_input, tool
from tests.fakes.llm_server import ErrorReply, FakeLLMServer, Reply, ToolCall
from tests.fakes.notify_server import Answer, NotifyServer

FAST = {"retry_waits_s": [0.01, 0.02, 0.04], "timeout_s": 5}


@pytest.fixture
def llm():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def hook(monkeypatch):
    with NotifyServer() as srv:
        monkeypatch.setenv("HOOK_URL", srv.url + "/hook")
        yield srv


@pytest.fixture(autouse=True)
def _no_ambient_slack(monkeypatch):
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID", "ML_INTERN_SLACK_NOTIFICATIONS"):
        monkeypatch.delenv(name, raising=False)


def webhook(**kw):
    return {"provider": "webhook", "url_env": "HOOK_URL", **kw}


def messaging(destinations, **kw):
    return {"enabled": True, "destinations": destinations, **FAST, **kw}


class Waits:
    def __init__(self):
        self.waits: list[float] = []

    async def __call__(self, seconds):
        self.waits.append(seconds)
        await asyncio.sleep(0)


async def test_approval_required_reaches_the_webhook(llm, hook, tmp_path):
    risky = tool("risky", lambda a: "done", approval=Approval.ASK)
    llm.script(Reply(tool_calls=[ToolCall("risky", {})]))
    session, rec = make_session(
        llm, tmp_path, tools=[risky], messaging=messaging({"hook": webhook()})
    )
    await run_input(session, "do it")
    assert session.state == "waiting_approval"
    await session.notifier.drain()
    (posted,) = hook.requests
    assert posted.path == "/hook" and posted.json["event"] == "approval_required"
    assert posted.json["session_id"] == session.id
    assert "waiting for your approval: risky" in posted.json["text"]


async def test_failed_deliveries_are_retried_with_backoff(hook):
    hook.script(Answer(503), Answer(500), Answer(200))
    waits = Waits()
    notifier = Notifier(
        Messaging(**messaging({"hook": webhook()}, retry_waits_s=[1, 2, 4])),
        session_id="s1",
        sleep=waits,
    )
    result = await notifier.deliver("hook", notifier.destinations["hook"], "error", "boom")
    assert result.ok and result.attempts == 3
    assert waits.waits == [1, 2]  # backoff 1 s, then 2 s
    assert len(hook.requests) == 3 and hook.requests[-1].json["text"] == "boom"


async def test_retry_after_is_honoured_and_a_400_is_not_retried(hook):
    hook.script(Answer(429, headers={"Retry-After": "7"}), Answer(200), Answer(400, {"e": 1}))
    waits = Waits()
    notifier = Notifier(Messaging(**messaging({"hook": webhook()})), session_id="s", sleep=waits)
    dest = notifier.destinations["hook"]
    assert (await notifier.deliver("hook", dest, "error", "x")).ok
    assert waits.waits == [7.0]
    refused = await notifier.deliver("hook", dest, "error", "y")
    assert not refused.ok and refused.attempts == 1 and "HTTP 400" in refused.detail
    assert len(hook.requests) == 3


async def test_a_service_that_never_answers_gives_up_after_the_attempts(hook):
    hook.fallback = Answer(delay=1.0)
    notifier = Notifier(
        Messaging(**messaging({"hook": webhook()}, timeout_s=0.2, retry_waits_s=[0.01])),
        session_id="s",
    )
    result = await notifier.deliver("hook", notifier.destinations["hook"], "error", "x")
    assert not result.ok and result.attempts == 2 and result.detail == "timed out"


async def test_a_slow_service_never_holds_up_the_session(llm, hook, tmp_path):
    hook.fallback = Answer(delay=1.5)
    llm.script(ErrorReply.auth())
    session, rec = make_session(
        llm,
        tmp_path,
        messaging=messaging({"hook": webhook()}, turn_complete_min_s=0),
    )
    started = time.monotonic()
    await run_input(session, "hi")
    assert rec.of("error") and time.monotonic() - started < 1.0
    assert session.notifier._tasks  # still delivering, on its own task
    llm.script(Reply(content="next"))
    await run_input(session, "again")  # the session goes on meanwhile
    assert rec.of("turn_complete")[0].final_response == "next"
    await session.notifier.drain()
    assert [r.json["event"] for r in hook.requests] == ["error", "turn_complete"]
    assert all(d.ok for d in session.notifier.deliveries)


async def test_only_long_turns_are_announced(llm, hook, tmp_path):
    llm.script(Reply(content="quick"), Reply(content="also quick"))
    short, _ = make_session(llm, tmp_path, messaging=messaging({"hook": webhook()}))
    await run_input(short, "hi")  # default: turns of a minute or more
    await short.notifier.drain()
    assert hook.requests == []
    anything, _ = make_session(
        llm, tmp_path, messaging=messaging({"hook": webhook()}, turn_complete_min_s=0)
    )
    await run_input(anything, "hi")
    await anything.notifier.drain()
    (posted,) = hook.requests
    assert "finished a turn after 0 s." in posted.json["text"]
    assert posted.json["text"].endswith("also quick")


async def test_event_types_and_destinations_filter(llm, hook, tmp_path):
    llm.script(ErrorReply.auth())
    session, _ = make_session(
        llm,
        tmp_path,
        messaging=messaging(
            {"quiet": webhook(allow_auto_events=False), "loud": webhook()},
            auto_event_types=["approval_required"],
        ),
    )
    await run_input(session, "hi")
    await session.notifier.drain()
    assert hook.requests == []  # errors are not in auto_event_types


async def test_slack_from_the_environment_with_its_own_retry_rule(llm, hook, tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C123")
    monkeypatch.setenv("ML_INTERN_SLACK_API_URL", hook.url)
    hook.script(
        Answer(200, {"ok": False, "error": "ratelimited"}),
        Answer(200, {"ok": True}),
    )
    llm.script(ErrorReply.auth())
    session, _ = make_session(llm, tmp_path, messaging=FAST)  # no destinations configured
    await run_input(session, "hi")
    await session.notifier.drain()
    first, second = hook.requests
    assert second.path == "/chat.postMessage"
    assert second.headers["authorization"] == "Bearer xoxb-test-token"
    assert second.json["channel"] == "C123" and "stopped with an error" in second.json["text"]
    assert session.notifier.deliveries[-1].attempts == 2
    # Slack refusing the token is final.
    hook.script(Answer(200, {"ok": False, "error": "invalid_auth"}))
    dest = session.notifier.destinations["slack.default"]
    result = await session.notifier.deliver("slack.default", dest, "error", "x")
    assert not result.ok and result.attempts == 1 and "invalid_auth" in result.detail


async def test_slack_from_the_environment_can_be_switched_off(llm, tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C123")
    monkeypatch.setenv("ML_INTERN_SLACK_NOTIFICATIONS", "false")
    session, _ = make_session(llm, tmp_path)
    assert session.notifier is None and session.tools.get("notify") is None


async def test_texts_are_scrubbed_before_they_leave(hook):
    notifier = Notifier(Messaging(**messaging({"hook": webhook()})), session_id="s")
    secret = "hf_" + "a1B2c3D4" * 5
    await notifier.deliver("hook", notifier.destinations["hook"], "error", f"token {secret} bad")
    assert secret not in json.dumps(hook.requests[0].json)


async def test_the_model_may_notify_only_allowed_destinations(llm, hook, tmp_path):
    llm.script(
        Reply(tool_calls=[ToolCall("notify", {"message": "Training finished: acc 0.91"})]),
        Reply(content="Told you."),
    )
    session, rec = make_session(
        llm,
        tmp_path,
        messaging=messaging(
            {"phone": webhook(allow_agent_tool=True), "team": webhook(allow_auto_events=False)}
        ),
    )
    spec = session.tools.get("notify")
    assert spec is not None and spec.parameters["properties"]["destination"]["enum"] == ["phone"]
    await run_input(session, "tell me when done")
    out = rec.of("tool_output")[0]
    assert out.success and out.output == "phone: sent"
    assert [r.json["text"] for r in hook.requests] == ["Training finished: acc 0.91"]
    with pytest.raises(ValueError, match="does not accept messages from the agent"):
        await session.notifier.send("hi", "team")


async def test_no_notify_tool_without_an_allowing_destination(llm, hook, tmp_path):
    session, _ = make_session(llm, tmp_path, messaging=messaging({"hook": webhook()}))
    assert session.notifier is not None and session.tools.get("notify") is None


def test_config_takes_upstreams_shape_and_refuses_literal_secrets(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "model_name": "vllm/m",
                "messaging": {
                    "enabled": True,
                    "auto_event_types": ["approval_required", "error"],
                    "destinations": {
                        "slack.team": {
                            "provider": "slack",
                            "channel": "C999",
                            "allow_agent_tool": False,
                            "allow_auto_events": True,
                        }
                    },
                },
            }
        )
    )
    cfg = load_config(env={}, user_file=good)
    assert cfg.messaging.destinations["slack.team"] == Destination(provider="slack", channel="C999")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "model_name": "vllm/m",
                "messaging": {
                    "destinations": {"s": {"provider": "slack", "token": "xoxb-secret-123"}}
                },
            }
        )
    )
    with pytest.raises(ConfigError) as info:
        load_config(env={}, user_file=bad)
    assert "token_env" in str(info.value) and "xoxb-secret-123" not in str(info.value)


async def test_turn_length_counts_from_the_turn_start_through_an_approval(hook):
    from ml_intern_jupyter.agent import messages as ev

    now = [0.0]
    notifier = Notifier(
        Messaging(**messaging({"hook": webhook()}, turn_complete_min_s=60)),
        session_id="s",
        clock=lambda: now[0],
    )
    pending = ev.PendingCall(tool="hf_jobs", arguments={}, tool_call_id="c1")
    notifier.on_event(ev.OpStarted(op_type="user_input"))
    notifier.on_event(ev.Processing())
    now[0] = 10
    notifier.on_event(ev.ApprovalRequired(tools=[pending], count=1))
    now[0] = 50
    notifier.on_event(ev.Processing())  # after the decision: the same turn
    now[0] = 100
    notifier.on_event(ev.TurnComplete(final_response="trained"))
    # A new, short turn is not announced.
    notifier.on_event(ev.OpStarted(op_type="user_input"))
    now[0] = 110
    notifier.on_event(ev.TurnComplete(final_response="quick"))
    await notifier.drain()
    by_event = {r.json["event"]: r.json["text"] for r in hook.requests}
    assert len(hook.requests) == 2 and "approval: hf_jobs" in by_event["approval_required"]
    done = by_event["turn_complete"]
    assert "finished a turn after 1 min 40 s." in done and done.endswith("trained")

"""Notifications to Slack and webhooks, and the `notify` tool.

A `Notifier` subscribes to a session's events. `approval_required`, `error`
and `turn_complete` (only for turns at least `turn_complete_min_s` long) are
sent to every destination that allows automatic events, each delivery as its
own task on the session's loop: the session never waits for one. Each
attempt has a timeout; failures that may pass (no connection, 5xx, 429,
Slack's `ratelimited`) are retried after `retry_waits_s` (1, 2, 4 s; a
Retry-After is honoured up to 30 s); others are logged once and dropped.

Secrets come from the environment only (`Destination.token_env`, `url_env`;
`SLACK_BOT_TOKEN` + `SLACK_CHANNEL_ID` alone make a `slack.default`
destination, as upstream, unless `ML_INTERN_SLACK_NOTIFICATIONS=false`).
Texts are scrubbed of secrets before they leave. `ML_INTERN_SLACK_API_URL`
points Slack calls elsewhere (tests).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import Destination, Messaging
from ..traces.redact import scrub_text

if TYPE_CHECKING:
    from ..tools.base import ToolContext, ToolResult, ToolSpec

log = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com/api"
TEXT_LIMIT = 1500
RETRY_AFTER_MAX_S = 30.0
_FALSE = ("0", "false", "no", "off")
_SLACK_RETRYABLE = ("ratelimited", "internal_error", "fatal_error", "service_unavailable")


@dataclass
class Delivery:
    """The outcome of one notification to one destination."""

    destination: str
    event: str
    ok: bool
    attempts: int
    detail: str = ""


class _Retry(Exception):
    def __init__(self, detail: str, wait: float | None = None):
        super().__init__(detail)
        self.wait = wait


class _GiveUp(Exception):
    pass


def destinations(messaging: Messaging, env: Mapping[str, str]) -> dict[str, Destination]:
    """The configured destinations, plus `slack.default` from the environment."""
    out = dict(messaging.destinations)
    if (
        "slack.default" not in out
        and env.get("SLACK_BOT_TOKEN")
        and env.get("SLACK_CHANNEL_ID")
        and env.get("ML_INTERN_SLACK_NOTIFICATIONS", "").strip().lower() not in _FALSE
    ):
        out["slack.default"] = Destination(provider="slack", allow_agent_tool=True)
    return out


def active(messaging: Messaging, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if not messaging.enabled and not messaging.destinations:
        # Upstream turned messaging on when the Slack variables were set.
        return bool(destinations(messaging, env))
    return messaging.enabled and bool(destinations(messaging, env))


class Notifier:
    def __init__(
        self,
        messaging: Messaging,
        *,
        session_id: str,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.messaging = messaging
        self.session_id = session_id
        self.env = os.environ if env is None else env
        self.destinations = destinations(messaging, self.env)
        self._sleep = sleep
        self._clock = clock
        self._tasks: set[asyncio.Task[Delivery]] = set()
        self._turn_started: float | None = None
        self.deliveries: list[Delivery] = []  # finished ones, newest last (kept short)

    # -- automatic events (called on the session's loop; returns at once)

    def on_event(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if kind == "op_started" and getattr(event, "op_type", "") == "user_input":
            self._turn_started = self._clock()  # a new turn (a paused one is abandoned)
            return
        if kind == "processing" and self._turn_started is None:
            self._turn_started = self._clock()
            return
        if kind not in ("approval_required", "error", "turn_complete", "interrupted"):
            return
        started, self._turn_started = self._turn_started, None
        if kind == "approval_required":
            self._turn_started = started  # the turn goes on after the decision
        if kind == "interrupted" or kind not in self.messaging.auto_event_types:
            return
        text = self._text(event, started)
        if text is None:
            return
        for name, dest in self.destinations.items():
            if dest.allow_auto_events:
                self._spawn(name, dest, kind, text)

    def _text(self, event: Any, started: float | None) -> str | None:
        head = f"ml-intern session {self.session_id}"
        if event.type == "approval_required":
            tools = ", ".join(p.tool for p in event.tools) or "a tool call"
            return f"{head} is waiting for your approval: {tools}."
        if event.type == "error":
            return f"{head} stopped with an error: {event.error}"
        took = self._clock() - started if started is not None else 0.0
        if took < self.messaging.turn_complete_min_s:
            return None
        answer = (event.final_response or "").strip()
        return f"{head} finished a turn after {_duration(took)}." + (
            f"\n\n{answer}" if answer else ""
        )

    def _spawn(self, name: str, dest: Destination, kind: str, text: str) -> asyncio.Task[Delivery]:
        task = asyncio.get_running_loop().create_task(
            self.deliver(name, dest, kind, text), name=f"notify-{name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float = 30) -> None:
        """Wait for deliveries in flight (tests, shutdown); never raises."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    # -- the notify tool

    def tool_destinations(self) -> list[str]:
        return [n for n, d in self.destinations.items() if d.allow_agent_tool]

    async def send(self, message: str, destination: str | None = None) -> list[Delivery]:
        """Send a message from the model to one allowed destination, or all of them."""
        allowed = self.tool_destinations()
        if destination is not None and destination not in allowed:
            known = ", ".join(allowed) or "none"
            raise ValueError(
                f"Destination '{destination}' does not accept messages from the agent "
                f"(allowed: {known})."
            )
        names = [destination] if destination is not None else allowed
        tasks = [self._spawn(n, self.destinations[n], "notify", message) for n in names]
        return list(await asyncio.gather(*tasks))

    # -- delivery

    async def deliver(self, name: str, dest: Destination, kind: str, text: str) -> Delivery:
        text = scrub_text(text)
        if len(text) > TEXT_LIMIT:
            text = text[: TEXT_LIMIT - 1] + "…"
        waits = list(self.messaging.retry_waits_s)
        attempt = 0
        detail = ""
        ok = False
        while True:
            attempt += 1
            try:
                await asyncio.wait_for(
                    self._post(dest, kind, text), timeout=self.messaging.timeout_s
                )
                ok = True
                break
            except asyncio.CancelledError:
                raise
            except _GiveUp as exc:
                detail = str(exc)
                break
            except Exception as exc:  # _Retry, a timeout, no connection, ...
                detail = _describe(exc)
                if attempt > len(waits):
                    break
                wait = waits[attempt - 1]
                if isinstance(exc, _Retry) and exc.wait is not None:
                    wait = min(exc.wait, RETRY_AFTER_MAX_S)
                await self._sleep(wait)
        result = Delivery(name, kind, ok, attempt, detail)
        if not ok:
            log.warning("notification to %s failed after %d attempt(s): %s", name, attempt, detail)
        self.deliveries = [*self.deliveries[-49:], result]
        return result

    async def _post(self, dest: Destination, kind: str, text: str) -> None:
        import httpx

        if dest.provider == "slack":
            token = self.env.get(dest.token_env)
            channel = dest.channel or self.env.get(dest.channel_env)
            if not token or not channel:
                raise _GiveUp(
                    f"Slack needs a token in ${dest.token_env} and a channel "
                    f"(`channel` or ${dest.channel_env})."
                )
            base = self.env.get("ML_INTERN_SLACK_API_URL") or SLACK_API_URL
            url = base.rstrip("/") + "/chat.postMessage"
            payload: dict[str, Any] = {"channel": channel, "text": text}
            headers = {"Authorization": f"Bearer {token}"}
        else:
            assert dest.url_env is not None  # checked by the config
            url = self.env.get(dest.url_env) or ""
            if not url:
                raise _GiveUp(f"The webhook URL variable ${dest.url_env} is not set.")
            payload = {
                "event": kind,
                "session_id": self.session_id,
                "text": text,
                "timestamp": time.time(),
            }
            headers = {}
        async with httpx.AsyncClient(timeout=self.messaging.timeout_s) as client:
            response = await client.post(url, json=payload, headers=headers)
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}", _retry_after(response.headers.get("retry-after")))
        if status >= 400:
            raise _GiveUp(f"HTTP {status}: {response.text[:200]}")
        if dest.provider == "slack":
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not body.get("ok", False):
                error = str(body.get("error") or "unknown error")
                if error in _SLACK_RETRYABLE:
                    raise _Retry(f"Slack: {error}")
                raise _GiveUp(f"Slack: {error}")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return scrub_text(str(exc) or type(exc).__name__)[:200]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


# ------------------------------------------------------------------ the tool


def notify_tool(notifier: Notifier) -> ToolSpec:
    """`notify`: the model sends a short message to a destination that allows it."""
    from ..tools.base import Approval, ToolResult, ToolSpec

    allowed = notifier.tool_destinations()

    async def handler(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        message = str(args.get("message") or "").strip()
        if not message:
            return ToolResult("ERROR: 'message' is empty; say what the user should know.", False)
        try:
            results = await notifier.send(message, args.get("destination"))
        except ValueError as exc:
            return ToolResult(f"ERROR: {exc}", False)
        lines = [
            f"{r.destination}: " + ("sent" if r.ok else f"not sent ({r.detail})") for r in results
        ]
        return ToolResult("\n".join(lines), all(r.ok for r in results))

    return ToolSpec(
        name="notify",
        description=(
            "Send a short message to the user outside the notebook (Slack or webhook), e.g. "
            "when a long job finished or you need their attention. Destinations: "
            + ", ".join(allowed)
            + ". Omit 'destination' to send to all of them."
        ),
        parameters={
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "What to tell the user."},
                "destination": {"type": "string", "enum": allowed},
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        handler=handler,
        approval=lambda _a: Approval.NO,
        timeout=notifier.messaging.timeout_s * (len(notifier.messaging.retry_waits_s) + 1)
        + sum(notifier.messaging.retry_waits_s)
        + 5,
    )

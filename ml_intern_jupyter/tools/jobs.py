"""`hf_jobs`: run and manage Hugging Face Jobs (cloud compute).

Approval rules are upstream's: a `scheduled *` operation that creates or
changes a schedule always asks (even in yolo); `run`/`uv` on a GPU flavor
asks; on a CPU flavor it asks when `confirm_cpu_jobs` is on; `ps`, `logs`,
`inspect`, `cancel` never ask. The cost estimate is the flavor's hourly price
times the timeout (default 0.5 h); unknown flavors have no estimate, so a
yolo budget asks.

After `run`/`uv` the tool follows the job: it polls its status, streams new
log lines through `ctx.log`, reports stage changes through `ctx.set_state`,
and returns the final stage, the URL, the tail of the logs and the cost
(hourly price x running time). If the turn is cancelled (Stop), the remote
job is cancelled too, then the cancellation propagates.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ToolFailure
from . import pricing, trackio
from .base import Approval, ToolContext, ToolResult, ToolSpec
from .hub_client import (
    HubSettings,
    arg,
    clip,
    guarded,
    in_thread,
    make_api,
    namespace_of,
    obj,
    resolve_token,
)
from .hub_errors import Where, describe

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "OPERATIONS",
    "estimate_job_cost",
    "job_approval",
    "jobs_tool",
    "parse_timeout",
]

OPERATIONS = [
    "run",
    "uv",
    "ps",
    "logs",
    "inspect",
    "cancel",
    "scheduled run",
    "scheduled uv",
    "scheduled ps",
    "scheduled inspect",
    "scheduled delete",
    "scheduled suspend",
    "scheduled resume",
]
RUNS = frozenset({"run", "uv"})
SCHEDULE_CREATE = frozenset({"scheduled run", "scheduled uv"})
SCHEDULE_CHANGES = SCHEDULE_CREATE | {"scheduled delete", "scheduled suspend", "scheduled resume"}
TERMINAL = frozenset({"COMPLETED", "CANCELED", "ERROR", "DELETED"})
DEFAULT_TIMEOUT_S = 1800  # 0.5 h, as upstream
DEFAULT_UV_IMAGE = "ghcr.io/astral-sh/uv:python3.12-bookworm"
LOG_TAIL = 50
MAX_STREAMED_LINES = 1000
MAX_LOG_LINE = 2000
MAX_INLINE_SCRIPT = 90_000  # base64 of it must fit one exec argument (128 KiB)
MAX_POLL_FAILURES = 5
CANCEL_DEADLINE_S = 10.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TOKEN_REF = re.compile(r"^\$\{?HF_TOKEN\}?$")


# ------------------------------------------------------------ rules and cost


def parse_timeout(value: Any) -> int:
    """Seconds from 1800, '90s', '30m', '2h' or '1d' (None -> the 0.5 h default)."""
    if value is None or value == "":
        return DEFAULT_TIMEOUT_S
    if isinstance(value, bool):
        raise ValueError("timeout must be a number of seconds or a string like '30m'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        unit = _UNITS.get(text[-1:]) if text else None
        number = text[:-1] if unit else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            raise ValueError(
                f"timeout {value!r} is not like 1800, '90s', '30m', '2h' or '1d'"
            ) from None
    if seconds <= 0:
        raise ValueError("timeout must be positive")
    return int(seconds)


def _flavor(args: dict[str, Any]) -> str:
    return str(args.get("flavor") or "cpu-basic").strip().lower()


def job_approval(confirm_cpu_jobs: bool = True) -> Any:
    def rule(args: dict[str, Any]) -> Approval:
        op = args.get("operation")
        if op in SCHEDULE_CHANGES:
            return Approval.ALWAYS_ASK
        if op in RUNS:
            if not pricing.is_cpu(_flavor(args)) or confirm_cpu_jobs:
                return Approval.ASK
        return Approval.NO

    return rule


def estimate_job_cost(args: dict[str, Any]) -> float | None:
    """Hourly price x timeout hours for operations that start a job; 0 for the others."""
    if args.get("operation") not in RUNS | SCHEDULE_CREATE:
        return 0.0
    price = pricing.hourly_price(_flavor(args))
    if price is None:
        return None
    try:
        hours = parse_timeout(args.get("timeout")) / 3600
    except ValueError:
        return None
    return round(price * hours, 4)


# ------------------------------------------------------------------ formatting


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _stage(job: Any) -> str:
    """The stage as a plain string ('RUNNING'), whether the client gives a str or a JobStage."""
    stage = job.status.stage
    return str(getattr(stage, "value", stage))


def _when(dt: Any) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt is not None else "-"


def _running_secs(job: Any) -> float | None:
    durations = getattr(job, "durations", None)
    if durations is not None and durations.running_secs is not None:
        return float(durations.running_secs)
    if job.started_at is not None and job.finished_at is not None:
        return (job.finished_at - job.started_at).total_seconds()
    return None


def _cost(flavor: str, seconds: float | None) -> float | None:
    price = pricing.hourly_price(flavor)
    if price is None or seconds is None:
        return None
    return round(price * seconds / 3600, 4)


def _what(job: Any) -> str:
    image = job.docker_image or (f"space {job.space_id}" if job.space_id else "?")
    command = " ".join(shlex.quote(str(c)) for c in job.command or [])
    return f"{image}: {clip(command, 160)}"


def _job_details(job: Any) -> str:
    flavor = str(job.flavor or "?")
    ran = _running_secs(job)
    cost = _cost(flavor, ran)
    lines = [
        f"Job {job.id}: {_stage(job)}" + (f" ({job.status.message})" if job.status.message else ""),
        f"URL: {job.url}",
        f"Flavor: {flavor} · {_what(job)}",
    ]
    if job.environment:
        lines.append(
            "Env: " + ", ".join(f"{k}={clip(str(v), 60)}" for k, v in job.environment.items())
        )
    if job.secrets:
        lines.append("Secrets: " + ", ".join(job.secrets) + " (values hidden)")
    timing = f"Created {_when(job.created_at)} · started {_when(job.started_at)}"
    timing += f" · finished {_when(job.finished_at)}"
    if ran is not None:
        timing += f" · ran {_secs(ran)}" + (f" (≈ ${cost:.2f})" if cost is not None else "")
    lines.append(timing)
    return "\n".join(lines)


def _scheduled_line(s: Any) -> str:
    spec = s.job_spec
    image = spec.docker_image or (f"space {spec.space_id}" if spec.space_id else "?")
    command = " ".join(shlex.quote(str(c)) for c in spec.command or [])
    state = "suspended" if s.suspend else "active"
    nxt = _when(s.status.next_job_run_at) if s.status else "-"
    return (
        f"{s.id}  {s.schedule}  {state}  {spec.flavor}  next {nxt}  {image}: {clip(command, 100)}"
    )


# --------------------------------------------------------------------- the tool


@dataclass(frozen=True)
class JobsSettings:
    poll_interval_s: float = 5.0
    # After the job's own timeout, keep waiting this long (scheduling, start-up).
    follow_grace_s: float = 900.0


class _Jobs:
    def __init__(self, hub: HubSettings, jobs: JobsSettings):
        self.hub, self.cfg = hub, jobs

    @property
    def t(self) -> float:
        return self.hub.request_timeout_s

    async def handle(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        op = args["operation"]
        token = resolve_token()
        api = make_api(token)
        ns = str(args.get("namespace") or "") or await in_thread(
            namespace_of, api, token, deadline=self.t
        )
        if op in RUNS:
            return await self.run(api, ns, token, args, ctx)
        if op in SCHEDULE_CREATE:
            return await self.schedule(api, ns, token, args, ctx)
        if op.startswith("scheduled "):
            return await self.scheduled(api, ns, op, args)
        if op == "ps":
            return await self.ps(api, ns, args)
        job_id = arg(args, "job_id", op)
        if op == "logs":
            logs = await in_thread(self._logs, api, job_id, ns, deadline=self.t)
            tail = int(args.get("tail") or LOG_TAIL)
            shown = logs[-tail:]
            head = f"Logs of job {job_id} (last {len(shown)} of {len(logs)} lines):"
            return ToolResult(
                "\n".join([head, *shown]) if shown else f"Job {job_id} has no logs yet."
            )
        if op == "inspect":
            job = await in_thread(api.inspect_job, job_id=job_id, namespace=ns, deadline=self.t)
            return ToolResult(_job_details(job), display={"job_url": job.url})
        await in_thread(api.cancel_job, job_id=job_id, namespace=ns, deadline=self.t)
        return ToolResult(
            f"Cancellation requested for job {job_id}. Check it with operation=inspect."
        )

    # -- building the job -----------------------------------------------------

    def _spec(self, token: str | None, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        op = args["operation"].removeprefix("scheduled ")
        if op == "run":
            image, command = arg(args, "image", "run"), _command(arg(args, "command", "run"))
        else:
            image, command = _uv_command(args, ctx)
        return {
            "image": image,
            "command": command,
            "env": {str(k): str(v) for k, v in (args.get("env") or {}).items()} or None,
            "secrets": _secrets(args.get("secrets") or {}, token) or None,
            "flavor": _flavor(args),
            "timeout": parse_timeout(args.get("timeout")),
        }

    async def run(
        self, api: Any, ns: str, token: str | None, args: dict[str, Any], ctx: ToolContext
    ) -> ToolResult:
        if args["operation"] == "uv":
            args = trackio.with_trackio_dependency(args)
        spec = self._spec(token, args, ctx)
        board = trackio.prepare(spec, args, ns, token)
        result = await self._run(api, ns, spec, args, ctx, board)
        if board is not None:
            result.display = {**(result.display or {}), **board}
            result.output += (
                f"\nTrackio dashboard: {board['trackio_url']} (project {board['trackio_project']}; "
                "the job has TRACKIO_SPACE_ID and TRACKIO_PROJECT set)."
            )
        return result

    async def _run(
        self,
        api: Any,
        ns: str,
        spec: dict[str, Any],
        args: dict[str, Any],
        ctx: ToolContext,
        board: dict[str, str] | None,
    ) -> ToolResult:
        with contextlib.suppress(Exception):  # live prices are a nicety; the table is the fallback
            await in_thread(pricing.refresh, api, deadline=self.t)
        submit = asyncio.ensure_future(
            in_thread(api.run_job, **spec, namespace=ns, deadline=self.t)
        )
        try:
            job = await asyncio.shield(submit)
        except asyncio.CancelledError:
            # Stopped while submitting: the job may exist already; cancel it if so.
            with contextlib.suppress(BaseException):
                job = await asyncio.wait_for(submit, CANCEL_DEADLINE_S)
                await self._cancel_remote(api, ns, job.id, ctx)
            raise
        ctx.log(f"Job {job.id} submitted on {spec['flavor']}: {job.url}")
        if board is not None:
            ctx.log(f"Trackio dashboard: {board['trackio_url']}")
        ctx.set_state(_stage(job).lower())
        display = {"job_url": job.url, "job_id": job.id}
        if args.get("detach"):
            return ToolResult(
                f"Job {job.id} submitted ({_stage(job)}) on {spec['flavor']}.\nURL: {job.url}\n"
                f"Follow it with hf_jobs operation=logs / inspect job_id={job.id}.",
                display=display,
            )
        return await self.follow(api, ns, job, spec, ctx)

    async def follow(
        self, api: Any, ns: str, job: Any, spec: dict[str, Any], ctx: ToolContext
    ) -> ToolResult:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + spec["timeout"] + self.cfg.follow_grace_s
        stage, streamed, failures = _stage(job), 0, 0
        logs: list[str] = []
        try:
            while stage not in TERMINAL and loop.time() < give_up:
                await asyncio.sleep(self.cfg.poll_interval_s)
                try:
                    job = await in_thread(
                        api.inspect_job, job_id=job.id, namespace=ns, deadline=self.t
                    )
                    failures = 0
                except Exception as exc:
                    failures += 1
                    place = Where("hf_jobs inspect", api.endpoint, job_id=job.id, timeout_s=self.t)
                    ctx.log(f"[status check failed: {describe(exc, place)}]")
                    if failures >= MAX_POLL_FAILURES:
                        return self._lost(job, logs, spec, describe(exc, place))
                    continue
                with contextlib.suppress(Exception):
                    logs = await in_thread(self._logs, api, job.id, ns, deadline=self.t)
                streamed = _stream(ctx, logs, streamed)
                if _stage(job) != stage:
                    stage = _stage(job)
                    ctx.set_state(stage.lower())
        except asyncio.CancelledError:
            await self._cancel_remote(api, ns, job.id, ctx)
            raise
        if stage not in TERMINAL:
            return ToolResult(
                f"Job {job.id} is still {stage} after waiting past its timeout; it keeps "
                f"running remotely.\nURL: {job.url}\nCheck it with hf_jobs operation=inspect, "
                "or stop it with operation=cancel.\n" + _tail(logs),
                display={"job_url": job.url, "job_id": job.id},
            )
        return self._final(job, logs, spec)

    def _final(self, job: Any, logs: list[str], spec: dict[str, Any]) -> ToolResult:
        ran = _running_secs(job)
        cost = _cost(spec["flavor"], ran)
        stage = _stage(job)
        head = f"Job {job.id} {stage} on {spec['flavor']}"
        if ran is not None:
            head += f" after {_secs(ran)}"
        if cost is not None:
            head += f" (≈ ${cost:.2f})"
        lines = [head + ".", f"URL: {job.url}"]
        if job.status.message:
            lines.append(f"Message: {job.status.message}")
        lines.append(_tail(logs))
        if stage == "ERROR":
            lines.append(
                "The job failed: read the logs above, fix the cause and run it again. "
                f"Full logs: hf_jobs operation=logs job_id={job.id} tail=500."
            )
        elif stage in ("CANCELED", "DELETED"):
            lines.append("The job was stopped before it finished.")
        return ToolResult(
            "\n".join(lines),
            success=stage == "COMPLETED",
            cost_usd=cost,
            display={"job_url": job.url, "job_id": job.id, "stage": stage},
        )

    def _lost(self, job: Any, logs: list[str], spec: dict[str, Any], why: str) -> ToolResult:
        return ToolResult(
            f"Lost track of job {job.id} ({why}). It may still be running remotely.\n"
            f"URL: {job.url}\nCheck it with hf_jobs operation=inspect job_id={job.id}.\n"
            + _tail(logs),
            success=False,
            display={"job_url": job.url, "job_id": job.id},
        )

    async def _cancel_remote(self, api: Any, ns: str, job_id: str, ctx: ToolContext) -> None:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(api.cancel_job, job_id=job_id, namespace=ns), CANCEL_DEADLINE_S
            )
            ctx.log(f"Cancelled job {job_id}.")
        except BaseException as exc:  # best effort: the cancellation itself must go on
            ctx.log(f"Could not cancel job {job_id} ({type(exc).__name__}); cancel it on its page.")

    @staticmethod
    def _logs(api: Any, job_id: str, ns: str) -> list[str]:
        return [str(line) for line in api.fetch_job_logs(job_id=job_id, namespace=ns)]

    # -- listing and schedules ---------------------------------------------

    async def ps(self, api: Any, ns: str, args: dict[str, Any]) -> ToolResult:
        jobs = await in_thread(lambda: list(api.list_jobs(namespace=ns)), deadline=self.t)
        if not args.get("all"):
            jobs = [j for j in jobs if _stage(j) not in TERMINAL]
        jobs.sort(key=lambda j: j.created_at.timestamp() if j.created_at else 0, reverse=True)
        if not jobs:
            which = "" if args.get("all") else " running or scheduling (all=true lists every job)"
            return ToolResult(f"No{which} jobs in {ns}.")
        which = "all" if args.get("all") else "running or scheduling"
        lines = [f"Jobs of {ns} ({which}, newest first):"]
        for j in jobs[:20]:
            lines.append(f"{j.id}  {_stage(j)}  {j.flavor}  {_when(j.created_at)}  {_what(j)}")
        if len(jobs) > 20:
            lines.append(f"[{len(jobs) - 20} older jobs not shown]")
        return ToolResult("\n".join(lines))

    async def schedule(
        self, api: Any, ns: str, token: str | None, args: dict[str, Any], ctx: ToolContext
    ) -> ToolResult:
        schedule = arg(args, "schedule", args["operation"])
        spec = self._spec(token, args, ctx)
        info = await in_thread(
            api.create_scheduled_job, **spec, schedule=schedule, namespace=ns, deadline=self.t
        )
        per_run = estimate_job_cost(args)
        cost = f" Each run may cost up to ≈ ${per_run:.2f}." if per_run else ""
        return ToolResult(
            f"Scheduled job {info.id} created: '{schedule}' on {spec['flavor']}.{cost}\n"
            f"Next run: {_when(info.status.next_job_run_at)}. Manage it with hf_jobs "
            f"'scheduled inspect' / 'scheduled suspend' / 'scheduled delete' job_id={info.id}."
        )

    async def scheduled(self, api: Any, ns: str, op: str, args: dict[str, Any]) -> ToolResult:
        if op == "scheduled ps":
            found = await in_thread(api.list_scheduled_jobs, namespace=ns, deadline=self.t)
            if not found:
                return ToolResult(f"No scheduled jobs in {ns}.")
            return ToolResult(
                "\n".join([f"Scheduled jobs of {ns}:", *(_scheduled_line(s) for s in found)])
            )
        sid = arg(args, "job_id", op)
        kw = {"scheduled_job_id": sid, "namespace": ns, "deadline": self.t}
        if op == "scheduled inspect":
            info = await in_thread(api.inspect_scheduled_job, **kw)
            return ToolResult(_scheduled_line(info))
        action = {
            "scheduled delete": (api.delete_scheduled_job, "deleted"),
            "scheduled suspend": (api.suspend_scheduled_job, "suspended"),
            "scheduled resume": (api.resume_scheduled_job, "resumed"),
        }[op]
        await in_thread(action[0], **kw)
        return ToolResult(f"Scheduled job {sid} {action[1]}.")


def _stream(ctx: ToolContext, logs: list[str], streamed: int) -> int:
    for line in logs[streamed:]:
        if streamed < MAX_STREAMED_LINES:
            ctx.log(line[:MAX_LOG_LINE])
        elif streamed == MAX_STREAMED_LINES:
            ctx.log("[further log lines are not streamed; use hf_jobs operation=logs]")
        streamed += 1
    return streamed


def _tail(logs: list[str]) -> str:
    if not logs:
        return "Logs: (none)"
    shown = [line[:MAX_LOG_LINE] for line in logs[-LOG_TAIL:]]
    return "\n".join([f"Logs (last {len(shown)} of {len(logs)} lines):", *shown])


def _command(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return ["/bin/sh", "-c", raw]
    command = [str(c) for c in raw]
    if not command:
        raise ToolFailure("`command` is empty; give e.g. ['python', '-c', 'print(1)'].")
    return command


def _uv_command(args: dict[str, Any], ctx: ToolContext) -> tuple[str, list[str]]:
    script = arg(args, "script", "uv", strip=False)
    uv_args: list[str] = []
    for dep in args.get("dependencies") or []:
        uv_args += ["--with", str(dep)]
    if args.get("python"):
        uv_args += ["--python", str(args["python"])]
    script_args = [str(a) for a in args.get("script_args") or []]
    image = args.get("image") or DEFAULT_UV_IMAGE
    one_line = script.strip()
    if "\n" not in one_line and one_line.startswith(("http://", "https://")):
        return image, ["uv", "run", *uv_args, one_line, *script_args]
    code = script
    if "\n" not in one_line and one_line.endswith(".py"):
        path = Path(one_line).expanduser()
        path = path if path.is_absolute() else Path(ctx.workdir) / path
        if not path.is_file():
            raise ToolFailure(
                f"Script file not found: {path}. Pass the code itself, a URL, or a file in the workdir."
            )
        code = path.read_text(encoding="utf-8")
    if len(code) > MAX_INLINE_SCRIPT:
        raise ToolFailure(
            f"The script is {len(code):,} characters; inline scripts are limited to "
            f"{MAX_INLINE_SCRIPT:,}. Upload it to a repo (hf_repo_files) and pass its URL."
        )
    encoded = base64.b64encode(code.encode("utf-8")).decode("ascii")
    run = " ".join(shlex.quote(a) for a in ["uv", "run", *uv_args, "/tmp/script.py", *script_args])
    return image, ["/bin/sh", "-c", f"echo {encoded} | base64 -d > /tmp/script.py && exec {run}"]


def _secrets(raw: dict[str, Any], token: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw.items():
        value = str(value)
        if _TOKEN_REF.match(value.strip()):
            if not token:
                raise ToolFailure("Secret '$HF_TOKEN' asked for, but you are not logged in.")
            value = token
        out[str(key)] = value
    return out


def jobs_tool(
    *,
    confirm_cpu_jobs: bool = True,
    settings: HubSettings | None = None,
    jobs: JobsSettings | None = None,
) -> ToolSpec:
    hub = settings or HubSettings()
    impl = _Jobs(hub, jobs or JobsSettings())
    flavors = ", ".join(pricing.FALLBACK_HOURLY_USD)
    return ToolSpec(
        name="hf_jobs",
        description=(
            "Run code on Hugging Face cloud hardware (HF Jobs; paid, billed per minute). "
            "operation=run starts `command` in a Docker `image`; uv runs a Python `script` "
            "(the code itself, a URL, or a .py file in the workdir) with uv, plus "
            "`dependencies`. Both wait for the job, streaming its logs, and return its final "
            "state, URL, log tail and cost (detach=true returns at once). `flavor` picks the "
            f"hardware (default cpu-basic; e.g. {flavors}); `timeout` bounds the run (default "
            "30m; e.g. '2h'). `env` sets variables; `secrets` sets hidden ones, and the value "
            "'$HF_TOKEN' passes your token (needed to push to the Hub). ps lists jobs "
            "(all=true includes finished ones); logs, inspect and cancel take `job_id`. "
            "'scheduled run'/'scheduled uv' create a cron `schedule` (e.g. '@daily', "
            "'0 9 * * 1'); 'scheduled ps/inspect/suspend/resume/delete' manage them "
            "(`job_id` = the scheduled job id). `trackio_space_id` (and `trackio_project`) "
            "send the job's trackio metrics to a dashboard Space; in the code call "
            "trackio.init(project=os.environ['TRACKIO_PROJECT']) (the Space comes from "
            "TRACKIO_SPACE_ID). Runs on GPUs and every schedule change ask the user first."
        ),
        parameters=obj(
            {
                "operation": {"type": "string", "enum": OPERATIONS},
                "image": {"type": "string", "description": "Docker image (run), e.g. python:3.12."},
                "command": {
                    "anyOf": [
                        {"type": "array", "items": {"type": "string"}},
                        {"type": "string"},
                    ],
                    "description": "run: argv list, or one shell command string.",
                },
                "script": {"type": "string", "description": "uv: code, URL or .py path."},
                "script_args": {"type": "array", "items": {"type": "string"}},
                "dependencies": {"type": "array", "items": {"type": "string"}},
                "python": {"type": "string", "description": "uv: Python version, e.g. 3.12."},
                "flavor": {"type": "string", "description": "Hardware flavor."},
                "timeout": {
                    "anyOf": [{"type": "number"}, {"type": "string"}],
                    "description": "Seconds, or '30m', '2h', '1d'.",
                },
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "secrets": {"type": "object", "additionalProperties": {"type": "string"}},
                "job_id": {"type": "string"},
                "schedule": {"type": "string", "description": "Cron or @hourly/@daily/..."},
                "namespace": {"type": "string", "description": "Org to run in (default: you)."},
                "detach": {"type": "boolean", "default": False},
                "all": {"type": "boolean", "default": False, "description": "ps: all jobs."},
                "tail": {"type": "integer", "minimum": 1, "description": "logs: lines."},
                "trackio_space_id": {
                    "type": "string",
                    "description": "run/uv: log the job's trackio metrics to this Space "
                    "('user/name' or 'name'); it gets TRACKIO_SPACE_ID, TRACKIO_PROJECT and "
                    "your token.",
                },
                "trackio_project": {
                    "type": "string",
                    "description": "run/uv: the trackio project (default: the Space's name).",
                },
            },
            ["operation"],
        ),
        handler=guarded("hf_jobs", impl.handle, timeout_s=hub.request_timeout_s),
        approval=job_approval(confirm_cpu_jobs),
        estimate_cost=estimate_job_cost,
        timeout=None,  # follows the job itself, bounded by the job's timeout
    )

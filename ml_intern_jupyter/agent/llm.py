"""Model calls: id resolution, streaming, errors, retries, cost. The one door.

Two clients carry the calls, chosen by the model id (`resolve_model`):

* the lean OpenAI-compatible client (`openai_compat`, on httpx) for the
  Hugging Face router and every local server: no translation is needed
  there, so litellm (~4.6 s and ~205 MB to import) is never loaded;
* litellm, for `litellm/<provider>/<model>` ids (providers whose API needs
  translation). It is imported lazily, in a worker thread, the first time
  such an id is called (`ensure_litellm`).

Both feed the same accumulator, the same error classes and the same retry
loop, so a turn behaves the same whichever client carried it.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..errors import LLMError, LLMErrorKind, MissingTokenError
from . import caching
from . import catalog as _catalog
from . import effort as effort_rules
from .catalog import (  # noqa: F401  (re-exported: call sites and tests use these names)
    CATALOG_RETRY_S,
    CATALOG_TIMEOUT_S,
    CatalogEntry,
    _catalog_failed_at,
    _catalogs,
    _fetch_catalog,
)
from .effort import EffortMemo

log = logging.getLogger(__name__)

ROUTER_BASE_URL = _catalog.ROUTER_BASE_URL
# prefix -> (base-url env var, api-key env var, default base url)
LOCAL_PREFIXES: dict[str, tuple[str, str, str]] = {
    "ollama/": ("OLLAMA_BASE_URL", "OLLAMA_API_KEY", "http://localhost:11434/v1"),
    "vllm/": ("VLLM_BASE_URL", "VLLM_API_KEY", "http://localhost:8000/v1"),
    "lm_studio/": ("LMSTUDIO_BASE_URL", "LMSTUDIO_API_KEY", "http://localhost:1234/v1"),
    "llamacpp/": ("LLAMACPP_BASE_URL", "LLAMACPP_API_KEY", "http://localhost:8080/v1"),
}
LITELLM_PREFIX = "litellm/"
DEFAULT_CONTEXT_WINDOW = 200_000
# Which client carries a target.
VIA_OPENAI = "openai-compatible"
VIA_LITELLM = "litellm"

_litellm_lock = threading.Lock()
_litellm: Any = None


def import_litellm() -> Any:
    """Import and configure litellm once (blocking; call off the main thread)."""
    global _litellm
    with _litellm_lock:
        if _litellm is None:
            # Without this litellm fetches its price map from the network at import.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.drop_params = True
            litellm.suppress_debug_info = True
            litellm.telemetry = False
            _litellm = litellm
        return _litellm


async def ensure_litellm() -> Any:
    if _litellm is not None:
        return _litellm
    return await asyncio.to_thread(import_litellm)


# ------------------------------------------------------------ model resolution


@dataclass(frozen=True)
class ModelTarget:
    model_id: str  # what the user chose
    model: str  # what the endpoint (or, via litellm, litellm) is asked for
    api_base: str | None
    api_key: str | None
    extra_headers: dict[str, str] = field(default_factory=dict)
    is_router: bool = False
    via: str = VIA_OPENAI

    @property
    def price_key(self) -> str:
        """The id without a router policy/provider suffix, for price lookups."""
        return self.model_id.split(":", 1)[0]


def resolve_model(
    model_id: str,
    *,
    session_id: str,
    env: Mapping[str, str] | None = None,
    token_getter: Callable[[], str | None] | None = None,
) -> ModelTarget:
    """Map a model id to an OpenAI-compatible endpoint. Raises MissingTokenError."""
    env = os.environ if env is None else env
    model_id = model_id.strip()
    for prefix, (base_var, key_var, default_base) in LOCAL_PREFIXES.items():
        if model_id.startswith(prefix):
            name = model_id[len(prefix) :]
            if not name:
                raise LLMError(
                    f"Model id '{model_id}' names no model after '{prefix}'.",
                    kind="model_not_found",
                )
            base = env.get(base_var) or env.get("LOCAL_LLM_BASE_URL") or default_base
            key = env.get(key_var) or env.get("LOCAL_LLM_API_KEY") or "not-needed"
            return ModelTarget(model_id, name, base, key)
    if model_id.startswith(LITELLM_PREFIX):
        name = model_id[len(LITELLM_PREFIX) :]
        if "/" not in name.strip("/"):
            raise LLMError(
                f"Model id '{model_id}' needs a litellm provider and model after 'litellm/', "
                "e.g. 'litellm/anthropic/claude-sonnet-4-5'.",
                kind="model_not_found",
            )
        # Credentials come from the provider's own variables (ANTHROPIC_API_KEY, ...),
        # which litellm reads; these two override them for every litellm/ id.
        return ModelTarget(
            model_id,
            name,
            env.get("ML_INTERN_LITELLM_BASE_URL") or None,
            env.get("ML_INTERN_LITELLM_API_KEY") or None,
            via=VIA_LITELLM,
        )
    if "/" not in model_id:
        raise LLMError(
            f"Model id '{model_id}' is not recognised. Use a Hugging Face id such as "
            "'moonshotai/Kimi-K2.6:novita' (optionally with :provider, :fastest or "
            "':cheapest'), a local one (ollama/, vllm/, lm_studio/, llamacpp/), or "
            "litellm/<provider>/<model>.",
            kind="model_not_found",
        )
    token = env.get("HF_TOKEN") or (token_getter or _cached_hf_token)()
    if not token:
        raise MissingTokenError(model_id)
    base = env.get("ML_INTERN_ROUTER_BASE_URL") or ROUTER_BASE_URL
    return ModelTarget(
        model_id,
        model_id,
        base,
        token,
        extra_headers={"X-HF-Session-id": session_id},
        is_router=True,
    )


def _cached_hf_token() -> str | None:
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover - declared dependency
        return None
    return get_token()


# ------------------------------------------------------------------ responses


@dataclass
class LLMResponse:
    content: str = ""
    # [{"id", "name", "arguments"}] in index order; arguments is the raw string.
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    usage_known: bool = False
    # Of prompt_tokens: read from / written to the provider's prompt cache.
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning: str = ""  # the model's reasoning text (reasoning_content), if it sent any
    thinking_blocks: list[dict[str, Any]] = field(default_factory=list)  # signed (litellm)
    probes: list[LLMResponse] = field(default_factory=list)  # effort probes made before it


def _usage_numbers(usage: Any) -> tuple[int, int, int, int]:
    """(prompt, completion, cache read, cache write) tokens of a usage object.

    OpenAI counts cached tokens inside `prompt_tokens`
    (`prompt_tokens_details.cached_tokens`); Anthropic's own usage reports
    `cache_read_input_tokens` / `cache_creation_input_tokens` beside an input
    count that excludes them. Either way `prompt` here includes both."""
    prompt = int(_get(usage, "prompt_tokens") or 0)
    completion = int(_get(usage, "completion_tokens") or 0)
    details = _get(usage, "prompt_tokens_details")
    read = int(_get(usage, "cache_read_input_tokens") or 0)
    if not read and details is not None:
        read = int(_get(details, "cached_tokens") or 0)
    write = int(_get(usage, "cache_creation_input_tokens") or 0)
    if not write and details is not None:
        write = int(_get(details, "cache_creation_tokens") or 0)
    if prompt < read + write:
        prompt += read + write
    return prompt, completion, read, write


def _get(obj: Any, key: str) -> Any:
    """A field of a chunk: a dict from the lean client, an object from litellm."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


class _Accumulator:
    """Folds a chat-completion stream (dict or litellm chunks) into one response."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cache_read = 0
        self.cache_write = 0
        self.usage_known = False
        self.reasoning: list[str] = []
        self.reasoning_delta = ""  # the reasoning text of the last chunk fed
        self.blocks: list[dict[str, Any]] = []

    def feed(self, chunk: Any) -> str:
        """Absorb one chunk; returns its text content ('' if none)."""
        self.reasoning_delta = ""
        usage = _get(chunk, "usage")
        if usage:
            (self.prompt_tokens, self.completion_tokens, self.cache_read, self.cache_write) = (
                _usage_numbers(usage)
            )
            self.usage_known = True
        choices = _get(chunk, "choices") or []
        if not choices:
            return ""
        choice = choices[0]
        finish = _get(choice, "finish_reason")
        if finish:
            self.finish_reason = finish
        delta = _get(choice, "delta")
        if delta is None:
            return ""
        for tc in _get(delta, "tool_calls") or []:
            index = _get(tc, "index")
            slot = self.calls.setdefault(
                index if index is not None else len(self.calls),
                {"id": "", "name": "", "arguments": ""},
            )
            # Ids and names arrive whole (some servers repeat them on every
            # delta), so they are set, not appended; arguments are fragments.
            call_id = _get(tc, "id")
            if call_id:
                slot["id"] = call_id
            fn = _get(tc, "function")
            if fn is not None:
                name = _get(fn, "name")
                if name:
                    slot["name"] = name
                arguments = _get(fn, "arguments")
                if arguments:
                    slot["arguments"] += arguments
        thought = _get(delta, "reasoning_content") or _get(delta, "reasoning") or ""
        if isinstance(thought, str) and thought:
            self.reasoning.append(thought)
            self.reasoning_delta = thought
        for block in _get(delta, "thinking_blocks") or []:
            self._fold_block(block)
        text = _get(delta, "content") or ""
        if text:
            self.parts.append(text)
        return text

    def _fold_block(self, block: Any) -> None:
        """Signed thinking blocks arrive in pieces: text, then the signature."""
        kind = _get(block, "type") or "thinking"
        if kind != "thinking":  # redacted_thinking: opaque, whole
            self.blocks.append({k: _get(block, k) for k in ("type", "data") if _get(block, k)})
            return
        if (
            not self.blocks
            or self.blocks[-1].get("type") != "thinking"
            or (self.blocks[-1].get("signature"))
        ):
            self.blocks.append({"type": "thinking", "thinking": ""})
        current = self.blocks[-1]
        current["thinking"] += _get(block, "thinking") or ""
        signature = _get(block, "signature")
        if signature:
            current["signature"] = signature

    def result(self) -> LLMResponse:
        calls = [self.calls[i] for i in sorted(self.calls)]
        for n, call in enumerate(calls):
            call["id"] = call["id"] or f"call_{n}_{int(time.time() * 1000)}"
        return LLMResponse(
            content="".join(self.parts),
            tool_calls=calls,
            finish_reason=self.finish_reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            usage_known=self.usage_known,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
            reasoning="".join(self.reasoning),
            thinking_blocks=[b for b in self.blocks if b.get("thinking") or b.get("data")],
        )


# --------------------------------------------------------------------- errors


class RetryableLLMError(LLMError):
    def __init__(self, message: str, *, kind: LLMErrorKind, retry_after: float | None = None):
        super().__init__(message, kind=kind)
        self.retry_after = retry_after


# Phrases servers use for "the prompt does not fit" (vllm, TGI, llama.cpp, the
# router's providers, OpenAI); a 400 carrying one is an overflow, not a bad request.
_OVERFLOW_HINTS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "context size",
    "prompt is too long",
    "input is too long",
    "too many input tokens",
    "exceeds the model",
    "reduce the length",
)
_RATE_LIMIT_HINTS = ("rate limit", "rate_limit", "too many tokens", "throttl", "too many requests")


def _auth_error(target: ModelTarget) -> LLMError:
    if target.is_router:
        hint = "Check your Hugging Face token (`%intern login` or HF_TOKEN) and that it may call Inference Providers."
    elif target.via == VIA_LITELLM:
        hint = "Check the provider's API key variable (or ML_INTERN_LITELLM_API_KEY)."
    else:
        hint = (
            "Check the API key of your local server (the *_API_KEY or LOCAL_LLM_API_KEY variable)."
        )
    return LLMError(
        f"The model server rejected the credentials for '{target.model_id}'. {hint}",
        kind="auth",
        login_required=target.is_router,
    )


def _classify_status(
    status: int, detail: str, code: str | None, exc: BaseException, target: ModelTarget
) -> LLMError:
    """An HTTP error from an OpenAI-compatible server, by status, code and wording.

    Status 0: an error sent inside a stream without one (judged by its words,
    else transient, as a server fault mid-reply is)."""
    text = f"{code or ''} {detail}".lower()
    if status in (0, 400, 413, 422) and any(h in text for h in _OVERFLOW_HINTS):
        return LLMError(
            f"The conversation no longer fits the model's context: {detail}",
            kind="context_overflow",
        )
    if status == 429 or (status in (0, 400) and any(h in text for h in _RATE_LIMIT_HINTS)):
        return RetryableLLMError(
            f"Rate limited by the model server: {detail}",
            kind="rate_limit",
            retry_after=_retry_after(exc),
        )
    if status in (401, 403):
        return _auth_error(target)
    if status == 402:
        return LLMError(
            f"Billing problem for '{target.model_id}': {detail}. Check your credits or plan.",
            kind="billing",
        )
    if status == 404:
        return LLMError(
            f"Model '{target.model_id}' was not found at {target.api_base}: {detail}. Pick another with `%intern model ID`.",
            kind="model_not_found",
        )
    if status in (0, 408, 409, 425) or status >= 500:
        return RetryableLLMError(
            f"Model server error {status}: {detail}" if status else f"Model server error: {detail}",
            kind="transient",
            retry_after=_retry_after(exc),
        )
    return LLMError(f"The model server refused the request: {detail}", kind="bad_request")


def _lm_types(lm: Any, *names: str) -> tuple[type, ...]:
    """litellm's exception classes of these names that this litellm has
    (BadGatewayError, for one, is newer than the oldest litellm accepted)."""
    return tuple(t for t in (getattr(lm, n, None) for n in names) if isinstance(t, type))


def classify(exc: BaseException, target: ModelTarget) -> LLMError:
    """Turn a lean-client, litellm or plain exception into our typed error."""
    if isinstance(exc, LLMError):
        return exc
    from .openai_compat import APIStatusError

    detail = _short(exc)
    if isinstance(exc, APIStatusError):
        return _classify_status(exc.status_code, detail, exc.code, exc, target)
    lm = _litellm
    # litellm maps some statuses of OpenAI-compatible servers to BadRequestError
    # (e.g. 401/403); the status code is the reliable part.
    status = getattr(exc, "status_code", None)
    if lm is not None:
        if isinstance(exc, lm.ContextWindowExceededError):
            return LLMError(
                f"The conversation no longer fits the model's context: {detail}",
                kind="context_overflow",
            )
        if isinstance(exc, lm.RateLimitError) or status == 429:
            return RetryableLLMError(
                f"Rate limited by the model server: {detail}",
                kind="rate_limit",
                retry_after=_retry_after(exc),
            )
        if isinstance(exc, _lm_types(lm, "AuthenticationError", "PermissionDeniedError")) or (
            status in (401, 403)
        ):
            return _auth_error(target)
        if isinstance(exc, lm.BudgetExceededError) or status == 402:
            return LLMError(
                f"Billing problem for '{target.model_id}': {detail}. Check your credits or plan.",
                kind="billing",
            )
        if isinstance(exc, lm.NotFoundError) or status == 404:
            return LLMError(
                f"Model '{target.model_id}' was not found at {target.api_base}: {detail}. Pick another with `%intern model ID`.",
                kind="model_not_found",
            )
        transient = _lm_types(
            lm,
            "Timeout",
            "APIConnectionError",
            "InternalServerError",
            "ServiceUnavailableError",
            "BadGatewayError",
        )
        if isinstance(exc, transient):
            return RetryableLLMError(
                f"Could not reach the model server at {target.api_base}: {detail}",
                kind="transient",
                retry_after=_retry_after(exc),
            )
        if isinstance(exc, lm.UnsupportedParamsError):
            return LLMError(
                f"The provider does not support this request for '{target.model_id}': {detail}",
                kind="provider_unsupported",
            )
        if isinstance(exc, lm.BadRequestError):
            return LLMError(f"The model server refused the request: {detail}", kind="bad_request")
        if isinstance(exc, lm.APIError):
            if status in (500, 502, 503, 504):
                return RetryableLLMError(f"Model server error {status}: {detail}", kind="transient")
            return LLMError(f"Model server error: {detail}", kind="bad_request")
    if isinstance(exc, ConnectionError | TimeoutError | EOFError):
        # The lean client's TransportFailure is a ConnectionError.
        return RetryableLLMError(
            f"Could not reach the model server at {target.api_base}: {detail}", kind="transient"
        )
    return LLMError(f"The model call failed: {detail}", kind="bad_response")


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # litellm prefixes messages with its own provider tags; keep it readable.
    for tag in ("litellm.", "OpenAIException - "):
        text = text.replace(tag, "")
    return text[:500]


def _retry_after(exc: BaseException) -> float | None:
    headers: Any = None
    for source in (getattr(exc, "response", None), exc):
        for attr in ("headers", "litellm_response_headers"):
            candidate = getattr(source, attr, None)
            if candidate:
                headers = candidate
                break
        if headers:
            break
    if not headers:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None  # unparseable: fall back to our own waits
    if when.tzinfo is None:  # "-0000" parses naive but means UTC
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - time.time())


# --------------------------------------------------------------------- client

ChunkCallback = Callable[[str], object]
RetryCallback = Callable[[str], object]


def _input_usd(
    target: ModelTarget,
    prompt: int,
    read: int,
    write: int,
    rate: float,
    read_rate: float | None = None,
    write_rate: float | None = None,
) -> float:
    """Input tokens x USD per million, with cache reads/writes at their own rates."""
    anthropic = caching.style(target) == caching.ANTHROPIC
    if read_rate is None:
        read_rate = rate * (0.1 if anthropic else 1.0)
    if write_rate is None:
        write_rate = rate * (1.25 if anthropic else 1.0)
    plain = max(0, prompt - read - write)
    return plain * rate + read * read_rate + write * write_rate


class _Plan:
    """What one model call sends beyond the history: the effort level and
    whether earlier reasoning blocks are left out. Lowered by a 400 recovery."""

    def __init__(self, effort: str | None, strip_reasoning: bool):
        self.effort = effort
        self.strip_reasoning = strip_reasoning


class LLMClient:
    """Calls one model with our retry policy; one per session.

    `effort_memo` remembers the reasoning effort each model takes (and which
    models refused our reasoning blocks); the session keeps one across model
    switches and hands it the store."""

    def __init__(
        self,
        config: Config,
        session_id: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        env: Mapping[str, str] | None = None,
        effort_memo: EffortMemo | None = None,
    ):
        self.config = config
        self.session_id = session_id
        self._sleep = sleep
        self._env = env
        self.effort_memo = effort_memo or EffortMemo()

    def target(self) -> ModelTarget:
        return resolve_model(self.config.model_name, session_id=self.session_id, env=self._env)

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        on_chunk: ChunkCallback,
        on_retry: RetryCallback,
        tool_choice: str = "auto",
        on_reasoning: ChunkCallback | None = None,
    ) -> LLMResponse:
        """Stream one reply (`tool_choice="none"`: the tools are shown, not callable).

        `on_retry` is called before each retry; text already passed to
        `on_chunk` (or `on_reasoning`) by the failed attempt is void (the retry
        streams the reply from the start), so a view should drop it when
        `on_retry` fires."""
        return await self._with_retries(
            lambda target, plan: self._stream_once(
                target, messages, tools, on_chunk, on_reasoning, plan, tool_choice
            ),
            on_retry,
            messages,
        )

    async def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None, on_retry: RetryCallback
    ) -> LLMResponse:
        return await self._with_retries(
            lambda target, plan: self._complete_once(target, messages, max_tokens, plan),
            on_retry,
            messages,
        )

    def context_window(self) -> int:
        if self.config.context_window:
            return self.config.context_window
        try:
            target = self.target()
        except LLMError:
            target = None
        if target is not None and target.is_router:
            entry = _catalog_entry(target)
            if entry is not None and entry.context_length:
                return entry.context_length
        lm = _litellm  # its tables only when something already imported it
        if lm is not None:
            for name in (
                target.model if target is not None and target.via == VIA_LITELLM else None,
                self.config.model_name,
                self.config.model_name.split(":", 1)[0].split("/", 1)[-1],
            ):
                if not name:
                    continue
                try:
                    info = lm.get_model_info(name)
                except Exception:
                    continue
                value = info.get("max_input_tokens") or info.get("max_tokens")
                if value:
                    return int(value)
        return DEFAULT_CONTEXT_WINDOW

    def cost(
        self,
        target: ModelTarget,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> float | None:
        """USD for one call: `model_prices` config, else the router's catalog (router
        ids), else litellm's price table if litellm is already imported; else None.

        `prompt_tokens` includes the cache reads and writes. Their rates come from
        `model_prices` (`cache_read_per_mtok`, `cache_write_per_mtok`) or litellm's
        table; else Anthropic's multipliers (x0.1 read, x1.25 write) for Claude
        models and the plain input rate for the rest, which never under-counts."""
        price = self.config.model_prices.get(target.model_id) or self.config.model_prices.get(
            target.price_key
        )
        if price is not None:
            return (
                _input_usd(
                    target,
                    prompt_tokens,
                    cache_read,
                    cache_write,
                    price.input_per_mtok,
                    price.cache_read_per_mtok,
                    price.cache_write_per_mtok,
                )
                + completion_tokens * price.output_per_mtok
            ) / 1e6
        if target.is_router:
            entry = _catalog_entry(target)
            if entry is not None and entry.input_per_mtok is not None:
                return (
                    _input_usd(target, prompt_tokens, cache_read, cache_write, entry.input_per_mtok)
                    + completion_tokens * (entry.output_per_mtok or 0.0)
                ) / 1e6
        lm = _litellm
        if lm is None:
            return None
        try:
            p, c = lm.cost_per_token(
                model=target.model if target.via == VIA_LITELLM else target.price_key,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cache_read_input_tokens=cache_read,
                cache_creation_input_tokens=cache_write,
            )
        except Exception:
            return None  # unknown price: the caller treats None as "not known"
        return float(p) + float(c)

    # -- internals

    def _body(
        self, target: ModelTarget, messages: list[dict[str, Any]], effort: str | None
    ) -> dict[str, Any]:
        """The request body of the lean client."""
        body: dict[str, Any] = {"model": target.model, "messages": messages}
        if effort:
            body["reasoning_effort"] = effort_rules.provider_level(effort, target)
        return body

    def _kwargs(self, target: ModelTarget, effort: str | None) -> dict[str, Any]:
        """The keyword arguments of a litellm call."""
        kwargs: dict[str, Any] = {
            "model": target.model,
            "timeout": self.config.llm_timeout_s,
            # We retry ourselves (with visible waits); litellm and openai must not.
            "num_retries": 0,
            "max_retries": 0,
        }
        if target.api_base:
            kwargs["api_base"] = target.api_base
        if target.api_key:
            kwargs["api_key"] = target.api_key
        if target.extra_headers:
            kwargs["extra_headers"] = dict(target.extra_headers)
        if effort:
            # litellm translates it per provider (e.g. a thinking budget for Anthropic).
            kwargs["reasoning_effort"] = effort_rules.provider_level(effort, target)
        return kwargs

    def _request(
        self,
        target: ModelTarget,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        plan: _Plan,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any]]:
        return caching.outgoing(
            target,
            messages,
            tools,
            session_id=self.session_id,
            strip_reasoning=plan.strip_reasoning,
        )

    async def _stream_once(
        self,
        target: ModelTarget,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        on_chunk: ChunkCallback,
        on_reasoning: ChunkCallback | None,
        plan: _Plan,
        tool_choice: str = "auto",
    ) -> LLMResponse:
        acc = _Accumulator()
        messages, tools, extra = self._request(target, messages, tools, plan)

        def fold(chunk: Any) -> None:
            text = acc.feed(chunk)
            if acc.reasoning_delta and on_reasoning is not None:
                on_reasoning(acc.reasoning_delta)
            if text:
                on_chunk(text)

        if target.via == VIA_OPENAI:
            from . import openai_compat

            body = self._body(target, messages, plan.effort)
            body.update(extra)
            body["stream_options"] = {"include_usage": True}
            if tools:
                body["tools"] = tools
                body["tool_choice"] = tool_choice
            assert target.api_base is not None and target.api_key is not None
            async for chunk in openai_compat.stream_chat(
                base_url=target.api_base,
                api_key=target.api_key,
                body=body,
                headers=target.extra_headers,
                timeout=self.config.llm_timeout_s,
            ):
                fold(chunk)
            return acc.result()
        lm = await ensure_litellm()
        kwargs = self._kwargs(target, plan.effort)
        kwargs.update(extra)
        if tools:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = tool_choice
        stream = await lm.acompletion(
            messages=messages, stream=True, stream_options={"include_usage": True}, **kwargs
        )
        try:
            async for chunk in stream:
                fold(chunk)
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:  # closing a broken stream must not mask its error
                    pass
        return acc.result()

    async def _complete_once(
        self,
        target: ModelTarget,
        messages: list[dict[str, Any]],
        max_tokens: int | None,
        plan: _Plan,
        *,
        cache: bool = True,
    ) -> LLMResponse:
        if cache:
            messages, _tools, extra = self._request(target, messages, None, plan)
        else:
            extra = {}
        if target.via == VIA_OPENAI:
            from . import openai_compat

            body = self._body(target, messages, plan.effort)
            body.update(extra)
            if max_tokens:
                body["max_completion_tokens"] = max_tokens
            assert target.api_base is not None and target.api_key is not None
            resp: Any = await openai_compat.chat_completion(
                base_url=target.api_base,
                api_key=target.api_key,
                body=body,
                headers=target.extra_headers,
                timeout=self.config.llm_timeout_s,
            )
        else:
            lm = await ensure_litellm()
            kwargs = self._kwargs(target, plan.effort)
            kwargs.update(extra)
            if max_tokens:
                kwargs["max_completion_tokens"] = max_tokens
            resp = await lm.acompletion(messages=messages, stream=False, **kwargs)
        choices = _get(resp, "choices") or []
        if not choices:
            raise LLMError("The model server answered without a choice.", kind="bad_response")
        message = _get(choices[0], "message")
        usage = _get(resp, "usage")
        prompt, completion, read, write = _usage_numbers(usage) if usage else (0, 0, 0, 0)
        reasoning = (_get(message, "reasoning_content") if message is not None else None) or ""
        return LLMResponse(
            content=(_get(message, "content") if message is not None else None) or "",
            finish_reason=_get(choices[0], "finish_reason"),
            prompt_tokens=prompt,
            completion_tokens=completion,
            cache_read_tokens=read,
            cache_write_tokens=write,
            usage_known=bool(usage),
            reasoning=reasoning if isinstance(reasoning, str) else "",
        )

    # -- reasoning effort

    async def _effort_for(self, target: ModelTarget, probes: list[LLMResponse]) -> str | None:
        """The level to send to this target (probing the model once if needed)."""
        ceiling = self.config.reasoning_effort
        if not ceiling or ceiling == "none" or not effort_rules.takes_effort(target):
            return None
        memo = self.effort_memo
        supported = await memo.get(target.model_id)
        if supported is None:
            supported = await self._probe(target, probes)
            if supported is not None:
                await memo.put(target.model_id, supported)
        return effort_rules.effective(ceiling, supported)

    async def _probe(self, target: ModelTarget, probes: list[LLMResponse]) -> str | None:
        """The highest level the model accepts ("none" if it takes none), by tiny
        calls down the cascade; None if the probe could not tell (the server failed
        in another way: the real call will show that)."""
        for level in effort_rules.probe_levels(target):
            started = time.perf_counter()
            try:
                response = await self._complete_once(
                    target,
                    list(effort_rules.PROBE_MESSAGES),
                    effort_rules.PROBE_MAX_TOKENS,
                    _Plan(level, True),
                    cache=False,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                err = classify(exc, target)
                if err.kind in ("bad_request", "provider_unsupported"):
                    log.info("%s refused effort %s: %s", target.model_id, level, err)
                    continue
                log.info("effort probe of %s inconclusive: %s", target.model_id, err)
                return None
            response.latency_ms = (time.perf_counter() - started) * 1000
            probes.append(response)  # priced with the call it precedes (after the catalog)
            return level
        return "none"

    async def _recover(
        self, target: ModelTarget, err: LLMError, plan: _Plan, has_reasoning: bool
    ) -> str | None:
        """After a 400: change the plan so a retry may pass; the notice to show, or
        None when the error is not one we can work around."""
        if err.kind not in ("bad_request", "provider_unsupported"):
            return None
        text = str(err)
        if not plan.strip_reasoning and has_reasoning and effort_rules.names_signature(text):
            plan.strip_reasoning = True
            self.effort_memo.strip_reasoning.add(target.model_id)
            return "The provider refused the earlier reasoning blocks; retrying without them."
        if plan.effort and effort_rules.names_effort(text):
            old = plan.effort
            new = effort_rules.lower(old)
            await self.effort_memo.put(target.model_id, new)
            plan.effort = effort_rules.effective(self.config.reasoning_effort, new)
            return f"The provider refused reasoning effort '{old}'; retrying with '{new}'."
        return None

    async def _with_retries(
        self,
        call: Callable[[ModelTarget, _Plan], Awaitable[LLMResponse]],
        on_retry: RetryCallback,
        messages: list[dict[str, Any]],
    ) -> LLMResponse:
        target = self.target()
        if target.via == VIA_LITELLM:
            await ensure_litellm()  # a first-use import must not count as model latency
        # The router's catalog (prices, context lengths) is read alongside the
        # first call, never before it: it must not delay the first token.
        catalog = _start_catalog_fetch(target) if target.is_router else None
        probes: list[LLMResponse] = []
        try:
            plan = _Plan(
                await self._effort_for(target, probes),
                target.model_id in self.effort_memo.strip_reasoning,
            )
            recovered = False
            while True:
                try:
                    response = await self._attempts(target, lambda t: call(t, plan), on_retry)
                    break
                except LLMError as err:
                    notice = None
                    if not recovered:
                        notice = await self._recover(
                            target, err, plan, caching.has_reasoning(messages)
                        )
                    if notice is None:
                        # The probes were made (and billed) all the same.
                        for r in probes:
                            if r.usage_known:
                                r.cost_usd = self.cost(target, r.prompt_tokens, r.completion_tokens)
                        err.probes = probes  # type: ignore[attr-defined]
                        raise
                    recovered = True  # once per call
                    on_retry(notice)
            if catalog is not None and response.usage_known:
                await _wait_catalog(catalog)
        finally:
            if catalog is not None and not catalog.done():
                catalog.cancel()
        for r in (*probes, response):
            if r.usage_known:
                r.cost_usd = self.cost(
                    target,
                    r.prompt_tokens,
                    r.completion_tokens,
                    cache_read=r.cache_read_tokens,
                    cache_write=r.cache_write_tokens,
                )
        response.probes = probes
        return response

    async def _attempts(
        self,
        target: ModelTarget,
        call: Callable[[ModelTarget], Awaitable[LLMResponse]],
        on_retry: RetryCallback,
    ) -> LLMResponse:
        attempts = self.config.llm_attempts
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                response = await call(target)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                err = classify(exc, target)
                if not isinstance(err, RetryableLLMError) or attempt >= attempts:
                    if isinstance(err, RetryableLLMError):
                        raise LLMError(
                            f"{err} (gave up after {attempts} attempts)", kind=err.kind
                        ) from None
                    raise err from None
                waits = (
                    self.config.retry_rate_limit_waits_s
                    if err.kind == "rate_limit"
                    else self.config.retry_transient_waits_s
                )
                wait = waits[min(attempt - 1, len(waits) - 1)] if waits else 0.0
                if err.retry_after is not None:
                    # The server knows when it will take us again; trust it, within reason.
                    wait = min(err.retry_after, self.config.retry_after_max_s)
                on_retry(f"LLM connection error, retrying in {wait:g}s... ({err})")
                await self._sleep(wait)
                continue
            response.latency_ms = (time.perf_counter() - started) * 1000
            return response
        raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------ router catalog
# The catalog itself lives in `catalog.py` (shared with `%intern model`);
# these names keep the call sites short.


def _start_catalog_fetch(target: ModelTarget) -> asyncio.Future[Any] | None:
    return _catalog.start_fetch(target.api_base or ROUTER_BASE_URL, target.api_key or "")


async def _wait_catalog(task: asyncio.Future[Any]) -> None:
    await _catalog.wait(task)


def _catalog_entry(target: ModelTarget) -> CatalogEntry | None:
    return _catalog.entry(target.api_base or ROUTER_BASE_URL, target.model_id)


# ------------------------------------------------------------------ warm-up


async def prewarm(model_id: str | None = None) -> None:
    """Load what the first call needs, off the cell's path.

    For the lean client: httpx, its TLS context and the lazy parts of its first
    request (~0.2 s). litellm only when the model id is a `litellm/` one. The
    warm-up request goes to a loopback port that was just closed, so it is
    refused at once and nothing leaves the machine.
    """
    import socket

    from . import openai_compat

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        async for _chunk in openai_compat.stream_chat(
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key="warm-up",
            body={"model": "warm-up", "messages": []},
            timeout=5,
        ):
            pass
    except Exception:
        pass  # refused, as intended
    if model_id and model_id.strip().startswith(LITELLM_PREFIX):
        await prewarm_litellm()


async def prewarm_litellm() -> None:
    """Import litellm and load what its first call loads lazily (~0.5 s here)."""
    import socket

    lm = await ensure_litellm()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        stream = await lm.acompletion(
            model="openai/warm-up",
            api_base=f"http://127.0.0.1:{port}/v1",
            api_key="warm-up",
            messages=[{"role": "user", "content": "warm-up"}],
            tools=[
                {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}}
            ],
            stream=True,
            stream_options={"include_usage": True},
            num_retries=0,
            max_retries=0,
            timeout=5,
        )
        async for _chunk in stream:
            pass
    except Exception:
        pass  # refused, as intended


def litellm_loaded() -> bool:
    return "litellm" in sys.modules

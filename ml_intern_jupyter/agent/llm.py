"""Model calls: id resolution, streaming through litellm, errors, retries, cost.

litellm is imported lazily, in a worker thread, the first time it is needed
(`ensure_litellm`), so neither `import ml_intern_jupyter` nor the intern
loop ever waits on its ~3.5 s import.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..errors import LLMError, MissingTokenError

log = logging.getLogger(__name__)

ROUTER_BASE_URL = "https://router.huggingface.co/v1"
# prefix -> (base-url env var, api-key env var, default base url)
LOCAL_PREFIXES: dict[str, tuple[str, str, str]] = {
    "ollama/": ("OLLAMA_BASE_URL", "OLLAMA_API_KEY", "http://localhost:11434/v1"),
    "vllm/": ("VLLM_BASE_URL", "VLLM_API_KEY", "http://localhost:8000/v1"),
    "lm_studio/": ("LMSTUDIO_BASE_URL", "LMSTUDIO_API_KEY", "http://localhost:1234/v1"),
    "llamacpp/": ("LLAMACPP_BASE_URL", "LLAMACPP_API_KEY", "http://localhost:8080/v1"),
}
DEFAULT_CONTEXT_WINDOW = 200_000

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
    litellm_model: str  # what litellm is asked for
    api_base: str
    api_key: str
    extra_headers: dict[str, str] = field(default_factory=dict)
    is_router: bool = False

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
            # litellm's own `vllm/` provider is the in-process library, so every
            # local server is reached as a generic OpenAI-compatible endpoint.
            return ModelTarget(model_id, f"openai/{name}", base, key)
    if "/" not in model_id:
        raise LLMError(
            f"Model id '{model_id}' is not recognised. Use a Hugging Face id such as "
            "'moonshotai/Kimi-K2.6:novita' (optionally with :provider, :fastest or "
            "':cheapest'), or a local one: ollama/, vllm/, lm_studio/, llamacpp/.",
            kind="model_not_found",
        )
    token = env.get("HF_TOKEN") or (token_getter or _cached_hf_token)()
    if not token:
        raise MissingTokenError(model_id)
    base = env.get("ML_INTERN_ROUTER_BASE_URL") or ROUTER_BASE_URL
    return ModelTarget(
        model_id,
        f"openai/{model_id}",
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


class _Accumulator:
    """Folds a chat-completion stream into one response."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.usage_known = False

    def feed(self, chunk: Any) -> str:
        """Absorb one chunk; returns its text content ('' if none)."""
        usage = getattr(chunk, "usage", None)
        if usage:
            self.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            self.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            self.usage_known = True
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return ""
        choice = choices[0]
        if getattr(choice, "finish_reason", None):
            self.finish_reason = choice.finish_reason
        delta = getattr(choice, "delta", None)
        if delta is None:
            return ""
        for tc in getattr(delta, "tool_calls", None) or []:
            index = getattr(tc, "index", None)
            slot = self.calls.setdefault(
                index if index is not None else len(self.calls),
                {"id": "", "name": "", "arguments": ""},
            )
            # Ids and names arrive whole (some servers repeat them on every
            # delta), so they are set, not appended; arguments are fragments.
            if getattr(tc, "id", None):
                slot["id"] = tc.id
            fn = getattr(tc, "function", None)
            if fn is not None:
                if getattr(fn, "name", None):
                    slot["name"] = fn.name
                if getattr(fn, "arguments", None):
                    slot["arguments"] += fn.arguments
        text = getattr(delta, "content", None) or ""
        if text:
            self.parts.append(text)
        return text

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
        )


# --------------------------------------------------------------------- errors


class RetryableLLMError(LLMError):
    def __init__(self, message: str, *, kind: str, retry_after: float | None = None):
        super().__init__(message, kind=kind)
        self.retry_after = retry_after


def classify(exc: BaseException, target: ModelTarget) -> LLMError:
    """Turn a litellm/openai/httpx exception into our typed error."""
    if isinstance(exc, LLMError):
        return exc
    lm = _litellm
    detail = _short(exc)
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
        if isinstance(exc, lm.AuthenticationError | lm.PermissionDeniedError) or status in (
            401,
            403,
        ):
            hint = (
                "Check your Hugging Face token (`%intern login` or HF_TOKEN) and that it may call Inference Providers."
                if target.is_router
                else "Check the API key of your local server (the *_API_KEY or LOCAL_LLM_API_KEY variable)."
            )
            return LLMError(
                f"The model server rejected the credentials for '{target.model_id}'. {hint}",
                kind="auth",
                login_required=target.is_router,
            )
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
        if isinstance(
            exc,
            lm.Timeout
            | lm.APIConnectionError
            | lm.InternalServerError
            | lm.ServiceUnavailableError
            | lm.BadGatewayError,
        ):
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
        return RetryableLLMError(
            f"Connection to the model server failed: {detail}", kind="transient"
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


class LLMClient:
    """Calls one model with our retry policy; one per session."""

    def __init__(
        self,
        config: Config,
        session_id: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        env: Mapping[str, str] | None = None,
    ):
        self.config = config
        self.session_id = session_id
        self._sleep = sleep
        self._env = env

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
    ) -> LLMResponse:
        """Stream one reply (`tool_choice="none"`: the tools are shown, not callable).

        `on_retry` is called before each retry; text already
        passed to `on_chunk` by the failed attempt is void (the retry streams the
        reply from the start), so a view should drop it when `on_retry` fires."""
        return await self._with_retries(
            lambda target: self._stream_once(target, messages, tools, on_chunk, tool_choice),
            on_retry,
        )

    async def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None, on_retry: RetryCallback
    ) -> LLMResponse:
        return await self._with_retries(
            lambda target: self._complete_once(target, messages, max_tokens), on_retry
        )

    def context_window(self) -> int:
        if self.config.context_window:
            return self.config.context_window
        lm = _litellm
        if lm is not None:
            for name in (
                self.config.model_name,
                self.config.model_name.split(":", 1)[0].split("/", 1)[-1],
            ):
                try:
                    info = lm.get_model_info(name)
                except Exception:
                    continue
                value = info.get("max_input_tokens") or info.get("max_tokens")
                if value:
                    return int(value)
        return DEFAULT_CONTEXT_WINDOW

    def cost(self, target: ModelTarget, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.config.model_prices.get(target.model_id) or self.config.model_prices.get(
            target.price_key
        )
        if price is not None:
            return (
                prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok
            ) / 1e6
        lm = _litellm
        if lm is None:
            return None
        try:
            p, c = lm.cost_per_token(
                model=target.price_key,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
        except Exception:
            return None  # unknown price: the caller treats None as "not known"
        return float(p) + float(c)

    # -- internals

    def _kwargs(self, target: ModelTarget) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": target.litellm_model,
            "api_base": target.api_base,
            "api_key": target.api_key,
            "timeout": self.config.llm_timeout_s,
            # We retry ourselves (with visible waits); litellm and openai must not.
            "num_retries": 0,
            "max_retries": 0,
        }
        if target.extra_headers:
            kwargs["extra_headers"] = dict(target.extra_headers)
        effort = self.config.reasoning_effort
        if effort and effort != "none":
            kwargs["extra_body"] = {"reasoning_effort": effort}
        return kwargs

    async def _stream_once(
        self,
        target: ModelTarget,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        on_chunk: ChunkCallback,
        tool_choice: str = "auto",
    ) -> LLMResponse:
        lm = await ensure_litellm()
        kwargs = self._kwargs(target)
        if tools:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = tool_choice
        acc = _Accumulator()
        stream = await lm.acompletion(
            messages=messages, stream=True, stream_options={"include_usage": True}, **kwargs
        )
        try:
            async for chunk in stream:
                text = acc.feed(chunk)
                if text:
                    on_chunk(text)
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:  # closing a broken stream must not mask its error
                    pass
        return acc.result()

    async def _complete_once(
        self, target: ModelTarget, messages: list[dict[str, Any]], max_tokens: int | None
    ) -> LLMResponse:
        lm = await ensure_litellm()
        kwargs = self._kwargs(target)
        if max_tokens:
            kwargs["max_completion_tokens"] = max_tokens
        resp = await lm.acompletion(messages=messages, stream=False, **kwargs)
        choice = resp.choices[0]
        usage = getattr(resp, "usage", None)
        return LLMResponse(
            content=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            usage_known=usage is not None,
        )

    async def _with_retries(
        self, call: Callable[[ModelTarget], Awaitable[LLMResponse]], on_retry: RetryCallback
    ) -> LLMResponse:
        target = self.target()
        await ensure_litellm()  # a first-use import must not count as model latency
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
            if response.usage_known:
                response.cost_usd = self.cost(
                    target, response.prompt_tokens, response.completion_tokens
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover


async def prewarm() -> None:
    """Import litellm and load what its first call loads lazily (~0.5 s here).

    The warm-up call goes to a loopback port that was just closed, so it is
    refused at once and nothing leaves the machine.
    """
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

"""All of the project's exceptions, under one base class.

Every exception carries a message written for the user: what went wrong and
what to do. Views show `str(exc)`; nobody should ever need a traceback.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ConfigError",
    "InternError",
    "LLMError",
    "LLMErrorKind",
    "MissingTokenError",
    "SessionError",
    "ToolFailure",
    "TraceShareError",
]


class InternError(Exception):
    """Base class; `str(exc)` is the friendly message."""


class ConfigError(InternError):
    """A config file or value is invalid."""


class SessionError(InternError):
    """An operation does not fit the session's state (unknown id, ended session)."""


class ToolFailure(InternError):
    """A tool call failed; the message is written for the model (it becomes the tool result)."""


class TraceShareError(InternError):
    """Sharing traces on the Hub cannot be set up (not logged in, Hub refused or unreachable)."""


# Why a model call failed (`LLMError.kind`, and the `kind` of its error event).
LLMErrorKind = Literal[
    "auth",
    "billing",
    "model_not_found",
    "provider_unsupported",
    "context_overflow",
    "rate_limit",
    "transient",
    "bad_request",
    "bad_response",
]


class LLMError(InternError):
    """A model call failed in a way retrying will not fix.

    `kind` is an `LLMErrorKind`.
    """

    def __init__(
        self, message: str, *, kind: LLMErrorKind = "bad_request", login_required: bool = False
    ):
        super().__init__(message)
        self.kind = kind
        self.login_required = login_required


class MissingTokenError(LLMError):
    """A Hugging Face router model was chosen but no token is available."""

    def __init__(self, model: str):
        super().__init__(
            f"No Hugging Face token found for model '{model}'. Log in with "
            "`%intern login` (or `huggingface-cli login`), or set the HF_TOKEN "
            "environment variable. To use a local model instead, pick one with "
            "a local prefix, e.g. `%intern model ollama/llama3.1`.",
            kind="auth",
            login_required=True,
        )
        self.model = model

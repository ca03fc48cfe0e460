"""The codexrs exception hierarchy, rooted at :class:`CodexError`.

::

    CodexError
    ├── ConfigError           bad config key/value, policy name, path, missing helper
    ├── ModelError            the model provider failed a turn
    │   └── TurnFailedError   Thread.run() on a turn that ended "failed" (has .result)
    ├── ThreadNotFoundError   no such thread (loaded, or stored for thread_resume/fork)
    ├── RolloutError          a stored thread's rollout is archived, empty or unreadable
    ├── TurnNotSteerableError steer() on a turn that has ended
    ├── OutputValidationError a structured-output turn's message does not match its schema
    ├── EngineClosedError     Codex/thread/runtime closed, or used after fork()
    ├── TurnInProgressError   a turn is already running on this thread
    └── InternalError         a bug (a Rust panic becomes this, never an abort)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ._native import (
    CodexError,
    ConfigError,
    EngineClosedError,
    InternalError,
    ModelError,
    RolloutError,
    ThreadNotFoundError,
    TurnInProgressError,
    TurnNotSteerableError,
)

if TYPE_CHECKING:
    from ._turn import TurnResult

__all__ = [
    "CodexError",
    "ConfigError",
    "EngineClosedError",
    "InternalError",
    "ModelError",
    "OutputValidationError",
    "RolloutError",
    "ThreadNotFoundError",
    "TurnFailedError",
    "TurnInProgressError",
    "TurnNotSteerableError",
    "RETRYABLE_ERRORS",
]

#: codex ``CodexErrorInfo`` kinds after which trying the turn again may succeed.
RETRYABLE_ERRORS = frozenset(
    {
        "server_overloaded",
        "internal_server_error",
        "http_connection_failed",
        "response_stream_connection_failed",
        "response_stream_disconnected",
        "response_too_many_failed_attempts",
    }
)


def error_kind(info: Any) -> tuple[str | None, int | None]:
    """Splits a codex ``CodexErrorInfo`` (a name, or the typed struct of its data-carrying
    variants, or that variant as a dict) into (kind, HTTP status code or None)."""
    if isinstance(info, str):
        return info, None
    if isinstance(info, msgspec.Struct):
        info = {
            name: getattr(info, name)
            for name in info.__struct_fields__
            if getattr(info, name) is not msgspec.UNSET
        }
    if isinstance(info, dict) and len(info) == 1:
        ((kind, detail),) = info.items()
        if isinstance(detail, msgspec.Struct):
            status = getattr(detail, "http_status_code", None)
        else:
            status = detail.get("http_status_code") if isinstance(detail, dict) else None
        return kind, status if isinstance(status, int) else None
    return None, None


class TurnFailedError(ModelError):
    """A turn run with :meth:`Thread.run` ended with status ``"failed"``.

    Attributes:
        result: The full :class:`TurnResult` (status, error, items, usage): nothing is lost.
        kind: codex's error kind (e.g. ``"internal_server_error"``), or ``None``.
        status_code: The HTTP status the provider answered with, when codex recorded one.
        retryable: Whether running the turn again may help: codex's overload, server-error and
            connection kinds (:data:`RETRYABLE_ERRORS`), or an HTTP 429. A usage limit
            (``usage_limit_exceeded``) is not: it resets in hours, not seconds.
        attempts: How many times the turn was tried (``Thread.run(..., retries=N)``).
    """

    def __init__(self, result: TurnResult, attempts: int = 1) -> None:
        error = result.error
        message = error.message if error is not None else "the turn failed"
        super().__init__(message if attempts == 1 else f"{message} (after {attempts} attempts)")
        self.result = result
        self.attempts = attempts
        self.kind, self.status_code = error_kind(error.codex_error_info if error else None)
        self.retryable = self.kind in RETRYABLE_ERRORS or self.status_code == 429


class OutputValidationError(CodexError):
    """A structured-output turn's final message does not match its ``output_schema``.

    Attributes:
        raw: The final message as the model wrote it (``None`` if there was none).
    """

    def __init__(self, message: str, *, raw: str | None) -> None:
        super().__init__(message)
        self.raw = raw

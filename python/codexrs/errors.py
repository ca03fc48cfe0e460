"""The codexrs exception hierarchy, rooted at :class:`CodexError`.

::

    CodexError
    ├── ConfigError           bad config key/value, policy name, path, missing helper
    │   └── CredentialsError  the model provider needs a key or login and none was found
    ├── ModelError            the model provider failed a turn
    │   └── TurnFailedError   Thread.run() on a turn that ended "failed" (has .result)
    │       └── RateLimitError    ... because of an HTTP 429 / usage limit (has .resets_at)
    ├── ThreadNotFoundError   no such thread (loaded, or stored for thread_resume/fork)
    ├── RolloutError          a stored thread's rollout is archived, empty or unreadable
    ├── TurnNotSteerableError steer() on a turn that has ended
    ├── OutputValidationError a structured-output turn's message does not match its schema
    ├── EngineClosedError     Codex/thread/runtime closed, or used after fork()
    ├── TurnInProgressError   a turn is already running on this thread
    ├── NameTakenError        a manager's thread name is already used
    ├── NothingSentError      a manager's wait on threads that were sent no turn
    └── InternalError         a bug (a Rust panic becomes this, never an abort)

Every class here is ``codexrs.errors.<Name>`` (its ``__module__``; the native ones are created in
Rust under that name) and is re-exported from ``codexrs``. Each pickles and unpickles to the same
type with the same message and attributes (``status_code``, ``resets_at``, ``attempts``,
``result``, ...), so they cross ``multiprocessing``, ``concurrent.futures``, logging queues and
Ray intact; attributes are restored as they were, not recomputed.
"""

from __future__ import annotations

import datetime
import re
import time
from typing import TYPE_CHECKING, Any

import msgspec

from ._native import (
    CodexError,
    ConfigError,
    CredentialsError,
    EngineClosedError,
    InternalError,
    ModelError,
    RolloutError,
    ThreadNotFoundError,
    TurnInProgressError,
    TurnNotSteerableError,
)

if TYPE_CHECKING:
    from ._core.turn import TurnResult

__all__ = [
    "CodexError",
    "ConfigError",
    "CredentialsError",
    "EngineClosedError",
    "InternalError",
    "ModelError",
    "NameTakenError",
    "NothingSentError",
    "OutputValidationError",
    "RateLimitError",
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


def _reduced(exc: BaseException) -> tuple[Any, ...]:
    """``__reduce__`` of an exception whose ``__init__`` takes other arguments than its ``args``:
    unpickled by :func:`_rebuilt`, without calling ``__init__``."""
    return _rebuilt, (type(exc), exc.args, dict(vars(exc)))


def _rebuilt(cls: type[BaseException], args: tuple[Any, ...], attributes: dict[str, Any]) -> BaseException:
    """The unpickled exception: its ``args`` (its message) and its attributes exactly as they
    were pickled (not recomputed: a reset time read from a message stays the same)."""
    exc = cls.__new__(cls, *args)
    exc.__dict__.update(attributes)
    return exc


class NameTakenError(CodexError):
    """Another thread of this manager (or of codex's store) already has this name."""


class NothingSentError(CodexError):
    """A manager's ``wait`` / ``wait_all`` / ``wait_any`` on threads that were sent no turn
    (since they were created or resumed): there is nothing to wait for. The threads exist;
    an unknown name raises :class:`ThreadNotFoundError` instead."""


class TurnFailedError(ModelError):
    """A turn run with :meth:`Thread.run` ended with status ``"failed"``.

    Attributes:
        result: The full :class:`TurnResult` (status, error, items, usage): nothing is lost.
        kind: codex's error kind (e.g. ``"internal_server_error"``), or ``None``.
        status_code: The HTTP status the provider answered with, when codex recorded one.
        retryable: Whether running the turn again at once may help: codex's overload,
            server-error and connection kinds (:data:`RETRYABLE_ERRORS`). A rate limit
            (:class:`RateLimitError`) is not: it resets at its own time.
        attempts: How many times the turn was tried (``Thread.run(..., retries=N)``).
    """

    def __init__(self, result: TurnResult, attempts: int = 1) -> None:
        error = result.error
        message = error.message if error is not None else "the turn failed"
        super().__init__(message if attempts == 1 else f"{message} (after {attempts} attempts)")
        self.result = result
        self.attempts = attempts
        self.kind, self.status_code = error_kind(error.codex_error_info if error else None)
        self.retryable = self.kind in RETRYABLE_ERRORS and self.status_code != 429

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduced(self)


class OutputValidationError(CodexError):
    """A structured-output turn's final message does not match its ``output_schema``.

    Attributes:
        raw: The final message as the model wrote it (``None`` if there was none).
    """

    def __init__(self, message: str, *, raw: str | None) -> None:
        super().__init__(message)
        self.raw = raw

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduced(self)


class RateLimitError(TurnFailedError):
    """A turn failed because the provider refused it for a rate or usage limit: an HTTP 429,
    codex's ``usage_limit_exceeded`` (``usage_limit_reached`` / ``usage_not_included`` in the
    429's body) or ``response_too_many_failed_attempts`` with status 429.

    It is never retried at once (``retryable`` is false, ``Thread.run(retries=)`` raises it);
    :class:`~codexrs.AsyncManager` re-queues the turn after :attr:`resets_at`.

    Attributes:
        resets_at: When the limit resets, Unix seconds, or ``None`` when nothing said so.
        resets_at_source: Where :attr:`resets_at` came from: the ``source`` of the rate-limit
            snapshot codex-core parsed from the 429's ``x-codex-*`` headers (``"provider"``)
            and whose window is used up; or ``"message"``: the reset time codex-core read from
            the 429's body (``error.resets_at``) and wrote into its error message, to the minute
            in local time (rounded up to the next minute); or ``None``.
    """

    def __init__(self, result: TurnResult, attempts: int = 1) -> None:
        super().__init__(result, attempts)
        self.retryable = False
        self.resets_at, self.resets_at_source = _reset_time(result)


def is_rate_limited(result: TurnResult) -> bool:
    """Whether a failed turn failed on a rate or usage limit (see :class:`RateLimitError`)."""
    error = result.error
    kind, status = error_kind(error.codex_error_info if error is not None else None)
    return kind == "usage_limit_exceeded" or status == 429


def turn_failed(result: TurnResult, attempts: int = 1) -> TurnFailedError:
    """The exception for a failed turn: :class:`RateLimitError` or :class:`TurnFailedError`."""
    return (RateLimitError if is_rate_limited(result) else TurnFailedError)(result, attempts)


# codex-core's UsageLimitReachedError text: " or try again at 3:05 PM." (the reset is today) or
# " or try again at Nov 23rd, 2026 3:05 PM.", in the process's local time.
_TRY_AGAIN = re.compile(
    r"try again at (?:(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?:st|nd|rd|th), (?P<year>\d{4}) )?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2}) (?P<ampm>AM|PM)"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _reset_time(result: TurnResult) -> tuple[float | None, str | None]:
    snapshot = result.rate_limits
    if snapshot is not None:
        spent = [
            float(w.resets_at)
            for w in (snapshot.primary, snapshot.secondary)
            if w is not None and w.resets_at is not None and w.used_percent >= 100
        ]
        if spent:
            return max(spent), snapshot.source
    found = _TRY_AGAIN.search(result.error.message) if result.error is not None else None
    if found is None:
        return None, None
    hour = int(found["hour"]) % 12 + (12 if found["ampm"] == "PM" else 0)
    if found["year"] is not None and found["month"] in _MONTHS:
        day = datetime.date(int(found["year"]), _MONTHS.index(found["month"]) + 1, int(found["day"]))
    else:
        day = datetime.date.fromtimestamp(time.time())
    local = datetime.datetime(day.year, day.month, day.day, hour, int(found["minute"]))
    return local.timestamp() + 60, "message"

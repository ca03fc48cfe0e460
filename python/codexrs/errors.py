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
    ├── LoginError            a ChatGPT login was denied, expired, cancelled or failed
    ├── NameTakenError        a manager's thread name is already used
    ├── NothingSentError      a manager's wait on threads that were sent no turn
    └── InternalError         a bug (a Rust panic becomes this, never an abort)

Every class here is ``codexrs.errors.<Name>`` (its ``__module__``; the native ones are created in
Rust under that name) and is re-exported from ``codexrs``. Each pickles and unpickles to the same
type with the same message and attributes (``status_code``, ``resets_at``, ``attempts``,
``result``, ...), so they cross ``multiprocessing``, ``concurrent.futures``, logging queues and
Ray intact; attributes are restored as they were, not recomputed.

Which failures are worth retrying (``RETRYABLE_ERRORS``, importable from here too) and when a
rate limit resets are decided in :mod:`codexrs._failure`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._native import CodexError, ConfigError, CredentialsError, EngineClosedError, InternalError, LoginError, ModelError
from ._native import RolloutError
from ._native import ThreadNotFoundError, TurnInProgressError, TurnNotSteerableError
from ._failure import RETRYABLE_ERRORS, error_kind, reset_time

if TYPE_CHECKING:
    from ._core.result import TurnResult

__all__ = [
    "CodexError",
    "ConfigError",
    "CredentialsError",
    "EngineClosedError",
    "InternalError",
    "LoginError",
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
    """A manager's ``wait`` or ``wait_any`` on threads that were sent no turn (since they were
    created or resumed): there is nothing to wait for (``wait_all`` leaves such threads out).
    The threads exist; an unknown name raises :class:`ThreadNotFoundError` instead."""


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
        self.resets_at, self.resets_at_source = reset_time(result)

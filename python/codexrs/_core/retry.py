"""Trying a failed turn again: the back-off between attempts (exponential, with jitter) and
the exception a failed turn raises. Which failures are worth it is :mod:`codexrs._failure`'s."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .._failure import is_rate_limited
from ..errors import RateLimitError, TurnFailedError

if TYPE_CHECKING:
    from .result import TurnResult

#: The first wait, in seconds; each later one doubles, up to :data:`RETRY_MAX_S`.
RETRY_BASE_S = 0.5
RETRY_MAX_S = 30.0


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential, capped,
    with full jitter in its upper half so many conversations do not retry in step."""
    ceiling = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def check_retries(retries: object) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise TypeError(f"retries must be a non-negative int, not {retries!r}")
    return retries


def turn_failed(result: TurnResult, attempts: int = 1) -> TurnFailedError:
    """The exception for a failed turn: :class:`~codexrs.RateLimitError` or
    :class:`~codexrs.TurnFailedError`."""
    return (RateLimitError if is_rate_limited(result) else TurnFailedError)(result, attempts)

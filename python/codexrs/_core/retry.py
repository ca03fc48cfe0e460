"""Retrying a turn that failed with a retryable error: exponential backoff with jitter."""

from __future__ import annotations

import random

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

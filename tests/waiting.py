"""Bounded waits for an observable state: a test waits on what it needs to see, not on the clock.

``wait_until`` / ``await_until`` poll ``condition`` until it is true, and fail with ``what`` if
it is still false after a generous deadline (the deadline bounds a broken run; no assertion is
about how long anything took). The async one yields to the loop between polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEADLINE_S = 60.0
_POLL_S = 0.02


def wait_until(condition: Callable[[], object], what: str, *, timeout: float = DEADLINE_S) -> None:
    """Returns once ``condition()`` is true; ``AssertionError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout:g} s for {what}")
        time.sleep(_POLL_S)


async def await_until(condition: Callable[[], object], what: str, *, timeout: float = DEADLINE_S) -> None:
    """``wait_until`` for a coroutine: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout:g} s for {what}")
        await asyncio.sleep(_POLL_S)

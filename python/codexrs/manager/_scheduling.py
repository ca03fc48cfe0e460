"""The manager's scheduling parts: a thread's queued turn, and the FIFO gates that cap how
many turns run at once (one for the manager, one per group)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .._core.options import timeout_seconds
from .._core.turn import Input, TurnResult


@dataclass
class QueuedTurn:
    """A turn sent to a managed thread, not yet finished."""

    input: Input
    options: dict[str, Any]
    done: asyncio.Future[TurnResult]
    queued_at: float = field(default_factory=time.monotonic)
    #: How many times a rate limit (HTTP 429) sent it back to the queue.
    requeues: int = 0


class Gate:
    """At most ``limit`` holders at once; waiters are served first come, first served."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.held = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.limit is None or (self.held < self.limit and not self.waiters):
            self.held += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter  # release() hands its slot over: held stays counted
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.held -= 1


def check_limit(name: str, value: object) -> int | None:
    """``value`` as a cap on running turns: a positive int, or ``None`` for no cap."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise TypeError(f"{name} must be a positive int or None, not {value!r}")
    return value


def check_seconds(name: str, value: object) -> float | None:
    """``value`` as a positive number of seconds, or ``None`` (also for ``inf``): no limit."""
    return timeout_seconds(name, value, positive=True)

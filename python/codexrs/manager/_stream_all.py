"""``AsyncManager.stream_all()``'s iterator: subscribed to the engine's one read for every thread
when it is made, so that a consumer made before a turn starts sees all of it."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import TYPE_CHECKING, AsyncIterator

from .._core.wakeups import Subscription
from ..hooks import HookEvent

if TYPE_CHECKING:
    from ._async import AsyncManager

__all__ = ["AsyncAllEventsStream"]


def _close_soon(loop: asyncio.AbstractEventLoop, subscription: Subscription) -> None:
    # From a finalizer (any thread, maybe inside a collection under the dispatcher's lock):
    # takes no lock here; the loop unsubscribes.
    if not loop.is_closed():
        try:
            loop.call_soon_threadsafe(subscription.close)
        except RuntimeError:  # closed meanwhile: the engine is gone with it
            pass


class AsyncAllEventsStream:
    """:meth:`AsyncManager.stream_all`: an async iterator of :class:`~codexrs.HookEvent` over
    every thread of the manager, an async context manager; :meth:`aclose` stops it (the async
    twin of :class:`AllEventsStream`). Made on a running loop by a started manager (as inside
    ``async with``), it follows every thread from then on; otherwise from its first step, which
    starts the manager. Dropped, it stops following on its loop."""

    def __init__(self, manager: AsyncManager) -> None:
        self._manager = manager
        self._events: deque[HookEvent] = deque()
        self._batches: AsyncIterator[list[HookEvent]] | None = None
        self._subscription: Subscription | None = None
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and manager._codex._running is not None:
            dispatcher, self._subscription = manager._subscribe_all()
            self._batches = manager._batches_of(dispatcher, self._subscription)
            weakref.finalize(self, _close_soon, loop, self._subscription).atexit = False

    def __aiter__(self) -> AsyncAllEventsStream:
        return self

    async def __anext__(self) -> HookEvent:
        while not self._events:
            if self._batches is None:
                self._batches = self._manager._all_batches()
            self._events.extend(await self._batches.__anext__())  # StopAsyncIteration: closed
        return self._events.popleft()

    async def batches(self) -> AsyncIterator[list[HookEvent]]:
        """The same events, a list at a time: each list is what one read of the engine took
        (events of many threads, in arrival order; a new list the caller owns), the events
        already taken by ``__anext__`` and not yet yielded first. For a consumer of many
        threads (a dashboard, a logger, a harness timing every delta): one task wake-up per
        read, not per event. Ends when the stream is closed (:meth:`aclose`) or the manager is.

        Raises:
            EngineClosedError: The manager was closed before the stream took its first batch.
        """
        if self._events:
            buffered = list(self._events)
            self._events.clear()
            yield buffered
        while True:
            if self._batches is None:
                self._batches = self._manager._all_batches()
            try:
                batch = await self._batches.__anext__()
            except StopAsyncIteration:
                return
            yield batch

    async def __aenter__(self) -> AsyncAllEventsStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stops following the threads (the events not yet taken are dropped)."""
        self._events.clear()
        if self._subscription is not None:
            self._subscription.close()  # the batches may never have started: their end would not run
        if self._batches is not None:
            await self._batches.aclose()  # type: ignore[attr-defined]

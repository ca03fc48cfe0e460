"""Reading a thread's batches so that no interruption loses an event.

A reader may be interrupted anywhere: Ctrl-C, a cancelled task (``asyncio.wait_for``), a hook
that raises ``KeyboardInterrupt``. :class:`_Reader` keeps every event codex-core handed over
until a reader has it:

1. A batch goes from the native call into :attr:`_Reader.inbox` in C (``deque.extend`` over
   ``islice(iter(fetch, None), 1)``): no Python frame runs between, and CPython runs signal
   handlers only at calls and backward jumps. Waiting for the batch takes nothing.
2. From the inbox into :attr:`_Reader.pending` (and the hooks' queue) in statements with no call
   between them: the batch is in one place or the other, never in neither or both.
3. Hooks and user code run only after that; an interrupted hook leaves the rest of its events
   queued (:class:`~codexrs.hooks.HookQueue`), and every hook sees an event before a reader.
4. An event taken from ``pending`` is the turn's ``handing`` until its reader returns it; a
   reader interrupted before that keeps it on the turn's ``tail`` (:meth:`_Reader.keep_handing`).

The sync side waits in Rust without the GIL. The async side follows the thread through its
engine's one read for every thread (:mod:`codexrs._core.wakeups`): the engine's dispatcher
appends the thread's events to the inbox, already decoded (step 1, in the dispatcher), and
wakes the reader; the reader never pulls on its own while followed (a second puller could
take later events first).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from functools import partial
from itertools import islice
from typing import Awaitable, Callable, Generic, Protocol, Sequence, TypeVar

from .. import _native
from .wakeups import Dispatcher, dispatcher_for
from ..events import Envelope, Event, decode_envelopes
from ..hooks import Hook, HookQueue

__all__: list[str] = []

#: How often a reader whose engine is closing looks for its thread's last events (seconds).
_CLOSING_POLL_S = 0.02


class _Kept(Protocol):
    """What a reader needs of a turn: where a taken event waits, and where it is kept."""

    handing: Event | None
    tail: list[Event]


TurnT = TypeVar("TurnT", bound=_Kept)


class _Reader(Generic[TurnT]):
    """A thread's read events (see the module docs); :meth:`observe` records each one taken."""

    def __init__(self, native: _native.ThreadHandle, hooks: Sequence[Hook]) -> None:
        self.native = native
        #: Its token in the engine's wake-ups, once :meth:`attach` ran.
        self.token = 0
        #: The engine's hooks (its own list: hooks added later apply here too).
        self.hooks = hooks
        #: What was taken from codex-core and not yet decoded into :attr:`pending`: batches
        #: pulled (JSON bytes), or events the dispatcher handed over (decoded, with their lag).
        self.inbox: deque[bytes | tuple[list[Envelope], float]] = deque()
        #: Events read and not yet taken by a reader, in codex's order.
        self.pending: deque[Envelope] = deque()
        #: The read events the hooks have not all seen yet (the last ones of ``pending``).
        self.hooked = HookQueue(hooks, native.id)
        #: Its engine's dispatcher (the one read for every thread), once :meth:`attach` ran.
        self._dispatcher: Dispatcher | None = None
        #: The engine's read follows this thread (its events come through the dispatcher).
        self.following = False
        #: Events the dispatcher handed over and not yet decoded; past :attr:`limit` the
        #: thread is no longer followed until its reader has read them (back-pressure).
        self.held = 0
        self.limit = 0
        #: The thread's pump is gone and the dispatcher handed over its last events.
        self.ended = False
        #: While a turn's end is awaited and nobody streams it (``result()``): that turn, the
        #: loop its reader waits on and what sees each event read (or ``None``); the
        #: dispatcher lets :meth:`skim` read for the reader.
        self.skimming: tuple[TurnT, asyncio.AbstractEventLoop, Callable[[Event], object] | None] | None = None

    def attach(self) -> Dispatcher:
        """Registers the thread with its engine's one read for every thread (once; a thread of
        an engine registers when it is made); returns the engine's dispatcher."""
        if self._dispatcher is None:
            self.token = self.native.token()
            self.limit = self.native.max_queued_events
            self._dispatcher = dispatcher_for(self.native.wakeups())
            self._dispatcher.register(self)
        return self._dispatcher

    def observe(self, sub_id: str, event: Event, turn: TurnT) -> None:
        raise NotImplementedError

    def skim(self) -> bool:
        """Called by the dispatcher, on :attr:`skimming`'s loop, after it handed this thread
        events: reads what the waiting reader would only drop, and returns whether the reader
        must wake. Here: always (a subclass knows which events a turn's end can skip)."""
        return True

    def drops(self, events: list[Envelope]) -> bool:
        """Called by the dispatcher as it hands this thread ``events`` (while :attr:`skimming`):
        whether it may drop them instead, because the waiting reader would only drop them
        too, with nothing read before them; if so, :attr:`skimming`'s ``seen`` has seen each.
        Here: never (a subclass knows which events a turn's end can skip)."""
        return False

    def _pull(self, fetch: Callable[[], bytes | None]) -> bool:
        before = len(self.inbox)
        self.inbox.extend(islice(iter(fetch, None), 1))  # C from the native call to the append
        return len(self.inbox) > before

    def pull(self, timeout: float | None) -> bool:
        """Waits (in Rust, without the GIL) up to ``timeout`` seconds (``None``: no limit) for
        the thread's next batch and takes it into the inbox; whether one came."""
        return self._pull(partial(self.native.next_batch, timeout))

    def pull_nowait(self) -> bool:
        """Takes the thread's next batch into the inbox if one is queued; whether one was."""
        return self._pull(self.native.try_next_batch)

    def follow(self) -> None:
        """Has the engine's read take this thread's events from now on."""
        if not self.following:
            self.following = True
            self.native.arm()  # lists the thread at once if events are queued

    def unfollow(self) -> None:
        """Stops the engine's read taking this thread's events (they stay queued in order)."""
        if self.following:
            self.following = False
            self.native.disarm()

    def _news(self) -> bool:
        return bool(self.inbox) or self.ended

    def _next_wait(self) -> Awaitable[None] | None:
        """One step of waiting for the inbox (no coroutine of its own: the read path calls it
        once per event): what to await before looking again, or ``None`` to look at once.
        Nothing is taken by waiting: a cancellation of the await loses nothing.

        Raises:
            EngineClosedError: The thread has ended and every event was read.
        """
        if self.ended:
            self.pull_nowait()  # the pump is gone and nothing is queued: raises
            return None
        dispatcher = self._dispatcher or self.attach()
        if dispatcher.closed:
            # The engine is closing: nothing hands events over any more, and its pumps end
            # within its close timeout. Take what is queued (the end raises) until then.
            return None if self.pull_nowait() else asyncio.sleep(_CLOSING_POLL_S)
        if not self.following:
            self.follow()
        return dispatcher.wait(self.token, self._news)

    async def wait_batch(self) -> None:
        """Waits, without blocking the event loop, until events are in the inbox. Nothing is
        taken while waiting: a cancellation here loses nothing.

        Raises:
            EngineClosedError: The thread has ended and every event was read.
        """
        while not self.inbox:
            ended = self.ended
            waiter = self._next_wait()
            if ended:
                return
            if waiter is not None:
                await waiter

    def _decode(self) -> None:
        inbox = self.inbox
        while inbox:
            item = inbox[0]
            if isinstance(item, bytes):
                decoded, lag, handed = decode_envelopes(item), self.native.last_batch_lag, 0
            else:
                decoded, lag = item
                handed = len(decoded)
            entries = self.hooked.entries(decoded, lag) if self.hooks else ()  # no call without hooks
            # No call between these lines: the batch is in the inbox or in pending.
            self.pending += decoded
            self.hooked.waiting += entries
            del inbox[0]
            self.held -= handed

    def catch_up(self) -> None:
        """Decodes the batches taken, then calls the hooks on the events they have not seen."""
        self._decode()
        if self.hooked:
            self.hooked.run()

    async def catch_up_async(self) -> None:
        """:meth:`catch_up`, awaiting ``async`` hooks."""
        self._decode()
        if self.hooked:
            await self.hooked.run_async()

    def take(self, turn: TurnT) -> Event | None:
        """Pops and records the next read event (it becomes ``turn.handing``), or ``None`` when
        none is read yet. Call :meth:`catch_up` first: the hooks see each event before it."""
        if len(self.pending) <= len(self.hooked.waiting):
            return None
        envelope = self.pending[0]
        del self.pending[0]
        event = turn.handing = envelope.msg  # no call since the pop (step 4 of the module docs)
        self.observe(envelope.id, event, turn)
        return event

    def keep_handing(self, turn: TurnT) -> None:
        """Keeps ``turn.handing`` on the turn's tail: its reader went away without it."""
        if turn.handing is not None:
            turn.tail += (turn.handing,)
            turn.handing = None

    def read(self, turn: TurnT, deadline: float | None = None) -> Event | None:
        """The next event for ``turn``'s reader (from :meth:`take`), waiting for codex-core;
        ``None`` once ``deadline`` (``time.monotonic()``) has passed and no batch is queued."""
        while True:
            self.catch_up()
            event = self.take(turn)
            if event is not None:
                return event
            if deadline is None:
                self.pull(None)
            elif (remaining := deadline - time.monotonic()) > 0:
                self.pull(remaining)
            elif not self.pull_nowait():  # a batch already queued still counts
                return None

    async def read_async(self, turn: TurnT) -> Event:
        """:meth:`read` without blocking the event loop (no deadline)."""
        while True:
            if self.inbox:  # :meth:`catch_up_async`, inline: no coroutine per event read
                self._decode()
            if self.hooked.waiting:
                await self.hooked.run_async()
            event = self.take(turn)
            if event is not None:
                return event
            waiter = self._next_wait()  # :meth:`wait_batch`'s step, inline
            if waiter is not None:
                await waiter

    async def read_until_async(self, turn: TurnT, deadline: float) -> Event | None:
        """:meth:`read_async` up to ``deadline`` (``time.monotonic()``): ``None`` once it has
        passed and no batch is queued. Only the wait for a batch is bounded (cancelling it takes
        nothing); a hook running is never cut short by the deadline."""
        while True:
            self._decode()  # :meth:`catch_up_async`, inline
            if self.hooked:
                await self.hooked.run_async()
            event = self.take(turn)
            if event is not None:
                return event
            if (remaining := deadline - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(remaining):
                        await self.wait_batch()
                except TimeoutError:
                    pass
            elif self.following or not self.pull_nowait():  # followed: queued ones come handed over
                return None

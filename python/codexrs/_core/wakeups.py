"""One read for every thread of an engine, for asyncio readers and all-threads consumers.

codex-core's pumps wake followed ("armed") threads through one socket per engine
(``rust/codexrs/src/wakeups.rs``). The engine's :class:`Dispatcher` watches that descriptor with
``loop.add_reader`` on a running loop and, when it fires, makes one native call
(``take_batches``) that takes every armed thread's queued events as one buffer, decodes it with
one msgspec call, appends each thread's events to its reader's inbox, hands them to the
all-threads consumers (:meth:`Dispatcher.subscribe`, behind ``stream_all()``), and wakes only the
readers that wait. So N slow streams cost one loop wake-up, one native call and one decode per
burst, not per thread or per event, and a reader waits with no descriptor of its own. While reads
come closer together than :data:`POLL_S` (many streams, or one fast one), the dispatcher stops
watching the descriptor and reads on a timer instead, until a read finds nothing: under load
the loop wakes once per interval for every thread's events, not once per burst, and an event
waits at most that much longer. The interval follows the streams' pace (:data:`POLL_SHARE`):
:data:`POLL_S` for fast streams, up to :data:`POLL_MAX_S` for many slow ones. A reader that
only awaits its turn's end (``result()``, ``run()``) is not woken for the streamed deltas it
would drop: the dispatcher drops them for it, before they reach its inbox when nothing is read
ahead of them (:meth:`~codexrs._core.turn._ThreadCore.drops`), else from the head of what it
read (:meth:`~codexrs._core.turn._ThreadCore.skim`), and wakes it for the events its turn's
record takes, so a thousand such turns cost no task wake-up per delta.

Back-pressure stays per thread: a thread stays armed while its reader keeps up; once the reader
holds more than ``max_queued_events`` undelivered events the dispatcher disarms the thread (its
events stay queued in Rust, then its pump parks), and the reader arms it again when it has read
everything. An all-threads consumer that lags pauses the dispatcher itself (it stops taking
batches, so every followed thread's queue fills); nothing is dropped.

No interruption loses an event: a buffer goes from the native call into :attr:`Dispatcher.inbox`
in C, leaves it only after every entry is in its reader's inbox (a cursor records how far, with
no call between an append and the cursor's step), and the readers of the tokens in
:attr:`Dispatcher.woken` are all woken: a wake-up interrupted part way schedules the rest.

The dispatcher also holds the engine's request handlers running as tasks (``_stream``), so that
closing the engine (:func:`release`) cancels them.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable

from .. import _native
from ..events import decode_entries
from ..hooks import HookEvent

if TYPE_CHECKING:
    from .reading import _Reader

__all__ = ["Dispatcher", "Subscription", "dispatcher_for", "release"]

_registry: dict[int, Dispatcher] = {}  # by descriptor; an entry keeps its socket open
_registry_lock = threading.Lock()

#: Reads closer together than this (seconds) switch the dispatcher from waking on the
#: descriptor to polling until a poll finds nothing: one timer per interval instead of a
#: wake-up of the thread and a native call per burst. The shortest interval between polls.
POLL_S = 0.002

#: The longest interval between polls (seconds): what an event may wait at most, once many
#: slow streams poll at their pace (:data:`POLL_SHARE`).
POLL_MAX_S = 0.005

#: While polling, a poll comes this share of the mean time between two events of one thread
#: after the one before (within :data:`POLL_S` and :data:`POLL_MAX_S`): streams at 10 or 20
#: events/s each are polled every 5 ms, at 50 events/s every 2 ms (the mean is weighted by
#: events: the faster streams count most). An event waits at most that much longer, and each
#: read carries more events: much of what a read costs the Python thread is the same whatever
#: it carries.
POLL_SHARE = 0.1

#: How often (seconds) the interval is set again from the reads since (so it follows a change
#: of pace that much later), and the fewest events those reads must have taken to set it past
#: :data:`POLL_S` (less is no load to pace).
PACE_WINDOW_S = 0.25
PACE_MIN_EVENTS = 100

#: Events an all-threads consumer may fall behind before the dispatcher stops taking batches.
SUBSCRIBER_LIMIT = 65_536


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Subscription:
    """One all-threads consumer's place in its dispatcher's journal (``stream_all()``)."""

    def __init__(self, dispatcher: Dispatcher, position: int) -> None:
        self.dispatcher = dispatcher
        #: The journal sequence number of the next batch this consumer reads.
        self.position = position
        self.waiters: list[asyncio.Future[None]] = []
        self.closed = False

    def take(self) -> list[HookEvent]:
        """The events that arrived since the last call, in arrival order (empty if none)."""
        return self.dispatcher._read_journal(self)

    def close(self) -> None:
        self.dispatcher._unsubscribe(self)


class Dispatcher:
    """The engine's one read for every thread (see the module docs)."""

    def __init__(self, wakeups: _native.EngineWakeups) -> None:
        self.wakeups = wakeups
        self.fd = wakeups.fileno()
        self.lock = threading.Lock()
        #: Each thread's reader by token, weakly (a thread nobody holds is not kept; its entry
        #: goes with it). Tokens are never reused within an engine.
        self.readers: dict[int, weakref.ref[_Reader[Any]]] = {}
        self.waiters: dict[int, list[asyncio.Future[None]]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        #: While reads come close together: the next poll (the descriptor is not watched).
        self.poll: asyncio.TimerHandle | None = None
        #: When the last read was (``loop.time()``).
        self.last_read = float("-inf")
        #: The interval between polls (:data:`POLL_SHARE`), and what it is set from: the
        #: events read since ``pace_start`` and the threads they came from.
        self.interval = POLL_S
        self.pace_start = 0.0
        self.pace_events = 0
        self.pace_threads: set[int] = set()
        #: Buffers taken from codex-core and not yet handed out to every reader.
        self.inbox: deque[bytes] = deque()
        #: How many entries of ``inbox[0]`` are handed out already, and whether it is journaled.
        self.cursor = 0
        self.journaled = False
        #: Tokens handed events whose waiting readers are not all woken yet.
        self.woken: deque[int] = deque()
        #: Readers handed events while only their turn's end is awaited (``skimming``): each
        #: may :meth:`~codexrs._core.reading._Reader.skim` before it is woken.
        self.skims: list[_Reader[Any]] = []
        #: What all-threads consumers read: batches of events in arrival order, from sequence
        #: number ``journal_base`` on, trimmed to what the slowest consumer has read.
        self.journal: deque[list[HookEvent]] = deque()
        self.journal_base = 0
        self.journal_events = 0
        self.subscriptions: list[Subscription] = []
        #: Not taking batches: an all-threads consumer lags (see :data:`SUBSCRIBER_LIMIT`).
        self.paused = False
        #: Request handlers running as tasks on this engine's threads: cancelled at close.
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False

    # -- threads ----------------------------------------------------------------------------

    def register(self, reader: _Reader[Any]) -> None:
        """Adds a thread's reader; followed at once while an all-threads consumer watches."""
        token, readers = reader.token, self.readers
        # The callback takes no lock: it may run in a collection, under this dispatcher's lock.
        ref = weakref.ref(reader, lambda _: readers.pop(token, None))
        with self.lock:
            readers[token] = ref
            follow = bool(self.subscriptions)
        if follow:
            reader.follow()

    def wait(self, token: int, ready: Callable[[], bool]) -> asyncio.Future[None] | None:
        """A future resolved once thread ``token`` was handed events (or the engine closed);
        ``None`` if ``ready()`` already holds (checked under the lock deliveries take)."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if ready() or self.closed:
                return None
            future: asyncio.Future[None] = loop.create_future()
            waiting = self.waiters.get(token)
            if waiting is None:
                self.waiters[token] = [future]
            else:
                waiting.append(future)
            if self.loop is not loop:
                self._watch(loop)
        return future

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        # Under the lock. The watching loop is gone or stopped: this one watches from now on.
        old = self.loop
        if old is not loop and (old is None or old.is_closed() or not old.is_running()):
            if old is not None and not old.is_closed() and not self.paused:
                self._unlisten(old)
            self.loop = loop
            if not self.paused:
                self._listen(loop)

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        # Watches the descriptor (not polling).
        self.poll = None
        loop.add_reader(self.fd, self._ready)

    def _unlisten(self, loop: asyncio.AbstractEventLoop) -> None:
        # Stops watching the descriptor, or polling; on ``loop``'s thread (or ``loop`` not running).
        if self.poll is not None:
            self.poll.cancel()
            self.poll = None
        else:
            loop.remove_reader(self.fd)

    # -- the one read -----------------------------------------------------------------------

    def _ready(self) -> None:
        # The descriptor is readable, or a poll is due (``poll``): one read, then the next.
        before, took = len(self.inbox), False
        try:
            # The buffer goes from the native call into ``inbox`` in C (no Python frame between:
            # no signal handler runs there); an interruption later resumes from the cursor in a
            # call scheduled before anything else.
            self.inbox.extend(islice(iter(self.wakeups.take_batches, None), 1))
            took = len(self.inbox) > before
            try:
                self._hand_out()
            except BaseException:
                if self.loop is not None:
                    self.loop.call_soon(self._hand_out)  # the rest, before anything else
                raise
        finally:
            self._next_read(took)

    def _next_read(self, took: bool) -> None:
        # Reads that come closer than ``POLL_S`` apart switch to polling every ``POLL_S`` (one
        # timer instead of a wake-up and a read per burst of events); a poll that finds
        # nothing goes back to the descriptor.
        loop = self.loop
        if loop is None:
            return
        now = loop.time()
        soon, self.last_read = now - self.last_read < POLL_S, now
        interval = self._pace(now)
        with self.lock:
            if self.paused or self.closed or self.loop is not loop:
                return  # not listening (paused, closed) or another loop listens
            if self.poll is not None:  # this read was a poll
                if took:
                    self.poll = loop.call_at(now + interval, self._ready)
                else:
                    self._listen(loop)
            elif took and soon:
                # The timer first: interrupted between the two, both fire and a read finds nothing.
                self.poll = loop.call_at(now + interval, self._ready)
                loop.remove_reader(self.fd)

    def _pace(self, now: float) -> float:
        # The interval between polls: every ``PACE_WINDOW_S``, ``POLL_SHARE`` of one thread's
        # mean time between events in the reads since, polls or not (a window with fewer than
        # ``PACE_MIN_EVENTS`` or a quiet spell in it says nothing of a pace: ``POLL_S``).
        span = now - self.pace_start
        if span >= PACE_WINDOW_S:
            if span < 2 * PACE_WINDOW_S and self.pace_events >= PACE_MIN_EVENTS:
                gap = span * len(self.pace_threads) / self.pace_events
                self.interval = min(POLL_MAX_S, max(POLL_S, POLL_SHARE * gap))
            else:
                self.interval = POLL_S
            self.pace_start, self.pace_events = now, 0
            self.pace_threads.clear()
        return self.interval

    def _hand_out(self) -> None:
        while self.inbox:
            entries = decode_entries(self.inbox[0])
            refs = self.readers
            with self.lock:
                found = [refs.get(entry[0]) for entry in entries]
                watched = bool(self.subscriptions)
            readers = [None if ref is None else ref() for ref in found]
            paced, counted = self.pace_threads.add, 0
            for i in range(self.cursor, len(entries)):
                token, _thread_id, lag, events, ended = entries[i]
                reader = readers[i]
                paced(token)
                counted += len(events)
                # Deltas a reader awaiting only its turn's end would drop are dropped here
                # (``drops``), so it neither wakes nor decodes; interrupted in ``drops``, this
                # entry is handed out again from the cursor (its ``seen`` may see some twice).
                if reader is not None and (ended or reader.skimming is None or not reader.drops(events)):
                    # No call between the append and the cursor's step (module docs).
                    reader.inbox.append((events, lag))
                    reader.held += len(events)
                    reader.ended = reader.ended or ended
                    self.woken.append(token)
                self.cursor = i + 1
            self.pace_events += counted
            if watched and not self.journaled:
                batch = [HookEvent(thread_id, e.id, e.msg, lag) for _, thread_id, lag, events, _ in entries for e in events]
                with self.lock:
                    self.journal.append(batch)
                    self.journaled = True  # no call since the append
                    self.journal_events += len(batch)
                    self._pause_if_behind()
            # No call between these lines: the buffer is handed out, or in the inbox.
            self.journaled = False
            self.cursor = 0
            del self.inbox[0]
            for reader in readers:
                if reader is not None:
                    if reader.held > reader.limit:
                        reader.unfollow()
                    if reader.skimming is not None and reader.inbox:  # handed events, not dropped
                        self.skims.append(reader)
        self._wake_readers()
        self._wake_subscriptions()

    def _wake_readers(self) -> None:
        woken = self.woken
        if not woken:
            return
        # A reader that only awaits its turn's end stays asleep while skimming leaves it
        # nothing to read (interrupted here, the rest are woken: ``woken`` is kept).
        skims, self.skims = self.skims, []
        quiet = {reader.token for reader in skims if not reader.skim()}
        with self.lock:  # one lock for every token handed events
            waiters = self.waiters
            if quiet:
                ready = [f for token in woken if token not in quiet and token in waiters for f in waiters.pop(token)]
            else:
                ready = [future for token in woken if token in waiters for future in waiters.pop(token)]
            woken.clear()
        self._wake(ready)

    def _wake(self, ready: list[asyncio.Future[None]]) -> None:
        own = self.loop
        for i, future in enumerate(ready):
            try:
                if future.done():
                    continue
                loop = future.get_loop()
                if loop is own:
                    future.set_result(None)
                elif not loop.is_closed():
                    loop.call_soon_threadsafe(_resolve, future)
            except BaseException:
                # Interrupted (a signal): the rest are woken by a callback of their own.
                if own is not None and not own.is_closed():
                    own.call_soon_threadsafe(self._wake, ready[i:])  # a woken one is skipped
                raise

    # -- all-threads consumers --------------------------------------------------------------

    def subscribe(self) -> Subscription:
        """A consumer of every event of every thread from now on; follows every thread."""
        with self.lock:
            subscription = Subscription(self, self.journal_base + len(self.journal))
            self.subscriptions.append(subscription)
            refs = list(self.readers.values())
        for ref in refs:
            reader = ref()
            if reader is not None:
                reader.follow()
        return subscription

    def wait_journal(self, subscription: Subscription) -> asyncio.Future[None] | None:
        """A future resolved once ``subscription`` has events to take (or the engine closed);
        ``None`` if it has some already."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if self._journal_has(subscription) or self.closed:
                return None
            future: asyncio.Future[None] = loop.create_future()
            subscription.waiters.append(future)
            self._watch(loop)
        return future

    def _pause_if_behind(self) -> None:
        # Under the lock: the slowest consumer is too far behind; stop taking batches.
        if self.journal_events > SUBSCRIBER_LIMIT and not self.paused:
            self.paused = True
            if self.loop is not None and not self.loop.is_closed():
                self._unlisten(self.loop)

    def _journal_has(self, subscription: Subscription) -> bool:
        return subscription.position < self.journal_base + len(self.journal)

    def _read_journal(self, subscription: Subscription) -> list[HookEvent]:
        with self.lock:
            start = subscription.position - self.journal_base
            batches = list(islice(self.journal, max(start, 0), None))
            subscription.position = self.journal_base + len(self.journal)
            self._trim()
        return [seen for batch in batches for seen in batch]

    def _trim(self) -> None:
        # Under the lock: drop what every consumer has read; resume once they caught up.
        slowest = min((s.position for s in self.subscriptions), default=self.journal_base + len(self.journal))
        while self.journal and self.journal_base < slowest:
            self.journal_events -= len(self.journal.popleft())
            self.journal_base += 1
        if self.paused and self.journal_events <= SUBSCRIBER_LIMIT // 2:
            self.paused = False
            if self.loop is not None and not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self._resume)

    def _resume(self) -> None:
        with self.lock:
            if self.paused or self.closed or self.loop is None:
                return
            self._listen(self.loop)
        self._ready()

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self.lock:
            if subscription in self.subscriptions:
                self.subscriptions.remove(subscription)
            subscription.closed = True
            self._trim()
            waiters, subscription.waiters = subscription.waiters, []
        self._wake(waiters)

    def _wake_subscriptions(self) -> None:
        if not self.subscriptions:
            return
        with self.lock:
            waiting = [f for s in self.subscriptions if self._journal_has(s) for f in s.waiters]
            for s in self.subscriptions:
                if self._journal_has(s):
                    s.waiters = []
        self._wake(waiting)

    # -- lifetime ---------------------------------------------------------------------------

    def track(self, task: asyncio.Task[None]) -> None:
        """Keeps ``task`` (a request handler) until it ends; :meth:`close` cancels it."""
        with self.lock:
            if not self.closed:
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                return
        task.cancel()

    def close(self) -> None:
        """Stops watching, wakes every waiter (each reads again: its thread has ended or has
        events, or it waits again on a fresh dispatcher) and cancels the handler tasks."""
        with self.lock:
            self.closed = True
            waiting = [future for futures in self.waiters.values() for future in futures]
            waiting += [future for s in self.subscriptions for future in s.waiters]
            self.waiters.clear()
            for s in self.subscriptions:
                s.waiters = []
            loop, self.loop = self.loop, None
            tasks, self.tasks = list(self.tasks), set()
            paused = self.paused
        for task in tasks:
            _cancel_soon(task)
        if loop is not None and not loop.is_closed() and not paused:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._unlisten(loop)
            else:
                loop.call_soon_threadsafe(self._unlisten, loop)
        for future in waiting:
            if not future.done() and not future.get_loop().is_closed():
                future.get_loop().call_soon_threadsafe(_resolve, future)


def _cancel_soon(task: asyncio.Task[None]) -> None:
    """Cancels ``task`` from any thread (a no-op once its loop is closed)."""
    loop = task.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        task.cancel()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(task.cancel)


def dispatcher_for(wakeups: _native.EngineWakeups) -> Dispatcher:
    """The engine's dispatcher (one per wake-up descriptor)."""
    fd = wakeups.fileno()
    with _registry_lock:
        dispatcher = _registry.get(fd)
        if dispatcher is None:
            dispatcher = _registry[fd] = Dispatcher(wakeups)
        return dispatcher


def release(wakeups: _native.EngineWakeups) -> None:
    """Forgets the engine's dispatcher (its engine closed): stops watching its descriptor."""
    with _registry_lock:
        dispatcher = _registry.pop(wakeups.fileno(), None)
    if dispatcher is not None:
        dispatcher.close()


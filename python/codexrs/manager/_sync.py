"""The sync twin of :class:`~codexrs.AsyncManager`, callable from any number of threads at once.

:class:`Manager` runs an :class:`AsyncManager` on an event loop in a thread of its own, and every
one of its methods, from any thread, does its work there: a method that waits (``create``,
``send``, ``wait``, ...) runs its coroutine on the loop and waits for it, waking every
:data:`_SLICE` so Ctrl-C is noticed; a method that reads (``list``, ``status``, ``get``, ...)
reads on the loop's thread too, so it never sees the manager's state halfway through a change.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import os
import queue
import threading
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Coroutine, Generic, Iterator, Mapping, TypeVar, Unpack, cast

from .._core.options import ThreadOptions, TurnSettings, timeout_seconds
from .._core.rate_source import SnapshotLike, SourceFn
from .._core.result import Input, TurnResult
from .._core.store import StoredThread, ThreadHistory
from .._core.options import JsonSchema
from .._core.thread import AsyncThread
from ..errors import EngineClosedError
from ..events import RateLimitSnapshot
from ..hooks import Hook, HookEvent
from ..requests import Request
from ._async import AsyncManager
from ._scheduling import ManagerOptions
from ._thread import ManagedThread, ThreadFacts
from ._types import ManagerEvent, ManagerUsage, ThreadStatus, TurnTimings

__all__ = ["AllEventsStream", "Manager", "ManagerEventStream", "SyncManagedThread", "SyncThreadHandle"]

_T = TypeVar("_T")

#: Seconds between a waiting call's checks for Ctrl-C (as the native waits' ``SLICE``).
_SLICE = 0.05
#: Seconds a call interrupted by Ctrl-C waits for the coroutine it started to end, cancelled.
_CANCEL_WAIT = 5.0


class _Call(Generic[_T]):
    """One coroutine run on the manager's loop for a thread that waits for its outcome.

    The outcome is handed over through :attr:`finished` (a ``threading.Event``), so it reaches
    the waiting thread even when the loop stops right after the coroutine ends.
    """

    def __init__(self, coro: Coroutine[Any, Any, _T]) -> None:
        self._coro = coro
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self.cancelled = False
        self._value: _T | None = None
        self._error: BaseException | None = None
        self.finished = threading.Event()

    def start(self) -> None:
        """On the loop: runs the coroutine as a task."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        if self.cancelled:  # cancelled before it started: it never runs
            self._coro.close()
            self._error = asyncio.CancelledError()
            self.finished.set()
            return
        self._running = True
        try:
            self._value = await self._coro
        except BaseException as exc:  # the waiting thread raises it
            self._error = exc
        finally:
            self.finished.set()

    def cancel_on_loop(self) -> None:
        """On the loop: cancels the coroutine (at once if it has not started)."""
        self.cancelled = True
        if self._running and self._task is not None:
            self._task.cancel()

    def outcome(self) -> _T:
        """The coroutine's value, or raises its exception."""
        if self._error is not None:
            if isinstance(self._error, asyncio.CancelledError):
                raise EngineClosedError("the manager closed while this call waited")
            raise self._error
        return cast(_T, self._value)


async def _now(fn: Callable[[], _T]) -> _T:
    return fn()


class Manager:
    """The sync twin of :class:`AsyncManager`: the same arguments and methods, blocking.

    It runs an :class:`AsyncManager` on an event loop in a thread of its own, so turns run and
    handlers are called there while the caller's thread waits only in the methods that wait
    (``create``, ``wait``, ...). A context manager; :meth:`close` stops the loop and its thread.

    Thread-safe: any method may be called from any thread, from many at once; reads (``get``,
    ``list``, ``status``, the attributes of a :class:`SyncManagedThread`) happen on the loop's
    thread. Ctrl-C (``KeyboardInterrupt``) in a call that waits cancels the coroutine that call
    started (``wait`` stops waiting; the turn goes on, as after a ``timeout``) and waits at most
    5 s for it to end before raising; the manager stays usable. A hook or handler running on
    the manager's own thread may read (``list``, ``status``) but not call a method that waits
    (``RuntimeError``: it would wait for itself). After :meth:`close`, reads still answer and
    every other method raises :class:`~codexrs.EngineClosedError`.
    """

    def __init__(self, codex_home: str | os.PathLike[str] | None = None, cwd: str | os.PathLike[str] | None = None,
                 config: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None,
                 **options: Unpack[ManagerOptions]) -> None:  # fmt: skip
        self._loop = asyncio.new_event_loop()
        #: Guards :attr:`_stopping` against calls being submitted as the loop stops.
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._stopping = False
        #: Set once the loop is closed: reads then happen in the caller's thread.
        self._stopped = threading.Event()
        self._calls: set[_Call[Any]] = set()
        self._runner = threading.Thread(target=self._serve, name="codexrs-manager", daemon=True)
        self._runner.start()

        async def make() -> AsyncManager:
            manager = AsyncManager(codex_home, cwd, config, env, **options)
            try:
                return await manager.__aenter__()
            except BaseException:  # cancelled (Ctrl-C) or failed half-way: nothing left running
                await manager.close()
                raise

        try:
            self._async = self._call(make())
        except BaseException:
            self._stop()
            raise

    # -- running things on the loop ------------------------------------------------------------
    def _serve(self) -> None:
        """The loop's thread: runs the loop until :meth:`_stop`, then ends what is left (calls
        not started, tasks still running: cancelled, at most :data:`_CANCEL_WAIT`) and closes it."""
        loop = self._loop
        try:
            loop.run_forever()
            loop.run_until_complete(self._drain())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            with self._lock:
                self._stopping = True
            loop.close()
            self._stopped.set()

    async def _drain(self) -> None:
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            call.cancel_on_loop()
        ours = {call._task for call in calls}
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            if task not in ours:
                task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CANCEL_WAIT)

    def _on_runner(self) -> bool:
        return threading.get_ident() == self._runner.ident

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> _Call[_T] | None:
        """Starts ``coro`` on the loop; ``None`` (``coro`` closed) once the loop stops."""
        call = _Call(coro)
        with self._lock:
            if not self._stopping:
                self._calls.add(call)
                self._loop.call_soon_threadsafe(call.start)  # open while not stopping
                return call
        coro.close()
        return None

    def _wait(self, call: _Call[_T]) -> _T:
        """Waits for ``call``; Ctrl-C cancels it, waits for that (bounded) and re-raises."""
        try:
            while not call.finished.wait(_SLICE):
                if self._stopped.is_set() and not call.finished.is_set():
                    raise EngineClosedError("the manager closed while this call waited")
        except EngineClosedError:
            raise
        except BaseException:  # KeyboardInterrupt, or whatever a signal handler raised
            try:
                self._loop.call_soon_threadsafe(call.cancel_on_loop)
                call.finished.wait(_CANCEL_WAIT)
            except RuntimeError:
                pass  # the loop is closed: nothing runs any more
            raise
        finally:
            with self._lock:
                self._calls.discard(call)
        return call.outcome()

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Runs ``coro`` on the loop and waits for its outcome."""
        if self._on_runner():
            coro.close()
            raise RuntimeError(
                "this Manager method waits for the manager's own thread, and was called from it "
                "(a hook or handler running there): call it from another thread"
            )
        call = self._submit(coro)
        if call is None:
            raise EngineClosedError("the manager is closed")
        return self._wait(call)

    def _read(self, fn: Callable[[], _T]) -> _T:
        """``fn()`` on the loop's thread (in this thread once the loop is closed)."""
        if self._on_runner():
            return fn()
        call = self._submit(_now(fn))
        if call is None:  # closing: wait for the loop to end, then nothing else touches the state
            while not self._stopped.wait(_SLICE):
                pass
            return fn()
        return self._wait(call)

    def _stop(self) -> None:
        """Stops the loop (once) and waits for its thread to end."""
        with self._lock:
            if not self._stopping:
                self._stopping = True
                self._loop.call_soon_threadsafe(self._loop.stop)  # open: its thread closes it
        self._runner.join()

    def _view(self, managed: ManagedThread) -> SyncManagedThread:
        return SyncManagedThread(self, managed)

    # -- threads --------------------------------------------------------------------------------
    def create(self, name: str | None = None, *, group: str | None = None, **options: Unpack[ThreadOptions]) -> SyncManagedThread:
        """See :meth:`AsyncManager.create`; returns the thread's sync view."""
        return self._view(self._call(self._async.create(name, group=group, **options)))

    def resume(self, name_or_id: str, *, group: str | None = None, **options: Unpack[ThreadOptions]) -> SyncManagedThread:
        """See :meth:`AsyncManager.resume`; returns the thread's sync view."""
        return self._view(self._call(self._async.resume(name_or_id, group=group, **options)))

    def remove(self, name_or_id: str) -> None:
        """See :meth:`AsyncManager.remove`."""
        self._call(self._async.remove(name_or_id))

    def add_hook(self, hook: Hook) -> None:
        """See :meth:`AsyncManager.add_hook` (hooks run in the manager's own thread)."""
        self._read(lambda: self._async.add_hook(hook))

    def remove_hook(self, hook: Hook) -> None:
        """See :meth:`AsyncManager.remove_hook`."""
        self._read(lambda: self._async.remove_hook(hook))

    def get(self, name_or_id: str) -> SyncManagedThread:
        """See :meth:`AsyncManager.get`; returns the thread's sync view."""
        return self._view(self._read(lambda: self._async.get(name_or_id)))

    def list(self, group: str | None = None) -> builtins.list[SyncManagedThread]:
        """See :meth:`AsyncManager.list`; returns the threads' sync views."""
        return [self._view(m) for m in self._read(lambda: self._async.list(group))]

    def status(self, name_or_id: str) -> ThreadStatus:
        """See :meth:`AsyncManager.status`."""
        return self._read(lambda: self._async.status(name_or_id))

    def last_message(self, name_or_id: str) -> str | None:
        """See :meth:`AsyncManager.last_message`."""
        return self._read(lambda: self._async.last_message(name_or_id))

    def events(self) -> ManagerEventStream:
        """Every manager event from now on (from this call), in order, until the manager
        closes: the sync twin of :meth:`AsyncManager.events`. Iterate it from any one thread;
        ``close()`` it (or leave a ``with`` block, or drop it) to stop receiving. A blocked
        ``next()`` notices Ctrl-C."""
        return ManagerEventStream(self)

    def stream_all(self) -> AllEventsStream:
        """Every event of every thread of the manager from this call on, in arrival order, until
        the manager closes: the sync twin of :meth:`AsyncManager.stream_all` (items are
        :class:`~codexrs.HookEvent`). Iterate it from any one thread; ``close()`` it (or leave a
        ``with`` block) to stop. A blocked ``next()`` notices Ctrl-C.

        Raises:
            EngineClosedError: The manager is closed.
        """
        return AllEventsStream(self)

    # -- turns ----------------------------------------------------------------------------------
    def send(self, name_or_id: str, input: Input, *, output_schema: type[Any] | JsonSchema | None = None, **settings: Unpack[TurnSettings]) -> None:
        """See :meth:`AsyncManager.send`: returns once the turn is queued."""
        self._call(self._async.send(name_or_id, input, output_schema=output_schema, **settings))

    def interrupt(self, name_or_id: str) -> bool:
        """See :meth:`AsyncManager.interrupt`."""
        return self._call(self._async.interrupt(name_or_id))

    def wait(self, name_or_id: str, timeout: float | None = None) -> TurnResult:
        """See :meth:`AsyncManager.wait`. Ctrl-C stops the wait (``KeyboardInterrupt``); the
        turn goes on."""
        return self._call(self._async.wait(name_or_id, timeout))

    def wait_all(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> dict[str, TurnResult]:
        """See :meth:`AsyncManager.wait_all`."""
        return self._call(self._async.wait_all(names, timeout))

    def wait_any(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> tuple[str, TurnResult]:
        """See :meth:`AsyncManager.wait_any`."""
        return self._call(self._async.wait_any(names, timeout))

    def usage(self, name_or_id: str | None = None, *, group: str | None = None) -> ManagerUsage:
        """See :meth:`AsyncManager.usage`."""
        return self._read(lambda: self._async.usage(name_or_id, group=group))

    def rate_limits(self, refresh: bool = False) -> dict[str, RateLimitSnapshot]:
        """See :meth:`AsyncManager.rate_limits`."""
        return self._call(self._async.rate_limits(refresh))

    def set_rate_limit_source(self, name: str, source: SnapshotLike | SourceFn, *, refresh_s: float = 30.0) -> None:
        """See :meth:`AsyncManager.set_rate_limit_source` (a callable source may be async: it
        runs on the manager's loop)."""
        self._call(self._async.set_rate_limit_source(name, source, refresh_s=refresh_s))

    @property
    def peak_running(self) -> int:
        """See :attr:`AsyncManager.peak_running`."""
        return self._read(lambda: self._async.peak_running)

    def close(self, timeout: float | None = 10.0) -> None:
        """See :meth:`AsyncManager.close`; then stops the manager's loop thread (calls other
        threads are still waiting in end with :class:`~codexrs.EngineClosedError`). Idempotent;
        from any thread but the manager's own (``RuntimeError``)."""
        timeout = timeout_seconds("timeout", timeout)
        if self._on_runner():
            raise RuntimeError("a Manager cannot be closed from its own thread (a hook or handler running there)")
        with self._close_lock:
            if self._stopped.is_set():
                return
            try:
                self._call(self._async.close(timeout))
            finally:
                self._stop()

    def __enter__(self) -> Manager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncThreadHandle:
    """The codex thread of a :class:`SyncManagedThread`, for sync code: what
    ``ManagedThread.thread`` (an :class:`~codexrs.AsyncThread`) is to async code, limited to
    what goes beside the manager's own turns (which go through :meth:`Manager.send`). Each call
    runs on the manager's loop and may be made from any thread.

    Attributes:
        id: The codex thread id.
    """

    def __init__(self, manager: Manager, managed: ManagedThread) -> None:
        self._manager = manager
        self._managed = managed  # its ``thread`` is replaced when an idle thread is reloaded
        self.id = managed.id

    def _call(self, fn: Callable[[AsyncThread], Awaitable[_T]]) -> _T:
        """``fn(thread)`` awaited on the manager's loop, with the thread loaded then."""

        async def call() -> _T:
            return await fn(self._managed.thread)

        return self._manager._call(call())

    def respond(self, request: Request, answer: object) -> bool:
        """Answers a pending request of this thread (one its handler left pending by
        returning :data:`codexrs.requests.DEFER`); see :meth:`codexrs.Thread.respond`.

        Returns:
            ``True`` once codex-core accepted the answer; ``False``, sending nothing, when the
            request is no longer pending (answered, or denied at its ``request_timeout``).

        Raises:
            TypeError / ConfigError: ``answer`` is not an answer for the request's kind (the
                request is denied).
        """
        return self._call(lambda thread: thread.respond(request, answer))

    def info(self) -> StoredThread:
        """The thread as codex's store has it; see :meth:`codexrs.Thread.info`."""
        return self._call(lambda thread: thread.info())

    def read(self) -> ThreadHistory:
        """The thread as codex stored it (its turns and items); see :meth:`codexrs.Thread.read`."""
        return self._call(lambda thread: thread.read())

    def __repr__(self) -> str:
        return f"<SyncThreadHandle {self.id}>"


class SyncManagedThread(ThreadFacts):
    """A thread of a :class:`Manager`, for sync code: :class:`~codexrs.ManagedThread`'s
    attributes, each read on the manager's loop thread when asked for (so always current), and
    :attr:`thread`, a :class:`SyncThreadHandle` (``thread.respond(request, answer)`` answers a
    deferred request). Two views of one thread are equal.

    Attributes:
        name, group: As set when the thread was created.
        thread: Its codex thread, for sync code (:class:`SyncThreadHandle`).
        id, status, queued_turns, last_result, last_timings, activity, usage, idle_since,
            loaded, rate_limited_until: Read-only: the :class:`~codexrs.ManagedThread`
            attribute of that name, read when asked for.
    """

    thread: SyncThreadHandle
    #: Read on the manager's loop thread when asked for, as are those of :class:`ThreadFacts`
    #: but ``name`` and ``group`` (:data:`_LIVE`).
    id: str
    status: ThreadStatus
    queued_turns: int

    if not TYPE_CHECKING:  # type checkers read the attributes declared above

        def __getattr__(self, attribute: str) -> object:
            if attribute not in _LIVE:
                raise AttributeError(f"'SyncManagedThread' object has no attribute {attribute!r}")
            managed = self._managed
            return self._manager._read(lambda: getattr(managed, attribute))

    def __init__(self, manager: Manager, managed: ManagedThread) -> None:
        self._manager = manager
        self._managed = managed
        self.name = managed.name
        self.group = managed.group
        self.thread = SyncThreadHandle(manager, managed)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SyncManagedThread) and other._managed is self._managed

    def __hash__(self) -> int:
        return id(self._managed)

    def __repr__(self) -> str:
        return f"<SyncManagedThread {self.name!r} {self.thread.id}>"


#: The attributes a :class:`SyncManagedThread` reads from its :class:`ManagedThread` when asked.
_LIVE = frozenset(name for cls in SyncManagedThread.__mro__ for name in vars(cls).get("__annotations__", {})) - {"name", "group", "thread"}


def _next_put(manager: Manager, source: queue.Queue[_T | None] | queue.SimpleQueue[_T | None]) -> _T | None:
    """The next item the manager's loop puts into ``source``, waiting in slices (Ctrl-C is
    noticed); ``None`` once the manager closed (it put ``None``) or its loop ended without a word."""
    while True:
        try:
            return source.get(timeout=_SLICE)
        except queue.Empty:
            if manager._stopped.is_set() and source.empty():
                return None


class ManagerEventStream:
    """:meth:`Manager.events`: the manager's events from its creation on, as a sync iterator
    (``for event in manager.events(): ...``) that ends when the manager closes. A context
    manager; :meth:`close` stops it (breaking out of a ``for`` and dropping it does too).
    ``next()`` blocks (noticing Ctrl-C) until an event comes."""

    def __init__(self, manager: Manager) -> None:
        self._manager = manager
        self._queue: queue.SimpleQueue[ManagerEvent | None] = queue.SimpleQueue()
        self._done = False
        self._watching = True
        manager._read(lambda: manager._async._watch(self._queue))  # on the loop, at once

    def __iter__(self) -> Iterator[ManagerEvent]:
        return self

    def __next__(self) -> ManagerEvent:
        if not self._done:
            event = _next_put(self._manager, self._queue)
            if event is not None:
                return event
            self._done = True
        raise StopIteration

    def close(self) -> None:
        """Stops receiving events; the iterator ends. Idempotent."""
        self._done = True
        if self._watching:
            self._watching = False
            self._manager._read(lambda: self._manager._async._unwatch(self._queue))

    def __enter__(self) -> ManagerEventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_watching", False):
            return
        try:  # never blocks: the loop drops the queue when it gets to it
            self._manager._loop.call_soon_threadsafe(self._manager._async._unwatch, self._queue)
        except Exception:
            pass  # the loop is closed (or was never made): nothing to drop


class AllEventsStream:
    """:meth:`Manager.stream_all`: a sync iterator of :class:`~codexrs.HookEvent` over every
    thread of the manager, a context manager; :meth:`close` stops it. A task on the manager's
    loop reads the engine-wide batches into a bounded queue; while the queue is full (this
    iterator lags) the task waits, and the engine's read with it: nothing is dropped."""

    #: Batches read ahead of the iterator.
    QUEUE_BATCHES = 64

    def __init__(self, manager: Manager) -> None:
        self._manager = manager
        self._queue: queue.Queue[list[HookEvent] | None] = queue.Queue(self.QUEUE_BATCHES)
        self._batch: collections.deque[HookEvent] = collections.deque()
        self._done = False
        subscribed = threading.Event()
        self._feeder = manager._read(lambda: asyncio.ensure_future(self._feed(subscribed.set)))
        while not subscribed.wait(_SLICE):
            if self._feeder.done():
                self._feeder.result()  # raises what stopped it (the manager is closed)
                break

    async def _feed(self, subscribed: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for batch in self._manager._async._all_batches(subscribed):
                try:
                    self._queue.put_nowait(batch)
                except queue.Full:  # the iterator lags: wait for room, off the loop
                    await loop.run_in_executor(None, self._queue.put, batch)
        finally:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                loop.run_in_executor(None, self._queue.put, None)

    def __iter__(self) -> Iterator[HookEvent]:
        return self

    def __next__(self) -> HookEvent:
        while not self._batch:
            batch = None if self._done else _next_put(self._manager, self._queue)
            if batch is None:
                self._done = True
                raise StopIteration
            self._batch.extend(batch)
        return self._batch.popleft()

    def batches(self) -> Iterator[list[HookEvent]]:
        """The same events, a list at a time: each list is what one read of the engine took
        (events of many threads, in arrival order; a new list the caller owns), the events
        already taken by ``__next__`` and not yet yielded first. One queue hand-over per read,
        not per event. Ends when the stream is closed (:meth:`close`) or the manager is."""
        if self._batch:
            buffered = list(self._batch)
            self._batch.clear()
            yield buffered
        while not self._done:
            batch = _next_put(self._manager, self._queue)
            if batch is None:
                self._done = True
                return
            yield batch

    def close(self) -> None:
        """Stops receiving events; the iterator ends. Idempotent."""
        self._done = True
        self._batch.clear()
        if not self._feeder.done():
            try:
                self._manager._loop.call_soon_threadsafe(self._feeder.cancel)
            except RuntimeError:
                pass  # the loop is closed: the feeder ended with it
        while True:  # unblock a feeder waiting for room
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def __enter__(self) -> AllEventsStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

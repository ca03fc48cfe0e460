"""``AsyncManager``: the asyncio manager (the package docstring has the model; a thread's own
state is :class:`ManagedThread`, in :mod:`._thread`)."""

from __future__ import annotations

import asyncio
import builtins
import math
import os
import time
from typing import Any, AsyncIterator, Callable, Literal, Mapping, Unpack

from .._core.engine import AsyncCodex
from .._core.wakeups import Dispatcher, Subscription
from .._core.options import ThreadOptions, TurnSettings, timeout_seconds
from .._core.rate_source import SnapshotLike, SourceFn
from .._core.result import Input, TurnResult
from .._core.options import JsonSchema
from .._failure import is_rate_limited
from ..errors import EngineClosedError, NothingSentError, RateLimitError, ThreadNotFoundError
from ..events import Event, RateLimitSnapshot
from ..hooks import Hook, HookEvent
from ._stream_all import AsyncAllEventsStream
from ._scheduling import Gate, ManagerArgs, ManagerOptions, QueuedTurn, check_settings
from ._thread import ManagedThread
from ._types import ManagerEvent, ManagerEventDetail, ManagerEventKind, ManagerUsage, NameTakenError, ThreadStatus, TurnTimings, Watcher

__all__ = ["AsyncManager", "ManagedThread"]


class AsyncManager:
    """Many codex threads on one engine, with names, a cap on running turns and waits.

    Args:
        codex_home, cwd, config, env: As for :class:`~codexrs.AsyncCodex`.
        **options: The manager's options (:class:`~codexrs.manager.ManagerOptions`):
            ``max_running_turns``, ``group_limits``, ``idle_timeout``,
            ``rate_limit_threshold``, ``rate_limit_requeues``, ``rate_limit_backoff``,
            ``thread_options`` (defaults for every thread it creates or resumes) and ``hooks``.

    Raises:
        TypeError: An option it does not have, or a value of the wrong type.
        ConfigError: A value out of range (e.g. ``max_running_turns=0``).
    """

    def __init__(self, codex_home: str | os.PathLike[str] | None = None, cwd: str | os.PathLike[str] | None = None,
                 config: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None,
                 **options: Unpack[ManagerOptions]) -> None:  # fmt: skip
        args = ManagerArgs.of(options)
        self._args = args
        #: Every turn waits until then (Unix seconds): set by a 429.
        self._held_until = 0.0
        self._unloader: asyncio.Task[None] | None = None
        self._codex = AsyncCodex(codex_home, cwd, config, env, hooks=args.hooks)
        self._gate = Gate(args.max_running_turns)
        self._groups = {g: Gate(n) for g, n in args.group_limits.items()}
        self._threads: dict[str, ManagedThread] = {}  # by name
        self._reserved: set[str] = set()
        self._names: dict[str, str] | None = None
        self._watchers: list[Watcher] = []
        self._closed = False
        self._peak = 0
        self._running = 0

    @property
    def peak_running(self) -> int:
        """The most turns that ever ran at once (for a service's dashboard, and the tests)."""
        return self._peak

    # -- lifetime -------------------------------------------------------------------------------
    async def __aenter__(self) -> AsyncManager:
        await self._codex.start()
        if self._args.idle_timeout is not None and self._unloader is None:
            self._unloader = asyncio.create_task(self._unload_idle(self._args.idle_timeout), name="codexrs-manager-idle")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float | None = 10.0) -> None:
        """Cancels queued turns, interrupts running ones and shuts every thread down, within
        ``timeout`` seconds (``None``: no limit). Idempotent."""
        timeout = timeout_seconds("timeout", timeout)
        if self._closed:
            return
        self._closed = True
        try:
            await self._shut_down(timeout)
        finally:
            for watcher in self._watchers:
                watcher.put_nowait(None)  # the end of every events()

    async def _shut_down(self, timeout: float | None) -> None:
        if self._unloader is not None:
            self._unloader.cancel()
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        for managed in self._threads.values():
            managed._cancel_queued("the manager closed before this turn ran")
        workers = [m._worker for m in self._threads.values() if m._worker is not None and not m._worker.done()]
        for worker in workers:
            worker.cancel()  # a running turn's stream interrupts it when cancelled
        if workers:
            await asyncio.wait(workers, timeout=max(0.0, deadline - time.monotonic()))
        for managed in self._threads.values():
            managed._closed = True
        await self._codex.close(max(0.1, deadline - time.monotonic()))

    # -- threads --------------------------------------------------------------------------------
    def _emit(self, kind: ManagerEventKind, managed: ManagedThread, **detail: Unpack[ManagerEventDetail]) -> None:
        event = ManagerEvent(kind, managed.id, managed.name, time.time(), detail)
        for queue in self._watchers:
            queue.put_nowait(event)

    async def events(self) -> AsyncIterator[ManagerEvent]:
        """Every manager event from now on, in order, until the manager closes."""
        queue: asyncio.Queue[ManagerEvent | None] = asyncio.Queue()
        self._watch(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._unwatch(queue)

    def stream_all(self) -> AsyncAllEventsStream:
        """Every event of every thread of the manager from this call on (on a started manager,
        as inside ``async with``; otherwise from the first iteration, which starts it), in
        arrival order across threads (codex's order within each), until the manager closes or
        the iterator's ``aclose()``: for code that watches everything (a dashboard, a logger,
        an SSE hub) without a task per thread. Make it before the turns it must see start.

        Each item is a :class:`~codexrs.HookEvent` (``thread_id``, ``turn_id``: the submission
        id codex tagged the event with, ``event``, ``lag_s``). It observes: the threads' own
        readers (``send``/``wait``, streams) still see every event. Events come in batches,
        one per wake-up of the engine (one native read for every thread); a thread's events
        are seen as they arrive, whether or not a turn of it is being read, up to its
        ``max_queued_events`` unread events (then that thread waits for its reader). A consumer
        that falls 65,536 events behind holds every thread back until it catches up: nothing
        is dropped.

        Raises:
            EngineClosedError: The manager is closed (here, or at the first iteration).
        """
        self._check_open()
        return AsyncAllEventsStream(self)

    async def _all_batches(self, subscribed: Callable[[], None] | None = None) -> AsyncIterator[list[HookEvent]]:
        """:meth:`stream_all`, a batch (one engine-wide read) at a time; ``subscribed()`` is
        called once every event from then on will be seen."""
        self._check_open()
        await self._codex.start()
        watching = self._subscribe_all()
        if subscribed is not None:
            subscribed()
        async for batch in self._batches_of(*watching):
            yield batch

    def _subscribe_all(self) -> tuple[Dispatcher, Subscription]:
        """Sees every event of every thread from now on (the engine is started)."""
        dispatcher = self._codex._dispatcher()
        return dispatcher, dispatcher.subscribe()

    async def _batches_of(self, dispatcher: Dispatcher, subscription: Subscription) -> AsyncIterator[list[HookEvent]]:
        """The batches ``subscription`` sees until the manager closes; closes it when done."""
        try:
            while True:
                if batch := subscription.take():
                    yield batch
                elif self._closed or dispatcher.closed:
                    return
                elif (waiter := dispatcher.wait_journal(subscription)) is not None:
                    await waiter
        finally:
            subscription.close()

    def _watch(self, watcher: Watcher) -> None:
        """Puts every event from now on into ``watcher``, then ``None`` once the manager closed."""
        if self._closed:
            watcher.put_nowait(None)
        else:
            self._watchers.append(watcher)

    def _unwatch(self, watcher: Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError("the manager is closed")

    async def _stored_names(self) -> dict[str, str]:
        """Names of the threads in codex's store (name -> id), read once per manager and then
        kept current by the manager itself."""
        if self._names is None:
            names: dict[str, str] = {}
            cursor: str | None = None
            while True:
                page = await self._codex.thread_list(limit=100, cursor=cursor)
                for stored in page.data:
                    if stored.name is not None:
                        names.setdefault(stored.name, stored.id)  # newest first: the newest wins
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            self._names = names
        return self._names

    def _thread_options(self, options: ThreadOptions) -> ThreadOptions:
        """The manager's ``thread_options`` overridden by ``options``."""
        return {**self._args.thread_options, **options}

    async def create(self, name: str | None = None, *, group: str | None = None, **options: Unpack[ThreadOptions]) -> ManagedThread:
        """Starts a thread named ``name`` (default: its id), in ``group`` (see ``group_limits``),
        with the manager's ``thread_options`` overridden by ``options``
        (:class:`~codexrs.ThreadOptions`); the name is written to codex's thread metadata.

        Raises:
            NameTakenError: A thread of this manager, or of codex's store, has this name
                (of two concurrent creates of one name, one wins; the other starts nothing).
        """
        self._check_open()
        if name is not None:
            if name in self._threads or name in self._reserved:
                raise NameTakenError(f"a thread named {name!r} exists in this manager")
            self._reserved.add(name)
        try:
            if name is not None and name in await self._stored_names():
                raise NameTakenError(f"a stored thread is named {name!r}: resume({name!r}) it")
            thread = await self._codex.thread_start(**self._thread_options(options))
            managed_name = name if name is not None else thread.id
            if name is not None:
                # codex writes a thread's metadata once its rollout exists (after its first
                # turn; naming it before waits ~1.5 s in codex): the name is written then.
                (await self._stored_names())[name] = thread.id
        finally:
            if name is not None:
                self._reserved.discard(name)
        managed = ManagedThread(managed_name, thread, group)
        managed._unnamed = name is not None
        self._threads[managed_name] = managed
        self._emit("thread_created", managed)
        return managed

    async def resume(self, name_or_id: str, *, group: str | None = None, **options: Unpack[ThreadOptions]) -> ManagedThread:
        """Loads a stored thread by name (codex's thread name) or id, with its history, into
        ``group``, with the manager's ``thread_options`` overridden by ``options``."""
        self._check_open()
        if name_or_id in self._threads:
            return self._threads[name_or_id]
        thread_id = (await self._stored_names()).get(name_or_id, name_or_id)
        thread = await self._codex.thread_resume(thread_id, **self._thread_options(options))
        info = await thread.info()
        managed = ManagedThread(info.name or thread.id, thread, group)
        self._threads[managed.name] = managed
        self._emit("thread_resumed", managed)
        return managed

    def add_hook(self, hook: Hook) -> None:
        """Adds an event hook to the manager's engine (see ``hooks``)."""
        self._codex.add_hook(hook)

    def remove_hook(self, hook: Hook) -> None:
        """Removes an event hook; raises ``ValueError`` if it is not installed."""
        self._codex.remove_hook(hook)

    def get(self, name_or_id: str) -> ManagedThread:
        """The manager's thread with this name or id; raises :class:`ThreadNotFoundError`."""
        managed = self._threads.get(name_or_id)
        if managed is None:
            managed = next((m for m in self._threads.values() if m.id == name_or_id), None)
        if managed is None:
            raise ThreadNotFoundError(f"no thread {name_or_id!r} in this manager")
        return managed

    def list(self, group: str | None = None) -> builtins.list[ManagedThread]:
        """The manager's threads (of ``group``, if given), in creation order, each with
        ``status``."""
        return [m for m in self._threads.values() if group is None or m.group == group]

    def status(self, name_or_id: str) -> ThreadStatus:
        """``idle``, ``queued``, ``rate_limited``, ``running``, ``waiting_for_approval`` or
        ``closed``."""
        return self.get(name_or_id).status

    def last_message(self, name_or_id: str) -> str | None:
        """The final response of the thread's last finished turn."""
        result = self.get(name_or_id).last_result
        return None if result is None else result.final_response

    async def remove(self, name_or_id: str) -> None:
        """Closes the thread (interrupting a running turn, cancelling queued ones) and forgets
        it; its rollout stays, so :meth:`resume` loads it again. The thread leaves the manager
        at once: a concurrent ``send``, ``status`` or ``remove`` of it raises
        :class:`ThreadNotFoundError`."""
        managed = self.get(name_or_id)
        del self._threads[managed.name]
        managed._closed = True
        managed._cancel_queued(f"thread {managed.name!r} was removed")
        if managed._worker is not None and not managed._worker.done():
            managed._worker.cancel()
            await asyncio.gather(managed._worker, return_exceptions=True)
        await managed.thread.close()
        self._emit("thread_removed", managed)

    def usage(self, name_or_id: str | None = None, *, group: str | None = None) -> ManagerUsage:
        """What the thread's turns used; with no name, every thread's (of ``group``, if given),
        summed."""
        if name_or_id is not None:
            return self.get(name_or_id).usage
        total = ManagerUsage()
        for managed in self.list(group):
            total = total + managed.usage
        return total

    async def rate_limits(self, refresh: bool = False) -> dict[str, RateLimitSnapshot]:
        """The engine's rate-limit snapshots (:meth:`~codexrs.Codex.rate_limits`; ``refresh``
        asks codex's backend, ChatGPT login only). They feed ``rate_limit_threshold``."""
        return await self._codex.rate_limits(refresh)

    async def set_rate_limit_source(self, name: str, source: SnapshotLike | SourceFn, *, refresh_s: float = 30.0) -> None:
        """Registers the host's rate-limit source (:meth:`~codexrs.Codex.set_rate_limit_source`):
        its snapshots feed the events and ``rate_limit_threshold``."""
        await self._codex.set_rate_limit_source(name, source, refresh_s=refresh_s)

    async def _rate_limit_reset(self) -> tuple[float, Literal["threshold", "rate_limit_error"]] | None:
        """Until when new turns wait (Unix seconds), and why: a 429's hold, or the latest
        window at or above the threshold; ``None`` if neither is ahead."""
        now, threshold = time.time(), self._args.rate_limit_threshold
        if self._held_until > now:
            return self._held_until, "rate_limit_error"
        if threshold is None:
            return None
        resets = [
            float(window.resets_at)
            for snapshot in (await self._codex.rate_limits()).values()
            for window in (snapshot.primary, snapshot.secondary)
            if window is not None
            and window.used_percent >= threshold
            and window.resets_at is not None
            and window.resets_at > now
        ]
        return (max(resets), "threshold") if resets else None

    async def _reload(self, managed: ManagedThread) -> None:
        """Loads an unloaded thread again, with its history (codex ``resume``)."""
        managed.thread = await self._codex.thread_resume(managed.id, **self._args.thread_options)
        managed.loaded = True
        self._emit("thread_resumed", managed)

    async def _unload_idle(self, idle_timeout: float) -> None:
        """Unloads threads idle for ``idle_timeout`` seconds (closed in codex, rollout kept)."""
        while not self._closed:
            await asyncio.sleep(min(idle_timeout / 2, 1.0))
            now = time.monotonic()
            for managed in builtins.list(self._threads.values()):
                if managed.loaded and managed._idle() and not managed._unnamed and now - managed.idle_since >= idle_timeout:
                    managed.loaded = False
                    await managed.thread.close()
                    self._emit("thread_unloaded", managed)

    # -- turns ----------------------------------------------------------------------------------
    async def send(self, name_or_id: str, input: Input, *, output_schema: type[Any] | JsonSchema | None = None, **settings: Unpack[TurnSettings]) -> None:
        """Queues a turn on the thread and returns at once (before it runs); its turns run
        in the order sent. :meth:`wait` gives the result.

        Args:
            name_or_id: The thread's name or id.
            input: The turn's input (as for :meth:`~codexrs.AsyncThread.turn`).
            output_schema: As for :meth:`~codexrs.AsyncThread.turn`: a JSON Schema dict, or a type
                the schema is made from; the result's ``output`` is the final message decoded.
            **settings: Settings the turn changes (:class:`~codexrs.TurnSettings`).

        Raises:
            ThreadNotFoundError: No such thread.
            EngineClosedError: The manager or the thread is closed.
            TypeError: A setting :class:`~codexrs.TurnSettings` does not have.
        """
        self._check_open()
        managed = self.get(name_or_id)
        if managed._closed:
            raise EngineClosedError(f"thread {managed.name!r} is closed")
        check_settings("send", settings)
        done: asyncio.Future[TurnResult] = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)  # never "unretrieved"
        managed._sends.append(QueuedTurn(input, settings, output_schema, done))
        managed._last = done
        self._emit("turn_queued", managed)
        if managed._worker is None or managed._worker.done():
            managed._worker = asyncio.create_task(self._work(managed), name=f"codexrs-manager-{managed.name}")

    async def _work(self, managed: ManagedThread) -> None:
        while managed._sends:
            send = managed._sends[0]
            while (hold := await self._rate_limit_reset()) is not None:  # another 429 may move it on
                until, reason = hold
                managed.rate_limited_until = until
                self._emit("rate_limited", managed, until=until, reason=reason)
                try:
                    await asyncio.sleep(max(0.0, until - time.time()))
                finally:
                    managed.rate_limited_until = None
            managed._queued = True
            group = self._groups.get(managed.group) if managed.group is not None else None
            if group is not None:
                await group.acquire()
            try:
                await self._gate.acquire()
            except BaseException:
                if group is not None:
                    group.release()
                raise
            managed._queued = False
            managed._sends.popleft()
            managed._running = True
            self._running += 1
            self._peak = max(self._peak, self._running)
            self._emit("turn_started", managed, queue_wait_s=time.monotonic() - send.queued_at)
            started = time.monotonic()
            try:
                await self._run_turn(managed, send, started)
            finally:
                managed._running = False
                managed.idle_since = time.monotonic()
                managed._pending_requests.clear()
                self._running -= 1
                self._gate.release()
                if group is not None:
                    group.release()

    async def _run_turn(self, managed: ManagedThread, send: QueuedTurn, started: float) -> None:
        """Runs one queued turn and settles its future (or queues it again after a 429)."""
        try:
            if not managed.loaded:
                await self._reload(managed)
            turn = managed._turn = await managed.thread.turn(send.input, output_schema=send.output_schema, **send.settings)
            first_token: float | None = None

            def seen(event: Event) -> None:
                nonlocal first_token
                if managed._observe(event) and first_token is None:
                    first_token = time.monotonic() - started

            # Its deltas are seen from within the engine's read: no task wake-up per delta.
            result = await turn._read_to_end(seen)
        except asyncio.CancelledError:
            if not send.done.done():
                send.done.set_exception(EngineClosedError("the turn was cancelled (manager closed or thread removed)"))
            raise
        except Exception as exc:
            if not send.done.done():
                send.done.set_exception(exc)
            self._emit("turn_failed", managed, error=str(exc))
            return
        finally:
            managed._turn = None
            managed.activity = ""
        managed.usage = managed.usage.add(result, time.monotonic() - started)
        if result.status == "failed" and is_rate_limited(result) and send.requeues < self._args.rate_limit_requeues:
            await self._requeue(managed, send, RateLimitError(result))
            return
        managed.last_result = result
        managed.last_timings = TurnTimings(started - send.queued_at, first_token, time.monotonic() - started)
        if managed._unnamed:
            await managed.thread.set_name(managed.name)
            managed._unnamed = False
        if not send.done.done():
            send.done.set_result(result)
        if result.status == "failed":
            self._emit("turn_failed", managed, error=result.error.message if result.error else "failed", turn_id=result.id)
        else:
            self._emit("turn_finished", managed, status=result.status, turn_id=result.id)

    async def _requeue(self, managed: ManagedThread, send: QueuedTurn, error: RateLimitError) -> None:
        """A turn the provider refused for a rate limit: it leaves the thread's history (codex
        rollback), goes back to the head of its queue, and every turn waits for the reset (or
        ``rate_limit_backoff``, doubling, when the 429 named none)."""
        await managed.thread.rollback(1)
        send.requeues += 1
        backoff = self._args.rate_limit_backoff * 2 ** (send.requeues - 1)
        until = error.resets_at if error.resets_at is not None else time.time() + backoff
        self._held_until = max(self._held_until, until)
        managed._sends.appendleft(send)
        self._emit("turn_requeued", managed, until=until, resets_at_source=error.resets_at_source, error=str(error))

    async def interrupt(self, name_or_id: str) -> bool:
        """Interrupts the thread's running turn (codex ``Op::Interrupt``): its result says
        ``interrupted``. Queued turns stay queued. Returns whether a turn was running."""
        turn = self.get(name_or_id)._turn
        if turn is None:
            return False
        await turn.interrupt()
        return True

    async def wait(self, name_or_id: str, timeout: float | None = None) -> TurnResult:
        """The result of the last turn sent to the thread, once it has ended.

        Raises:
            TimeoutError: ``timeout`` seconds passed; the turn keeps running.
            ThreadNotFoundError: No such thread.
            NothingSentError: Nothing was ever sent to it.
            TypeError, ConfigError: ``timeout`` is not ``None`` or a non-negative number.
        """
        timeout = timeout_seconds("timeout", timeout)
        managed = self.get(name_or_id)
        if managed._last is None:
            raise NothingSentError(f"nothing was sent to thread {managed.name!r}")
        return await asyncio.wait_for(asyncio.shield(managed._last), timeout)

    def _sent_to(self, names: builtins.list[str] | None) -> builtins.list[tuple[ManagedThread, asyncio.Future[TurnResult]]]:
        """The named threads (default: all) that were sent a turn, each with its last one."""
        threads = [self.get(n) for n in names] if names is not None else self._threads.values()
        return [(m, m._last) for m in threads if m._last is not None]

    async def wait_all(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> dict[str, TurnResult]:
        """Waits for the last turn of each named thread (default: every thread sent to); a
        thread sent nothing is left out. Returns results by name.

        Raises:
            TimeoutError: ``timeout`` seconds passed; the turns keep running.
            ThreadNotFoundError: A name no thread has.
        """
        timeout = timeout_seconds("timeout", timeout)
        targets = self._sent_to(names)
        results = await asyncio.wait_for(asyncio.gather(*(asyncio.shield(last) for _, last in targets)), timeout)
        return {m.name: r for (m, _), r in zip(targets, results)}

    async def wait_any(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> tuple[str, TurnResult]:
        """Waits until one of the named threads' last turns ends; returns (name, result).

        Raises:
            TimeoutError: ``timeout`` seconds passed; the turns keep running.
            ThreadNotFoundError: A name no thread has.
            NothingSentError: None of the threads was sent a turn.
        """
        timeout = timeout_seconds("timeout", timeout)
        futures = {asyncio.ensure_future(asyncio.shield(last)): m for m, last in self._sent_to(names)}
        if not futures:
            raise NothingSentError("nothing was sent to any of these threads")
        done, pending = await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for future in pending:
            future.cancel()
        if not done:
            raise TimeoutError("no turn ended within the timeout")
        first = next(iter(done))
        return futures[first].name, first.result()

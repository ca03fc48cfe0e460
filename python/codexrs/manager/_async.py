"""``AsyncManager`` and ``ManagedThread``: the asyncio manager (the package docstring has the model)."""

from __future__ import annotations

import asyncio
import builtins
import math
import os
import time
from collections import deque
from typing import Any, AsyncIterator, Mapping, Sequence

from .._core.engine import AsyncCodex
from .._core.rate_source import SnapshotLike, SourceFn
from ._types import ManagerEvent, ManagerUsage, NameTakenError, ThreadStatus, TurnTimings, Watcher
from .._core.options import positive_seconds, timeout_seconds
from ._scheduling import Gate, QueuedTurn, check_limit, check_seconds
from .._core.stream import AsyncTurnHandle
from .._core.thread import AsyncThread
from .._core.turn import Input, TurnResult
from ..events import AgentMessageContentDelta, ExecCommandBegin, RateLimitSnapshot, ReasoningContentDelta, ReasoningRawContentDelta
from ..errors import EngineClosedError, RateLimitError, ThreadNotFoundError, is_rate_limited
from ..hooks import Hook
from ..requests import kind_of

__all__ = ["AsyncManager", "ManagedThread"]

_OUTPUT_DELTAS = (AgentMessageContentDelta, ReasoningContentDelta, ReasoningRawContentDelta)
#: The longest ``ManagedThread.activity``, in characters.
_ACTIVITY = 160


class ManagedThread:
    """One conversation of a manager: a name, a codex thread, its queue of turns.

    Attributes:
        name: Its unique name.
        thread: The codex thread (an :class:`~codexrs.AsyncThread`; the sync ``Manager``
            hands out :class:`~codexrs.manager.SyncManagedThread` views instead).
        group: Its group (``group_limits``), or ``None``.
        last_result: The result of its last finished turn, or ``None``.
        last_timings: Its queue wait, time to first token and wall time (:class:`TurnTimings`).
    """

    def __init__(self, name: str, thread: AsyncThread, group: str | None = None) -> None:
        self.name = name
        self.thread = thread
        self.group = group
        self.last_result: TurnResult | None = None
        #: How its last finished turn spent its time.
        self.last_timings: TurnTimings | None = None
        #: What its running turn did last, one line: the tail of the assistant's text, or
        #: ``$ command`` for a command it started (for live views). Empty between turns.
        self.activity = ""
        self._sends: deque[QueuedTurn] = deque()
        self._turn: AsyncTurnHandle | None = None
        self._worker: asyncio.Task[None] | None = None
        self._running = False
        self._queued = False
        self._pending_requests: set[str] = set()
        self._closed = False
        self._last: asyncio.Future[TurnResult] | None = None
        #: The name is not yet in codex's metadata (written after the first turn).
        self._unnamed = False
        #: What its turns used.
        self.usage = ManagerUsage()
        #: When it last finished a turn (or was created), ``time.monotonic()``.
        self.idle_since = time.monotonic()
        #: Whether its codex thread is loaded (``idle_timeout`` unloads idle ones).
        self.loaded = True
        #: While its next turn waits for a rate-limit window to reset: when (Unix seconds).
        self.rate_limited_until: float | None = None

    @property
    def id(self) -> str:
        return self.thread.id

    @property
    def queued_turns(self) -> int:
        """Turns sent to the thread and not started yet."""
        return len(self._sends)

    @property
    def status(self) -> ThreadStatus:
        if self._closed:
            return "closed"
        if self._running:
            return "waiting_for_approval" if self._pending_requests else "running"
        if self.rate_limited_until is not None:
            return "rate_limited"
        if self._queued or self._sends:
            return "queued"
        return "idle"


class AsyncManager:
    """Many codex threads on one engine, with names, a cap on running turns and waits.

    Args:
        codex_home, cwd, config, env: As for :class:`~codexrs.AsyncCodex`.
        max_running_turns: At most this many turns run at once across the manager (``None``:
            no cap); the others wait in FIFO order.
        group_limits: At most ``group_limits[g]`` turns of the threads created in group ``g``
            (``create(name, group=g)``) run at once, within ``max_running_turns``; a group not
            listed has no cap of its own.
        rate_limit_threshold: A percentage: while a real (or injected) rate-limit window of the
            engine is used at least this much and has a ``resets_at`` ahead, new turns wait
            until that reset (status ``rate_limited``, a ``rate_limited`` event saying until
            when). ``None``: turns never wait for a window's use.
        rate_limit_requeues: How many times a turn refused with HTTP 429 is rolled back and
            queued again after the reset (default 3); after that its result is the failed turn.
        rate_limit_backoff: Seconds to hold turns after a 429 that said no reset time
            (doubling with each requeue of that turn; default 60).
        idle_timeout: Seconds after which a thread with nothing running, queued or pending is
            unloaded from codex (its rollout stays); the next ``send`` resumes it with its
            history. ``None``: threads stay loaded.
        thread_options: Defaults for every thread it creates or resumes (``thread_start``'s
            keyword arguments: ``approval_policy``, ``sandbox``, ``on_request``, ...).
        hooks: Callables that see every event of every thread (sync or ``async``), as for
            :class:`~codexrs.AsyncCodex`.
    """

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        max_running_turns: int | None = None,
        group_limits: Mapping[str, int] | None = None,
        idle_timeout: float | None = None,
        rate_limit_threshold: float | None = None,
        rate_limit_requeues: int = 3,
        rate_limit_backoff: float = 60.0,
        thread_options: Mapping[str, Any] | None = None,
        hooks: Sequence[Hook] | None = None,
    ) -> None:
        if rate_limit_threshold is not None and (isinstance(rate_limit_threshold, bool) or not isinstance(rate_limit_threshold, (int, float))):
            raise TypeError(f"rate_limit_threshold must be a percentage or None, not {rate_limit_threshold!r}")
        self._threshold = rate_limit_threshold
        if isinstance(rate_limit_requeues, bool) or not isinstance(rate_limit_requeues, int) or rate_limit_requeues < 0:
            raise TypeError(f"rate_limit_requeues must be a non-negative int, not {rate_limit_requeues!r}")
        self._requeues = rate_limit_requeues
        self._backoff = positive_seconds("rate_limit_backoff", rate_limit_backoff)
        #: Every turn waits until then (Unix seconds): set by a 429.
        self._held_until = 0.0
        self._idle_timeout = check_seconds("idle_timeout", idle_timeout)
        self._unloader: asyncio.Task[None] | None = None
        self._codex = AsyncCodex(codex_home, cwd, config, env, hooks=hooks)
        self._gate = Gate(check_limit("max_running_turns", max_running_turns))
        self._groups = {g: Gate(check_limit(f"group_limits[{g!r}]", n)) for g, n in (group_limits or {}).items()}
        self._defaults = dict(thread_options or {})
        self._threads: dict[str, ManagedThread] = {}  # by name
        self._reserved: set[str] = set()
        self._names: dict[str, str] | None = None
        self._watchers: list[Watcher] = []
        self._closed = False
        #: The most turns that ever ran at once (for a service's dashboard, and the tests).
        self.peak_running = 0
        self._running = 0

    # -- lifetime -------------------------------------------------------------------------------
    async def __aenter__(self) -> AsyncManager:
        await self._codex.start()
        if self._idle_timeout is not None and self._unloader is None:
            self._unloader = asyncio.create_task(self._unload_idle(), name="codexrs-manager-idle")
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
            for send in managed._sends:
                if not send.done.done():
                    send.done.set_exception(EngineClosedError("the manager closed before this turn ran"))
            managed._sends.clear()
        workers = [m._worker for m in self._threads.values() if m._worker is not None and not m._worker.done()]
        for worker in workers:
            worker.cancel()  # a running turn's stream interrupts it when cancelled
        if workers:
            await asyncio.wait(workers, timeout=max(0.0, deadline - time.monotonic()))
        for managed in self._threads.values():
            managed._closed = True
        await self._codex.close(max(0.1, deadline - time.monotonic()))

    # -- threads --------------------------------------------------------------------------------
    def _emit(self, kind: str, managed: ManagedThread, **detail: Any) -> None:
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

    async def create(self, name: str | None = None, *, group: str | None = None, **thread_options: Any) -> ManagedThread:
        """Starts a thread named ``name`` (default: its id), in ``group`` (see ``group_limits``),
        with the manager's thread options overridden by ``thread_options``; the name is written
        to codex's thread metadata.

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
            thread = await self._codex.thread_start(**{**self._defaults, **thread_options})
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

    async def resume(self, name_or_id: str, *, group: str | None = None, **thread_options: Any) -> ManagedThread:
        """Loads a stored thread by name (codex's thread name) or id, with its history, into
        ``group``."""
        self._check_open()
        if name_or_id in self._threads:
            return self._threads[name_or_id]
        thread_id = (await self._stored_names()).get(name_or_id, name_or_id)
        thread = await self._codex.thread_resume(thread_id, **{**self._defaults, **thread_options})
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
        for send in managed._sends:
            if not send.done.done():
                send.done.set_exception(EngineClosedError(f"thread {managed.name!r} was removed"))
        managed._sends.clear()
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

    async def _rate_limit_reset(self) -> tuple[float, str] | None:
        """Until when new turns wait (Unix seconds), and why: a 429's hold, or the latest
        window at or above the threshold; ``None`` if neither is ahead."""
        now = time.time()
        if self._held_until > now:
            return self._held_until, "rate_limit_error"
        if self._threshold is None:
            return None
        resets = [
            float(window.resets_at)
            for snapshot in (await self._codex.rate_limits()).values()
            for window in (snapshot.primary, snapshot.secondary)
            if window is not None
            and window.used_percent >= self._threshold
            and window.resets_at is not None
            and window.resets_at > now
        ]
        return (max(resets), "threshold") if resets else None

    async def _reload(self, managed: ManagedThread) -> None:
        """Loads an unloaded thread again, with its history (codex ``resume``)."""
        managed.thread = await self._codex.thread_resume(managed.id, **self._defaults)
        managed.loaded = True
        self._emit("thread_resumed", managed)

    async def _unload_idle(self) -> None:
        """Unloads threads idle for ``idle_timeout`` (closed in codex, rollout kept)."""
        assert self._idle_timeout is not None
        while not self._closed:
            await asyncio.sleep(min(self._idle_timeout / 2, 1.0))
            now = time.monotonic()
            for managed in list(self._threads.values()):
                idle = not managed._running and not managed._sends and not managed._queued
                if managed.loaded and idle and not managed._unnamed and now - managed.idle_since >= self._idle_timeout:
                    managed.loaded = False
                    await managed.thread.close()
                    self._emit("thread_unloaded", managed)

    # -- turns ----------------------------------------------------------------------------------
    async def send(self, name_or_id: str, input: Input, **turn_options: Any) -> None:
        """Queues a turn on the thread and returns at once (before it runs); its turns run
        in the order sent. :meth:`wait` gives the result."""
        self._check_open()
        managed = self.get(name_or_id)
        if managed._closed:
            raise EngineClosedError(f"thread {managed.name!r} is closed")
        done: asyncio.Future[TurnResult] = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)  # never "unretrieved"
        managed._sends.append(QueuedTurn(input, turn_options, done))
        managed._last = done
        self._emit("turn_queued", managed)
        if managed._worker is None or managed._worker.done():
            managed._worker = asyncio.create_task(self._work(managed), name=f"codexrs-manager-{managed.name}")

    async def _work(self, managed: ManagedThread) -> None:
        while managed._sends:
            send = managed._sends[0]
            hold = await self._rate_limit_reset()
            while hold is not None:
                until, reason = hold
                managed.rate_limited_until = until
                self._emit("rate_limited", managed, until=until, reason=reason)
                try:
                    await asyncio.sleep(max(0.0, until - time.time()))
                finally:
                    managed.rate_limited_until = None
                hold = await self._rate_limit_reset()  # another 429 may have moved it on
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
            self.peak_running = max(self.peak_running, self._running)
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
            turn = managed._turn = await managed.thread.turn(send.input, **send.options)
            first_token: float | None = None
            async for event in turn.stream():
                if first_token is None and isinstance(event, _OUTPUT_DELTAS):
                    first_token = time.monotonic() - started
                if isinstance(event, AgentMessageContentDelta) and event.delta.strip():
                    text = "" if managed.activity.startswith("$ ") else managed.activity
                    managed.activity = (text + event.delta).splitlines()[-1][-_ACTIVITY:]
                elif isinstance(event, ExecCommandBegin):
                    managed.activity = ("$ " + " ".join(event.command))[:_ACTIVITY]
                if kind_of(event) is not None:
                    managed._pending_requests.add(type(event).__name__)
                else:  # codex went on (or codexrs denied it): nothing is waiting any more
                    managed._pending_requests.clear()
            result = await turn.result()
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
        if result.status == "failed" and is_rate_limited(result) and send.requeues < self._requeues:
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
        until = error.resets_at if error.resets_at is not None else time.time() + self._backoff * 2 ** (send.requeues - 1)
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
            ThreadNotFoundError: No such thread, or nothing was ever sent to it.
            TypeError, ConfigError: ``timeout`` is not ``None`` or a non-negative number.
        """
        timeout = timeout_seconds("timeout", timeout)
        managed = self.get(name_or_id)
        if managed._last is None:
            raise ThreadNotFoundError(f"nothing was sent to thread {managed.name!r}")
        return await asyncio.wait_for(asyncio.shield(managed._last), timeout)

    def _sent_to(self, names: builtins.list[str] | None) -> builtins.list[tuple[ManagedThread, asyncio.Future[TurnResult]]]:
        """The named threads (default: all) that were sent a turn, each with its last one."""
        threads = [self.get(n) for n in names] if names is not None else self._threads.values()
        return [(m, m._last) for m in threads if m._last is not None]

    async def wait_all(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> dict[str, TurnResult]:
        """Waits for the last turn of each named thread (default: every thread sent to);
        returns results by name. Raises ``TimeoutError`` (turns keep running)."""
        timeout = timeout_seconds("timeout", timeout)
        targets = self._sent_to(names)
        results = await asyncio.wait_for(asyncio.gather(*(asyncio.shield(last) for _, last in targets)), timeout)
        return {m.name: r for (m, _), r in zip(targets, results)}

    async def wait_any(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> tuple[str, TurnResult]:
        """Waits until one of the named threads' last turns ends; returns (name, result)."""
        timeout = timeout_seconds("timeout", timeout)
        futures = {asyncio.ensure_future(asyncio.shield(last)): m for m, last in self._sent_to(names)}
        if not futures:
            raise ThreadNotFoundError("nothing was sent to any of these threads")
        done, pending = await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for future in pending:
            future.cancel()
        if not done:
            raise TimeoutError("no turn ended within the timeout")
        first = next(iter(done))
        return futures[first].name, first.result()


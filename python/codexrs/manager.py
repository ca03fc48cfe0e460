"""Many conversations in one process: :class:`AsyncManager` (asyncio) and :class:`Manager` (sync).

This is the manager issue's first part: names, the cap on running turns, send / wait, status,
events, close, idle unloading, usage, and holding turns while a rate-limit window is above a
threshold (from the engine's honest snapshots, ``Codex.rate_limits()``). Per-group limits and
a typed error for 429 / usage limits are not built yet.

    async with codexrs.AsyncManager(codex_home=..., max_running_turns=8) as manager:
        await manager.create("alice")
        await manager.send("alice", "refactor the parser")   # returns once queued
        result = await manager.wait("alice")                  # TurnResult

One manager owns one engine (one codex-core ``ThreadManager``, one runtime) and its threads.
Each thread has a name (unique; stored as codex's own thread name, so a later process finds it
with :meth:`AsyncManager.resume`) and runs its turns one after the other, in the order they were
sent; across the manager at most ``max_running_turns`` turns run at once, the rest wait in FIFO
order. A thread's status comes from what really happened: ``idle``, ``queued`` (its next turn
waits for a slot), ``rate_limited`` (it waits for a rate-limit window to reset), ``running``, ``waiting_for_approval`` (a request codex-core sent is not
answered yet), ``closed``.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import threading
import time
from collections import deque
from dataclasses import astuple, dataclass, field
from typing import Any, AsyncIterator, Coroutine, Literal, Mapping, TypeVar

from . import items
from ._engine import AsyncCodex
from ._thread import AsyncThread
from ._turn import Input, TurnResult
from .errors import CodexError, EngineClosedError, ThreadNotFoundError
from .requests import kind_of

__all__ = ["AsyncManager", "ManagedThread", "Manager", "ManagerEvent", "ManagerUsage", "NameTakenError", "ThreadStatus"]

_T = TypeVar("_T")

ThreadStatus = Literal["idle", "queued", "rate_limited", "running", "waiting_for_approval", "closed"]


class NameTakenError(CodexError):
    """Another thread of this manager (or of codex's store) already has this name."""


@dataclass(frozen=True)
class ManagerEvent:
    """Something the manager did (:meth:`AsyncManager.events`).

    Attributes:
        kind: ``thread_created``, ``thread_resumed``, ``thread_unloaded``, ``thread_removed``,
            ``rate_limited`` (with ``until``, Unix seconds), ``turn_queued``,
            ``turn_started``, ``turn_finished`` or ``turn_failed``.
        thread_id: The thread.
        name: Its name.
        at: When, Unix seconds (``time.time()``).
        detail: Kind-specific facts: ``until`` on ``rate_limited``; ``queue_wait_s`` on ``turn_started``; ``status`` and
            ``turn_id`` on ``turn_finished``; ``error`` on ``turn_failed``.
    """

    kind: str
    thread_id: str
    name: str
    at: float
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ManagerUsage:
    """What turns used, summed (:meth:`AsyncManager.usage`); token counts from codex's
    ``token_count`` events (the provider's real counts).

    Attributes:
        input_tokens, cached_input_tokens, output_tokens, reasoning_output_tokens: Tokens.
        turns: Turns that ended (completed, failed or interrupted).
        tool_calls: Commands, patches, MCP and dynamic tool calls, web searches and image
            generations among their items.
        wall_s: Seconds the turns ran, summed (queue waits not included).
    """

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    turns: int = 0
    tool_calls: int = 0
    wall_s: float = 0.0

    def add(self, result: TurnResult, wall_s: float) -> ManagerUsage:
        u = result.usage
        return ManagerUsage(
            self.input_tokens + u.input_tokens,
            self.cached_input_tokens + u.cached_input_tokens,
            self.output_tokens + u.output_tokens,
            self.reasoning_output_tokens + u.reasoning_output_tokens,
            self.turns + 1,
            self.tool_calls + sum(isinstance(i, _TOOL_ITEMS) for i in result.items),
            self.wall_s + wall_s,
        )

    def __add__(self, other: ManagerUsage) -> ManagerUsage:
        return ManagerUsage(*(a + b for a, b in zip(astuple(self), astuple(other))))


_TOOL_ITEMS = (
    items.CommandExecutionItem,
    items.FileChangeItem,
    items.McpToolCallItem,
    items.DynamicToolCallItem,
    items.WebSearchItem,
    items.ImageGenerationItem,
)


@dataclass
class _Send:
    input: Input
    options: dict[str, Any]
    done: asyncio.Future[TurnResult]
    queued_at: float = field(default_factory=time.monotonic)


class _Gate:
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


class ManagedThread:
    """One conversation of a manager: a name, a codex thread, its queue of turns.

    Attributes:
        name: Its unique name.
        thread: The codex thread (an :class:`~codexrs.AsyncThread`).
        last_result: The result of its last finished turn, or ``None``.
    """

    def __init__(self, name: str, thread: AsyncThread) -> None:
        self.name = name
        self.thread = thread
        self.last_result: TurnResult | None = None
        self._sends: deque[_Send] = deque()
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
        rate_limit_threshold: A percentage: while a real (or injected) rate-limit window of the
            engine is used at least this much and has a ``resets_at`` ahead, new turns wait
            until that reset (status ``rate_limited``, a ``rate_limited`` event saying until
            when). ``None``: turns never wait for rate limits.
        idle_timeout: Seconds after which a thread with nothing running, queued or pending is
            unloaded from codex (its rollout stays); the next ``send`` resumes it with its
            history. ``None``: threads stay loaded.
        thread_options: Defaults for every thread it creates or resumes (``thread_start``'s
            keyword arguments: ``approval_policy``, ``sandbox``, ``on_request``, ...).
    """

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        max_running_turns: int | None = None,
        idle_timeout: float | None = None,
        rate_limit_threshold: float | None = None,
        thread_options: Mapping[str, Any] | None = None,
    ) -> None:
        if rate_limit_threshold is not None and (isinstance(rate_limit_threshold, bool) or not isinstance(rate_limit_threshold, (int, float))):
            raise TypeError(f"rate_limit_threshold must be a percentage or None, not {rate_limit_threshold!r}")
        self._threshold = rate_limit_threshold
        if idle_timeout is not None and (isinstance(idle_timeout, bool) or not isinstance(idle_timeout, (int, float)) or idle_timeout <= 0):
            raise TypeError(f"idle_timeout must be a positive number of seconds or None, not {idle_timeout!r}")
        self._idle_timeout = idle_timeout
        self._unloader: asyncio.Task[None] | None = None
        if max_running_turns is not None and (isinstance(max_running_turns, bool) or not isinstance(max_running_turns, int) or max_running_turns < 1):
            raise TypeError(f"max_running_turns must be a positive int or None, not {max_running_turns!r}")
        self._codex = AsyncCodex(codex_home, cwd, config, env)
        self._gate = _Gate(max_running_turns)
        self._defaults = dict(thread_options or {})
        self._threads: dict[str, ManagedThread] = {}  # by name
        self._reserved: set[str] = set()
        self._names: dict[str, str] | None = None
        self._watchers: list[asyncio.Queue[ManagerEvent]] = []
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

    async def close(self, timeout: float = 10.0) -> None:
        """Cancels queued turns, interrupts running ones and shuts every thread down, within
        ``timeout`` seconds. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._unloader is not None:
            self._unloader.cancel()
        deadline = time.monotonic() + timeout
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
        queue: asyncio.Queue[ManagerEvent] = asyncio.Queue()
        self._watchers.append(queue)
        try:
            while not self._closed or not queue.empty():
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=0.2)
                except TimeoutError:
                    continue
        finally:
            self._watchers.remove(queue)

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

    async def create(self, name: str | None = None, **thread_options: Any) -> ManagedThread:
        """Starts a thread named ``name`` (default: its id) with the manager's thread options
        overridden by ``thread_options``; the name is written to codex's thread metadata.

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
        managed = ManagedThread(managed_name, thread)
        managed._unnamed = name is not None
        self._threads[managed_name] = managed
        self._emit("thread_created", managed)
        return managed

    async def resume(self, name_or_id: str, **thread_options: Any) -> ManagedThread:
        """Loads a stored thread by name (codex's thread name) or id, with its history."""
        self._check_open()
        if name_or_id in self._threads:
            return self._threads[name_or_id]
        thread_id = (await self._stored_names()).get(name_or_id, name_or_id)
        thread = await self._codex.thread_resume(thread_id, **{**self._defaults, **thread_options})
        info = await thread.info()
        managed = ManagedThread(info.name or thread.id, thread)
        self._threads[managed.name] = managed
        self._emit("thread_resumed", managed)
        return managed

    def get(self, name_or_id: str) -> ManagedThread:
        """The manager's thread with this name or id; raises :class:`ThreadNotFoundError`."""
        managed = self._threads.get(name_or_id)
        if managed is None:
            managed = next((m for m in self._threads.values() if m.id == name_or_id), None)
        if managed is None:
            raise ThreadNotFoundError(f"no thread {name_or_id!r} in this manager")
        return managed

    def list(self) -> builtins.list[ManagedThread]:
        """The manager's threads, in creation order (each with ``status``)."""
        return list(self._threads.values())

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
        it; its rollout stays, so :meth:`resume` loads it again."""
        managed = self.get(name_or_id)
        for send in managed._sends:
            if not send.done.done():
                send.done.set_exception(EngineClosedError(f"thread {managed.name!r} was removed"))
        managed._sends.clear()
        if managed._worker is not None and not managed._worker.done():
            managed._worker.cancel()
            await asyncio.gather(managed._worker, return_exceptions=True)
        await managed.thread.close()
        managed._closed = True
        del self._threads[managed.name]
        self._emit("thread_removed", managed)

    def usage(self, name_or_id: str | None = None) -> ManagerUsage:
        """What the thread's turns used, or (with no name) every thread's, summed."""
        if name_or_id is not None:
            return self.get(name_or_id).usage
        total = ManagerUsage()
        for managed in self._threads.values():
            total = total + managed.usage
        return total

    async def _rate_limit_reset(self) -> float | None:
        """When the latest window at or above the threshold resets (Unix seconds), if ahead."""
        if self._threshold is None:
            return None
        now = time.time()
        resets = [
            float(window.resets_at)
            for snapshot in (await self._codex.rate_limits()).values()
            for window in (snapshot.primary, snapshot.secondary)
            if window is not None
            and window.used_percent >= self._threshold
            and window.resets_at is not None
            and window.resets_at > now
        ]
        return max(resets) if resets else None

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
        managed._sends.append(_Send(input, turn_options, done))
        managed._last = done
        self._emit("turn_queued", managed)
        if managed._worker is None or managed._worker.done():
            managed._worker = asyncio.create_task(self._work(managed), name=f"codexrs-manager-{managed.name}")

    async def _work(self, managed: ManagedThread) -> None:
        while managed._sends:
            send = managed._sends[0]
            until = await self._rate_limit_reset()
            if until is not None:
                managed.rate_limited_until = until
                self._emit("rate_limited", managed, until=until)
                try:
                    await asyncio.sleep(max(0.0, until - time.time()))
                finally:
                    managed.rate_limited_until = None
            managed._queued = True
            await self._gate.acquire()
            managed._queued = False
            managed._sends.popleft()
            managed._running = True
            self._running += 1
            self.peak_running = max(self.peak_running, self._running)
            self._emit("turn_started", managed, queue_wait_s=time.monotonic() - send.queued_at)
            started = time.monotonic()
            try:
                if not managed.loaded:
                    await self._reload(managed)
                turn = await managed.thread.turn(send.input, **send.options)
                async for event in turn.stream():
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
            else:
                managed.last_result = result
                managed.usage = managed.usage.add(result, time.monotonic() - started)
                if managed._unnamed:
                    await managed.thread.set_name(managed.name)
                    managed._unnamed = False
                if not send.done.done():
                    send.done.set_result(result)
                self._emit("turn_finished", managed, status=result.status, turn_id=result.id)
            finally:
                managed._running = False
                managed.idle_since = time.monotonic()
                managed._pending_requests.clear()
                self._running -= 1
                self._gate.release()

    async def wait(self, name_or_id: str, timeout: float | None = None) -> TurnResult:
        """The result of the last turn sent to the thread, once it has ended.

        Raises:
            TimeoutError: ``timeout`` seconds passed; the turn keeps running.
            ThreadNotFoundError: No such thread, or nothing was ever sent to it.
        """
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
        targets = self._sent_to(names)
        results = await asyncio.wait_for(asyncio.gather(*(asyncio.shield(last) for _, last in targets)), timeout)
        return {m.name: r for (m, _), r in zip(targets, results)}

    async def wait_any(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> tuple[str, TurnResult]:
        """Waits until one of the named threads' last turns ends; returns (name, result)."""
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


class Manager:
    """The sync twin of :class:`AsyncManager`: the same arguments and methods, blocking.

    It runs an :class:`AsyncManager` on an event loop in a thread of its own, so turns run and
    handlers are called there while the caller's thread waits only in the methods that wait
    (``create``, ``wait``, ...). A context manager; :meth:`close` stops the loop and its thread.
    """

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        max_running_turns: int | None = None,
        idle_timeout: float | None = None,
        rate_limit_threshold: float | None = None,
        thread_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner = threading.Thread(target=self._loop.run_forever, name="codexrs-manager", daemon=True)
        self._runner.start()

        async def make() -> AsyncManager:
            manager = AsyncManager(
                codex_home, cwd, config, env, max_running_turns=max_running_turns, idle_timeout=idle_timeout,
                rate_limit_threshold=rate_limit_threshold, thread_options=thread_options,
            )
            return await manager.__aenter__()

        try:
            self._async = self._call(make())
        except BaseException:
            self._stop()
            raise

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._runner.join()
        self._loop.close()

    def create(self, name: str | None = None, **thread_options: Any) -> ManagedThread:
        """See :meth:`AsyncManager.create`."""
        return self._call(self._async.create(name, **thread_options))

    def resume(self, name_or_id: str, **thread_options: Any) -> ManagedThread:
        """See :meth:`AsyncManager.resume`."""
        return self._call(self._async.resume(name_or_id, **thread_options))

    def remove(self, name_or_id: str) -> None:
        """See :meth:`AsyncManager.remove`."""
        self._call(self._async.remove(name_or_id))

    def get(self, name_or_id: str) -> ManagedThread:
        """See :meth:`AsyncManager.get`."""
        return self._async.get(name_or_id)

    def list(self) -> builtins.list[ManagedThread]:
        """See :meth:`AsyncManager.list`."""
        return self._async.list()

    def status(self, name_or_id: str) -> ThreadStatus:
        """See :meth:`AsyncManager.status`."""
        return self._async.status(name_or_id)

    def last_message(self, name_or_id: str) -> str | None:
        """See :meth:`AsyncManager.last_message`."""
        return self._async.last_message(name_or_id)

    def send(self, name_or_id: str, input: Input, **turn_options: Any) -> None:
        """See :meth:`AsyncManager.send`: returns once the turn is queued."""
        self._call(self._async.send(name_or_id, input, **turn_options))

    def wait(self, name_or_id: str, timeout: float | None = None) -> TurnResult:
        """See :meth:`AsyncManager.wait`."""
        return self._call(self._async.wait(name_or_id, timeout))

    def wait_all(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> dict[str, TurnResult]:
        """See :meth:`AsyncManager.wait_all`."""
        return self._call(self._async.wait_all(names, timeout))

    def wait_any(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> tuple[str, TurnResult]:
        """See :meth:`AsyncManager.wait_any`."""
        return self._call(self._async.wait_any(names, timeout))

    def usage(self, name_or_id: str | None = None) -> ManagerUsage:
        """See :meth:`AsyncManager.usage`."""
        return self._async.usage(name_or_id)

    @property
    def peak_running(self) -> int:
        """The most turns that ever ran at once."""
        return self._async.peak_running

    def close(self, timeout: float = 10.0) -> None:
        """See :meth:`AsyncManager.close`; then stops the manager's loop thread. Idempotent."""
        if self._loop.is_closed():
            return
        try:
            self._call(self._async.close(timeout))
        finally:
            self._stop()

    def __enter__(self) -> Manager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

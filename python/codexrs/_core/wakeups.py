"""Waiting in asyncio for a thread's next events: one reader per engine, not per thread.

codex-core's pump wakes armed readers through one socket per engine (``rust/codexrs/src/
wakeups.rs``): it lists the threads that have events and writes a byte. The engine's
:class:`Dispatcher` watches that descriptor with ``loop.add_reader`` on a running waiting loop,
takes the list and resolves those threads' waiting futures (across loops, thread-safely). So a
reader waits with no descriptor and no ``epoll`` registration of its own, and one wake-up of the
loop serves every thread that had events.

The dispatcher also holds the engine's request handlers running as tasks (``_stream``), so that
closing the engine (:func:`release`) cancels them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from itertools import chain
from typing import Callable

from .. import _native

__all__ = ["Dispatcher", "dispatcher_for", "next_batch", "release"]

_registry: dict[int, Dispatcher] = {}  # by descriptor; an entry keeps its socket open
_registry_lock = threading.Lock()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Dispatcher:
    """Resolves waiting readers of one engine's threads (see the module docs)."""

    def __init__(self, wakeups: _native.EngineWakeups) -> None:
        self.wakeups = wakeups
        self.fd = wakeups.fileno()
        self.waiters: dict[int, list[asyncio.Future[None]]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()
        #: Tokens taken from the socket whose readers are not all woken yet.
        self.woken: deque[int] = deque()
        #: Request handlers running as tasks on this engine's threads: cancelled at close.
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False

    def wait(self, token: int) -> asyncio.Future[None]:
        """A future resolved once thread ``token`` (armed after this call) has events."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self.lock:
            self.waiters.setdefault(token, []).append(future)
            old = self.loop
            if old is not loop and (old is None or old.is_closed() or not old.is_running()):
                # the watching loop is gone or stopped: this one watches from now on
                if old is not None and not old.is_closed():
                    old.remove_reader(self.fd)
                self.loop = loop
                loop.add_reader(self.fd, self._ready)
        return future

    def _ready(self) -> None:
        # The tokens go from the socket into ``woken`` in C (no Python frame between: no signal
        # handler runs there) and leave it once their readers are woken, so an interruption
        # here (Ctrl-C on a loop run without asyncio.run's SIGINT handling) loses no wake-up:
        # the rest is done at the next call, which is scheduled before anything else.
        self.woken.extend(chain.from_iterable(iter(self.wakeups.take, [])))
        loop = self.loop
        if self.woken and loop is not None:
            loop.call_soon(self._finish_ready)
        self._finish_ready()

    def _finish_ready(self) -> None:
        while self.woken:
            token = self.woken[0]
            with self.lock:
                ready = list(self.waiters.get(token, ()))
            self._wake(ready)  # again after an interruption: a woken future is skipped
            with self.lock:
                left = [future for future in self.waiters.pop(token, ()) if future not in ready]
                if left:  # armed again since: woken by a later take
                    self.waiters[token] = left
                self.woken.popleft()

    def _wake(self, ready: list[asyncio.Future[None]]) -> None:
        for future in ready:
            if future.done():
                continue
            loop = future.get_loop()
            if loop is self.loop:
                future.set_result(None)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

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
            self.waiters.clear()
            loop, self.loop = self.loop, None
            tasks, self.tasks = list(self.tasks), set()
        for task in tasks:
            _cancel_soon(task)
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.remove_reader(self.fd)
            else:
                loop.call_soon_threadsafe(loop.remove_reader, self.fd)
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


async def next_batch(native: _native.ThreadHandle, dispatcher: Dispatcher, pull: Callable[[], bool]) -> None:
    """Waits until ``pull()`` (which takes the thread's next batch if one is queued, without
    waiting) took one, without blocking the event loop or parking a thread. Nothing is taken
    while waiting: a cancellation here loses nothing."""
    token = native.token()
    while not pull():
        waiter = dispatcher.wait(token)  # registered before arming: no wake-up is missed
        native.arm()
        if pull():
            waiter.cancel()  # dropped when the token is next taken
            return
        await waiter

"""Event hooks: callables that see every event of every thread of an engine.

    def audit(seen: codexrs.HookEvent) -> None:
        if seen.event.type == "exec_command_begin":
            log.info("thread %s ran %s", seen.thread_id, seen.event.command)

    codex = codexrs.Codex(hooks=[audit])

A hook is called with a :class:`HookEvent` for each event, in the order the thread's events
arrive, when they are read from codex-core (every event of a turn is read: by its stream, or
by ``run()`` / ``result()``), before the reader sees it. Threads interleave; within a thread the
order is codex's. On :class:`~codexrs.AsyncCodex` a hook may be ``async`` (awaited in turn).

* **Back-pressure, never loss**: a slow hook slows the thread's reader; the thread's queue then
  fills and codexrs stops pulling from codex-core, which waits. Nothing is dropped.
* **A hook that raises** is logged (``codexrs.hooks``, with the traceback) and stays installed;
  the other hooks and the reader go on.
* **A hook that is interrupted** (``KeyboardInterrupt``, its task cancelled) interrupts the
  reader; the events stay queued, and the next read of the thread calls the hooks that had not
  seen them yet (the interrupted hook is not called again on the event it was interrupted on).

Typical hooks: an audit log (every command and patch), metrics (count tokens from
``token_count``), redaction before events are stored elsewhere. A hook must not block on the
thread's own turn (it runs inside that turn's reader).
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from typing import Awaitable, Callable, Iterable, Sequence, Union

import msgspec

from .errors import ConfigError
from .events import Envelope, Event

__all__ = ["Hook", "HookEvent", "HookQueue", "checked_hooks"]

log = logging.getLogger("codexrs.hooks")


class HookEvent(msgspec.Struct, frozen=True):
    """One event with the thread and turn it belongs to: what a hook is called with, and what
    ``AsyncManager.stream_all()`` / ``Manager.stream_all()`` yield. Immutable (a frozen msgspec
    struct: made in C, one per event, for every all-threads consumer).

    Attributes:
        thread_id: The codex thread it belongs to.
        turn_id: The submission id codex tagged it with: the turn's id for a turn's events
            (codex ``Event.id``); another op's id, or ``""``, for thread-level events.
        event: The typed event (a :mod:`codexrs.events` class).
        lag_s: Seconds the oldest event of its batch waited between codexrs's pump taking it
            from codex-core and Python reading the batch (an upper bound for this event; it
            includes time in the thread's queue under back-pressure).
    """

    thread_id: str
    turn_id: str
    event: Event
    lag_s: float = 0.0


Hook = Callable[[HookEvent], Union[None, Awaitable[None]]]


def checked_hooks(hooks: Iterable[Hook] | None, *, is_async: bool) -> list[Hook]:
    """The hooks, checked: callables; ``async`` ones only on an ``AsyncCodex``. A new list: the
    engine and its threads share it, so a hook added later sees the threads already there.

    Raises:
        TypeError: A hook is not callable.
        ConfigError: An ``async`` hook on a sync engine.
    """
    checked = list(hooks or ())
    for hook in checked:
        if not callable(hook):
            raise TypeError(f"a hook must be callable, not {hook!r}")
        if not is_async and inspect.iscoroutinefunction(hook):
            raise ConfigError(f"{hook!r} is async: async hooks need AsyncCodex (or AsyncManager)")
    return checked


def _failed(hook: Hook, seen: HookEvent) -> None:
    log.exception("hook %r raised on a %s event of thread %s", hook, seen.event.type, seen.thread_id)


class _Progress:
    """One event on its way through the hooks: ``next`` is the index of the next hook to call."""

    __slots__ = ("seen", "next")

    def __init__(self, seen: HookEvent) -> None:
        self.seen = seen
        self.next = 0


class HookQueue:
    """One thread's events that not every hook has seen yet, in order, each with how far it got.

    The thread's reader queues a batch here in the same step that queues it for itself (see
    ``_ThreadCore``), then calls :meth:`run` / :meth:`run_async` before it takes an event, so
    every hook sees every event before any reader does. An interrupted hook (``KeyboardInterrupt``,
    a cancelled task) leaves the rest queued: the next run goes on with the hook after it.
    """

    def __init__(self, hooks: Sequence[Hook], thread_id: str) -> None:
        #: The engine's own list: a hook added later sees the events after it was added.
        self.hooks = hooks
        self.thread_id = thread_id
        self.waiting: deque[_Progress] = deque()

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def entries(self, events: Sequence[Envelope], lag_s: float) -> list[_Progress]:
        """``events`` (one batch, ``lag_s`` its lag) as entries to add to :attr:`waiting`;
        empty when the engine has no hook."""
        if not self.hooks:
            return []
        return [_Progress(HookEvent(self.thread_id, e.id, e.msg, lag_s)) for e in events]

    def run(self) -> None:
        """Calls each hook on each waiting event, in order (sync engines).

        Raises:
            BaseException: What interrupted a hook (``KeyboardInterrupt``, ...); the rest waits.
        """
        waiting = self.waiting
        while waiting:
            entry = waiting[0]
            hooks = tuple(self.hooks)  # as they are now: a hook may add or remove hooks
            while entry.next < len(hooks):
                hook = hooks[entry.next]
                entry.next += 1  # an interrupted hook is not called again on this event
                try:
                    result = hook(entry.seen)
                    if inspect.isawaitable(result):
                        if inspect.iscoroutine(result):
                            result.close()
                        raise ConfigError(f"hook {hook!r} returned an awaitable on a sync Codex; use AsyncCodex")
                except Exception:
                    _failed(hook, entry.seen)
            waiting.popleft()

    async def run_async(self) -> None:
        """:meth:`run`, awaiting ``async`` hooks (async engines). A cancellation inside a hook
        leaves the rest waiting for the next run."""
        waiting = self.waiting
        while waiting:
            entry = waiting[0]
            hooks = tuple(self.hooks)
            while entry.next < len(hooks):
                hook = hooks[entry.next]
                entry.next += 1
                try:
                    result = hook(entry.seen)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    _failed(hook, entry.seen)
            waiting.popleft()

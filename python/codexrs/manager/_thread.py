"""``ManagedThread``: one conversation of an :class:`~codexrs.AsyncManager`, its queue of turns
and what it reports of them (status, activity, usage)."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from .._core.result import TurnResult
from .._core.stream import AsyncTurnHandle
from .._core.thread import AsyncThread
from ..errors import EngineClosedError
from ..events import AgentMessageContentDelta, Event, ExecCommandBegin, ReasoningContentDelta, ReasoningRawContentDelta
from ..requests import kind_of
from ._scheduling import QueuedTurn
from ._types import ManagerUsage, ThreadStatus, TurnTimings

__all__ = ["ManagedThread", "ThreadFacts"]

_OUTPUT_DELTAS = (AgentMessageContentDelta, ReasoningContentDelta, ReasoningRawContentDelta)
#: The longest ``ManagedThread.activity``, in characters.
_ACTIVITY = 160


class ThreadFacts:
    """What a managed thread reports beside its status, declared once for
    :class:`ManagedThread` and its sync view (:class:`~codexrs.manager.SyncManagedThread`)."""

    name: str
    group: str | None
    last_result: TurnResult | None
    last_timings: TurnTimings | None
    activity: str
    usage: ManagerUsage
    idle_since: float
    loaded: bool
    rate_limited_until: float | None


class ManagedThread(ThreadFacts):
    """One conversation of a manager: a name, a codex thread, its queue of turns.

    Attributes:
        name: Its unique name.
        id: The codex thread id.
        thread: The codex thread (an :class:`~codexrs.AsyncThread`; the sync ``Manager``
            hands out :class:`~codexrs.manager.SyncManagedThread` views instead).
        group: Its group (``group_limits``), or ``None``.
        status: ``idle``, ``queued``, ``rate_limited``, ``running``, ``waiting_for_approval``
            or ``closed``.
        queued_turns: Turns sent to the thread and not started yet.
        last_result: The result of its last finished turn, or ``None``.
        last_timings: Its last finished turn's queue wait, time to first token and wall time
            (:class:`TurnTimings`), or ``None``.
        activity: What its running turn did last, one line: the tail of the assistant's text,
            or ``$ command`` for a command it started (for live views). Empty between turns.
        usage: What its turns used (:class:`ManagerUsage`).
        idle_since: When it last finished a turn (or was created), ``time.monotonic()`` seconds.
        loaded: Whether its codex thread is loaded (``idle_timeout`` unloads idle ones).
        rate_limited_until: While its next turn waits for a rate-limit window to reset: when
            (Unix seconds); else ``None``.
    """

    thread: AsyncThread

    def __init__(self, name: str, thread: AsyncThread, group: str | None = None) -> None:
        self.name = name
        self.thread = thread
        self.group = group
        self.last_result = None
        self.last_timings = None
        self.activity = ""
        self.usage = ManagerUsage()
        self.idle_since = time.monotonic()
        self.loaded = True
        self.rate_limited_until = None
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

    @property
    def id(self) -> str:
        return self.thread.id

    @property
    def queued_turns(self) -> int:
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

    def _idle(self) -> bool:
        """Nothing running, queued or waiting for a slot."""
        return not self._running and not self._sends and not self._queued

    def _observe(self, event: Event) -> bool:
        """Notes what a running turn's ``event`` says (its activity, its pending requests);
        returns whether it is an output delta (for the time to first token)."""
        if isinstance(event, AgentMessageContentDelta) and event.delta.strip():
            text = "" if self.activity.startswith("$ ") else self.activity
            self.activity = (text + event.delta).splitlines()[-1][-_ACTIVITY:]
        elif isinstance(event, ExecCommandBegin):
            self.activity = ("$ " + " ".join(event.command))[:_ACTIVITY]
        if kind_of(event) is not None:
            self._pending_requests.add(type(event).__name__)
        else:  # codex went on (or codexrs denied it): nothing is waiting any more
            self._pending_requests.clear()
        return isinstance(event, _OUTPUT_DELTAS)

    def _cancel_queued(self, why: str) -> None:
        """Ends every turn still queued with :class:`~codexrs.EngineClosedError` (``why``)."""
        for send in self._sends:
            if not send.done.done():
                send.done.set_exception(EngineClosedError(why))
        self._sends.clear()

    def __repr__(self) -> str:
        return f"<ManagedThread {self.name!r} {self.id} {self.status}>"

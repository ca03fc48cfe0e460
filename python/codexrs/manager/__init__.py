"""Many conversations in one process: :class:`AsyncManager` (asyncio) and :class:`Manager` (sync).

    async with codexrs.AsyncManager(codex_home=..., max_running_turns=8) as manager:
        await manager.create("alice")
        await manager.send("alice", "refactor the parser")   # returns once queued
        result = await manager.wait("alice")                  # TurnResult

One manager owns one engine (one codex-core ``ThreadManager``, one runtime) and its threads.
Each thread has a name (unique; stored as codex's own thread name, so a later process finds it
with :meth:`AsyncManager.resume`) and runs its turns one after the other, in the order they were
sent; across the manager at most ``max_running_turns`` turns run at once, and at most
``group_limits[g]`` of group ``g``'s threads; the rest wait in FIFO order. A thread's status
comes from what really happened: ``idle``, ``queued`` (its next turn waits for a slot),
``rate_limited`` (it waits for a rate-limit window to reset), ``running``,
``waiting_for_approval`` (a request codex-core sent is not answered yet), ``closed``.

Rate limits hold turns, never retry them in a loop: while a window of the engine's real (or
injected) snapshots is above ``rate_limit_threshold``, new turns wait for its reset; a turn the
provider refuses with HTTP 429 (:class:`~codexrs.RateLimitError`) is rolled back from the
thread's history and queued again after the reset, and every thread's next turn waits too.
"""

from ._async import AsyncManager
from ._scheduling import ManagerOptions
from ._stream_all import AsyncAllEventsStream
from ._sync import AllEventsStream, Manager, ManagerEventStream, SyncManagedThread, SyncThreadHandle
from ._thread import ManagedThread
from ._types import ManagerEvent, ManagerEventDetail, ManagerEventKind, ManagerUsage, NameTakenError, ThreadStatus, TurnTimings, usage_json

__all__ = [
    "AllEventsStream", "AsyncAllEventsStream", "AsyncManager", "ManagedThread", "Manager", "ManagerEvent", "ManagerEventDetail", "ManagerEventKind",
    "ManagerEventStream", "ManagerOptions", "ManagerUsage", "NameTakenError", "SyncManagedThread", "SyncThreadHandle",
    "ThreadStatus", "TurnTimings", "usage_json",
]  # fmt: skip

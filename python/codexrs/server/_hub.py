"""What the server keeps of the manager's events: each thread's pending requests (an event
hook on the manager: it sees every request before the thread's reader), and the Server-Sent
Events subscribers it fans every thread's events out to, as they arrive (the manager's
``stream_all``, read by one task while anyone subscribes)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator

import msgspec

from ..events import RequestDenied, RequestTimedOut
from ..hooks import HookEvent
from ..requests import Request, key_of, kind_of

if TYPE_CHECKING:
    from ..manager import AsyncManager

__all__ = ["Hub", "SUBSCRIBER_QUEUE"]

#: Events a subscriber may fall behind by; past it the server ends that subscriber's stream
#: with an ``overflow`` event (the client reconnects), instead of holding every thread back.
SUBSCRIBER_QUEUE = 10_000

#: Events that end whatever requests of the turn were still pending.
_TURN_ENDS = {"task_complete", "turn_aborted"}
_encoder = msgspec.json.Encoder()


def event_json(seen: HookEvent) -> bytes:
    """One event as the server sends it: ``{"thread_id", "turn_id", "type", "event"}``: the
    :class:`~codexrs.hooks.HookEvent`'s fields (``turn_id`` refers to a turn, as ``thread_id``
    to a thread; a turn's own id is ``id``, as in the ``wait`` result)."""
    return _encoder.encode({"thread_id": seen.thread_id, "turn_id": seen.turn_id, "type": seen.event.type, "event": seen.event})


@dataclass
class Pending:
    """A request codex-core waits on, until it is answered (over HTTP), denied or its turn ends."""

    id: str
    kind: str
    request: Request

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "request": msgspec.to_builtins(self.request)}


@dataclass
class _Subscriber:
    thread_id: str | None  # None: every thread
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    overflowed: bool = False


class Hub:
    """Tracks pending requests (installed as an event hook) and feeds SSE subscribers."""

    def __init__(self, manager: AsyncManager) -> None:
        self.pending: dict[str, dict[str, Pending]] = {}
        self._manager = manager
        self._subscribers: list[_Subscriber] = []
        self._feeder: asyncio.Task[None] | None = None

    def __call__(self, seen: HookEvent) -> None:
        event = seen.event
        kind = kind_of(event)
        if kind is not None:
            request: Request = event  # type: ignore[assignment]
            self.pending.setdefault(seen.thread_id, {})[key_of(request)] = Pending(key_of(request), kind, request)
        elif event.type in _TURN_ENDS:
            self.pending.pop(seen.thread_id, None)
        elif isinstance(event, (RequestDenied, RequestTimedOut)):  # codexrs denied it (no handler, or its timeout)
            self.pending.get(seen.thread_id, {}).pop(event.key, None)

    def _fan_out(self, batch: list[HookEvent]) -> None:
        for seen in batch:
            data = event_json(seen)
            for sub in self._subscribers:
                if sub.overflowed or (sub.thread_id is not None and sub.thread_id != seen.thread_id):
                    continue
                try:
                    sub.queue.put_nowait(data)
                except asyncio.QueueFull:
                    sub.overflowed = True

    async def _feed(self, batches: AsyncIterator[list[HookEvent]]) -> None:
        async for batch in batches:
            self._fan_out(batch)
        for sub in self._subscribers:  # the manager closed: every stream ends
            if not sub.queue.full():
                sub.queue.put_nowait(None)

    def answered(self, thread_id: str, request_id: str) -> None:
        self.pending.get(thread_id, {}).pop(request_id, None)

    def subscribe(self, thread_id: str | None) -> _Subscriber:
        """A subscriber that sees every event from now on (of ``thread_id``, or of every thread)."""
        sub = _Subscriber(thread_id)
        self._subscribers.append(sub)
        if self._feeder is None or self._feeder.done():
            self._feeder = asyncio.create_task(self._feed(self._manager._batches_of(*self._manager._subscribe_all())),
                                               name="codexrs-serve-events")
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
        if not self._subscribers and self._feeder is not None:
            self._feeder.cancel()  # nobody watches: stop following every thread
            self._feeder = None

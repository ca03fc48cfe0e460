"""What a manager reports: thread status, its events, and usage summed over turns."""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass, field
from typing import Literal, Protocol, TypedDict

import msgspec

from .. import items
from .._core.result import TurnResult, TurnStatus, Usage
from ..errors import NameTakenError

__all__ = [
    "ManagerEvent", "ManagerEventDetail", "ManagerEventKind", "ManagerUsage", "NameTakenError", "ThreadStatus",
    "TurnTimings", "usage_json",
]  # fmt: skip

ThreadStatus = Literal["idle", "queued", "rate_limited", "running", "waiting_for_approval", "closed"]

ManagerEventKind = Literal[
    "thread_created", "thread_resumed", "thread_unloaded", "thread_removed", "rate_limited",
    "turn_queued", "turn_started", "turn_requeued", "turn_finished", "turn_failed",
]  # fmt: skip
"""What a :class:`ManagerEvent` says happened."""


class ManagerEventDetail(TypedDict, total=False):
    """A :class:`ManagerEvent`'s kind-specific facts; each kind has the keys listed for it.

    Attributes:
        until: ``rate_limited``, ``turn_requeued``: until when the thread's next turn waits,
            Unix seconds.
        reason: ``rate_limited``: ``"threshold"`` (a window above ``rate_limit_threshold``) or
            ``"rate_limit_error"`` (a 429's reset).
        resets_at_source: ``turn_requeued``: where the 429's reset time came from
            (:attr:`~codexrs.RateLimitError.resets_at_source`), or ``None``.
        queue_wait_s: ``turn_started``: seconds from ``send`` to the start.
        status: ``turn_finished``: ``"completed"`` or ``"interrupted"``.
        turn_id: ``turn_finished``, and ``turn_failed`` if the turn ran: the turn's id
            (:attr:`TurnResult.id <codexrs.TurnResult.id>`).
        error: ``turn_requeued``, ``turn_failed``: why, one line.
    """

    until: float
    reason: Literal["threshold", "rate_limit_error"]
    resets_at_source: str | None
    queue_wait_s: float
    status: TurnStatus
    turn_id: str
    error: str


@dataclass(frozen=True)
class ManagerEvent:
    """Something the manager did (:meth:`AsyncManager.events`).

    Attributes:
        kind: ``thread_created``, ``thread_resumed``, ``thread_unloaded``, ``thread_removed``,
            ``rate_limited`` (its next turn waits), ``turn_queued``, ``turn_started``,
            ``turn_requeued`` (refused with HTTP 429, rolled back, queued again),
            ``turn_finished`` (completed or interrupted) or ``turn_failed``.
        thread_id: The thread.
        name: Its name.
        at: When, Unix seconds (``time.time()``).
        detail: Kind-specific facts (:class:`ManagerEventDetail`): ``until`` and ``reason`` on
            ``rate_limited``; ``queue_wait_s`` on ``turn_started``; ``until``,
            ``resets_at_source`` and ``error`` on ``turn_requeued``; ``status`` and ``turn_id``
            on ``turn_finished``; ``error`` (and ``turn_id`` if the turn ran) on ``turn_failed``.
    """

    kind: ManagerEventKind
    thread_id: str
    name: str
    at: float
    detail: ManagerEventDetail = field(default_factory=lambda: ManagerEventDetail())


class Watcher(Protocol):
    """Where :meth:`AsyncManager.events` (an ``asyncio.Queue``) or the sync ``Manager.events``
    (a ``queue.SimpleQueue``) receives a manager's events; ``None`` ends them."""

    def put_nowait(self, item: ManagerEvent | None, /) -> None: ...


@dataclass(frozen=True)
class ManagerUsage(Usage):
    """What turns used, summed (:meth:`AsyncManager.usage`): a :class:`~codexrs.Usage` (each
    token count the sum of the turns' counts, under the same name) and what only a sum has.

    Attributes:
        input_tokens, cached_input_tokens, cache_write_input_tokens, output_tokens,
            reasoning_output_tokens, total_tokens: Tokens, as in :class:`~codexrs.Usage`.
        turns: Turns that ended (completed, failed or interrupted).
        tool_calls: Commands, patches, MCP and dynamic tool calls, web searches and image
            generations among their items.
        wall_s: Seconds the turns ran, summed (queue waits not included).
    """

    turns: int = 0
    tool_calls: int = 0
    wall_s: float = 0.0

    def add(self, result: TurnResult, wall_s: float) -> ManagerUsage:
        """This sum with one more turn: ``result`` (its usage and items), which ran ``wall_s`` seconds."""
        tools = sum(isinstance(i, _TOOL_ITEMS) for i in result.items)
        return self + ManagerUsage(**asdict(result.usage), turns=1, tool_calls=tools, wall_s=wall_s)

    def __add__(self, other: ManagerUsage) -> ManagerUsage:
        return ManagerUsage(*(a + b for a, b in zip(astuple(self), astuple(other))))


def usage_json(usage: Usage) -> dict[str, int | float]:
    """A :class:`~codexrs.Usage` (a turn's) or a :class:`ManagerUsage` (a sum) as the JSON
    object the server and batch records write: one key per field, under its own name."""
    json: dict[str, int | float] = msgspec.to_builtins(usage)
    return json


_TOOL_ITEMS = (
    items.CommandExecutionItem,
    items.FileChangeItem,
    items.McpToolCallItem,
    items.DynamicToolCallItem,
    items.WebSearchItem,
    items.ImageGenerationItem,
)


@dataclass(frozen=True)
class TurnTimings:
    """Where a managed turn's time went, in seconds (``ManagedThread.last_timings``).

    Attributes:
        queue_wait_s: From ``send`` to the turn starting (waiting for a slot or a rate-limit
            reset; a turn re-queued after a 429 counts from its first ``send``).
        first_token_s: From the turn starting to its first output delta (assistant text or
            reasoning, codex's ``*_delta`` events), or ``None`` if it streamed none.
        wall_s: From the turn starting to its end.
    """

    queue_wait_s: float
    first_token_s: float | None
    wall_s: float

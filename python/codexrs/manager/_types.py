"""What a manager reports: thread status, its events, and usage summed over turns."""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from typing import Any, Literal, Mapping, Protocol

from .. import items
from .._core.turn import TurnResult
from ..errors import NameTakenError

__all__ = ["ManagerEvent", "ManagerUsage", "NameTakenError", "ThreadStatus", "TurnTimings"]

ThreadStatus = Literal["idle", "queued", "rate_limited", "running", "waiting_for_approval", "closed"]


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
        detail: Kind-specific facts: ``until`` (Unix seconds) and ``reason``
            (``"threshold"``: a window above ``rate_limit_threshold``; ``"rate_limit_error"``:
            a 429's reset) on ``rate_limited``; ``queue_wait_s`` on ``turn_started``; ``until``,
            ``resets_at_source`` and ``error`` on ``turn_requeued``; ``status`` and ``turn_id``
            on ``turn_finished``; ``error`` (and ``turn_id`` if the turn ran) on ``turn_failed``.
    """

    kind: str
    thread_id: str
    name: str
    at: float
    detail: Mapping[str, Any] = field(default_factory=dict)


class Watcher(Protocol):
    """Where :meth:`AsyncManager.events` (an ``asyncio.Queue``) or the sync ``Manager.events``
    (a ``queue.SimpleQueue``) receives a manager's events; ``None`` ends them."""

    def put_nowait(self, item: ManagerEvent | None, /) -> None: ...


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

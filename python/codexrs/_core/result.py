"""How a turn ended, and what a turn takes: :class:`TurnResult`, :class:`Usage`,
:data:`TurnStatus` and :data:`Input` (the thread's event state machine that builds a result is
:mod:`codexrs._core.turn`).

``TurnResult`` is generic in its structured output: ``TurnResult[MyStruct]`` for a turn run with
``output_schema=MyStruct`` (``TurnResult`` alone is ``TurnResult[Any]``). The parameter exists only
for type checkers; at runtime a result is one plain frozen dataclass.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Mapping, Sequence, Union

from ..events import CodexrsPanic, ErrorEvent, RateLimitSnapshot, ReviewOutputEvent, TokenUsage
from ..inputs import InputItem
from ..items import TurnItem

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    OutputT = TypeVar("OutputT", default=Any)
else:
    from typing import TypeVar

    OutputT = TypeVar("OutputT")

__all__ = ["Input", "OutputT", "TurnResult", "TurnStatus", "Usage"]

Input = Union[str, InputItem, Mapping[str, Any], Sequence[Union[str, InputItem, Mapping[str, Any]]]]
"""Turn input: text, a typed item (:mod:`codexrs.inputs`: ``TextInput``, ``LocalImageInput``,
...), one codex ``UserInput`` dict (``{"type": "local_image", "path": ...}``), or a list of
those."""


@dataclass(frozen=True)
class Usage:
    """Tokens one turn used, from codex-core's ``token_count`` events (real provider counts).

    Computed as the thread's cumulative ``total_token_usage`` at the turn's end minus at its
    start. All values are token counts.
    """

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0

    @staticmethod
    def between(start: TokenUsage, end: TokenUsage) -> Usage:
        return Usage(
            input_tokens=end.input_tokens - start.input_tokens,
            cached_input_tokens=end.cached_input_tokens - start.cached_input_tokens,
            cache_write_input_tokens=end.cache_write_input_tokens - start.cache_write_input_tokens,
            output_tokens=end.output_tokens - start.output_tokens,
            reasoning_output_tokens=end.reasoning_output_tokens - start.reasoning_output_tokens,
            total_tokens=end.total_tokens - start.total_tokens,
        )


TurnStatus = Literal["completed", "interrupted", "failed"]
"""How a turn ended: ``task_complete`` without error, ``turn_aborted``, or with an error."""


@dataclass(frozen=True)
class TurnResult(Generic[OutputT]):
    """How a turn ended.

    Attributes:
        id: codex's turn id (``task_started.turn_id``). ``turn_id`` is a deprecated alias.
        status: ``"completed"``, ``"interrupted"`` or ``"failed"``.
        final_response: The last assistant message (``task_complete.last_agent_message``), or
            ``None``.
        items: Every completed turn item, typed (:mod:`codexrs.items`, codex ``TurnItem``
            from ``item_completed``), in codex's order: with every command the turn began,
            even one whose end codex reported after ``task_complete`` (see
            :data:`codexrs._core.turn.COMMAND_END_GRACE_S`).
        usage: Tokens this turn used.
        error: The ``error`` event that failed the turn, if any.
        rate_limits: The last rate-limit snapshot the provider reported during the turn
            (parsed by codex-core from response headers), or ``None`` if it reported none.
        duration_ms: Turn wall time as codex measured it (milliseconds), if reported.
        started_at: When the turn started, Unix seconds (``task_started.started_at``), if
            reported.
        completed_at: When it ended, Unix seconds (``task_complete`` / ``turn_aborted``
            ``completed_at``), if reported.
        output: With ``output_schema``: the final message decoded (an instance of the
            schema's type, or parsed JSON for a dict schema); otherwise ``None``. Typed:
            ``thread.run(x, output_schema=MyStruct).output`` is a ``MyStruct | None``.
        review: For a :meth:`~codexrs.Thread.review` turn, codex's ``ReviewOutputEvent`` (findings,
            overall correctness and explanation), from ``exited_review_mode``.
        panic: The :class:`~codexrs.events.CodexrsPanic` that failed the turn (a panic inside
            codex-core's turn task or codexrs's event pump), if one did; ``error`` then names it
            and ``run()`` raises :class:`~codexrs.InternalError`.
    """

    id: str
    status: TurnStatus
    final_response: str | None
    items: list[TurnItem]
    usage: Usage
    error: ErrorEvent | None = None
    rate_limits: RateLimitSnapshot | None = None
    duration_ms: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    output: OutputT | None = None
    review: ReviewOutputEvent | None = None
    panic: CodexrsPanic | None = None

    @property
    def turn_id(self) -> str:
        """Deprecated alias of :attr:`id` (the official SDK's name)."""
        warnings.warn("TurnResult.turn_id is deprecated: use TurnResult.id", DeprecationWarning, stacklevel=2)
        return self.id

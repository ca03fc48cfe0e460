"""A thread's event state machine and a turn's result: what sync and async share.

:class:`_ThreadCore` reads a thread's batches (without losing any to an interruption:
:mod:`codexrs._core.reading`), tracks its turns (keyed off codex's wire names and submission ids),
answers approvals and settles abandoned turns; :class:`TurnResult` and :class:`Usage` are how a
turn ended. The waiting differs by side: the sync side blocks in Rust without the GIL, the
async side waits on its engine's one wake-up descriptor (:mod:`codexrs._core.wakeups`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, Sequence, Union, get_args

from .. import _native
from ..approvals import ApprovalHandler
from .output import OutputSpec, decode_output
from ..errors import CodexError, ConfigError, TurnInProgressError
from ..events import (
    AgentMessage,
    CodexrsPanic,
    DynamicToolCallRequest,
    ErrorEvent,
    Event,
    ExecCommandBegin,
    ExecCommandEnd,
    ExitedReviewMode,
    ItemCompleted,
    McpStartupStatus,
    McpStartupUpdate,
    McpToolCallBegin,
    McpToolCallEnd,
    PatchApplyBegin,
    PatchApplyEnd,
    RateLimitSnapshot,
    ReviewOutputEvent,
    TokenCount,
    TokenUsage,
    TurnAborted,
    TurnComplete,
    TurnStarted,
)
from ..inputs import InputItem
from ..items import TurnItem
from ..requests import Request, RequestHandler, answer_json, key_of, kind_of
from ..tools import Tool
from ..hooks import Hook
from .pending import await_pending
from .reading import _Reader
from .wakeups import dispatcher_for

__all__ = ["Input", "TurnResult", "TurnStatus", "Usage"]

Input = Union[str, InputItem, Mapping[str, Any], Sequence[Union[str, InputItem, Mapping[str, Any]]]]
"""Turn input: text, a typed item (:mod:`codexrs.inputs`: ``TextInput``, ``LocalImageInput``,
...), one codex ``UserInput`` dict (``{"type": "local_image", "path": ...}``), or a list of
those."""

_ITEM_TYPES = get_args(InputItem)

#: How long settling an abandoned turn may take before the thread is declared stuck.
SETTLE_TIMEOUT_S = 30.0

#: Seconds a turn waits, after codex's ``task_complete``, for the ends of the commands (patches,
#: MCP calls) it began: codex-core reports a command still running when it stored it from a
#: watcher, after a 100 ms trailing-output grace, so that end can follow ``task_complete``. Past
#: this (a command left running in the background) the turn ends without it, with a warning.
COMMAND_END_GRACE_S = 5.0

_log = logging.getLogger("codexrs")
_BEGINS = (ExecCommandBegin, PatchApplyBegin, McpToolCallBegin)
_ENDS = (ExecCommandEnd, PatchApplyEnd, McpToolCallEnd)


def _items_json(value: Input) -> str:
    parts: Iterable[str | InputItem | Mapping[str, Any]]
    if isinstance(value, (str, Mapping, *_ITEM_TYPES)):
        parts = [value]  # type: ignore[list-item]
    else:
        parts = value  # type: ignore[assignment]
    items: list[Mapping[str, Any]] = []
    for part in parts:
        if isinstance(part, str):
            items.append({"type": "text", "text": part, "text_elements": []})
        elif isinstance(part, _ITEM_TYPES):
            items.append(part.to_codex())
        elif isinstance(part, Mapping):
            items.append(part)
        else:
            raise TypeError(
                f"turn input must be a str, a codexrs.inputs item or a codex UserInput dict, not {type(part).__name__}"
            )
    if not items:
        raise ConfigError("turn input is empty")
    return json.dumps(items)


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
class TurnResult:
    """How a turn ended.

    Attributes:
        id: codex's turn id (``task_started.turn_id``). ``turn_id`` is a deprecated alias.
        status: ``"completed"``, ``"interrupted"`` or ``"failed"``.
        final_response: The last assistant message (``task_complete.last_agent_message``), or
            ``None``.
        items: Every completed turn item, typed (:mod:`codexrs.items`, codex ``TurnItem``
            from ``item_completed``), in codex's order: with every command the turn began,
            even one whose end codex reported after ``task_complete`` (see
            :data:`COMMAND_END_GRACE_S`).
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
            schema's type, or parsed JSON for a dict schema); otherwise ``None``.
        review: For a :meth:`Thread.review` turn, codex's ``ReviewOutputEvent`` (findings,
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
    output: Any = None
    review: ReviewOutputEvent | None = None
    panic: CodexrsPanic | None = None

    @property
    def turn_id(self) -> str:
        """Deprecated alias of :attr:`id` (the official SDK's name)."""
        warnings.warn("TurnResult.turn_id is deprecated: use TurnResult.id", DeprecationWarning, stacklevel=2)
        return self.id


HANDLER_RAISED = "denied by codexrs: the request handler raised an exception"
HANDLER_INVALID = "denied by codexrs: the request handler returned an invalid answer"


def _kind(request: Request) -> str:
    kind = kind_of(request)
    if kind is None:
        raise TypeError(f"{type(request).__name__} is not a request codex-core waits on")
    return kind

_ZERO = TokenUsage(input_tokens=0, cached_input_tokens=0, output_tokens=0, reasoning_output_tokens=0, total_tokens=0)


@dataclass
class _Turn:
    turn_id: str
    usage_start: TokenUsage
    usage_end: TokenUsage
    done: bool = False
    abandoned: bool = False
    #: Whether anyone ever opened a stream on the turn.
    streamed: bool = False
    #: Streams opened on the turn and not yet closed or dropped.
    open_streams: int = 0
    #: Whether ``interrupt()`` was called: the next turn may read this one to its end.
    interrupt_requested: bool = False
    status: TurnStatus | Literal["running"] = "running"
    last_message: str | None = None
    final_response: str | None = None
    items: list[TurnItem] = field(default_factory=list)
    error: ErrorEvent | None = None
    rate_limits: RateLimitSnapshot | None = None
    duration_ms: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    #: Events read after the turn's reader went away, or taken and never handed to it (kept,
    #: never dropped).
    tail: list[Event] = field(default_factory=list)
    #: The event :meth:`_ThreadCore.take` took and its reader has not been handed yet.
    handing: Event | None = None
    #: The first exception a request handler raised during the turn (its request was denied
    #: and the turn went on); raised to the reader once the turn has ended.
    handler_error: Exception | None = None
    #: How to decode the final message (``output_schema``), if the turn has one.
    output_spec: OutputSpec | None = None
    review: ReviewOutputEvent | None = None
    panic: CodexrsPanic | None = None
    #: A turn codexrs started for an operation (compact, review, shell): the next turn reads
    #: it to its end first, as for an interrupted one.
    auto_settle: bool = False
    #: Call ids of the commands, patches and MCP calls begun in the turn whose end has not come.
    open_calls: set[str] = field(default_factory=set)
    #: How the turn ends, once codex completed it while some of ``open_calls`` still run: it
    #: ends when the last of them does, or at ``end_deadline`` (``time.monotonic()``).
    ending: TurnStatus | None = None
    end_deadline: float | None = None

    def raise_handler_error(self) -> None:
        """Raises (once) what a request handler raised during this turn."""
        error, self.handler_error = self.handler_error, None
        if error is not None:
            raise error

    def result(self) -> TurnResult:
        if self.status == "running":
            raise _native.InternalError(f"turn {self.turn_id} has no result before it ends")
        output = None
        if self.output_spec is not None and self.status == "completed":
            output = decode_output(self.output_spec, self.final_response)
        return TurnResult(
            id=self.turn_id,
            status=self.status,
            final_response=self.final_response,
            items=self.items,
            usage=Usage.between(self.usage_start, self.usage_end),
            error=self.error,
            rate_limits=self.rate_limits,
            duration_ms=self.duration_ms,
            started_at=self.started_at,
            completed_at=self.completed_at,
            output=output,
            review=self.review,
            panic=self.panic,
        )


class _ThreadCore(_Reader[_Turn]):
    """The event state machine shared by :class:`Thread` and :class:`AsyncThread` (reading its
    batches without losing any: :class:`~codexrs._core.reading._Reader`)."""

    def __init__(
        self,
        native: _native.ThreadHandle,
        on_approval: ApprovalHandler | None,
        on_request: RequestHandler | None,
        tools: Sequence[Tool] = (),
        is_async: bool = False,
        hooks: Sequence[Hook] = (),
    ) -> None:
        super().__init__(native, hooks)
        self.on_approval = on_approval
        self.on_request = on_request
        self.tools = {t.name: t for t in tools}
        self.is_async = is_async
        #: The last MCP startup state codex reported per server (``mcp_startup_update``).
        self.mcp_startup: dict[str, McpStartupStatus] = {}
        #: Request handlers running as tasks (async threads); cancelled when the engine closes.
        self.handler_tasks: set[asyncio.Task[None]] = set()
        self.total: TokenUsage = _ZERO
        self.active: _Turn | None = None
        #: An async submission of a turn is in flight.
        self.starting = False

    def observe(self, sub_id: str, event: Event, turn: _Turn) -> None:
        if isinstance(event, McpStartupUpdate):
            self.mcp_startup[event.server] = event.status
        if isinstance(event, TokenCount):
            if event.info is not None:
                self.total = event.info.total_token_usage
                if turn.ending is None:
                    turn.usage_end = self.total
            if event.rate_limits is not None:
                turn.rate_limits = event.rate_limits
        if turn.done or sub_id != turn.turn_id:
            return
        if isinstance(event, TurnStarted):
            turn.started_at = event.started_at
        elif isinstance(event, AgentMessage):
            turn.last_message = event.message
        elif isinstance(event, ItemCompleted):
            turn.items.append(event.item)
        elif isinstance(event, _BEGINS):
            turn.open_calls.add(event.call_id)
        elif isinstance(event, _ENDS):
            turn.open_calls.discard(event.call_id)
            if turn.ending is not None and not turn.open_calls:
                self._finish(turn, turn.ending)
        elif isinstance(event, ErrorEvent):
            turn.error = event
        elif isinstance(event, ExitedReviewMode):
            turn.review = event.review_output
        elif isinstance(event, CodexrsPanic):
            turn.panic = event
            turn.error = ErrorEvent(message=f"codexrs: a panic ended this turn: {event.message}")
            self._finish(turn, "failed")
            turn.final_response = turn.last_message
        # The turn's end keys off the wire name, so a payload that fails to decode
        # (a GenericEvent with decode_error) still ends it.
        elif event.type == "task_complete":
            if isinstance(event, TurnComplete):
                if event.error is not None:
                    turn.error = ErrorEvent(message=event.error.message, codex_error_info=event.error.codex_error_info)
                turn.final_response = event.last_agent_message
                turn.duration_ms = event.duration_ms
                turn.started_at = turn.started_at or event.started_at
                turn.completed_at = event.completed_at
            self._finish(turn, "failed" if turn.error is not None else "completed", wait=True)
            turn.final_response = turn.final_response or turn.last_message
        elif event.type == "turn_aborted":
            self._finish(turn, "interrupted")
            turn.final_response = turn.last_message
            if isinstance(event, TurnAborted):
                turn.duration_ms = event.duration_ms
                turn.started_at = turn.started_at or event.started_at
                turn.completed_at = event.completed_at

    def _finish(self, turn: _Turn, status: TurnStatus, wait: bool = False) -> None:
        """Ends the turn; with ``wait`` (codex completed it), not before the ends of the calls
        it began (bounded by :data:`COMMAND_END_GRACE_S`)."""
        if turn.ending is None:
            turn.usage_end = self.total  # what a command's late end brings counts no tokens
        if wait and turn.open_calls:
            turn.ending = status
            turn.end_deadline = time.monotonic() + COMMAND_END_GRACE_S
            return
        turn.done = True
        turn.status = status

    def _give_up(self, turn: _Turn) -> None:
        """The grace for the ends of the turn's calls has passed: the turn ends without them."""
        if turn.done or turn.ending is None:
            return
        calls, grace = ", ".join(sorted(turn.open_calls)), COMMAND_END_GRACE_S
        _log.warning(
            "turn %s: codex completed it, but call(s) it began (%s) did not end within %.0f s (a command "
            "left running?); its result leaves them out, their end events come with the thread's next read",
            turn.turn_id, calls, grace,
        )  # fmt: skip
        self._finish(turn, turn.ending)

    def read_turn(self, turn: _Turn, deadline: float | None = None) -> Event | None:
        """The next event for ``turn``'s reader, waiting for codex-core; ``None`` once
        ``deadline`` (``time.monotonic()``) passed, or when the turn ended without another event
        (the grace for its calls' ends passed: it is done)."""
        end = turn.end_deadline
        event = self.read(turn, deadline if end is None else end if deadline is None else min(deadline, end))
        if event is None and end is not None and time.monotonic() >= end:
            self._give_up(turn)
        return event

    async def read_turn_async(self, turn: _Turn) -> Event | None:
        """:meth:`read_turn` without blocking the event loop (and without ``deadline``)."""
        if turn.end_deadline is None:
            return await self.read_async(turn)
        event = await self.read_until_async(turn, turn.end_deadline)
        if event is None:
            self._give_up(turn)
        return event

    def handler_for(self, event: Event) -> RequestHandler | None:
        """The handler that answers ``event`` (a request), or ``None``."""
        kind = kind_of(event)
        if kind is None:
            return None
        if kind in ("exec", "patch") and self.on_approval is not None:
            return self.on_approval
        if isinstance(event, DynamicToolCallRequest) and event.namespace is None and event.tool in self.tools:
            tool = self.tools[event.tool]
            if self.is_async:
                return lambda request: tool.answer_async(request.arguments)
            return lambda request: tool.answer(request.arguments)
        return self.on_request

    def needs_answer(self, event: Event) -> bool:
        kind = kind_of(event)
        return kind is not None and self.handler_for(event) is not None and self.native.handles(kind)

    def deny(self, request: Request, reason: str) -> bool:
        """Refuses a pending request (never blocks); whether it was pending."""
        return self.native.deny(_kind(request), key_of(request), reason)

    def _encode(self, request: Request, answer: object) -> str:
        """``answer`` as codex's answer type; a junk answer denies the request, then raises."""
        try:
            return answer_json(request, answer)
        except BaseException:
            self.deny(request, HANDLER_INVALID)
            raise

    def respond(self, request: Request, answer: object) -> bool:
        """Answers a pending request; ``False`` if it is no longer pending (sends nothing)."""
        return self.send(request, self._encode(request, answer))

    async def respond_async(self, request: Request, answer: object) -> bool:
        """:meth:`respond` without blocking the event loop."""
        return await self.send_async(request, self._encode(request, answer))

    def send(self, request: Request, payload: str) -> bool:
        """Sends a handler's answer, already encoded (``codexrs.requests.answer_json``: the
        handler's worker records a junk answer's error before it denies); as :meth:`respond`."""
        return self.native.respond(_kind(request), key_of(request), payload)

    async def send_async(self, request: Request, payload: str) -> bool:
        """:meth:`send` without blocking the event loop."""
        return bool(await await_pending(self.native.start_respond(_kind(request), key_of(request), payload)))

    def track_handler(self, task: asyncio.Task[None]) -> None:
        """Keeps a handler's task until it ends; closing the engine (or :meth:`cancel_handlers`)
        cancels it."""
        self.handler_tasks.add(task)
        task.add_done_callback(self.handler_tasks.discard)
        if self.dispatcher is None:
            self.dispatcher = dispatcher_for(self.native.wakeups())
        self.dispatcher.track(task)

    def cancel_handlers(self) -> None:
        """Cancels the thread's running handler tasks (its thread closes); each denies its
        request if it still waits."""
        for task in list(self.handler_tasks):
            task.cancel()

    def _check_can_begin(self) -> None:
        if self.starting:
            raise TurnInProgressError("a turn is being submitted on this thread: await turn() first")
        prev = self.active
        if prev is not None and not prev.done and not self._settleable(prev):
            raise TurnInProgressError(
                f"turn {prev.turn_id} is still running on this thread: read it to the end "
                "(result()) or interrupt() it first"
            )

    def _started(self, turn_id: str, spec: OutputSpec | None = None, auto_settle: bool = False) -> _Turn:
        turn = _Turn(turn_id=turn_id, usage_start=self.total, usage_end=self.total)
        turn.output_spec = spec
        turn.auto_settle = auto_settle
        self.active = turn
        return turn

    def begin(self, input: Input, settings: str | None = None, spec: OutputSpec | None = None) -> _Turn:
        """Submits a turn (with per-turn ``settings`` JSON and an output schema) after checking
        no other turn is being read."""
        self._check_can_begin()
        turn_id = self.native.submit_input(_items_json(input), settings, spec.schema_json() if spec else None)
        return self._started(turn_id, spec)

    async def begin_async(self, input: Input, settings: str | None = None, spec: OutputSpec | None = None) -> _Turn:
        """:meth:`begin` without blocking the event loop (the submission is awaited)."""
        self._check_can_begin()
        self.starting = True
        try:
            pending = self.native.start_input(_items_json(input), settings, spec.schema_json() if spec else None)
            turn_id = await await_pending(pending)
        finally:
            self.starting = False
        return self._started(str(turn_id), spec)

    def begin_op(self, kind: str, args: Mapping[str, Any]) -> _Turn:
        """Submits an operation that runs as a turn (``compact``, ``review``, ``shell``)."""
        self._check_can_begin()
        return self._started(self.native.submit_op(kind, json.dumps(args)), auto_settle=True)

    async def begin_op_async(self, kind: str, args: Mapping[str, Any]) -> _Turn:
        """:meth:`begin_op` without blocking the event loop."""
        self._check_can_begin()
        self.starting = True
        try:
            sub_id = await await_pending(self.native.start_op(kind, json.dumps(args)))
        finally:
            self.starting = False
        return self._started(str(sub_id), auto_settle=True)

    def _found(self, sub_id: str, done: tuple[str, ...]) -> Event | None:
        """Takes the event ending operation ``sub_id`` out of the read events, if read yet
        (an ``error`` with its id ends it too); the others stay for the next turn's reader."""
        for index, (event_sub_id, event) in enumerate(self.pending):
            if event_sub_id == sub_id and (event.type in done or event.type == "error"):
                del self.pending[index]
                if isinstance(event, ErrorEvent):
                    raise CodexError(f"codex refused the operation: {event.message}")
                return event
        return None

    def run_op(self, kind: str, args: Mapping[str, Any], done: tuple[str, ...]) -> Event:
        """Submits an operation that is not a turn (``settings``, ``rollback``) and reads
        until the event that ends it. Raises :class:`CodexError` if codex refused it."""
        self.settle_sync()
        self._check_can_begin()
        sub_id = self.native.submit_op(kind, json.dumps(args))
        while True:
            self.catch_up()
            if (event := self._found(sub_id, done)) is not None:
                return event
            self.pull(None)

    async def run_op_async(self, kind: str, args: Mapping[str, Any], done: tuple[str, ...]) -> Event:
        """:meth:`run_op` without blocking the event loop."""
        await self.settle_async()
        self._check_can_begin()
        sub_id = str(await await_pending(self.native.start_op(kind, json.dumps(args))))
        while True:
            await self.catch_up_async()
            if (event := self._found(sub_id, done)) is not None:
                return event
            await self.wait_batch()

    def abandon(self, turn: _Turn) -> None:
        """The reader went away before the turn ended: interrupt it (once)."""
        if turn.done or turn.abandoned:
            return
        turn.abandoned = True
        if turn.ending is not None:
            return  # codex completed it; settling reads the ends of its calls
        try:
            self.native.interrupt_nowait()  # never blocks: this may run in __del__ or on a loop
        except _native.CodexError:
            pass  # the runtime is gone; nothing left to interrupt

    @staticmethod
    def _settleable(turn: _Turn) -> bool:
        return turn.abandoned or turn.interrupt_requested or turn.auto_settle or turn.ending is not None

    def _unsettled(self) -> _Turn | None:
        turn = self.active
        return turn if turn is not None and not turn.done and self._settleable(turn) else None

    @staticmethod
    def _stuck(turn: _Turn) -> _native.InternalError:
        return _native.InternalError(f"interrupted turn {turn.turn_id} did not end within {SETTLE_TIMEOUT_S}s")

    def settle_sync(self) -> None:
        """Reads an abandoned or interrupted turn to its end, keeping its events on the turn."""
        turn = self._unsettled()
        if turn is None:
            return
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        try:
            while not turn.done:
                if self.read_turn(turn, deadline) is None and not turn.done:
                    raise self._stuck(turn)
                self.keep_handing(turn)
        finally:
            self.keep_handing(turn)

    async def settle_async(self) -> None:
        """The asyncio twin of :meth:`settle_sync`."""
        turn = self._unsettled()
        if turn is None:
            return
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                while not turn.done:
                    await self.read_turn_async(turn)
                    self.keep_handing(turn)
        except TimeoutError:
            raise self._stuck(turn) from None
        finally:
            self.keep_handing(turn)


"""A thread's event state machine: what :class:`Thread` and :class:`AsyncThread` share.

:class:`_ThreadCore` reads a thread's batches (without losing any to an interruption:
:mod:`codexrs._core.reading`), tracks its turns (keyed off codex's wire names and submission ids),
answers approvals and settles abandoned turns; a turn's :class:`~codexrs._core.result.TurnResult`
is built here. Each submission is prepared once and returned as a
:class:`~codexrs._core.pending.Call`: the sync side waits on it in Rust without the GIL, the async
side awaits it. Reading differs the same way: the sync side blocks in Rust, the async side waits
on its engine's one wake-up descriptor (:mod:`codexrs._core.wakeups`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Literal, Mapping, Sequence, cast, get_args

from .. import _native
from ..approvals import ApprovalHandler
from .output import OutputSpec, decode_output
from ..errors import CodexError, ConfigError, TurnInProgressError
from ..events import (
    AgentMessage,
    AgentMessageContentDelta,
    CodexrsPanic,
    DynamicToolCallRequest,
    Envelope,
    ErrorEvent,
    Event,
    ExecCommandBegin,
    ExecCommandEnd,
    ExecCommandOutputDelta,
    ExitedReviewMode,
    ItemCompleted,
    McpStartupStatus,
    McpStartupUpdate,
    McpToolCallBegin,
    McpToolCallEnd,
    PatchApplyBegin,
    PatchApplyEnd,
    PlanDelta,
    RateLimitSnapshot,
    ReasoningContentDelta,
    ReasoningRawContentDelta,
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
from .pending import Call
from .reading import _Reader
from .result import Input, TurnResult, TurnStatus, Usage

# The result types live in :mod:`codexrs._core.result`; re-exported for the importers of old.
__all__ = ["Input", "TurnResult", "TurnStatus", "Usage"]

_ITEM_TYPES = get_args(InputItem)

Handler = Callable[[Any], object]
"""A request's handler as the reader calls it: an ``on_approval`` (approval requests only), an
``on_request``, or a tool's; returns an answer, ``DEFER``, or an awaitable of one."""

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
#: The streamed deltas, most of a turn's events: a turn's record takes nothing from them, so
#: :meth:`_ThreadCore.observe` returns at once (none is one of the classes it looks for below).
_DELTAS = frozenset(
    {AgentMessageContentDelta, ReasoningContentDelta, ReasoningRawContentDelta, PlanDelta, ExecCommandOutputDelta}
)


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
    """One turn as its thread's reader tracks it (what becomes its :class:`TurnResult`)."""

    id: str
    usage_start: TokenUsage
    usage_end: TokenUsage
    status: TurnStatus | Literal["running"] = "running"
    last_message: str | None = None
    final_response: str | None = None
    error: ErrorEvent | None = None
    rate_limits: RateLimitSnapshot | None = None
    duration_ms: int | None = None
    items: list[TurnItem] = field(default_factory=list)
    started_at: int | None = None
    completed_at: int | None = None
    review: ReviewOutputEvent | None = None
    panic: CodexrsPanic | None = None
    #: How to decode the final message (``output_schema``), if the turn has one.
    output_spec: OutputSpec | None = None
    done: bool = False
    #: The event :meth:`_ThreadCore.take` took and its reader has not been handed yet.
    handing: Event | None = None
    #: The first exception a request handler raised during the turn (its request was denied
    #: and the turn went on); raised to the reader once the turn has ended.
    handler_error: Exception | None = None
    abandoned: bool = False
    #: How the turn ends, once codex completed it while some of ``open_calls`` still run: it
    #: ends when the last of them does, or at ``end_deadline`` (``time.monotonic()``).
    ending: TurnStatus | None = None
    end_deadline: float | None = None
    #: Events read after the turn's reader went away, or taken and never handed to it (kept,
    #: never dropped).
    tail: list[Event] = field(default_factory=list)
    #: Whether anyone ever opened a stream on the turn.
    streamed: bool = False
    #: Streams opened on the turn and not yet closed or dropped.
    open_streams: int = 0
    #: Whether ``interrupt()`` was called: the next turn may read this one to its end.
    interrupt_requested: bool = False
    #: A turn codexrs started for an operation (compact, review, shell): the next turn reads
    #: it to its end first, as for an interrupted one.
    auto_settle: bool = False
    #: Call ids of the commands, patches and MCP calls begun in the turn whose end has not come.
    open_calls: set[str] = field(default_factory=set)

    def raise_handler_error(self) -> None:
        """Raises (once) what a request handler raised during this turn."""
        error, self.handler_error = self.handler_error, None
        if error is not None:
            raise error

    def result(self) -> TurnResult:
        if self.status == "running":
            raise _native.InternalError(f"turn {self.id} has no result before it ends")
        output = None
        if self.output_spec is not None and self.status == "completed":
            output = decode_output(self.output_spec, self.final_response)
        return TurnResult(
            id=self.id,
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
        #: A turn's submission is in flight (:class:`_Starting`): no other may begin.
        self.starting = False

    def observe(self, sub_id: str, event: Event, turn: _Turn) -> None:
        if type(event) in _DELTAS:
            return
        if isinstance(event, McpStartupUpdate):
            self.mcp_startup[event.server] = event.status
        if isinstance(event, TokenCount):
            if event.info is not None:
                self.total = event.info.total_token_usage
                if turn.ending is None:
                    turn.usage_end = self.total
            if event.rate_limits is not None:
                turn.rate_limits = event.rate_limits
        if turn.done or sub_id != turn.id:
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

    def skim(self) -> bool:
        """Drops the streamed deltas at the head of ``pending`` (each shown to the skim's
        ``seen`` first, if any) while only the end of a turn is awaited (:attr:`skimming`:
        ``result()`` reading the turn alone, no hooks), so that its reader wakes once per
        event it keeps, not once per delta; returns whether it must wake (another event is
        read, the thread ended, or the turn is read another way now). Run by the dispatcher
        on the reader's loop. A delta changes nothing in a turn's record, so this is what the
        reader would have done with it; the events behind the first other one stay, in
        order, for the reader."""
        skimming = self.skimming
        if skimming is None or not self._skims(skimming):
            return True
        seen = skimming[2]
        self._decode()
        pending = self.pending
        while pending and type(pending[0].msg) in _DELTAS:
            if seen is not None:
                seen(pending[0].msg)
            del pending[0]
        return bool(pending) or bool(self.inbox)

    def drops(self, events: list[Envelope]) -> bool:
        """:meth:`skim` for events not handed over yet: while only the end of a turn is
        awaited and nothing is read before them, ``events`` that are all streamed deltas are
        shown to the skim's ``seen`` and dropped by the dispatcher without reaching this
        reader's inbox (no wake-up, nothing to decode later). Anything else: ``False``, and
        they are handed over as usual."""
        skimming = self.skimming
        if skimming is None or self.inbox or self.pending or not self._skims(skimming):
            return False
        for envelope in events:
            if type(envelope.msg) not in _DELTAS:
                return False
        seen = skimming[2]
        if seen is not None:
            for envelope in events:
                seen(envelope.msg)
        return True

    def _skims(self, skimming: tuple[_Turn, asyncio.AbstractEventLoop, Callable[[Event], object] | None]) -> bool:
        """Whether the events read now may be skimmed for ``skimming``'s reader (see :meth:`skim`)."""
        turn, loop, _ = skimming
        dispatcher = self._dispatcher
        return not (
            turn.open_streams != 1  # another stream reads the turn: every event is its own
            or self.hooks  # hooks see every event before a reader, awaited by it
            or self.ended
            or not self.following  # held back: the reader follows it again when it reads
            or dispatcher is None
            or dispatcher.loop is not loop
        )

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
            turn.id, calls, grace,
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

    def read_turn_async(self, turn: _Turn) -> Awaitable[Event | None]:
        """:meth:`read_turn` without blocking the event loop (and without ``deadline``): an
        awaitable (no coroutine of its own while the turn has no end deadline, the common case)."""
        if turn.end_deadline is None:
            return self.read_async(turn)
        return self._read_turn_until(turn, turn.end_deadline)

    async def _read_turn_until(self, turn: _Turn, end: float) -> Event | None:
        event = await self.read_until_async(turn, end)
        if event is None:
            self._give_up(turn)
        return event

    def handler_for(self, event: Event) -> Handler | None:
        """The handler that answers ``event`` (a request), or ``None``."""
        kind = kind_of(event)
        if kind is None:
            return None
        if kind in ("exec", "patch") and self.on_approval is not None:
            return self.on_approval
        if isinstance(event, DynamicToolCallRequest) and event.namespace is None and event.tool in self.tools:
            tool = self.tools[event.tool]
            if self.is_async:
                return lambda request: tool.answer_async(cast(DynamicToolCallRequest, request).arguments)
            return lambda request: tool.answer(cast(DynamicToolCallRequest, request).arguments)
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

    def respond(self, request: Request, answer: object) -> Call[bool]:
        """Answers a pending request; the call's value is ``False`` if it is no longer pending
        (nothing sent). A junk answer denies the request and raises at once."""
        return self.send(request, self._encode(request, answer))

    def send(self, request: Request, payload: str) -> Call[bool]:
        """Sends a handler's answer, already encoded (``codexrs.requests.answer_json``: the
        handler's worker records a junk answer's error before it denies); as :meth:`respond`."""
        return Call(self.native.respond(_kind(request), key_of(request), payload), bool)

    def track_handler(self, task: asyncio.Task[None]) -> None:
        """Keeps a handler's task until it ends; closing the engine (or :meth:`cancel_handlers`)
        cancels it."""
        self.handler_tasks.add(task)
        task.add_done_callback(self.handler_tasks.discard)
        self.attach().track(task)

    def cancel_handlers(self) -> None:
        """Cancels the thread's running handler tasks (its thread closes); each denies its
        request if it still waits."""
        for task in list(self.handler_tasks):
            task.cancel()

    def _check_can_begin(self) -> None:
        if self.starting:
            raise TurnInProgressError("a turn is being submitted on this thread: wait for turn() first")
        prev = self.active
        if prev is not None and not prev.done and not self._settleable(prev):
            raise TurnInProgressError(
                f"turn {prev.id} is still running on this thread: read it to the end "
                "(result()) or interrupt() it first"
            )

    def _started(self, turn_id: str, spec: OutputSpec | None = None, auto_settle: bool = False) -> _Turn:
        turn = _Turn(id=turn_id, usage_start=self.total, usage_end=self.total)
        turn.output_spec = spec
        turn.auto_settle = auto_settle
        self.active = turn
        return turn

    def begin(self, input: Input, settings: str | None = None, spec: OutputSpec | None = None) -> Call[_Turn]:
        """Submits a turn (with per-turn ``settings`` JSON and an output schema) after checking
        no other turn is being read (settle first); the call's value is the started turn."""
        self._check_can_begin()
        pending = self.native.submit_input(_items_json(input), settings, spec.schema_json() if spec else None)
        return _Starting(self, pending, lambda turn_id: self._started(turn_id, spec))

    def begin_op(self, kind: str, args: Mapping[str, Any]) -> Call[_Turn]:
        """:meth:`begin` for an operation that runs as a turn (``compact``, ``review``, ``shell``)."""
        self._check_can_begin()
        pending = self.native.submit_op(kind, json.dumps(args))
        return _Starting(self, pending, lambda sub_id: self._started(sub_id, auto_settle=True))

    def op(self, kind: str, args: Mapping[str, Any]) -> Call[str]:
        """Submits an operation that is not a turn (``settings``, ``rollback``; settle first);
        the call's value is its submission id, which the event ending it carries."""
        self._check_can_begin()
        return Call(self.native.submit_op(kind, json.dumps(args)), str)

    def _found(self, sub_id: str, done: tuple[str, ...]) -> Event | None:
        """Takes the event ending operation ``sub_id`` out of the read events, if read yet
        (an ``error`` with its id ends it too); the others stay for the next turn's reader."""
        for index, envelope in enumerate(self.pending):
            event = envelope.msg
            if envelope.id == sub_id and (event.type in done or event.type == "error"):
                del self.pending[index]
                if isinstance(event, ErrorEvent):
                    raise CodexError(f"codex refused the operation: {event.message}")
                return event
        return None

    def run_op(self, kind: str, args: Mapping[str, Any], done: tuple[str, ...]) -> Event:
        """Settles, submits :meth:`op` and reads until the event that ends it (one of ``done``).
        Raises :class:`CodexError` if codex refused it."""
        self.settle()
        sub_id = self.op(kind, args).wait()
        while True:
            self.catch_up()
            if (event := self._found(sub_id, done)) is not None:
                return event
            self.pull(None)

    async def run_op_async(self, kind: str, args: Mapping[str, Any], done: tuple[str, ...]) -> Event:
        """:meth:`run_op` without blocking the event loop."""
        await self.settle_async()
        sub_id = await self.op(kind, args).wait_async()
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
        return _native.InternalError(f"interrupted turn {turn.id} did not end within {SETTLE_TIMEOUT_S}s")

    def settle(self) -> None:
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
        """The asyncio twin of :meth:`settle`."""
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



class _Starting(Call[_Turn]):
    """A turn's submission in flight: until it is waited on (either way), no other turn may begin
    on its thread."""

    __slots__ = ("core",)

    def __init__(self, core: _ThreadCore, pending: _native.Pending, finish: Callable[[Any], _Turn]) -> None:
        super().__init__(pending, finish)
        self.core = core
        core.starting = True

    def wait(self) -> _Turn:
        try:
            return super().wait()
        finally:
            self.core.starting = False

    async def wait_async(self) -> _Turn:
        try:
            return await super().wait_async()
        finally:
            self.core.starting = False

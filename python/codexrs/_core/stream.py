"""Turn handles and their event streams, sync and async (``TurnHandle``, ``TurnStream``, ...).

A stream reads the thread's batches through :class:`~codexrs._core.turn._ThreadCore` and answers
requests (:mod:`codexrs.requests`) with the thread's handlers; the rule for when leaving a stream interrupts its
turn is on :class:`_StreamBase`.

Handlers never hold the reader: on a sync thread each request's handler runs on a daemon worker
thread of its own (handlers may run at once: they must be thread-safe), on an async thread as a
task (cancelled when the engine closes; a sync handler there runs on the loop and must not
block). The stream hands the request to its reader at once and keeps reading, so a handler that
waits (for a person) cannot keep the turn past its ``request_timeout``: codexrs denies the
request, the turn goes on, and the handler's late answer is refused (nothing is sent) and logged
as a warning on the ``codexrs`` logger.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import warnings
from typing import Any, Callable, Generic, cast, get_args

from .pending import Call
from .result import Input, OutputT, TurnResult
from .turn import HANDLER_INVALID, HANDLER_RAISED, Handler, _items_json, _ThreadCore, _Turn
from ..errors import CodexError, ConfigError, InternalError
from .retry import turn_failed
from ..events import Event
from ..requests import DEFER, Request, answer_json, key_of

__all__ = ["AsyncTurnHandle", "AsyncTurnStream", "TurnHandle", "TurnStream"]

_log = logging.getLogger("codexrs")
_REQUESTS = frozenset(get_args(Request))


class _HandleBase(Generic[OutputT]):
    """What :class:`TurnHandle` and :class:`AsyncTurnHandle` share: everything but how they wait.

    Generic in the turn's structured output: a turn started with ``output_schema=MyStruct`` is
    a ``TurnHandle[MyStruct]``, whose ``result()`` is a ``TurnResult[MyStruct]``.

    Attributes:
        id: codex's turn id (equal to ``task_started.turn_id``; the official SDK's name).
            ``turn_id`` is a deprecated alias.
        thread_id: The thread the turn runs on (the official SDK's ``TurnHandle.thread_id``).
    """

    id: str
    thread_id: str

    def __init__(self, core: _ThreadCore, turn: _Turn) -> None:
        self._core = core
        self._turn = turn
        self.id = turn.id
        self.thread_id = core.native.id

    def __del__(self) -> None:
        # A turn nobody ever read and nobody can read any more is interrupted, so it cannot
        # wait forever (e.g. on an approval) or silently run into the next turn.
        try:
            if not self._turn.streamed:
                self._core.abandon(self._turn)
        except Exception:
            pass

    @property
    def turn_id(self) -> str:
        """Deprecated alias of :attr:`id` (the official SDK's name); warns."""
        warnings.warn(f"{type(self).__name__}.turn_id is deprecated: use {type(self).__name__}.id", DeprecationWarning, stacklevel=2)
        return self.id

    def _steer(self, input: Input) -> Call[None]:
        return Call(self._core.native.steer(_items_json(input), self.id), _nothing)

    def _interrupt(self) -> Call[None]:
        self._turn.interrupt_requested = True
        return Call(self._core.native.interrupt(), _nothing)

    def _result(self) -> TurnResult[OutputT]:
        return cast("TurnResult[OutputT]", self._turn.result())


def _nothing(raw: object) -> None:
    return None


# ---- sync -----------------------------------------------------------------------------------


class _StreamBase:
    """What the sync and async streams share: the rule for when dropping one interrupts.

    ``close()`` / ``aclose()`` (and leaving a ``with`` block) always interrupt a turn that has
    not ended. A stream that is merely dropped (``break``, an exception in the loop body,
    garbage collection) interrupts it only if it was the turn's last open stream: calling
    ``stream()`` twice and dropping the first does not stop the second.
    """

    def __init__(self, core: _ThreadCore, turn: _Turn) -> None:
        self._core = core
        self._turn = turn
        self._released = False
        turn.streamed = True
        turn.open_streams += 1

    def _release(self) -> bool:
        """Marks this stream gone; returns whether it was the turn's last open one."""
        if self._released:
            return False
        self._released = True
        self._turn.open_streams -= 1
        return self._turn.open_streams == 0

    def _close(self) -> None:
        self._release()
        self._core.abandon(self._turn)

    def _handed(self, event: Event | None, start: Callable[[_ThreadCore, _Turn, Request], None]) -> Event | None:
        """``event``, read for this stream's reader, handed over (its request's handler started
        by ``start``); ``None`` when the turn ended without another event (the grace for the
        ends of its calls passed)."""
        turn, core = self._turn, self._core
        if event is None:
            turn.raise_handler_error()
            return None
        if type(event) in _REQUESTS and core.needs_answer(event):  # a delta costs no call here
            start(core, turn, cast(Request, event))
        turn.handing = None  # no call from here to the reader (step 4 of codexrs._core.reading)
        return event

    def _lost(self) -> None:
        """The reader was interrupted: keep the event it was handed, interrupt the turn."""
        self._core.keep_handing(self._turn)
        self._core.abandon(self._turn)

    def __del__(self) -> None:
        try:
            if self._release():
                self._core.abandon(self._turn)
        except Exception:
            pass


class TurnStream(_StreamBase):
    """Iterator over one turn's events, as they arrive (see :meth:`TurnHandle.stream`).

    Each read takes every event already queued. Leaving early (``break``, an exception,
    Ctrl-C, ``close()``, leaving a ``with`` block) interrupts the turn, unless another stream
    of the same turn is still open (see :class:`_StreamBase`); the events read after that
    are kept on the turn, never lost, and ``result()`` reads it to its end.
    """

    def __iter__(self) -> TurnStream:
        return self

    def __next__(self) -> Event:
        turn = self._turn
        if turn.done or turn.abandoned:
            turn.raise_handler_error()
            raise StopIteration
        try:
            event = self._handed(self._core.read_turn(turn), _start_worker)
        except BaseException:
            self._lost()
            raise
        if event is None:
            raise StopIteration
        return event

    def close(self) -> None:
        """Stops reading; interrupts the turn if it has not ended."""
        self._close()

    def __enter__(self) -> TurnStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


HANDLER_CANCELLED = "denied by codexrs: the request handler was cancelled"


def _start_worker(core: _ThreadCore, turn: _Turn, request: Request) -> None:
    """Runs the request's (sync) handler on a daemon thread of its own: a handler that blocks
    holds nothing but its thread."""
    handler = core.handler_for(request)
    assert handler is not None
    worker = threading.Thread(
        target=_run_handler, args=(core, turn, request, handler), name=f"codexrs-handler-{request.type}", daemon=True
    )
    try:
        worker.start()
    except RuntimeError as exc:  # no thread can be started: fail closed
        _handler_failed(core, turn, request, exc)


def _run_handler(core: _ThreadCore, turn: _Turn, request: Request, handler: Handler) -> None:
    reason = HANDLER_RAISED
    try:
        answer = handler(request)
        if inspect.isawaitable(answer):
            if inspect.iscoroutine(answer):
                answer.close()
            raise ConfigError("a request handler returned an awaitable on a sync Codex; use AsyncCodex")
        if answer is not DEFER:
            reason = HANDLER_INVALID
            payload = answer_json(request, answer)
            reason = HANDLER_RAISED
            _sent(request, core.send(request, payload).wait())
    except BaseException as exc:  # on its own thread: nobody above to raise to
        _handler_failed(core, turn, request, exc, reason)


def _start_task(core: _ThreadCore, turn: _Turn, request: Request) -> None:
    """Runs the request's handler as a task of the running loop (kept by the thread's core)."""
    handler = core.handler_for(request)
    assert handler is not None
    task = asyncio.get_running_loop().create_task(
        _answer_async(core, turn, request, handler), name=f"codexrs-handler-{request.type}"
    )
    core.track_handler(task)


async def _answer_async(core: _ThreadCore, turn: _Turn, request: Request, handler: Handler) -> None:
    reason = HANDLER_RAISED
    try:
        answer: Any = handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is not DEFER:
            reason = HANDLER_INVALID
            payload = answer_json(request, answer)
            reason = HANDLER_RAISED
            _sent(request, await core.send(request, payload).wait_async())
    except asyncio.CancelledError:
        _deny(core, request, HANDLER_CANCELLED)
        raise
    except BaseException as exc:
        _handler_failed(core, turn, request, exc, reason)
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt / SystemExit go on to the loop


def _describe(request: Request) -> str:
    return f"{type(request).__name__} {key_of(request)!r}"


def _sent(request: Request, accepted: bool) -> None:
    if not accepted:
        _log.warning(
            "the handler's answer to %s came after the request stopped waiting (denied at the "
            "thread's request_timeout, or its turn ended); codex-core refused it, nothing was sent",
            _describe(request),
        )


def _deny(core: _ThreadCore, request: Request, reason: str) -> bool:
    try:
        return core.deny(request, reason)
    except CodexError:  # the engine is gone: nothing waits
        return False


def _handler_failed(core: _ThreadCore, turn: _Turn, request: Request, exc: BaseException, reason: str = HANDLER_RAISED) -> None:
    """A handler raised (or answered junk): the request is denied (if still pending), the turn
    goes on, and the error reaches the reader once the turn has ended. The error is kept before
    the denial lets codex go on, so the reader has it when it reads the turn's end."""
    keep = isinstance(exc, Exception) and turn.handler_error is None
    if keep:
        turn.handler_error = cast(Exception, exc)
    if _deny(core, request, reason):
        _log.warning("a request handler failed on %s; the request was denied", _describe(request), exc_info=exc)
        return
    if keep and turn.handler_error is exc:
        turn.handler_error = None  # the request no longer waited: the turn did not depend on it
    _log.warning(
        "a request handler failed on %s after the request stopped waiting (denied at the thread's "
        "request_timeout, or its turn ended)",
        _describe(request),
        exc_info=exc,
    )


def _raise_if_failed(result: TurnResult[OutputT]) -> TurnResult[OutputT]:
    if result.panic is not None:
        where = f" at {result.panic.location}" if result.panic.location else ""
        raise InternalError(f"a panic ended turn {result.id}: {result.panic.message}{where}")
    if result.status == "failed":
        raise turn_failed(result)
    return result


class TurnHandle(_HandleBase[OutputT]):
    """A running turn (codex ``Op::UserInput`` on a thread); attributes on :class:`_HandleBase`
    (``id``, ``thread_id``)."""

    def stream(self) -> TurnStream:
        """The turn's events as they arrive; ends after ``turn_aborted``, or after
        ``task_complete`` and the ends of the commands, patches and MCP calls the turn began
        (codex-core may report a command's end after ``task_complete``; codexrs waits up to
        ``COMMAND_END_GRACE_S``, 5 s, for it).

        Events read between turns (not belonging to any) are delivered first.
        """
        return TurnStream(self._core, self._turn)

    def steer(self, input: Input) -> None:
        """Adds ``input`` to this running turn (codex ``steer_input``, keyed by this turn's id):
        the model's next request within the turn carries it.

        Raises:
            TurnNotSteerableError: The turn has ended (or is a kind codex cannot steer).
        """
        self._steer(input).wait()

    def interrupt(self) -> None:
        """Asks codex to stop the turn (``Op::Interrupt``); it ends with ``turn_aborted``.
        Returns once codex-core accepted the request. The stream stays readable; the next
        ``turn()`` reads this one to its end first."""
        self._interrupt().wait()

    def result(self) -> TurnResult[OutputT]:
        """Reads the turn to its end (if not yet) and returns how it ended. Never raises for a
        failed turn: check ``status``.

        Raises:
            Exception: What a request handler raised during the turn (its request was denied
                and the turn went on to its end first).
        """
        if self._turn.abandoned:
            self._core.settle()  # its events were kept on the turn
        for _ in TurnStream(self._core, self._turn):
            pass
        return self._result()

    def run(self) -> TurnResult[OutputT]:
        """Reads the turn to its end and returns its result, like ``openai-codex``'s ``run()``.

        Raises:
            TurnFailedError: The turn ended ``"failed"``, exactly as :meth:`Thread.run`.
            InternalError: A panic ended the turn.
        """
        return _raise_if_failed(self.result())


class AsyncTurnStream(_StreamBase):
    """Async iterator over one turn's events (see :meth:`AsyncTurnHandle.stream`).

    Leaving early (``break``, an exception, a cancelled task, ``aclose()``) interrupts the turn,
    unless another stream of the same turn is still open (see :class:`TurnStream`).
    """

    def __aiter__(self) -> AsyncTurnStream:
        return self

    async def __anext__(self) -> Event:
        turn = self._turn
        if turn.done or turn.abandoned:
            turn.raise_handler_error()
            raise StopAsyncIteration
        try:
            event = self._handed(await self._core.read_turn_async(turn), _start_task)
        except BaseException:
            self._lost()
            raise
        if event is not None:
            return event
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stops reading; interrupts the turn if it has not ended."""
        self._close()

    async def __aenter__(self) -> AsyncTurnStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncTurnHandle(_HandleBase[OutputT]):
    """A running turn on an :class:`AsyncThread`; see :class:`TurnHandle`."""

    def stream(self) -> AsyncTurnStream:
        """The turn's events as they arrive (``async for``); see :meth:`TurnHandle.stream`."""
        return AsyncTurnStream(self._core, self._turn)

    async def steer(self, input: Input) -> None:
        """Adds ``input`` to this running turn; see :meth:`TurnHandle.steer`."""
        await self._steer(input).wait_async()

    async def interrupt(self) -> None:
        """Asks codex to stop the turn (``Op::Interrupt``); see :meth:`TurnHandle.interrupt`.
        Awaits codex-core's acceptance without blocking the event loop."""
        await self._interrupt().wait_async()

    async def result(self) -> TurnResult[OutputT]:
        """Reads the turn to its end and returns how it ended (never raises for "failed").

        While it waits alone on the turn (no stream of it open, no hooks), the engine's read
        drops the turn's streamed deltas for it (they change nothing in the result) and wakes
        it only for the other events: one wake-up per item, not per delta."""
        return await self._read_to_end(None)

    async def _read_to_end(self, seen: Callable[[Event], object] | None) -> TurnResult[OutputT]:
        """:meth:`result`, calling ``seen`` on each event of the turn, in order (a skimmed
        delta from within the engine's read: it must not block or raise)."""
        turn, core = self._turn, self._core
        if turn.abandoned:
            await core.settle_async()
        stream = AsyncTurnStream(core, turn)
        core.skimming = (turn, asyncio.get_running_loop(), seen)
        try:
            async for event in stream:
                if seen is not None:
                    seen(event)
        finally:
            core.skimming = None
        return self._result()

    async def run(self) -> TurnResult[OutputT]:
        """Reads the turn to its end; raises :class:`TurnFailedError` if it failed."""
        return _raise_if_failed(await self.result())

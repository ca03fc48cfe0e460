"""Turn handles and their event streams, sync and async (``TurnHandle``, ``TurnStream``, ...).

A stream reads the thread's batches through :class:`~codexrs._turn._ThreadCore` and answers
requests (:mod:`codexrs.requests`) with the thread's handlers; the rule for when leaving a stream interrupts its
turn is on :class:`_StreamBase`.
"""

from __future__ import annotations

import inspect
import logging
from typing import cast

from ._turn import HANDLER_RAISED, Input, TurnResult, _await_pending, _items_json, _next_batch, _ThreadCore, _Turn
from .errors import ConfigError, turn_failed
from .events import Event
from .requests import DEFER, Request

__all__ = ["AsyncTurnHandle", "AsyncTurnStream", "TurnHandle", "TurnStream"]

_log = logging.getLogger("codexrs")


class _HandleBase:
    """What :class:`TurnHandle` and :class:`AsyncTurnHandle` share."""

    def __init__(self, core: _ThreadCore, turn: _Turn) -> None:
        self._core = core
        self._turn = turn
        self.turn_id = turn.turn_id
        #: The thread the turn runs on (the official SDK's ``TurnHandle.thread_id``).
        self.thread_id: str = core.native.id

    def __del__(self) -> None:
        # A turn nobody ever read and nobody can read any more is interrupted, so it cannot
        # wait forever (e.g. on an approval) or silently run into the next turn.
        try:
            if not self._turn.streamed:
                self._core.abandon(self._turn)
        except Exception:
            pass

    @property
    def id(self) -> str:
        """Alias of :attr:`turn_id` (the official ``openai-codex`` SDK's name)."""
        return self.turn_id


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
    of the same turn is still open (see :class:`_StreamBase`).
    """

    def __iter__(self) -> TurnStream:
        return self

    def __next__(self) -> Event:
        turn, core = self._turn, self._core
        if turn.done or turn.abandoned:
            turn.raise_handler_error()
            raise StopIteration
        try:
            while True:
                event = core.take(turn)
                if event is not None:
                    break
                batch = core.native.next_batch(None)
                if batch is not None:
                    core.feed(batch)
            if core.needs_answer(event):
                self._answer(cast(Request, event))
        except BaseException:
            core.abandon(turn)
            raise
        return event

    def _answer(self, request: Request) -> None:
        handler = self._core.handler_for(request)
        assert handler is not None
        try:
            answer = handler(request)
            if inspect.isawaitable(answer):
                if inspect.iscoroutine(answer):
                    answer.close()
                raise ConfigError("a request handler returned an awaitable on a sync Codex; use AsyncCodex")
            if answer is not DEFER:
                self._core.respond(request, answer)
        except Exception as exc:
            _handler_failed(self._core, self._turn, request, exc)
        except BaseException:
            self._core.deny(request, HANDLER_RAISED)
            raise

    def close(self) -> None:
        """Stops reading; interrupts the turn if it has not ended."""
        self._close()

    def __enter__(self) -> TurnStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_failed(core: _ThreadCore, turn: _Turn, request: Request, exc: Exception) -> None:
    """A handler raised (or answered junk): the request is denied (if still pending), the turn
    goes on, and the error reaches the reader once the turn has ended."""
    core.deny(request, HANDLER_RAISED)
    _log.warning("a request handler failed on %s; the request was denied", type(request).__name__, exc_info=exc)
    if turn.handler_error is None:
        turn.handler_error = exc


def _raise_if_failed(result: TurnResult) -> TurnResult:
    if result.status == "failed":
        raise turn_failed(result)
    return result


class TurnHandle(_HandleBase):
    """A running turn (codex ``Op::UserInput`` on a thread).

    Attributes:
        turn_id: codex's turn id (equal to ``task_started.turn_id``).
    """

    def stream(self) -> TurnStream:
        """The turn's events as they arrive; ends after ``task_complete`` / ``turn_aborted``.

        Events read between turns (not belonging to any) are delivered first.
        """
        return TurnStream(self._core, self._turn)

    def steer(self, input: Input) -> None:
        """Adds ``input`` to this running turn (codex ``steer_input``, keyed by this turn's id):
        the model's next request within the turn carries it.

        Raises:
            TurnNotSteerableError: The turn has ended (or is a kind codex cannot steer).
        """
        self._core.native.steer(_items_json(input), self.turn_id)

    def interrupt(self) -> None:
        """Asks codex to stop the turn (``Op::Interrupt``); it ends with ``turn_aborted``.
        The stream stays readable; the next ``turn()`` reads this one to its end first."""
        self._turn.interrupt_requested = True
        self._core.native.interrupt()

    def result(self) -> TurnResult:
        """Reads the turn to its end (if not yet) and returns how it ended. Never raises for a
        failed turn: check ``status``.

        Raises:
            Exception: What a request handler raised during the turn (its request was denied
                and the turn went on to its end first).
        """
        if self._turn.abandoned:
            self._core.settle_sync()  # its events were kept on the turn
        for _ in TurnStream(self._core, self._turn):
            pass
        return self._turn.result()

    def run(self) -> TurnResult:
        """Reads the turn to its end and returns its result, like ``openai-codex``'s ``run()``.

        Raises:
            TurnFailedError: The turn ended ``"failed"``, exactly as :meth:`Thread.run`.
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
        turn, core = self._turn, self._core
        if turn.done or turn.abandoned:
            turn.raise_handler_error()
            raise StopAsyncIteration
        try:
            while True:
                event = core.take(turn)
                if event is not None:
                    break
                await core.feed_async(await _next_batch(core))
            if core.needs_answer(event):
                await self._answer(cast(Request, event))
        except BaseException:
            core.abandon(turn)
            raise
        return event

    async def _answer(self, request: Request) -> None:
        core = self._core
        handler = core.handler_for(request)
        assert handler is not None
        try:
            answer = handler(request)
            if inspect.isawaitable(answer):
                answer = await answer
            if answer is not DEFER:
                await core.respond_async(request, answer)
        except Exception as exc:
            _handler_failed(core, self._turn, request, exc)
        except BaseException:
            core.deny(request, HANDLER_RAISED)
            raise

    async def aclose(self) -> None:
        """Stops reading; interrupts the turn if it has not ended."""
        self._close()

    async def __aenter__(self) -> AsyncTurnStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncTurnHandle(_HandleBase):
    """A running turn on an :class:`AsyncThread`; see :class:`TurnHandle`."""

    def stream(self) -> AsyncTurnStream:
        """The turn's events as they arrive (``async for``)."""
        return AsyncTurnStream(self._core, self._turn)

    async def steer(self, input: Input) -> None:
        """Adds ``input`` to this running turn; see :meth:`TurnHandle.steer`."""
        await _await_pending(self._core.native.start_steer(_items_json(input), self.turn_id))

    async def interrupt(self) -> None:
        """Asks codex to stop the turn (``Op::Interrupt``); see :meth:`TurnHandle.interrupt`.
        Awaits codex-core's acceptance without blocking the event loop."""
        self._turn.interrupt_requested = True
        await _await_pending(self._core.native.start_interrupt())

    async def result(self) -> TurnResult:
        """Reads the turn to its end and returns how it ended (never raises for "failed")."""
        if self._turn.abandoned:
            await self._core.settle_async()
        async for _ in AsyncTurnStream(self._core, self._turn):
            pass
        return self._turn.result()

    async def run(self) -> TurnResult:
        """Reads the turn to its end; raises :class:`TurnFailedError` if it failed."""
        return _raise_if_failed(await self.result())

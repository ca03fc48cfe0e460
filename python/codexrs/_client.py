"""``Codex`` / ``AsyncCodex``: engines, threads, turns and their event streams.

Both twins share one event state machine (:class:`_ThreadCore`); they differ only in how they
wait: the sync side blocks in Rust without the GIL, the async side waits on a file descriptor
with ``loop.add_reader`` (no worker thread, no GIL taken on tokio's threads).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence, Union

from . import _native
from ._helper import helper_path
from ._options import ApprovalPolicy, SandboxMode, approval_policy_name, sandbox_name
from .approvals import ApprovalHandler, decision_json, deny_json
from .errors import ConfigError, EngineClosedError, ThreadNotFoundError, TurnFailedError, TurnInProgressError
from .events import (
    AgentMessage,
    ApplyPatchApprovalRequest,
    ErrorEvent,
    Event,
    ExecApprovalRequest,
    ItemCompleted,
    RateLimitSnapshot,
    SessionConfigured,
    TokenCount,
    TokenUsage,
    TurnAborted,
    TurnComplete,
    TurnStarted,
    decode_batch,
)
from .items import TurnItem

__all__ = [
    "AsyncCodex",
    "AsyncThread",
    "AsyncTurnHandle",
    "AsyncTurnStream",
    "Codex",
    "Input",
    "Thread",
    "TurnHandle",
    "TurnResult",
    "TurnStatus",
    "TurnStream",
    "Usage",
]

Input = Union[str, Mapping[str, Any], Sequence[Union[str, Mapping[str, Any]]]]
"""Turn input: text, one codex ``UserInput`` dict (``{"type": "local_image", "path": ...}``),
or a list of those."""

#: How long settling an abandoned turn may take before the thread is declared stuck.
SETTLE_TIMEOUT_S = 30.0


def default_codex_home() -> Path:
    """Where codex itself keeps its home: ``$CODEX_HOME``, else ``~/.codex``."""
    env = os.environ.get("CODEX_HOME")
    return Path(env) if env else Path.home() / ".codex"


def _items_json(value: Input) -> str:
    parts: Iterable[str | Mapping[str, Any]]
    if isinstance(value, str) or isinstance(value, Mapping):
        parts = [value]
    else:
        parts = value
    items: list[Mapping[str, Any]] = []
    for part in parts:
        if isinstance(part, str):
            items.append({"type": "text", "text": part, "text_elements": []})
        elif isinstance(part, Mapping):
            items.append(part)
        else:
            raise ConfigError(f"turn input must be str or a codex UserInput dict, not {type(part).__name__}")
    if not items:
        raise ConfigError("turn input is empty")
    return json.dumps(items)


def _config_json(config: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> str:
    merged: dict[str, Any] = dict(config or {})
    for key, value in (env or {}).items():
        merged[f"shell_environment_policy.set.{key}"] = value
    try:
        return json.dumps(merged)
    except TypeError as exc:
        raise ConfigError(f"config values must be JSON-like (str, int, float, bool, list, dict): {exc}") from exc


def _start_thread(
    engine: _native.Engine,
    cwd: str | os.PathLike[str] | None,
    model: str | None,
    approval_policy: ApprovalPolicy | None,
    sandbox: SandboxMode | None,
    config: Mapping[str, Any] | None,
    on_approval: ApprovalHandler | None,
    max_queued_events: int,
    raw_response_items: bool,
) -> _native.Pending:
    """The native ``thread_start`` both twins call; see :meth:`Codex.thread_start`."""
    if model is not None and not isinstance(model, str):
        raise TypeError(f"model must be a str, not {type(model).__name__}")
    return engine.thread_start(
        cwd=None if cwd is None else str(cwd),
        model=model,
        approval_policy=approval_policy_name(approval_policy),
        sandbox=sandbox_name(sandbox),
        config_json=_config_json(config),
        max_queued_events=max_queued_events,
        raw_response_items=raw_response_items,
        auto_deny=on_approval is None,
    )


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
            from ``item_completed``), in codex's order.
        usage: Tokens this turn used.
        error: The ``error`` event that failed the turn, if any.
        rate_limits: The last rate-limit snapshot the provider reported during the turn
            (parsed by codex-core from response headers), or ``None`` if it reported none.
        duration_ms: Turn wall time as codex measured it (milliseconds), if reported.
        started_at: When the turn started, Unix seconds (``task_started.started_at``), if
            reported.
        completed_at: When it ended, Unix seconds (``task_complete`` / ``turn_aborted``
            ``completed_at``), if reported.
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

    @property
    def turn_id(self) -> str:
        """Deprecated alias of :attr:`id` (the official SDK's name)."""
        warnings.warn("TurnResult.turn_id is deprecated: use TurnResult.id", DeprecationWarning, stacklevel=2)
        return self.id


HANDLER_RAISED = "the codexrs approval handler raised an exception"
HANDLER_INVALID = "the codexrs approval handler returned an invalid decision"

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
    #: Events read after the turn's reader went away (kept, never dropped).
    tail: list[Event] = field(default_factory=list)

    def result(self) -> TurnResult:
        if self.status == "running":
            raise _native.InternalError(f"turn {self.turn_id} has no result before it ends")
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
        )


class _ThreadCore:
    """The event state machine shared by :class:`Thread` and :class:`AsyncThread`."""

    def __init__(self, native: _native.ThreadHandle, on_approval: ApprovalHandler | None) -> None:
        self.native = native
        self.on_approval = on_approval
        self.pending: deque[tuple[str, Event]] = deque()
        self.total: TokenUsage = _ZERO
        self.active: _Turn | None = None
        #: An async submission of a turn is in flight.
        self.starting = False

    def feed(self, batch: bytes) -> None:
        self.pending.extend(decode_batch(batch))

    def take(self, turn: _Turn) -> Event | None:
        """Pops and records the next read event, or ``None`` when none is read yet."""
        if not self.pending:
            return None
        sub_id, event = self.pending.popleft()
        self.observe(sub_id, event, turn)
        return event

    def observe(self, sub_id: str, event: Event, turn: _Turn) -> None:
        if isinstance(event, TokenCount):
            if event.info is not None:
                self.total = event.info.total_token_usage
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
        elif isinstance(event, ErrorEvent):
            turn.error = event
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
            self._finish(turn, "failed" if turn.error is not None else "completed")
            turn.final_response = turn.final_response or turn.last_message
        elif event.type == "turn_aborted":
            self._finish(turn, "interrupted")
            turn.final_response = turn.last_message
            if isinstance(event, TurnAborted):
                turn.duration_ms = event.duration_ms
                turn.started_at = turn.started_at or event.started_at
                turn.completed_at = event.completed_at

    def _finish(self, turn: _Turn, status: TurnStatus) -> None:
        turn.done = True
        turn.status = status
        turn.usage_end = self.total

    def needs_answer(self, event: Event) -> bool:
        return isinstance(event, (ExecApprovalRequest, ApplyPatchApprovalRequest)) and not self.native.auto_deny

    def respond(self, event: ExecApprovalRequest | ApplyPatchApprovalRequest, decision: str) -> None:
        if isinstance(event, ExecApprovalRequest):
            self.native.respond_exec_approval(event.effective_approval_id, event.turn_id or None, decision)
        else:
            self.native.respond_patch_approval(event.call_id, decision)

    def handler_result(self, event: ExecApprovalRequest | ApplyPatchApprovalRequest, decision: object) -> None:
        try:
            encoded = decision_json(decision)
        except BaseException:
            self.respond(event, deny_json(HANDLER_INVALID))
            raise
        self.respond(event, encoded)

    def handler_failed(self, event: ExecApprovalRequest | ApplyPatchApprovalRequest) -> None:
        self.respond(event, deny_json(HANDLER_RAISED))

    async def respond_async(self, event: ExecApprovalRequest | ApplyPatchApprovalRequest, decision: str) -> None:
        """:meth:`respond` without blocking the event loop."""
        if isinstance(event, ExecApprovalRequest):
            pending = self.native.start_exec_approval(event.effective_approval_id, event.turn_id or None, decision)
        else:
            pending = self.native.start_patch_approval(event.call_id, decision)
        await _await_pending(pending)

    def _check_can_begin(self) -> None:
        if self.starting:
            raise TurnInProgressError("a turn is being submitted on this thread: await turn() first")
        prev = self.active
        if prev is not None and not prev.done and not self._settleable(prev):
            raise TurnInProgressError(
                f"turn {prev.turn_id} is still running on this thread: read it to the end "
                "(result()) or interrupt() it first"
            )

    def _started(self, turn_id: str) -> _Turn:
        turn = _Turn(turn_id=turn_id, usage_start=self.total, usage_end=self.total)
        self.active = turn
        return turn

    def begin(self, input: Input) -> _Turn:
        """Submits a turn after checking no other turn is being read."""
        self._check_can_begin()
        return self._started(self.native.submit_input(_items_json(input)))

    async def begin_async(self, input: Input) -> _Turn:
        """:meth:`begin` without blocking the event loop (the submission is awaited)."""
        self._check_can_begin()
        self.starting = True
        try:
            turn_id = await _await_pending(self.native.start_input(_items_json(input)))
        finally:
            self.starting = False
        return self._started(str(turn_id))

    def abandon(self, turn: _Turn) -> None:
        """The reader went away before the turn ended: interrupt it (once)."""
        if turn.done or turn.abandoned:
            return
        turn.abandoned = True
        try:
            self.native.interrupt_nowait()  # never blocks: this may run in __del__ or on a loop
        except _native.CodexError:
            pass  # the runtime is gone; nothing left to interrupt

    @staticmethod
    def _settleable(turn: _Turn) -> bool:
        return turn.abandoned or turn.interrupt_requested

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
        while not turn.done:
            event = self.take(turn)
            if event is not None:
                turn.tail.append(event)
                continue
            remaining = deadline - time.monotonic()
            batch = self.native.next_batch(max(remaining, 0.0)) if remaining > 0 else None
            if batch is None:
                raise self._stuck(turn)
            self.feed(batch)

    async def settle_async(self) -> None:
        """The asyncio twin of :meth:`settle_sync`."""
        turn = self._unsettled()
        if turn is None:
            return
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                while not turn.done:
                    event = self.take(turn)
                    if event is not None:
                        turn.tail.append(event)
                        continue
                    self.feed(await _next_batch(self.native))
        except TimeoutError:
            raise self._stuck(turn) from None


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _next_batch(native: _native.ThreadHandle) -> bytes:
    """Waits for the next batch without blocking the event loop or parking a thread."""
    while True:
        batch = native.try_next_batch()
        if batch is not None:
            return batch
        native.arm()
        batch = native.try_next_batch()
        if batch is not None:
            return batch
        await _readable(native.fileno())


async def _await_pending(pending: _native.Pending) -> Any:
    try:
        if not pending.done():
            await _readable(pending.fileno())
    except BaseException:
        pending.cancel()
        raise
    return pending.result()


class _HandleBase:
    """What :class:`TurnHandle` and :class:`AsyncTurnHandle` share."""

    def __init__(self, core: _ThreadCore, turn: _Turn) -> None:
        self._core = core
        self._turn = turn
        self.turn_id = turn.turn_id

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
                assert isinstance(event, (ExecApprovalRequest, ApplyPatchApprovalRequest))
                self._answer(event)
        except BaseException:
            core.abandon(turn)
            raise
        return event

    def _answer(self, event: ExecApprovalRequest | ApplyPatchApprovalRequest) -> None:
        handler = self._core.on_approval
        assert handler is not None
        try:
            decision = handler(event)
            if inspect.isawaitable(decision):
                raise ConfigError("on_approval returned an awaitable on a sync Codex; use AsyncCodex")
        except BaseException:
            self._core.handler_failed(event)
            raise
        self._core.handler_result(event, decision)

    def close(self) -> None:
        """Stops reading; interrupts the turn if it has not ended."""
        self._close()

    def __enter__(self) -> TurnStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raise_if_failed(result: TurnResult) -> TurnResult:
    if result.status == "failed":
        raise TurnFailedError(result)
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

    def interrupt(self) -> None:
        """Asks codex to stop the turn (``Op::Interrupt``); it ends with ``turn_aborted``.
        The stream stays readable; the next ``turn()`` reads this one to its end first."""
        self._turn.interrupt_requested = True
        self._core.native.interrupt()

    def result(self) -> TurnResult:
        """Reads the turn to its end (if not yet) and returns how it ended. Never raises for a
        failed turn: check ``status``."""
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


class Thread:
    """A codex thread: a conversation with its own history, turns, approvals and rollout.

    Attributes:
        id: codex's thread id (a UUID string).
        session: The thread's resolved settings (codex ``session_configured``).
    """

    def __init__(self, codex: Codex, native: _native.ThreadHandle, on_approval: ApprovalHandler | None) -> None:
        self._codex = codex
        self._core = _ThreadCore(native, on_approval)
        self.id: str = native.id
        self.session = _session(native)

    def turn(self, input: Input) -> TurnHandle:
        """Starts a turn and returns at once.

        Raises:
            TurnInProgressError: Another turn on this thread is still being read.
            EngineClosedError: The thread or its Codex was closed.
        """
        self._core.settle_sync()
        return TurnHandle(self._core, self._core.begin(input))

    def run(self, input: Input) -> TurnResult:
        """Runs one turn to its end.

        Raises:
            TurnFailedError: The turn ended ``"failed"`` (model/HTTP error); ``.result`` holds
                everything the turn produced.
        """
        return self.turn(input).run()

    def close(self) -> None:
        """Shuts the thread down (codex ``Op::Shutdown``) and waits for it."""
        self._codex._threads.pop(self.id, None)
        try:
            self._core.native.shutdown().wait()
        except EngineClosedError:
            pass

    def __enter__(self) -> Thread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _session(native: _native.ThreadHandle) -> SessionConfigured | None:
    import msgspec

    try:
        return msgspec.json.decode(native.session_configured, type=SessionConfigured)
    except msgspec.DecodeError:
        return None


class Codex:
    """codex-core running in this process: one ``ThreadManager`` and its threads.

    Args:
        codex_home: codex's home (config.toml, auth, rollouts, state db). Defaults to
            ``$CODEX_HOME`` or ``~/.codex``, so a ``codex login`` works.
        cwd: Default working directory of threads.
        config: codex config overrides, dotted keys as with ``codex -c``
            (``{"model": "gpt-5.5", "model_providers.mock.base_url": ...}``).
        env: Environment variables set for every command codex runs
            (``shell_environment_policy.set``).

    Raises:
        ConfigError: codex rejected the config, or the helper executable is missing.
    """

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        home = Path(codex_home) if codex_home is not None else default_codex_home()
        self._threads: dict[str, Thread] = {}
        self._engine: _native.Engine = _native.Engine.start(
            str(home), None if cwd is None else str(cwd), _config_json(config, env), helper_path()
        ).wait()

    def thread_start(
        self,
        *,
        cwd: str | os.PathLike[str] | None = None,
        model: str | None = None,
        approval_policy: ApprovalPolicy | None = None,
        sandbox: SandboxMode | None = None,
        config: Mapping[str, Any] | None = None,
        on_approval: ApprovalHandler | None = None,
        max_queued_events: int = 4096,
        raw_response_items: bool = False,
    ) -> Thread:
        """Starts a codex thread.

        Args:
            cwd: Working directory (defaults to the Codex's).
            model: Model slug, e.g. ``"gpt-5.5"``.
            approval_policy: ``"untrusted"``, ``"on-request"``, ``"on-failure"`` or ``"never"``
                (codex ``AskForApproval``).
            sandbox: ``"read-only"``, ``"workspace-write"`` or ``"danger-full-access"``
                (``"full-access"``, openai-codex's name, is accepted too).
            config: Per-thread codex config overrides (dotted keys).
            on_approval: Called with each approval request; returns a decision
                (:mod:`codexrs.approvals`). Without one, requests are denied (fail closed).
            max_queued_events: Events codexrs holds for this thread before it stops pulling
                from codex-core (which then holds the rest): memory bound, never a drop.
            raw_response_items: Also deliver ``raw_response_item`` events (whole prompts).

        Raises:
            ConfigError: An unknown policy name (the message names the accepted ones) or a bad
                config value.
            TypeError: A policy or model that is not a string.
            EngineClosedError: ``close()`` was called.
        """
        pending = _start_thread(
            self._engine, cwd, model, approval_policy, sandbox, config, on_approval, max_queued_events, raw_response_items
        )
        thread = Thread(self, pending.wait(), on_approval)
        self._threads[thread.id] = thread
        return thread

    def thread(self, thread_id: str) -> Thread:
        """The loaded thread with this id.

        Raises:
            ThreadNotFoundError: No such thread in this Codex.
        """
        try:
            return self._threads[thread_id]
        except KeyError:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in this Codex") from None

    def close(self, timeout: float = 10.0) -> None:
        """Shuts every thread down (waiting at most ``timeout`` seconds). Idempotent."""
        if not self._engine.closed:
            self._threads.clear()
            self._engine.close(timeout).wait()

    def __enter__(self) -> Codex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- async ----------------------------------------------------------------------------------


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
            raise StopAsyncIteration
        try:
            while True:
                event = core.take(turn)
                if event is not None:
                    break
                core.feed(await _next_batch(core.native))
            if core.needs_answer(event):
                assert isinstance(event, (ExecApprovalRequest, ApplyPatchApprovalRequest))
                await self._answer(event)
        except BaseException:
            core.abandon(turn)
            raise
        return event

    async def _answer(self, event: ExecApprovalRequest | ApplyPatchApprovalRequest) -> None:
        handler, core = self._core.on_approval, self._core
        assert handler is not None
        try:
            decision = handler(event)
            if inspect.isawaitable(decision):
                decision = await decision
        except BaseException:
            await core.respond_async(event, deny_json(HANDLER_RAISED))
            raise
        try:
            encoded = decision_json(decision)
        except BaseException:
            await core.respond_async(event, deny_json(HANDLER_INVALID))
            raise
        await core.respond_async(event, encoded)

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


class AsyncThread:
    """A codex thread on an :class:`AsyncCodex`; see :class:`Thread`."""

    def __init__(self, codex: AsyncCodex, native: _native.ThreadHandle, on_approval: ApprovalHandler | None) -> None:
        self._codex = codex
        self._core = _ThreadCore(native, on_approval)
        self.id: str = native.id
        self.session = _session(native)

    async def turn(self, input: Input) -> AsyncTurnHandle:
        """Starts a turn; see :meth:`Thread.turn`."""
        await self._core.settle_async()
        return AsyncTurnHandle(self._core, await self._core.begin_async(input))

    async def run(self, input: Input) -> TurnResult:
        """Runs one turn to its end; raises :class:`TurnFailedError` if it failed."""
        return await (await self.turn(input)).run()

    async def close(self) -> None:
        """Shuts the thread down and waits for it."""
        self._codex._threads.pop(self.id, None)
        try:
            await _await_pending(self._core.native.shutdown())
        except EngineClosedError:
            pass

    async def __aenter__(self) -> AsyncThread:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncCodex:
    """The asyncio twin of :class:`Codex` (same arguments). Start it with ``async with`` or
    ``await codex.start()``; methods start it on first use."""

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._home = Path(codex_home) if codex_home is not None else default_codex_home()
        self._cwd = None if cwd is None else str(cwd)
        self._config = _config_json(config, env)
        self._engine: _native.Engine | None = None
        self._threads: dict[str, AsyncThread] = {}

    async def start(self) -> AsyncCodex:
        """Starts the engine (idempotent)."""
        if self._engine is None:
            self._engine = await _await_pending(
                _native.Engine.start(str(self._home), self._cwd, self._config, helper_path())
            )
        return self

    async def thread_start(
        self,
        *,
        cwd: str | os.PathLike[str] | None = None,
        model: str | None = None,
        approval_policy: ApprovalPolicy | None = None,
        sandbox: SandboxMode | None = None,
        config: Mapping[str, Any] | None = None,
        on_approval: ApprovalHandler | None = None,
        max_queued_events: int = 4096,
        raw_response_items: bool = False,
    ) -> AsyncThread:
        """Starts a codex thread; see :meth:`Codex.thread_start`. ``on_approval`` may be async."""
        await self.start()
        assert self._engine is not None
        native = await _await_pending(
            _start_thread(
                self._engine, cwd, model, approval_policy, sandbox, config, on_approval, max_queued_events, raw_response_items
            )
        )
        thread = AsyncThread(self, native, on_approval)
        self._threads[thread.id] = thread
        return thread

    def thread(self, thread_id: str) -> AsyncThread:
        """The loaded thread with this id; raises :class:`ThreadNotFoundError`."""
        try:
            return self._threads[thread_id]
        except KeyError:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in this AsyncCodex") from None

    async def close(self, timeout: float = 10.0) -> None:
        """Shuts every thread down (at most ``timeout`` seconds). Idempotent."""
        if self._engine is not None and not self._engine.closed:
            self._threads.clear()
            await _await_pending(self._engine.close(timeout))

    async def __aenter__(self) -> AsyncCodex:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

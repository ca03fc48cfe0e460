"""``Thread`` / ``AsyncThread``: one codex thread, its turns and operations.

A thread is loaded by ``thread_start``, ``thread_resume`` or ``thread_fork`` (on ``Codex`` /
``AsyncCodex``, in :mod:`codexrs._core.engine`), which hand it their
:class:`~codexrs._core.owner.ThreadOwner`. The twins are written once: :class:`_ThreadBase`
checks each method's arguments and prepares its operation (a
:class:`~codexrs._core.pending.Call`, or a submission to make once an unsettled turn was read to
its end); a twin method only waits on it, the sync side in Rust without the GIL, the async side
without blocking its loop. Turns and their streams are in :mod:`codexrs._core.stream`, the event
state machine in :mod:`codexrs._core.turn`.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from functools import partial
from typing import Any, Callable, ClassVar, Literal, Mapping, NotRequired, Required, TypedDict, Union, Unpack, overload

import msgspec

from .. import _native
from .mcp import McpServer, servers
from .options import JsonSchema, ReviewTarget, ThreadArgs, TurnSettings, review_target, settings_json
from .output import output_spec
from .owner import ThreadOwner
from .pending import Call
from .result import Input, OutputT, TurnResult
from .retry import check_retries, retry_delay, turn_failed
from .store import StoredThread, ThreadHistory, stored_thread, thread_history
from .stream import AsyncTurnHandle, TurnHandle
from .turn import _ThreadCore, _Turn
from ..errors import ConfigError, EngineClosedError, TurnFailedError
from ..events import SessionConfigured
from ..requests import Request

__all__ = ["AsyncThread", "Thread"]



_TURN_SETTINGS = frozenset(TurnSettings.__annotations__)
#: The events that end ``update``'s and ``rollback``'s operations.
_APPLIED = ("thread_settings_applied",)
_ROLLED_BACK = ("thread_rolled_back",)


def _settings_json(method: str, settings: Mapping[str, object]) -> str | None:
    """A method's ``**settings`` (:class:`TurnSettings`) as the native layer's JSON, or ``None``.

    Raises:
        TypeError: A name :class:`TurnSettings` does not have, or a value of the wrong type.
        ConfigError: A bad setting.
    """
    for name in settings:
        if name not in _TURN_SETTINGS:
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}")
    return settings_json(**settings)


def _session(native: _native.ThreadHandle) -> SessionConfigured | None:
    try:
        return msgspec.json.decode(native.session_configured, type=SessionConfigured)
    except msgspec.DecodeError:
        return None



def _positive(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n_turns must be an int, not {type(n).__name__}")
    if n < 1:
        raise ConfigError(f"n_turns must be at least 1, not {n}")
    return n


def _text(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _nothing(raw: object) -> None:
    return None


class _Attempts:
    """A run's attempts (``retries``): after a failure, how long to wait before the next."""

    __slots__ = ("attempt", "retries")

    def __init__(self, retries: object) -> None:
        self.retries = check_retries(retries)
        self.attempt = 1

    def pause(self, failure: TurnFailedError) -> float:
        """Seconds to wait before the next attempt.

        Raises:
            TurnFailedError: ``failure`` is not retryable, or no attempt is left (``.attempts``
                says how many there were).
        """
        if not failure.retryable or self.attempt > self.retries:
            raise turn_failed(failure.result, self.attempt) from None
        self.attempt += 1
        return retry_delay(self.attempt - 1)


class _ThreadBase:
    """What :class:`Thread` and :class:`AsyncThread` share: everything but how they wait.

    Attributes:
        id: codex's thread id (a UUID string).
        session: The thread's resolved settings (codex ``session_configured``), with its
            ``rollout_path``.
    """

    _is_async: ClassVar[bool] = False
    id: str
    session: SessionConfigured | None

    def __init__(self, owner: ThreadOwner, native: _native.ThreadHandle, args: ThreadArgs) -> None:
        self._owner = owner
        tools = args.checked_tools(is_async=self._is_async)
        self._core = _ThreadCore(native, args.on_approval, args.on_request, tools, is_async=self._is_async, hooks=owner.hooks)
        self._core.attach()  # its engine's one read sees it (stream_all follows it too)
        self.id = native.id
        self.session = _session(native)

    def _begin(self, input: Input, output_schema: object, settings: Mapping[str, object], method: str = "turn") -> Callable[[], Call[_Turn]]:
        """A turn's submission, its settings and schema checked, to make once the thread settled."""
        return partial(self._core.begin, input, _settings_json(method, settings), output_spec(output_schema))

    def _op(self, kind: str, args: Mapping[str, object]) -> Callable[[], Call[_Turn]]:
        """The submission of an operation that runs as a turn, to make once the thread settled."""
        return partial(self._core.begin_op, kind, args)

    @staticmethod
    def _review(target: ReviewTarget, hint: str | None) -> Mapping[str, object]:
        return {"target": review_target(target), "hint": hint}

    def _set_name(self, name: str) -> Call[StoredThread]:
        return Call(self._owner.native.thread_set_name(self.id, _text("a thread name", name)), stored_thread)

    def _info(self) -> Call[StoredThread]:
        return Call(self._owner.native.thread_info(self.id), stored_thread)

    def _read(self) -> Call[ThreadHistory]:
        return Call(self._owner.native.thread_read(self.id), thread_history)

    def _mcp_status(self) -> Call[list[McpServer]]:
        return Call(self._owner.native.mcp_tools(self.id), partial(servers, statuses=self._core.mcp_startup))

    def _refresh_mcp_servers(self) -> Call[None]:
        return Call(self._owner.native.refresh_mcp_servers(self.id), _nothing)

    def _shutdown(self) -> Call[None]:
        """Forgets the thread on its engine, cancels its handler tasks (each denies its request
        if it still waits) and starts its shutdown."""
        self._owner.forget(self.id)
        self._core.cancel_handlers()
        return Call(self._core.native.shutdown(), _nothing)


class Thread(_ThreadBase):
    """A codex thread: a conversation with its own history, turns, approvals and rollout.

    Attributes:
        id: codex's thread id (a UUID string).
        session: The thread's resolved settings (codex ``session_configured``), with its
            ``rollout_path``.
    """

    def _start(self, begin: Callable[[], Call[_Turn]]) -> TurnHandle[Any]:
        self._core.settle()
        return TurnHandle(self._core, begin().wait())

    @overload
    def turn(self, input: Input, *, output_schema: type[OutputT], **settings: Unpack[TurnSettings]) -> TurnHandle[OutputT]: ...
    @overload
    def turn(self, input: Input, *, output_schema: JsonSchema | None = None, **settings: Unpack[TurnSettings]) -> TurnHandle[Any]: ...
    def turn(self, input: Input, *, output_schema: type[Any] | JsonSchema | None = None, **settings: Unpack[TurnSettings]) -> TurnHandle[Any]:
        """Starts a turn and returns at once.

        Args:
            input: Text, a codex ``UserInput`` dict, or a list of those
                (:mod:`codexrs.inputs` has typed helpers).
            output_schema: A JSON Schema dict, or a msgspec Struct / dataclass / TypedDict /
                pydantic model type: the final message must follow it, and
                ``TurnResult.output`` is it decoded (:mod:`codexrs._core.output`): an instance
                of the type (the handle is then a ``TurnHandle[ThatType]``), or the parsed JSON.
            **settings: :class:`~codexrs.TurnSettings` for this turn (``model``, ``effort``,
                ``summary``, ``cwd``, ``sandbox``, ``approval_policy``; codex
                ``Op::UserInput``'s thread settings). As in codex, they last: later turns keep
                them until changed (see :meth:`update`).

        Raises:
            TurnInProgressError: Another turn on this thread is still being read.
            EngineClosedError: The thread or its Codex was closed.
            TypeError: A keyword that is not a setting, or a value or schema of the wrong type.
            ConfigError: A bad setting.
        """
        return self._start(self._begin(input, output_schema, settings))

    @overload
    def run(self, input: Input, *, output_schema: type[OutputT], retries: int = 0, **settings: Unpack[TurnSettings]) -> TurnResult[OutputT]: ...
    @overload
    def run(self, input: Input, *, output_schema: JsonSchema | None = None, retries: int = 0, **settings: Unpack[TurnSettings]) -> TurnResult[Any]: ...
    def run(self, input: Input, *, output_schema: type[Any] | JsonSchema | None = None, retries: int = 0, **settings: Unpack[TurnSettings]) -> TurnResult[Any]:
        """Runs one turn to its end; ``output_schema`` and ``**settings`` as :meth:`turn`.

        ``retries``: how many times to run the input again, as a new turn, after a failure
        that is retryable (``TurnFailedError.retryable``: overload, server error, a dropped
        connection), waiting 0.5 s, 1 s, 2 s, ... (up to 30 s, with jitter) between
        attempts. A non-retryable failure is raised at once, a rate limit included.

        Raises:
            RateLimitError: The provider refused the turn for a rate or usage limit (HTTP 429);
                ``.resets_at`` says until when. Never retried here.
            TurnFailedError: The turn ended ``"failed"`` (model/HTTP error); ``.result`` holds
                everything the last attempt produced, ``.attempts`` how many there were.
            OutputValidationError: With ``output_schema``, the final message does not match it.
            InternalError: A panic (a bug in codex-core or codexrs) ended the turn; the
                thread takes new turns.
        """
        attempts = _Attempts(retries)
        while True:
            try:
                return self._start(self._begin(input, output_schema, settings, "run")).run()
            except TurnFailedError as exc:
                time.sleep(attempts.pause(exc))

    def update(self, **settings: Unpack[TurnSettings]) -> None:
        """Changes the thread's settings (:class:`~codexrs.TurnSettings`) for the turns that
        follow (codex ``Op::ThreadSettings``); waits until codex applied them.

        Raises:
            TypeError: A keyword that is not a setting, or a value of the wrong type.
            ConfigError: A bad setting. CodexError: codex refused them.
        """
        if (changed := _settings_json("update", settings)) is not None:
            self._core.run_op("settings", msgspec.json.decode(changed), _APPLIED)

    def compact(self) -> TurnHandle[Any]:
        """Starts compacting the thread's history (codex ``Op::Compact``): the model
        summarizes the conversation and later requests carry the summary instead.

        Returns the compaction's turn at once, as openai-codex's ``compact`` only starts it
        (unlike :meth:`review` and :meth:`run_shell`, which return their turn's result): read
        it with ``result()``, or let the next :meth:`turn` read it to its end first."""
        return self._start(self._op("compact", {}))

    def rollback(self, n_turns: int) -> None:
        """Drops the last ``n_turns`` turns from the thread's history (codex
        ``Op::ThreadRollback``): the next request no longer carries them. Files the turns
        changed stay as they are, as in codex.

        Raises:
            ConfigError: ``n_turns`` is not a positive int. CodexError: codex refused.
        """
        self._core.run_op("rollback", {"num_turns": _positive(n_turns)}, _ROLLED_BACK)

    def review(self, target: ReviewTarget, *, hint: str | None = None) -> TurnResult[Any]:
        """Runs a code review (codex ``Op::Review``) of ``target`` (:data:`ReviewTarget`):
        ``"uncommitted"``, ``{"base_branch": ...}``, ``{"commit": sha}`` or
        ``{"instructions": ...}``. Waits for the review's turn to end and returns it; its
        ``review`` is codex's typed ``ReviewOutputEvent`` (findings, overall correctness).

        Raises:
            ConfigError: An unknown target.
        """
        return self._start(self._op("review", self._review(target, hint))).result()

    def run_shell(self, command: str) -> TurnResult[Any]:
        """Runs ``command`` as the user would in the thread (codex ``Op::RunUserShellCommand``,
        in the thread's sandbox and cwd); waits for its turn to end and returns it
        (``exec_command_*`` events, a ``CommandExecution`` item)."""
        return self._start(self._op("shell", {"command": _text("command", command)})).result()

    def respond(self, request: Request, answer: object) -> bool:
        """Answers a pending request of this thread, from any code and any Python thread
        (e.g. after a handler returned :data:`codexrs.requests.DEFER`).

        ``answer`` is what a handler would return (:mod:`codexrs.requests`). Returns ``True``
        once codex-core accepted it; ``False``, sending nothing, when the request is no longer
        pending (already answered, or denied at its ``request_timeout``).

        Raises:
            TypeError / ConfigError: ``answer`` is not an answer for the request's kind; the
                request is denied (fail closed).
        """
        return self._core.respond(request, answer).wait()

    def set_name(self, name: str) -> StoredThread:
        """Names the thread in codex's own metadata (what ``codex resume`` lists); returns the
        stored thread. Raises :class:`ConfigError` for an empty name. codex writes metadata
        once the thread's rollout exists (after its first turn): before that, codex waits
        about 1.5 s for it."""
        return self._set_name(name).wait()

    def info(self) -> StoredThread:
        """The thread as codex's store has it (name, preview, timestamps, rollout path)."""
        return self._info().wait()

    def read(self) -> ThreadHistory:
        """The thread as codex stored it: its metadata, and its turns with the typed events
        and items its rollout keeps (flushed first, so the last turn is there)."""
        return self._read().wait()

    def mcp_status(self) -> list[McpServer]:
        """The thread's MCP servers: each one's last startup state and its tools (waits for
        servers still starting)."""
        return self._mcp_status().wait()

    def refresh_mcp_servers(self) -> None:
        """Reloads the thread's MCP servers from the current config (``config.toml`` and the
        Codex's overrides, read again); codex restarts them before the next turn."""
        self._refresh_mcp_servers().wait()

    def close(self) -> None:
        """Shuts the thread down (codex ``Op::Shutdown``) and waits for it. Its rollout stays:
        ``thread_resume`` loads it again."""
        with suppress(EngineClosedError):
            self._shutdown().wait()

    def __enter__(self) -> Thread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncThread(_ThreadBase):
    """A codex thread on an :class:`AsyncCodex`; see :class:`Thread`."""

    _is_async = True

    async def _start(self, begin: Callable[[], Call[_Turn]]) -> AsyncTurnHandle[Any]:
        await self._core.settle_async()
        return AsyncTurnHandle(self._core, await begin().wait_async())

    @overload
    async def turn(self, input: Input, *, output_schema: type[OutputT], **settings: Unpack[TurnSettings]) -> AsyncTurnHandle[OutputT]: ...
    @overload
    async def turn(self, input: Input, *, output_schema: JsonSchema | None = None, **settings: Unpack[TurnSettings]) -> AsyncTurnHandle[Any]: ...
    async def turn(self, input: Input, *, output_schema: type[Any] | JsonSchema | None = None, **settings: Unpack[TurnSettings]) -> AsyncTurnHandle[Any]:
        """Starts a turn; see :meth:`Thread.turn`."""
        return await self._start(self._begin(input, output_schema, settings))

    @overload
    async def run(self, input: Input, *, output_schema: type[OutputT], retries: int = 0, **settings: Unpack[TurnSettings]) -> TurnResult[OutputT]: ...
    @overload
    async def run(self, input: Input, *, output_schema: JsonSchema | None = None, retries: int = 0, **settings: Unpack[TurnSettings]) -> TurnResult[Any]: ...
    async def run(self, input: Input, *, output_schema: type[Any] | JsonSchema | None = None, retries: int = 0, **settings: Unpack[TurnSettings]) -> TurnResult[Any]:
        """Runs one turn to its end, retrying as :meth:`Thread.run` does."""
        attempts = _Attempts(retries)
        while True:
            try:
                return await (await self._start(self._begin(input, output_schema, settings, "run"))).run()
            except TurnFailedError as exc:
                await asyncio.sleep(attempts.pause(exc))

    async def update(self, **settings: Unpack[TurnSettings]) -> None:
        """Changes the thread's settings for the turns that follow; see :meth:`Thread.update`."""
        if (changed := _settings_json("update", settings)) is not None:
            await self._core.run_op_async("settings", msgspec.json.decode(changed), _APPLIED)

    async def compact(self) -> AsyncTurnHandle[Any]:
        """Starts compacting the thread's history and returns its turn at once; see
        :meth:`Thread.compact`."""
        return await self._start(self._op("compact", {}))

    async def rollback(self, n_turns: int) -> None:
        """Drops the last ``n_turns`` turns; see :meth:`Thread.rollback`."""
        await self._core.run_op_async("rollback", {"num_turns": _positive(n_turns)}, _ROLLED_BACK)

    async def review(self, target: ReviewTarget, *, hint: str | None = None) -> TurnResult[Any]:
        """Runs a code review to its end; see :meth:`Thread.review`."""
        return await (await self._start(self._op("review", self._review(target, hint)))).result()

    async def run_shell(self, command: str) -> TurnResult[Any]:
        """Runs a user shell command in the thread to its end; see :meth:`Thread.run_shell`."""
        return await (await self._start(self._op("shell", {"command": _text("command", command)}))).result()

    async def respond(self, request: Request, answer: object) -> bool:
        """Answers a pending request; see :meth:`Thread.respond`. Never blocks the loop."""
        return await self._core.respond(request, answer).wait_async()

    async def set_name(self, name: str) -> StoredThread:
        """Names the thread in codex's metadata; see :meth:`Thread.set_name`."""
        return await self._set_name(name).wait_async()

    async def info(self) -> StoredThread:
        """The thread as codex's store has it; see :meth:`Thread.info`."""
        return await self._info().wait_async()

    async def read(self) -> ThreadHistory:
        """The thread as codex stored it; see :meth:`Thread.read`."""
        return await self._read().wait_async()

    async def mcp_status(self) -> list[McpServer]:
        """The thread's MCP servers; see :meth:`Thread.mcp_status`."""
        return await self._mcp_status().wait_async()

    async def refresh_mcp_servers(self) -> None:
        """Reloads the thread's MCP servers; see :meth:`Thread.refresh_mcp_servers`."""
        await self._refresh_mcp_servers().wait_async()

    async def close(self) -> None:
        """Shuts the thread down and waits for it (its rollout stays); a request handler still
        running is cancelled (its request is denied if it still waits)."""
        with suppress(EngineClosedError):
            await self._shutdown().wait_async()

    async def __aenter__(self) -> AsyncThread:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

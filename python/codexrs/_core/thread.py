"""``Thread`` / ``AsyncThread``: one codex thread, and the options every way of loading one takes.

A thread is loaded by ``thread_start``, ``thread_resume`` or ``thread_fork`` (on ``Codex`` /
``AsyncCodex``, in :mod:`codexrs._core.engine`); all three take :class:`ThreadArgs`. Turns and their
streams are in :mod:`codexrs._core.stream`, the event state machine in :mod:`codexrs._core.turn`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import msgspec

from .. import _native
from .options import (
    ApprovalPolicy,
    ReasoningEffort,
    ReasoningSummary,
    SandboxMode,
    approval_policy_name,
    review_target,
    sandbox_name,
    settings_json,
    timeout_seconds,
)
from .mcp import McpServer, servers
from .output import output_spec
from .store import StoredThread, ThreadHistory, stored_thread, thread_history
from .stream import AsyncTurnHandle, TurnHandle
from .pending import await_pending
from .turn import Input, TurnResult, _ThreadCore
from ..approvals import ApprovalHandler
from .retry import check_retries, retry_delay
from ..errors import ConfigError, EngineClosedError, TurnFailedError, turn_failed
from ..events import SessionConfigured
from ..requests import Request, RequestHandler
from ..tools import Tool

if TYPE_CHECKING:
    from .engine import AsyncCodex, Codex

__all__ = ["AsyncThread", "Thread"]


def config_json(config: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> str:
    """codex config overrides (and ``env``, as ``shell_environment_policy.set``) as JSON."""
    merged: dict[str, Any] = dict(config or {})
    for key, value in (env or {}).items():
        merged[f"shell_environment_policy.set.{key}"] = value
    try:
        return json.dumps(merged)
    except TypeError as exc:
        raise ConfigError(f"config values must be JSON-like (str, int, float, bool, list, dict): {exc}") from exc


@dataclass(frozen=True)
class ThreadArgs:
    """The options ``thread_start``, ``thread_resume`` and ``thread_fork`` share (documented on
    :meth:`codexrs.Codex.thread_start`), checked and turned into the native call's arguments."""

    cwd: str | os.PathLike[str] | None = None
    model: str | None = None
    approval_policy: ApprovalPolicy | None = None
    sandbox: SandboxMode | None = None
    config: Mapping[str, Any] | None = None
    on_approval: ApprovalHandler | None = None
    on_request: RequestHandler | None = None
    request_timeout: float | None = None
    max_queued_events: int = 4096
    raw_response_items: bool = False
    tools: Sequence[Tool] = ()

    def handled(self) -> list[str]:
        """The request kinds Python answers; codexrs denies the others at once."""
        kinds: list[str] = []
        if self.on_approval is not None or self.on_request is not None:
            kinds += ["exec", "patch"]
        if self.on_request is not None:
            kinds += ["permissions", "user_input", "elicitation", "dynamic_tool"]
        elif self.tools:
            kinds.append("dynamic_tool")
        return kinds

    def checked_tools(self, *, is_async: bool) -> list[Tool]:
        """The tools, checked: :class:`Tool` objects with distinct names; async ones only on
        an ``AsyncCodex``."""
        tools = list(self.tools)
        for t in tools:
            if not isinstance(t, Tool):
                raise TypeError(f"tools must be made with @codexrs.tool, not {type(t).__name__}")
            if t.is_async and not is_async:
                raise ConfigError(f"tool {t.name} is async: use it on an AsyncCodex")
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ConfigError(f"tool names must be distinct: {names}")
        return tools

    def start_native(self, *, is_async: bool) -> dict[str, Any]:
        """:meth:`native` for ``thread_start``, which also sends the tools' specs to codex."""
        tools = self.checked_tools(is_async=is_async)
        return {**self.native(), "tools_json": json.dumps([t.spec() for t in tools]) if tools else None}

    def native(self) -> dict[str, Any]:
        """Keyword arguments of the native ``thread_start`` / ``thread_resume`` / ``thread_fork``.

        Raises:
            TypeError: A model, policy or timeout of the wrong type.
            ConfigError: A bad policy name or config value.
        """
        if self.model is not None and not isinstance(self.model, str):
            raise TypeError(f"model must be a str, not {type(self.model).__name__}")
        timeout = timeout_seconds("request_timeout", self.request_timeout, positive=True)
        return {
            "cwd": None if self.cwd is None else str(self.cwd),
            "model": self.model,
            "approval_policy": approval_policy_name(self.approval_policy),
            "sandbox": sandbox_name(self.sandbox),
            "config_json": config_json(self.config),
            "max_queued_events": self.max_queued_events,
            "raw_response_items": self.raw_response_items,
            "handled": self.handled(),
            "request_timeout": timeout,
        }


def _session(native: _native.ThreadHandle) -> SessionConfigured | None:
    try:
        return msgspec.json.decode(native.session_configured, type=SessionConfigured)
    except msgspec.DecodeError:
        return None


class Thread:
    """A codex thread: a conversation with its own history, turns, approvals and rollout.

    Attributes:
        id: codex's thread id (a UUID string).
        session: The thread's resolved settings (codex ``session_configured``), with its
            ``rollout_path``.
    """

    def __init__(self, codex: Codex, native: _native.ThreadHandle, args: ThreadArgs) -> None:
        self._codex = codex
        self._core = _ThreadCore(
            native, args.on_approval, args.on_request, args.checked_tools(is_async=False), hooks=codex._hooks
        )
        self.id: str = native.id
        self.session = _session(native)

    def turn(
        self,
        input: Input,
        *,
        model: str | None = None,
        effort: ReasoningEffort | str | None = None,
        summary: ReasoningSummary | None = None,
        cwd: str | os.PathLike[str] | None = None,
        sandbox: SandboxMode | None = None,
        approval_policy: ApprovalPolicy | None = None,
        output_schema: Any = None,
    ) -> TurnHandle:
        """Starts a turn and returns at once.

        Args:
            input: Text, a codex ``UserInput`` dict, or a list of those
                (:mod:`codexrs.inputs` has typed helpers).
            model, effort, summary, cwd, sandbox, approval_policy: Settings for this turn
                (codex ``Op::UserInput``'s thread settings). As in codex, they last: later
                turns keep them until changed (see :meth:`update`).
            output_schema: A JSON Schema dict, or a msgspec Struct / dataclass / TypedDict /
                pydantic model type: the final message must follow it, and
                ``TurnResult.output`` is it decoded (:mod:`codexrs._core.output`).

        Raises:
            TurnInProgressError: Another turn on this thread is still being read.
            EngineClosedError: The thread or its Codex was closed.
            ConfigError / TypeError: A bad setting or schema.
        """
        settings = settings_json(model=model, effort=effort, summary=summary, cwd=cwd, sandbox=sandbox, approval_policy=approval_policy)
        spec = output_spec(output_schema)
        self._core.settle_sync()
        return TurnHandle(self._core, self._core.begin(input, settings, spec))

    def run(
        self,
        input: Input,
        *,
        model: str | None = None,
        effort: ReasoningEffort | str | None = None,
        summary: ReasoningSummary | None = None,
        cwd: str | os.PathLike[str] | None = None,
        sandbox: SandboxMode | None = None,
        approval_policy: ApprovalPolicy | None = None,
        output_schema: Any = None,
        retries: int = 0,
    ) -> TurnResult:
        """Runs one turn to its end; options as :meth:`turn`.

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
        retries = check_retries(retries)
        attempt = 1
        while True:
            try:
                return self.turn(input, model=model, effort=effort, summary=summary, cwd=cwd, sandbox=sandbox, approval_policy=approval_policy, output_schema=output_schema).run()
            except TurnFailedError as exc:
                if not exc.retryable or attempt > retries:
                    raise turn_failed(exc.result, attempt) from None
            time.sleep(retry_delay(attempt))
            attempt += 1

    def update(
        self,
        *,
        model: str | None = None,
        effort: ReasoningEffort | str | None = None,
        summary: ReasoningSummary | None = None,
        cwd: str | os.PathLike[str] | None = None,
        sandbox: SandboxMode | None = None,
        approval_policy: ApprovalPolicy | None = None,
    ) -> None:
        """Changes the thread's settings for the turns that follow (codex
        ``Op::ThreadSettings``); waits until codex applied them.

        Raises:
            ConfigError / TypeError: A bad setting. CodexError: codex refused them.
        """
        settings = settings_json(model=model, effort=effort, summary=summary, cwd=cwd, sandbox=sandbox, approval_policy=approval_policy)
        if settings is not None:
            self._core.run_op("settings", json.loads(settings), ("thread_settings_applied",))

    def compact(self) -> TurnHandle:
        """Starts compacting the thread's history (codex ``Op::Compact``): the model
        summarizes the conversation and later requests carry the summary instead. Returns
        the compaction's turn; the next :meth:`turn` reads it to its end first."""
        self._core.settle_sync()
        return TurnHandle(self._core, self._core.begin_op("compact", {}))

    def rollback(self, n_turns: int) -> None:
        """Drops the last ``n_turns`` turns from the thread's history (codex
        ``Op::ThreadRollback``): the next request no longer carries them. Files the turns
        changed stay as they are, as in codex.

        Raises:
            ConfigError: ``n_turns`` is not a positive int. CodexError: codex refused.
        """
        self._core.run_op("rollback", {"num_turns": _positive(n_turns)}, ("thread_rolled_back",))

    def review(self, target: Any, *, hint: str | None = None) -> TurnResult:
        """Runs a code review (codex ``Op::Review``) of ``target``: ``"uncommitted"``,
        ``{"base_branch": ...}``, ``{"commit": sha}`` or ``{"instructions": ...}``
        (:func:`codexrs._core.options.review_target`). Returns the review's turn; its ``review``
        is codex's typed ``ReviewOutputEvent`` (findings, overall correctness)."""
        args = {"target": review_target(target), "hint": hint}
        self._core.settle_sync()
        return TurnHandle(self._core, self._core.begin_op("review", args)).result()

    def run_shell(self, command: str) -> TurnResult:
        """Runs ``command`` as the user would in the thread (codex ``Op::RunUserShellCommand``,
        in the thread's sandbox and cwd) and returns its turn (``exec_command_*`` events,
        a ``CommandExecution`` item)."""
        if not isinstance(command, str):
            raise TypeError(f"command must be a str, not {type(command).__name__}")
        self._core.settle_sync()
        return TurnHandle(self._core, self._core.begin_op("shell", {"command": command})).result()

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
        return self._core.respond(request, answer)

    def set_name(self, name: str) -> StoredThread:
        """Names the thread in codex's own metadata (what ``codex resume`` lists); returns the
        stored thread. Raises :class:`ConfigError` for an empty name. codex writes metadata
        once the thread's rollout exists (after its first turn): before that, codex waits
        about 1.5 s for it."""
        return stored_thread(self._codex._native_engine().thread_set_name(self.id, _name(name)).wait())

    def info(self) -> StoredThread:
        """The thread as codex's store has it (name, preview, timestamps, rollout path)."""
        return stored_thread(self._codex._native_engine().thread_info(self.id).wait())

    def read(self) -> ThreadHistory:
        """The thread as codex stored it: its metadata, and its turns with the typed events
        and items its rollout keeps (flushed first, so the last turn is there)."""
        return thread_history(self._codex._native_engine().thread_read(self.id).wait())

    def mcp_status(self) -> list[McpServer]:
        """The thread's MCP servers: each one's last startup state and its tools (waits for
        servers still starting)."""
        return servers(self._codex._native_engine().mcp_tools(self.id).wait(), self._core.mcp_startup)

    def refresh_mcp_servers(self) -> None:
        """Reloads the thread's MCP servers from the current config (``config.toml`` and the
        Codex's overrides, read again); codex restarts them before the next turn."""
        self._codex._native_engine().refresh_mcp_servers(self.id).wait()

    def close(self) -> None:
        """Shuts the thread down (codex ``Op::Shutdown``) and waits for it. Its rollout stays:
        ``thread_resume`` loads it again."""
        self._codex._threads.pop(self.id, None)
        try:
            self._core.native.shutdown().wait()
        except EngineClosedError:
            pass

    def __enter__(self) -> Thread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _positive(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n_turns must be an int, not {type(n).__name__}")
    if n < 1:
        raise ConfigError(f"n_turns must be at least 1, not {n}")
    return n


def _name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a thread name must be a str, not {type(name).__name__}")
    return name


class AsyncThread:
    """A codex thread on an :class:`AsyncCodex`; see :class:`Thread`."""

    def __init__(self, codex: AsyncCodex, native: _native.ThreadHandle, args: ThreadArgs) -> None:
        self._codex = codex
        self._core = _ThreadCore(
            native, args.on_approval, args.on_request, args.checked_tools(is_async=True), is_async=True, hooks=codex._hooks
        )
        self.id: str = native.id
        self.session = _session(native)

    async def turn(
        self,
        input: Input,
        *,
        model: str | None = None,
        effort: ReasoningEffort | str | None = None,
        summary: ReasoningSummary | None = None,
        cwd: str | os.PathLike[str] | None = None,
        sandbox: SandboxMode | None = None,
        approval_policy: ApprovalPolicy | None = None,
        output_schema: Any = None,
    ) -> AsyncTurnHandle:
        """Starts a turn; see :meth:`Thread.turn`."""
        settings = settings_json(model=model, effort=effort, summary=summary, cwd=cwd, sandbox=sandbox, approval_policy=approval_policy)
        spec = output_spec(output_schema)
        await self._core.settle_async()
        return AsyncTurnHandle(self._core, await self._core.begin_async(input, settings, spec))

    async def run(
        self,
        input: Input,
        *,
        model: str | None = None,
        effort: ReasoningEffort | str | None = None,
        summary: ReasoningSummary | None = None,
        cwd: str | os.PathLike[str] | None = None,
        sandbox: SandboxMode | None = None,
        approval_policy: ApprovalPolicy | None = None,
        output_schema: Any = None,
        retries: int = 0,
    ) -> TurnResult:
        """Runs one turn to its end, retrying as :meth:`Thread.run` does."""
        retries = check_retries(retries)
        attempt = 1
        while True:
            try:
                return await (await self.turn(input, model=model, effort=effort, summary=summary, cwd=cwd, sandbox=sandbox, approval_policy=approval_policy, output_schema=output_schema)).run()
            except TurnFailedError as exc:
                if not exc.retryable or attempt > retries:
                    raise turn_failed(exc.result, attempt) from None
            await asyncio.sleep(retry_delay(attempt))
            attempt += 1

    async def update(
        self,
        *,
        model: str | None = None,
        effort: ReasoningEffort | str | None = None,
        summary: ReasoningSummary | None = None,
        cwd: str | os.PathLike[str] | None = None,
        sandbox: SandboxMode | None = None,
        approval_policy: ApprovalPolicy | None = None,
    ) -> None:
        """Changes the thread's settings for the turns that follow; see :meth:`Thread.update`."""
        settings = settings_json(model=model, effort=effort, summary=summary, cwd=cwd, sandbox=sandbox, approval_policy=approval_policy)
        if settings is not None:
            await self._core.run_op_async("settings", json.loads(settings), ("thread_settings_applied",))

    async def compact(self) -> AsyncTurnHandle:
        """Starts compacting the thread's history; see :meth:`Thread.compact`."""
        await self._core.settle_async()
        return AsyncTurnHandle(self._core, await self._core.begin_op_async("compact", {}))

    async def rollback(self, n_turns: int) -> None:
        """Drops the last ``n_turns`` turns; see :meth:`Thread.rollback`."""
        await self._core.run_op_async("rollback", {"num_turns": _positive(n_turns)}, ("thread_rolled_back",))

    async def review(self, target: Any, *, hint: str | None = None) -> TurnResult:
        """Runs a code review; see :meth:`Thread.review`."""
        args = {"target": review_target(target), "hint": hint}
        await self._core.settle_async()
        return await AsyncTurnHandle(self._core, await self._core.begin_op_async("review", args)).result()

    async def run_shell(self, command: str) -> TurnResult:
        """Runs a user shell command in the thread; see :meth:`Thread.run_shell`."""
        if not isinstance(command, str):
            raise TypeError(f"command must be a str, not {type(command).__name__}")
        await self._core.settle_async()
        return await AsyncTurnHandle(self._core, await self._core.begin_op_async("shell", {"command": command})).result()

    async def respond(self, request: Request, answer: object) -> bool:
        """Answers a pending request; see :meth:`Thread.respond`. Never blocks the loop."""
        return await self._core.respond_async(request, answer)

    async def set_name(self, name: str) -> StoredThread:
        """Names the thread in codex's metadata; see :meth:`Thread.set_name`."""
        engine = await self._codex._native_engine()
        return stored_thread(await await_pending(engine.thread_set_name(self.id, _name(name))))

    async def info(self) -> StoredThread:
        """The thread as codex's store has it; see :meth:`Thread.info`."""
        engine = await self._codex._native_engine()
        return stored_thread(await await_pending(engine.thread_info(self.id)))

    async def read(self) -> ThreadHistory:
        """The thread as codex stored it; see :meth:`Thread.read`."""
        engine = await self._codex._native_engine()
        return thread_history(await await_pending(engine.thread_read(self.id)))

    async def mcp_status(self) -> list[McpServer]:
        """The thread's MCP servers; see :meth:`Thread.mcp_status`."""
        engine = await self._codex._native_engine()
        return servers(await await_pending(engine.mcp_tools(self.id)), self._core.mcp_startup)

    async def refresh_mcp_servers(self) -> None:
        """Reloads the thread's MCP servers; see :meth:`Thread.refresh_mcp_servers`."""
        engine = await self._codex._native_engine()
        await await_pending(engine.refresh_mcp_servers(self.id))

    async def close(self) -> None:
        """Shuts the thread down and waits for it (its rollout stays); a request handler still
        running is cancelled (its request is denied if it still waits)."""
        self._codex._threads.pop(self.id, None)
        self._core.cancel_handlers()
        try:
            await await_pending(self._core.native.shutdown())
        except EngineClosedError:
            pass

    async def __aenter__(self) -> AsyncThread:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

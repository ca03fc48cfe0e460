"""``Codex`` / ``AsyncCodex``: engines and threads.

Turns and their streams are in :mod:`codexrs._stream`; the event state machine both twins
share is in :mod:`codexrs._turn`. The twins differ only in how they wait: the sync side blocks
in Rust without the GIL, the async side waits on a file descriptor with ``loop.add_reader`` (no
worker thread, no GIL taken on tokio's threads).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Mapping

from . import _native
from ._helper import helper_path
from ._options import ApprovalPolicy, SandboxMode, approval_policy_name, sandbox_name
from ._stream import AsyncTurnHandle, AsyncTurnStream, TurnHandle, TurnStream
from ._turn import Input, TurnResult, TurnStatus, Usage, _await_pending, _ThreadCore
from .approvals import ApprovalHandler
from .requests import DEFAULT_REQUEST_TIMEOUT, Request, RequestHandler
from .errors import ConfigError, EngineClosedError, ThreadNotFoundError
from .events import SessionConfigured

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


def default_codex_home() -> Path:
    """Where codex itself keeps its home: ``$CODEX_HOME``, else ``~/.codex``."""
    env = os.environ.get("CODEX_HOME")
    return Path(env) if env else Path.home() / ".codex"


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
    handlers: _Handlers,
    max_queued_events: int,
    raw_response_items: bool,
) -> _native.Pending:
    """The native ``thread_start`` both twins call; see :meth:`Codex.thread_start`."""
    if model is not None and not isinstance(model, str):
        raise TypeError(f"model must be a str, not {type(model).__name__}")
    timeout = handlers.request_timeout
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise TypeError(f"request_timeout must be a number of seconds or None, not {type(timeout).__name__}")
    return engine.thread_start(
        cwd=None if cwd is None else str(cwd),
        model=model,
        approval_policy=approval_policy_name(approval_policy),
        sandbox=sandbox_name(sandbox),
        config_json=_config_json(config),
        max_queued_events=max_queued_events,
        raw_response_items=raw_response_items,
        handled=handlers.kinds(),
        request_timeout=None if timeout is None else float(timeout),
    )


@dataclass(frozen=True)
class _Handlers:
    """A thread's request handlers (see :mod:`codexrs.requests`)."""

    on_approval: ApprovalHandler | None
    on_request: RequestHandler | None
    request_timeout: float | None

    def kinds(self) -> list[str]:
        """The request kinds Python answers; codexrs denies the others at once."""
        kinds: list[str] = []
        if self.on_approval is not None or self.on_request is not None:
            kinds += ["exec", "patch"]
        if self.on_request is not None:
            kinds += ["permissions", "user_input", "elicitation", "dynamic_tool"]
        return kinds


class Thread:
    """A codex thread: a conversation with its own history, turns, approvals and rollout.

    Attributes:
        id: codex's thread id (a UUID string).
        session: The thread's resolved settings (codex ``session_configured``).
    """

    def __init__(self, codex: Codex, native: _native.ThreadHandle, handlers: _Handlers) -> None:
        self._codex = codex
        self._core = _ThreadCore(native, handlers.on_approval, handlers.on_request)
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
        on_request: RequestHandler | None = None,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
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
            on_approval: Called with each approval request (exec, patch); returns a decision
                (:mod:`codexrs.approvals`).
            on_request: Called with each request codex-core waits on (approvals, permission
                requests, user-input questions, MCP elicitations, dynamic tool calls; see
                :mod:`codexrs.requests`); returns the answer, or ``DEFER`` to answer later with
                :meth:`Thread.respond`. Answers approvals too unless ``on_approval`` is given.
                A kind with no handler is denied at once (fail closed).
            request_timeout: Seconds a request may wait for its answer before codexrs denies it
                (default 300; ``None``: wait forever).
            max_queued_events: Events codexrs holds for this thread before it stops pulling
                from codex-core (which then holds the rest): memory bound, never a drop.
            raw_response_items: Also deliver ``raw_response_item`` events (whole prompts).

        Raises:
            ConfigError: An unknown policy name (the message names the accepted ones) or a bad
                config value.
            TypeError: A policy or model that is not a string.
            EngineClosedError: ``close()`` was called.
        """
        handlers = _Handlers(on_approval, on_request, request_timeout)
        pending = _start_thread(
            self._engine, cwd, model, approval_policy, sandbox, config, handlers, max_queued_events, raw_response_items
        )
        thread = Thread(self, pending.wait(), handlers)
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


class AsyncThread:
    """A codex thread on an :class:`AsyncCodex`; see :class:`Thread`."""

    def __init__(self, codex: AsyncCodex, native: _native.ThreadHandle, handlers: _Handlers) -> None:
        self._codex = codex
        self._core = _ThreadCore(native, handlers.on_approval, handlers.on_request)
        self.id: str = native.id
        self.session = _session(native)

    async def turn(self, input: Input) -> AsyncTurnHandle:
        """Starts a turn; see :meth:`Thread.turn`."""
        await self._core.settle_async()
        return AsyncTurnHandle(self._core, await self._core.begin_async(input))

    async def run(self, input: Input) -> TurnResult:
        """Runs one turn to its end; raises :class:`TurnFailedError` if it failed."""
        return await (await self.turn(input)).run()

    async def respond(self, request: Request, answer: object) -> bool:
        """Answers a pending request; see :meth:`Thread.respond`. Never blocks the loop."""
        return await self._core.respond_async(request, answer)

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
        on_request: RequestHandler | None = None,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        max_queued_events: int = 4096,
        raw_response_items: bool = False,
    ) -> AsyncThread:
        """Starts a codex thread; see :meth:`Codex.thread_start`. Handlers may be async."""
        await self.start()
        assert self._engine is not None
        handlers = _Handlers(on_approval, on_request, request_timeout)
        native = await _await_pending(
            _start_thread(
                self._engine, cwd, model, approval_policy, sandbox, config, handlers, max_queued_events, raw_response_items
            )
        )
        thread = AsyncThread(self, native, handlers)
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

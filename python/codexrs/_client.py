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
from typing import Any, Mapping

from . import _native
from ._helper import helper_path
from ._options import ApprovalPolicy, SandboxMode, approval_policy_name, sandbox_name
from ._stream import AsyncTurnHandle, AsyncTurnStream, TurnHandle, TurnStream
from ._turn import Input, TurnResult, TurnStatus, Usage, _await_pending, _ThreadCore
from .approvals import ApprovalHandler
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

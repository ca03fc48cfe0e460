"""``Thread`` / ``AsyncThread``: one codex thread, and the options every way of loading one takes.

A thread is loaded by ``thread_start``, ``thread_resume`` or ``thread_fork`` (on ``Codex`` /
``AsyncCodex``, in :mod:`codexrs._engine`); all three take :class:`ThreadArgs`. Turns and their
streams are in :mod:`codexrs._stream`, the event state machine in :mod:`codexrs._turn`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import msgspec

from . import _native
from ._options import ApprovalPolicy, SandboxMode, approval_policy_name, sandbox_name
from ._store import StoredThread, stored_thread
from ._stream import AsyncTurnHandle, TurnHandle
from ._turn import Input, TurnResult, _await_pending, _ThreadCore
from .approvals import ApprovalHandler
from .errors import ConfigError, EngineClosedError
from .events import SessionConfigured
from .requests import Request, RequestHandler

if TYPE_CHECKING:
    from ._engine import AsyncCodex, Codex

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

    def handled(self) -> list[str]:
        """The request kinds Python answers; codexrs denies the others at once."""
        kinds: list[str] = []
        if self.on_approval is not None or self.on_request is not None:
            kinds += ["exec", "patch"]
        if self.on_request is not None:
            kinds += ["permissions", "user_input", "elicitation", "dynamic_tool"]
        return kinds

    def native(self) -> dict[str, Any]:
        """Keyword arguments of the native ``thread_start`` / ``thread_resume`` / ``thread_fork``.

        Raises:
            TypeError: A model, policy or timeout of the wrong type.
            ConfigError: A bad policy name or config value.
        """
        if self.model is not None and not isinstance(self.model, str):
            raise TypeError(f"model must be a str, not {type(self.model).__name__}")
        timeout = self.request_timeout
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
            raise TypeError(f"request_timeout must be a number of seconds or None, not {type(timeout).__name__}")
        return {
            "cwd": None if self.cwd is None else str(self.cwd),
            "model": self.model,
            "approval_policy": approval_policy_name(self.approval_policy),
            "sandbox": sandbox_name(self.sandbox),
            "config_json": config_json(self.config),
            "max_queued_events": self.max_queued_events,
            "raw_response_items": self.raw_response_items,
            "handled": self.handled(),
            "request_timeout": None if timeout is None else float(timeout),
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
        self._core = _ThreadCore(native, args.on_approval, args.on_request)
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

    def set_name(self, name: str) -> StoredThread:
        """Names the thread in codex's own metadata (what ``codex resume`` lists); returns the
        stored thread. Raises :class:`ConfigError` for an empty name."""
        return stored_thread(self._codex._native_engine().thread_set_name(self.id, _name(name)).wait())

    def info(self) -> StoredThread:
        """The thread as codex's store has it (name, preview, timestamps, rollout path)."""
        return stored_thread(self._codex._native_engine().thread_info(self.id).wait())

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


def _name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a thread name must be a str, not {type(name).__name__}")
    return name


class AsyncThread:
    """A codex thread on an :class:`AsyncCodex`; see :class:`Thread`."""

    def __init__(self, codex: AsyncCodex, native: _native.ThreadHandle, args: ThreadArgs) -> None:
        self._codex = codex
        self._core = _ThreadCore(native, args.on_approval, args.on_request)
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

    async def set_name(self, name: str) -> StoredThread:
        """Names the thread in codex's metadata; see :meth:`Thread.set_name`."""
        engine = await self._codex._native_engine()
        return stored_thread(await _await_pending(engine.thread_set_name(self.id, _name(name))))

    async def info(self) -> StoredThread:
        """The thread as codex's store has it; see :meth:`Thread.info`."""
        engine = await self._codex._native_engine()
        return stored_thread(await _await_pending(engine.thread_info(self.id)))

    async def close(self) -> None:
        """Shuts the thread down and waits for it (its rollout stays)."""
        self._codex._threads.pop(self.id, None)
        try:
            await _await_pending(self._core.native.shutdown())
        except EngineClosedError:
            pass

    async def __aenter__(self) -> AsyncThread:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

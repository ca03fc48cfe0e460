"""``Codex`` / ``AsyncCodex``: codex-core engines and the threads they load.

A thread comes from ``thread_start`` (new), ``thread_resume`` (stored: by this process, an
earlier one, or the ``codex`` CLI on the same ``codex_home``) or ``thread_fork`` (a stored
thread's history, as a new thread); ``thread_list`` / ``thread_archive`` / ``thread_unarchive``
work on codex's thread store. The twins differ only in how they wait: the sync side blocks in
Rust without the GIL, the async side awaits the engine's one wake-up descriptor
(``loop.add_reader``; :mod:`codexrs._core.wakeups`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import _native
from .account import Account, Model, account, models, rate_limit_snapshots, rate_limit_source
from .defaults import engine_config, raise_open_file_limit
from .helper import helper_path
from .options import ApprovalPolicy, SandboxMode, positive_seconds, timeout_seconds
from .rate_source import AsyncPollers, Pollers, SnapshotLike, SourceFn
from .store import StoredThread, ThreadPage, stored_thread, thread_page
from .thread import AsyncThread, Thread, ThreadArgs, config_json
from .pending import await_pending
from .wakeups import release
from ..approvals import ApprovalHandler
from ..hooks import Hook, checked_hooks
from ..logs import install as install_log_bridge
from ..errors import ThreadNotFoundError
from ..events import RateLimitSnapshot
from ..requests import DEFAULT_REQUEST_TIMEOUT, RequestHandler
from ..tools import Tool

__all__ = ["AsyncCodex", "Codex", "default_codex_home"]


def default_codex_home() -> Path:
    """Where codex itself keeps its home: ``$CODEX_HOME``, else ``~/.codex``."""
    env = os.environ.get("CODEX_HOME")
    return Path(env) if env else Path.home() / ".codex"


def _list_args(cwd: str | os.PathLike[str] | None, archived: bool, limit: int, cursor: str | None) -> dict[str, Any]:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise TypeError(f"limit must be a positive int, not {limit!r}")
    return {"cwd": None if cwd is None else str(cwd), "archived": bool(archived), "limit": limit, "cursor": cursor}


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
        hooks: Callables that see every event of every thread, in order, each as a
            :class:`~codexrs.HookEvent` (see :mod:`codexrs.hooks`); on :class:`AsyncCodex`
            they may be ``async``. A slow hook applies back-pressure; one that raises is logged.

    Two defaults differ from the ``codex`` CLI, for many threads in one process:
    ``features.shell_snapshot`` is off unless ``config`` or ``config.toml`` sets it (commands
    still run as login shells, seeing the user's profile; it is sourced per command instead of
    in a login shell per thread start), and the process's soft open-file limit is raised to
    its hard limit.

    Raises:
        ConfigError: codex rejected the config, or the helper executable is missing.
    """

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        hooks: Sequence[Hook] | None = None,
    ) -> None:
        home = Path(codex_home) if codex_home is not None else default_codex_home()
        self._hooks = checked_hooks(hooks, is_async=False)
        self._threads: dict[str, Thread] = {}
        self._pollers = Pollers()
        raise_open_file_limit()
        install_log_bridge()
        self._engine: _native.Engine = _native.Engine.start(
            str(home), None if cwd is None else str(cwd), config_json(engine_config(home, config), env), helper_path()
        ).wait()

    def _native_engine(self) -> _native.Engine:
        return self._engine

    def add_hook(self, hook: Hook) -> None:
        """Adds an event hook (see ``hooks``); it sees the events read from now on, of every
        thread, those already started included.

        Raises:
            TypeError, ConfigError: As for ``hooks``.
        """
        self._hooks.extend(checked_hooks([hook], is_async=False))

    def remove_hook(self, hook: Hook) -> None:
        """Removes an event hook; raises ``ValueError`` if it is not installed."""
        self._hooks.remove(hook)

    def _load(self, pending: _native.Pending, args: ThreadArgs) -> Thread:
        thread = Thread(self, pending.wait(), args)
        self._threads[thread.id] = thread
        return thread

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
        tools: Sequence[Tool] = (),
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
            tools: Python functions the model may call, made with :func:`codexrs.tool`
                (codex dynamic tools; codexrs answers their calls). A resumed or forked thread
                gets the specs back from its rollout: pass the same tools to answer the calls.

        Raises:
            ConfigError: An unknown policy name (the message names the accepted ones) or a bad
                config value.
            CredentialsError: The thread's model provider needs a credential and none was found
                (checked here, before any request; the rule is in the README's "Credentials"):
                the message names where codexrs looked and how to log in.
            TypeError: A policy, model or timeout of the wrong type.
            EngineClosedError: ``close()`` was called.
        """
        args = ThreadArgs(
            cwd, model, approval_policy, sandbox, config, on_approval, on_request, request_timeout,
            max_queued_events, raw_response_items, tools,
        )  # fmt: skip
        return self._load(self._engine.thread_start(**args.start_native(is_async=False)), args)

    def thread_resume(
        self,
        thread_id_or_rollout_path: str | os.PathLike[str],
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
        tools: Sequence[Tool] = (),
    ) -> Thread:
        """Loads a stored thread with its whole history (codex ``resume_thread_with_history``):
        its next turn's request to the model carries the earlier conversation. The thread may
        have been written by this process, an earlier one, or the ``codex`` CLI on the same
        ``codex_home``. Options as :meth:`thread_start`; given ones override the stored ones.
        A thread this ``Codex`` already has loaded is returned as it is.

        Raises:
            ThreadNotFoundError: No stored thread has this id, or the path is no file.
            RolloutError: The rollout is archived, empty or truncated, or not a codex rollout.
            CredentialsError: As for :meth:`thread_start`.
        """
        target = os.fspath(thread_id_or_rollout_path)
        if target in self._threads:
            return self._threads[target]
        args = ThreadArgs(
            cwd, model, approval_policy, sandbox, config, on_approval, on_request, request_timeout,
            max_queued_events, raw_response_items, tools,
        )  # fmt: skip
        return self._load(self._engine.thread_resume(target, **args.native()), args)

    def thread_fork(
        self,
        thread_id: str,
        *,
        up_to_turn: str | None = None,
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
        tools: Sequence[Tool] = (),
    ) -> Thread:
        """A new thread carrying ``thread_id``'s history (codex ``fork_thread_from_history``):
        all of it, or up to and including the turn ``up_to_turn`` (a ``TurnResult.id``). The
        parent and the fork then diverge. Options as :meth:`thread_start`.

        Raises:
            ThreadNotFoundError: No stored thread has this id.
            RolloutError: The parent's rollout is archived, empty or unreadable.
            ConfigError: ``up_to_turn`` names no turn of the parent.
            CredentialsError: As for :meth:`thread_start`.
        """
        args = ThreadArgs(
            cwd, model, approval_policy, sandbox, config, on_approval, on_request, request_timeout,
            max_queued_events, raw_response_items, tools,
        )  # fmt: skip
        return self._load(self._engine.thread_fork(thread_id, up_to_turn, **args.native()), args)

    def thread_list(
        self,
        *,
        cwd: str | os.PathLike[str] | None = None,
        archived: bool = False,
        limit: int = 25,
        cursor: str | None = None,
    ) -> ThreadPage:
        """Stored threads from codex's thread store, newest first: every source (codexrs, the
        ``codex`` CLI, ...) and provider; only those in ``cwd`` when given; archived ones
        instead of live ones when ``archived``. ``limit`` is clamped to 1..100; pass the page's
        ``next_cursor`` as ``cursor`` for the next page."""
        return thread_page(self._engine.thread_list(**_list_args(cwd, archived, limit, cursor)).wait())

    def thread_archive(self, thread_id: str) -> None:
        """Archives a stored thread (its rollout moves to ``archived_sessions/``), closing it
        first if it is loaded here. Raises :class:`ThreadNotFoundError` for an unknown id."""
        self._threads.pop(thread_id, None)
        self._engine.thread_archive(thread_id).wait()

    def thread_unarchive(self, thread_id: str) -> StoredThread:
        """Restores an archived thread and returns it as stored; ``thread_resume`` loads it.
        Raises :class:`ThreadNotFoundError` when no archived thread has this id."""
        return stored_thread(self._engine.thread_unarchive(thread_id).wait())

    def login_api_key(self, api_key: str) -> None:
        """Logs codex in with an OpenAI API key, stored in ``codex_home`` as ``codex login
        --with-api-key`` stores it (the ``codex`` CLI sees it too). Threads started after
        this use it. Raises :class:`ConfigError` for an empty key."""
        if not isinstance(api_key, str):
            raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
        self._engine.login_api_key(api_key).wait()

    def account(self) -> Account | None:
        """The account codex is logged in with (auth mode, email, plan), or ``None``."""
        return account(self._engine.account().wait())

    def logout(self) -> None:
        """Removes codex's login from ``codex_home`` (as ``codex logout``)."""
        self._engine.logout().wait()

    def models(self) -> list[Model]:
        """codex-core's model list (``ThreadManager::list_models``): the provider's, fetched
        once and cached, else codex's bundled catalogue."""
        return models(self._engine.models().wait())

    def rate_limits(self, refresh: bool = False) -> dict[str, RateLimitSnapshot]:
        """The engine's rate-limit snapshots: the latest real one per limit id (``source``
        ``"provider"``, with the thread and time it was observed), the registered source's
        (``"injected:<name>"``) and the last one fetched from codex's backend (key and source
        ``"backend"``). Empty until one of these exists.

        ``refresh=True`` first asks codex's backend for the account's current limits, as codex
        does (ChatGPT login only; one HTTP request).

        Raises:
            ConfigError: ``refresh`` without a ChatGPT login (an API key's limits come with
                each response).
            CodexError: The backend could not be reached or did not answer with usage.
        """
        if refresh:
            self._engine.fetch_rate_limits().wait()
        return rate_limit_snapshots(self._engine.rate_limits().wait())

    def set_rate_limit_source(self, name: str, source: SnapshotLike | SourceFn, *, refresh_s: float = 30.0) -> None:
        """Registers the host's own rate limits as source ``name``: ``token_count`` events
        that carry no snapshot get its latest, marked ``source="injected:<name>"`` with
        ``observed_at`` (when it arrived).

        ``source`` is a snapshot (a :class:`~codexrs.events.RateLimitSnapshot` or its dict; a
        fixed one, e.g. in tests), ``None`` (removes the source), or a callable returning one
        (e.g. a client of the host's quota service): it is called now (its error raises here),
        then every ``refresh_s`` seconds on a daemon thread; a later error is logged and the
        last snapshot stays (its ``observed_at`` shows its age).
        """
        self._pollers.stop(name)
        if callable(source):
            self._pollers.start(name, source, self._push_rate_limits, positive_seconds("refresh_s", refresh_s))
        else:
            self._push_rate_limits(name, source)

    def _push_rate_limits(self, name: str, snapshot: SnapshotLike) -> None:
        self._engine.set_rate_limit_source(*rate_limit_source(name, snapshot))

    def thread(self, thread_id: str) -> Thread:
        """The loaded thread with this id.

        Raises:
            ThreadNotFoundError: No such thread in this Codex.
        """
        try:
            return self._threads[thread_id]
        except KeyError:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in this Codex") from None

    def close(self, timeout: float | None = 10.0) -> None:
        """Shuts every thread down (waiting at most ``timeout`` seconds; ``None`` or ``inf``: no
        limit). Idempotent.

        Raises:
            TypeError: ``timeout`` is not a number or ``None``.
            ConfigError: ``timeout`` is NaN or negative.
        """
        timeout = timeout_seconds("timeout", timeout)
        self._pollers.stop_all()
        if not self._engine.closed:
            self._threads.clear()
            self._engine.close(timeout).wait()

    def __enter__(self) -> Codex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncCodex:
    """The asyncio twin of :class:`Codex` (same arguments and methods). Start it with
    ``async with`` or ``await codex.start()``; methods start it on first use."""

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        hooks: Sequence[Hook] | None = None,
    ) -> None:
        self._hooks = checked_hooks(hooks, is_async=True)
        self._home = Path(codex_home) if codex_home is not None else default_codex_home()
        self._cwd = None if cwd is None else str(cwd)
        self._config = config_json(engine_config(self._home, config), env)
        self._engine: _native.Engine | None = None
        self._threads: dict[str, AsyncThread] = {}
        self._pollers = AsyncPollers()

    async def start(self) -> AsyncCodex:
        """Starts the engine (idempotent)."""
        if self._engine is None:
            raise_open_file_limit()
            install_log_bridge()
            self._engine = await await_pending(
                _native.Engine.start(str(self._home), self._cwd, self._config, helper_path())
            )
        return self

    async def _native_engine(self) -> _native.Engine:
        await self.start()
        assert self._engine is not None
        return self._engine

    def add_hook(self, hook: Hook) -> None:
        """Adds an event hook (sync or ``async``); see :meth:`Codex.add_hook`."""
        self._hooks.extend(checked_hooks([hook], is_async=True))

    def remove_hook(self, hook: Hook) -> None:
        """Removes an event hook; raises ``ValueError`` if it is not installed."""
        self._hooks.remove(hook)

    async def _load(self, pending: _native.Pending, args: ThreadArgs) -> AsyncThread:
        thread = AsyncThread(self, await await_pending(pending), args)
        self._threads[thread.id] = thread
        return thread

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
        tools: Sequence[Tool] = (),
    ) -> AsyncThread:
        """Starts a codex thread; see :meth:`Codex.thread_start`. Handlers may be async."""
        args = ThreadArgs(
            cwd, model, approval_policy, sandbox, config, on_approval, on_request, request_timeout,
            max_queued_events, raw_response_items, tools,
        )  # fmt: skip
        native = args.start_native(is_async=True)
        return await self._load((await self._native_engine()).thread_start(**native), args)

    async def thread_resume(
        self,
        thread_id_or_rollout_path: str | os.PathLike[str],
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
        tools: Sequence[Tool] = (),
    ) -> AsyncThread:
        """Loads a stored thread with its history; see :meth:`Codex.thread_resume`."""
        target = os.fspath(thread_id_or_rollout_path)
        if target in self._threads:
            return self._threads[target]
        args = ThreadArgs(
            cwd, model, approval_policy, sandbox, config, on_approval, on_request, request_timeout,
            max_queued_events, raw_response_items, tools,
        )  # fmt: skip
        native = args.native()
        return await self._load((await self._native_engine()).thread_resume(target, **native), args)

    async def thread_fork(
        self,
        thread_id: str,
        *,
        up_to_turn: str | None = None,
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
        tools: Sequence[Tool] = (),
    ) -> AsyncThread:
        """A new thread with ``thread_id``'s history; see :meth:`Codex.thread_fork`."""
        args = ThreadArgs(
            cwd, model, approval_policy, sandbox, config, on_approval, on_request, request_timeout,
            max_queued_events, raw_response_items, tools,
        )  # fmt: skip
        native = args.native()
        return await self._load((await self._native_engine()).thread_fork(thread_id, up_to_turn, **native), args)

    async def thread_list(
        self,
        *,
        cwd: str | os.PathLike[str] | None = None,
        archived: bool = False,
        limit: int = 25,
        cursor: str | None = None,
    ) -> ThreadPage:
        """Stored threads, newest first; see :meth:`Codex.thread_list`."""
        engine = await self._native_engine()
        return thread_page(await await_pending(engine.thread_list(**_list_args(cwd, archived, limit, cursor))))

    async def thread_archive(self, thread_id: str) -> None:
        """Archives a stored thread; see :meth:`Codex.thread_archive`."""
        engine = await self._native_engine()
        self._threads.pop(thread_id, None)
        await await_pending(engine.thread_archive(thread_id))

    async def thread_unarchive(self, thread_id: str) -> StoredThread:
        """Restores an archived thread; see :meth:`Codex.thread_unarchive`."""
        engine = await self._native_engine()
        return stored_thread(await await_pending(engine.thread_unarchive(thread_id)))

    async def login_api_key(self, api_key: str) -> None:
        """Logs codex in with an API key; see :meth:`Codex.login_api_key`."""
        if not isinstance(api_key, str):
            raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
        await await_pending((await self._native_engine()).login_api_key(api_key))

    async def account(self) -> Account | None:
        """The logged-in account, or ``None``; see :meth:`Codex.account`."""
        return account(await await_pending((await self._native_engine()).account()))

    async def logout(self) -> None:
        """Removes codex's login; see :meth:`Codex.logout`."""
        await await_pending((await self._native_engine()).logout())

    async def models(self) -> list[Model]:
        """codex-core's model list; see :meth:`Codex.models`."""
        return models(await await_pending((await self._native_engine()).models()))

    async def rate_limits(self, refresh: bool = False) -> dict[str, RateLimitSnapshot]:
        """The engine's rate-limit snapshots; see :meth:`Codex.rate_limits`."""
        engine = await self._native_engine()
        if refresh:
            await await_pending(engine.fetch_rate_limits())
        return rate_limit_snapshots(await await_pending(engine.rate_limits()))

    async def set_rate_limit_source(self, name: str, source: SnapshotLike | SourceFn, *, refresh_s: float = 30.0) -> None:
        """Registers the host's rate-limit source; see :meth:`Codex.set_rate_limit_source`.
        A callable source may be async; a plain one is called in a worker thread."""
        engine = await self._native_engine()

        def push(name: str, snapshot: SnapshotLike) -> None:
            engine.set_rate_limit_source(*rate_limit_source(name, snapshot))

        self._pollers.stop(name)
        if callable(source):
            await self._pollers.start(name, source, push, positive_seconds("refresh_s", refresh_s))
        else:
            push(name, source)

    def thread(self, thread_id: str) -> AsyncThread:
        """The loaded thread with this id; raises :class:`ThreadNotFoundError`."""
        try:
            return self._threads[thread_id]
        except KeyError:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in this AsyncCodex") from None

    async def close(self, timeout: float | None = 10.0) -> None:
        """Shuts every thread down (at most ``timeout`` seconds; ``None``: no limit). Idempotent."""
        timeout = timeout_seconds("timeout", timeout)
        self._pollers.stop_all()
        if self._engine is not None and not self._engine.closed:
            self._threads.clear()
            await await_pending(self._engine.close(timeout))
            release(self._engine.wakeups())

    async def __aenter__(self) -> AsyncCodex:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

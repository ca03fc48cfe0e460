"""``Codex`` / ``AsyncCodex``: codex-core engines and the threads they load.

A thread comes from ``thread_start`` (new), ``thread_resume`` (stored: by this process, an
earlier one, or the ``codex`` CLI on the same ``codex_home``) or ``thread_fork`` (a stored
thread's history, as a new thread); ``thread_list`` / ``thread_archive`` / ``thread_unarchive``
work on codex's thread store.

The twins are written once (:mod:`codexrs._core.engine_base`): each method here prepares its
operation there and only chooses how to wait on it, the sync side blocking in Rust without the
GIL, the async side awaiting the operation's descriptor.
"""

from __future__ import annotations

import os
from typing import Unpack

from .account import Account, Model
from .engine_base import EngineBase, EngineOps, default_codex_home
from .login import AsyncChatgptLogin, AsyncDeviceCodeLogin, ChatgptLogin, DeviceCodeLogin
from .options import ThreadArgs, ThreadOptions
from .rate_source import SnapshotLike, SourceFn
from .store import ThreadPage
from .thread import AsyncThread, Thread
from ..events import RateLimitSnapshot

__all__ = ["AsyncCodex", "Codex", "default_codex_home"]


class Codex(EngineBase[Thread]):
    """codex-core running in this process: one ``ThreadManager`` and its threads.

    Args:
        codex_home: codex's home (config.toml, auth, rollouts, state db). Defaults to
            ``$CODEX_HOME`` or ``~/.codex``, so a ``codex login`` works.
        cwd: Default working directory of threads.
        config: codex config overrides, dotted keys as with ``codex -c``
            (``{"model": "gpt-5.5", "model_providers.mock.base_url": ...}``); values JSON-like.
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

    _is_async = False
    _thread_type = Thread

    def start(self) -> Codex:
        """The engine, started (a ``Codex`` starts when made; the twin of
        :meth:`AsyncCodex.start`)."""
        return self

    def thread_start(self, **options: Unpack[ThreadOptions]) -> Thread:
        """Starts a codex thread.

        Args:
            **options: The thread's options, each documented on :class:`~codexrs.ThreadOptions`:
                ``cwd``, ``model``, ``approval_policy``, ``sandbox``, ``config``,
                ``on_approval``, ``on_request``, ``request_timeout`` (default 300 seconds),
                ``max_queued_events`` (default 4096), ``raw_response_items``, ``tools``.

        Raises:
            ConfigError: An unknown policy name (the message names the accepted ones) or a bad
                config value.
            CredentialsError: The thread's model provider needs a credential and none was found
                (checked here, before any request; the rule is in the README's "Credentials"):
                the message names where codexrs looked and how to log in.
            TypeError: An option :class:`~codexrs.ThreadOptions` does not have, or a policy,
                model or timeout of the wrong type.
            EngineClosedError: ``close()`` was called.
        """
        return self._ops.thread_start(ThreadArgs.of("thread_start", options)).wait()

    def thread_resume(
        self, thread_id_or_rollout_path: str | os.PathLike[str], **options: Unpack[ThreadOptions]
    ) -> Thread:
        """Loads a stored thread with its whole history (codex ``resume_thread_with_history``):
        its next turn's request to the model carries the earlier conversation. The thread may
        have been written by this process, an earlier one, or the ``codex`` CLI on the same
        ``codex_home``. Options as :meth:`thread_start`; given ones override the stored ones.
        A thread this ``Codex`` already has loaded is returned as it is.

        Raises:
            ThreadNotFoundError: No stored thread has this id, or the path is no file.
            RolloutError: The rollout is archived, empty or truncated, or not a codex rollout.
            CredentialsError, ConfigError, TypeError: As for :meth:`thread_start`.
        """
        args, target = ThreadArgs.of("thread_resume", options), os.fspath(thread_id_or_rollout_path)
        if target in self._threads:
            return self._threads[target]
        return self._ops.thread_resume(target, args).wait()

    def thread_fork(
        self, thread_id: str, *, up_to_turn: str | None = None, **options: Unpack[ThreadOptions]
    ) -> Thread:
        """A new thread carrying ``thread_id``'s history (codex ``fork_thread_from_history``):
        all of it, or up to and including the turn ``up_to_turn`` (a ``TurnResult.id``). The
        parent and the fork then diverge. Options as :meth:`thread_start`.

        Raises:
            ThreadNotFoundError: No stored thread has this id.
            RolloutError: The parent's rollout is archived, empty or unreadable.
            ConfigError: ``up_to_turn`` names no turn of the parent.
            CredentialsError, TypeError: As for :meth:`thread_start`.
        """
        return self._ops.thread_fork(thread_id, up_to_turn, ThreadArgs.of("thread_fork", options)).wait()

    def thread_list(
        self, *, cwd: str | os.PathLike[str] | None = None, archived: bool = False, limit: int = 25, cursor: str | None = None
    ) -> ThreadPage:
        """Stored threads from codex's thread store, newest first: every source (codexrs, the
        ``codex`` CLI, ...) and provider; only those in ``cwd`` when given; archived ones
        instead of live ones when ``archived``. Pass the page's ``next_cursor`` as ``cursor``
        for the next page. Pages follow codex's state database, by creation time in
        milliseconds (codex keeps no tie-breaker): of two threads created in the same
        millisecond on either side of a page's end, the next page misses the second.

        Args:
            limit: The most threads on a page; more than 100 is taken as 100.

        Raises:
            TypeError: ``limit`` is not an int.
            ConfigError: ``limit`` is less than 1.
        """
        return self._ops.thread_list(cwd, archived, limit, cursor).wait()

    def thread_archive(self, thread_id: str) -> None:
        """Archives a stored thread (its rollout moves to ``archived_sessions/``), closing it
        first if it is loaded here. Raises :class:`ThreadNotFoundError` for an unknown id."""
        self._ops.thread_archive(thread_id).wait()

    def thread_unarchive(self, thread_id: str) -> Thread:
        """Restores an archived thread and loads it, as :meth:`thread_resume` with no options
        would (as openai-codex does); ``thread.info()`` gives it as stored.

        Raises:
            ThreadNotFoundError: No archived thread has this id.
            CredentialsError: As for :meth:`thread_start`.
        """
        self._ops.thread_unarchive(thread_id).wait()
        return self.thread_resume(thread_id)

    def login_api_key(self, api_key: str) -> None:
        """Logs codex in with an OpenAI API key, stored in ``codex_home`` as ``codex login
        --with-api-key`` stores it (the ``codex`` CLI sees it too). Threads started after
        this use it. Raises :class:`ConfigError` for an empty key, ``TypeError`` for no str."""
        self._ops.login_api_key(api_key).wait()

    def login_chatgpt(self, *, open_browser: bool = False, issuer: str | None = None) -> ChatgptLogin:
        """Starts codex's browser login with a ChatGPT plan (what ``codex login`` does) and
        returns at once: open the handle's ``auth_url`` in a browser on this machine, then
        ``wait()`` for the account. A callback server with PKCE listens on 127.0.0.1 (port
        1455, else 1457, as codex binds it; a login already waiting there, from codexrs or the
        ``codex`` CLI, is cancelled, as ``codex login`` does). On success codex stores the
        login in ``codex_home`` as ``codex login`` does (the ``codex`` CLI sees it too), and
        threads started after it use it; a failed login stores nothing.

        Args:
            open_browser: Also open ``auth_url`` in this machine's browser.
            issuer: The OAuth issuer's base URL (default codex's, ``https://auth.openai.com``):
                for tests (a :class:`codexrs.testing.ScriptedIssuer`) and private deployments.

        Returns:
            The login in progress (a context manager: leaving it cancels a login not ended).

        Raises:
            LoginError: The callback server could not listen (ports 1455 and 1457 taken), or
                the config forbids a ChatGPT login (``forced_login_method = "api"``).
            ConfigError: ``issuer`` is not an http(s) URL.
            TypeError: ``open_browser`` is not a bool, or ``issuer`` not a str.
        """
        return self._ops.login_chatgpt(open_browser, issuer, ChatgptLogin).wait()

    def login_chatgpt_device_code(self, *, issuer: str | None = None) -> DeviceCodeLogin:
        """Starts codex's device-code login with a ChatGPT plan (``codex login --device-auth``),
        for a machine without a browser: the handle's ``verification_url`` and ``user_code``
        are shown to the user, who enters the code on any device; ``wait()`` returns the
        account once codex has stored the login in ``codex_home``.

        Args:
            issuer: The OAuth issuer's base URL; see :meth:`login_chatgpt`.

        Returns:
            The login in progress (a context manager: leaving it cancels a login not ended).

        Raises:
            LoginError: The issuer is unreachable, answered garbage, or has device-code login
                disabled; or the config forbids a ChatGPT login.
            ConfigError: ``issuer`` is not an http(s) URL.
            TypeError: ``issuer`` is not a str.
        """
        return self._ops.login_chatgpt_device_code(issuer, DeviceCodeLogin).wait()

    def account(self) -> Account | None:
        """The account codex is logged in with (auth mode, email, plan), or ``None``."""
        return self._ops.account().wait()

    def logout(self) -> None:
        """Removes codex's login from ``codex_home`` (as ``codex logout``)."""
        self._ops.logout().wait()

    def models(self) -> list[Model]:
        """codex-core's model list (``ThreadManager::list_models``): the provider's, fetched
        once and cached, else codex's bundled catalogue."""
        return self._ops.models().wait()

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
            self._ops.fetch_rate_limits().wait()
        return self._ops.rate_limits().wait()

    def set_rate_limit_source(self, name: str, source: SnapshotLike | SourceFn, *, refresh_s: float = 30.0) -> None:
        """Registers the host's own rate limits as source ``name``: ``token_count`` events
        that carry no snapshot get its latest, marked ``source="injected:<name>"`` with
        ``observed_at`` (when it arrived).

        ``source`` is a snapshot (a :class:`~codexrs.events.RateLimitSnapshot` or its dict; a
        fixed one, e.g. in tests), ``None`` (removes the source), or a callable returning one
        (e.g. a client of the host's quota service; on :class:`AsyncCodex` it may be async, a
        plain one is called in a worker thread): it is called now (its error raises here), then
        every ``refresh_s`` seconds off the engine's threads; a later error is logged and the
        last snapshot stays (its ``observed_at`` shows its age).

        Raises:
            TypeError: ``name`` is empty or not a str, or a snapshot of another type.
            ConfigError: ``refresh_s`` is not a positive, finite number of seconds.
        """
        if (poll := self._rate_source(name, source, refresh_s)) is not None:
            self._pollers.start(*poll)

    def close(self, timeout: float | None = 10.0) -> None:
        """Shuts every thread down (waiting at most ``timeout`` seconds; ``None`` or ``inf``: no
        limit). Idempotent.

        Raises:
            TypeError: ``timeout`` is not a number or ``None``.
            ConfigError: ``timeout`` is NaN or negative.
        """
        if (closing := self._closing(timeout)) is not None:
            closing.wait()

    def __enter__(self) -> Codex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncCodex(EngineBase[AsyncThread]):
    """The asyncio twin of :class:`Codex` (same arguments and methods). Start it with
    ``async with`` or ``await codex.start()``; methods start it on first use."""

    _is_async = True
    _thread_type = AsyncThread

    async def _ops_async(self) -> EngineOps[AsyncThread]:
        return self._running or await self._starting().wait_async()

    async def start(self) -> AsyncCodex:
        """Starts the engine (idempotent)."""
        await self._ops_async()
        return self

    async def thread_start(self, **options: Unpack[ThreadOptions]) -> AsyncThread:
        """Starts a codex thread; see :meth:`Codex.thread_start`. Handlers may be async."""
        args = ThreadArgs.of("thread_start", options)
        return await (await self._ops_async()).thread_start(args).wait_async()

    async def thread_resume(
        self, thread_id_or_rollout_path: str | os.PathLike[str], **options: Unpack[ThreadOptions]
    ) -> AsyncThread:
        """Loads a stored thread with its history; see :meth:`Codex.thread_resume`."""
        args, target = ThreadArgs.of("thread_resume", options), os.fspath(thread_id_or_rollout_path)
        if target in self._threads:
            return self._threads[target]
        return await (await self._ops_async()).thread_resume(target, args).wait_async()

    async def thread_fork(
        self, thread_id: str, *, up_to_turn: str | None = None, **options: Unpack[ThreadOptions]
    ) -> AsyncThread:
        """A new thread with ``thread_id``'s history; see :meth:`Codex.thread_fork`."""
        args = ThreadArgs.of("thread_fork", options)
        return await (await self._ops_async()).thread_fork(thread_id, up_to_turn, args).wait_async()

    async def thread_list(
        self, *, cwd: str | os.PathLike[str] | None = None, archived: bool = False, limit: int = 25, cursor: str | None = None
    ) -> ThreadPage:
        """Stored threads, newest first; see :meth:`Codex.thread_list`."""
        return await (await self._ops_async()).thread_list(cwd, archived, limit, cursor).wait_async()

    async def thread_archive(self, thread_id: str) -> None:
        """Archives a stored thread; see :meth:`Codex.thread_archive`."""
        await (await self._ops_async()).thread_archive(thread_id).wait_async()

    async def thread_unarchive(self, thread_id: str) -> AsyncThread:
        """Restores an archived thread and loads it; see :meth:`Codex.thread_unarchive`."""
        await (await self._ops_async()).thread_unarchive(thread_id).wait_async()
        return await self.thread_resume(thread_id)

    async def login_api_key(self, api_key: str) -> None:
        """Logs codex in with an API key; see :meth:`Codex.login_api_key`."""
        await (await self._ops_async()).login_api_key(api_key).wait_async()

    async def login_chatgpt(self, *, open_browser: bool = False, issuer: str | None = None) -> AsyncChatgptLogin:
        """Starts codex's browser login with a ChatGPT plan; see :meth:`Codex.login_chatgpt`."""
        ops = await self._ops_async()
        return await ops.login_chatgpt(open_browser, issuer, AsyncChatgptLogin).wait_async()

    async def login_chatgpt_device_code(self, *, issuer: str | None = None) -> AsyncDeviceCodeLogin:
        """Starts codex's device-code login; see :meth:`Codex.login_chatgpt_device_code`."""
        return await (await self._ops_async()).login_chatgpt_device_code(issuer, AsyncDeviceCodeLogin).wait_async()

    async def account(self) -> Account | None:
        """The logged-in account, or ``None``; see :meth:`Codex.account`."""
        return await (await self._ops_async()).account().wait_async()

    async def logout(self) -> None:
        """Removes codex's login; see :meth:`Codex.logout`."""
        await (await self._ops_async()).logout().wait_async()

    async def models(self) -> list[Model]:
        """codex-core's model list; see :meth:`Codex.models`."""
        return await (await self._ops_async()).models().wait_async()

    async def rate_limits(self, refresh: bool = False) -> dict[str, RateLimitSnapshot]:
        """The engine's rate-limit snapshots; see :meth:`Codex.rate_limits`."""
        ops = await self._ops_async()
        if refresh:
            await ops.fetch_rate_limits().wait_async()
        return await ops.rate_limits().wait_async()

    async def set_rate_limit_source(
        self, name: str, source: SnapshotLike | SourceFn, *, refresh_s: float = 30.0
    ) -> None:
        """Registers the host's rate-limit source; see :meth:`Codex.set_rate_limit_source`."""
        await self._ops_async()
        if (poll := self._rate_source(name, source, refresh_s)) is not None:
            await self._pollers.start_async(*poll)

    async def close(self, timeout: float | None = 10.0) -> None:
        """Shuts every thread down (at most ``timeout`` seconds; ``None``: no limit); see
        :meth:`Codex.close`. Idempotent."""
        if (closing := self._closing(timeout)) is not None:
            await closing.wait_async()

    async def __aenter__(self) -> AsyncCodex:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

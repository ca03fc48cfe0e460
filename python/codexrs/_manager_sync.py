"""The sync twin of :class:`~codexrs.AsyncManager`."""

from __future__ import annotations

import asyncio
import builtins
import os
import threading
from typing import Any, Coroutine, Mapping, Sequence, TypeVar

from ._manager_types import ManagerUsage, ThreadStatus
from ._rate_source import SnapshotLike, SourceFn
from ._turn import Input, TurnResult
from .events import RateLimitSnapshot
from .hooks import Hook
from .manager import AsyncManager, ManagedThread

__all__ = ["Manager"]

_T = TypeVar("_T")


class Manager:
    """The sync twin of :class:`AsyncManager`: the same arguments and methods, blocking.

    It runs an :class:`AsyncManager` on an event loop in a thread of its own, so turns run and
    handlers are called there while the caller's thread waits only in the methods that wait
    (``create``, ``wait``, ...). A context manager; :meth:`close` stops the loop and its thread.
    """

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        max_running_turns: int | None = None,
        group_limits: Mapping[str, int] | None = None,
        idle_timeout: float | None = None,
        rate_limit_threshold: float | None = None,
        rate_limit_requeues: int = 3,
        rate_limit_backoff: float = 60.0,
        thread_options: Mapping[str, Any] | None = None,
        hooks: Sequence[Hook] | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner = threading.Thread(target=self._loop.run_forever, name="codexrs-manager", daemon=True)
        self._runner.start()

        async def make() -> AsyncManager:
            manager = AsyncManager(
                codex_home, cwd, config, env, max_running_turns=max_running_turns, group_limits=group_limits,
                idle_timeout=idle_timeout, rate_limit_threshold=rate_limit_threshold,
                rate_limit_requeues=rate_limit_requeues, rate_limit_backoff=rate_limit_backoff,
                thread_options=thread_options, hooks=hooks,
            )
            return await manager.__aenter__()

        try:
            self._async = self._call(make())
        except BaseException:
            self._stop()
            raise

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._runner.join()
        self._loop.close()

    def create(self, name: str | None = None, *, group: str | None = None, **thread_options: Any) -> ManagedThread:
        """See :meth:`AsyncManager.create`."""
        return self._call(self._async.create(name, group=group, **thread_options))

    def resume(self, name_or_id: str, *, group: str | None = None, **thread_options: Any) -> ManagedThread:
        """See :meth:`AsyncManager.resume`."""
        return self._call(self._async.resume(name_or_id, group=group, **thread_options))

    def remove(self, name_or_id: str) -> None:
        """See :meth:`AsyncManager.remove`."""
        self._call(self._async.remove(name_or_id))

    def add_hook(self, hook: Hook) -> None:
        """See :meth:`AsyncManager.add_hook` (hooks run in the manager's own thread)."""
        self._async.add_hook(hook)

    def remove_hook(self, hook: Hook) -> None:
        """See :meth:`AsyncManager.remove_hook`."""
        self._async.remove_hook(hook)

    def get(self, name_or_id: str) -> ManagedThread:
        """See :meth:`AsyncManager.get`."""
        return self._async.get(name_or_id)

    def list(self, group: str | None = None) -> builtins.list[ManagedThread]:
        """See :meth:`AsyncManager.list`."""
        return self._async.list(group)

    def status(self, name_or_id: str) -> ThreadStatus:
        """See :meth:`AsyncManager.status`."""
        return self._async.status(name_or_id)

    def last_message(self, name_or_id: str) -> str | None:
        """See :meth:`AsyncManager.last_message`."""
        return self._async.last_message(name_or_id)

    def send(self, name_or_id: str, input: Input, **turn_options: Any) -> None:
        """See :meth:`AsyncManager.send`: returns once the turn is queued."""
        self._call(self._async.send(name_or_id, input, **turn_options))

    def interrupt(self, name_or_id: str) -> bool:
        """See :meth:`AsyncManager.interrupt`."""
        return self._call(self._async.interrupt(name_or_id))

    def wait(self, name_or_id: str, timeout: float | None = None) -> TurnResult:
        """See :meth:`AsyncManager.wait`."""
        return self._call(self._async.wait(name_or_id, timeout))

    def wait_all(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> dict[str, TurnResult]:
        """See :meth:`AsyncManager.wait_all`."""
        return self._call(self._async.wait_all(names, timeout))

    def wait_any(self, names: builtins.list[str] | None = None, timeout: float | None = None) -> tuple[str, TurnResult]:
        """See :meth:`AsyncManager.wait_any`."""
        return self._call(self._async.wait_any(names, timeout))

    def usage(self, name_or_id: str | None = None, *, group: str | None = None) -> ManagerUsage:
        """See :meth:`AsyncManager.usage`."""
        return self._async.usage(name_or_id, group=group)

    def rate_limits(self, refresh: bool = False) -> dict[str, RateLimitSnapshot]:
        """See :meth:`AsyncManager.rate_limits`."""
        return self._call(self._async.rate_limits(refresh))

    def set_rate_limit_source(self, name: str, source: SnapshotLike | SourceFn, *, refresh_s: float = 30.0) -> None:
        """See :meth:`AsyncManager.set_rate_limit_source` (a callable source may be async: it
        runs on the manager's loop)."""
        self._call(self._async.set_rate_limit_source(name, source, refresh_s=refresh_s))

    @property
    def peak_running(self) -> int:
        """The most turns that ever ran at once."""
        return self._async.peak_running

    def close(self, timeout: float = 10.0) -> None:
        """See :meth:`AsyncManager.close`; then stops the manager's loop thread. Idempotent."""
        if self._loop.is_closed():
            return
        try:
            self._call(self._async.close(timeout))
        finally:
            self._stop()

    def __enter__(self) -> Manager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

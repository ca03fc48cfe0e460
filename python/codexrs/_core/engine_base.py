"""What ``Codex`` and ``AsyncCodex`` (:mod:`codexrs._core.engine`) share, written once.

:class:`EngineBase` holds their arguments, hooks, loaded threads and rate-limit pollers;
:class:`EngineOps` prepares each operation of a started engine (checks its arguments, starts the
native call) as a :class:`~codexrs._core.pending.Call`. A twin method only waits on that call:
the sync side blocks in Rust without the GIL, the async side awaits the operation's descriptor
(:mod:`codexrs._core.pending`), the pattern of httpx's shared base client.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, ClassVar, Generic, Mapping, NamedTuple, Sequence, TypeVar

from .. import _native
from .account import Account, Model, account, models, rate_limit_snapshots, rate_limit_source
from .defaults import engine_config, raise_open_file_limit
from .helper import helper_path
from .options import ThreadArgs, config_json, positive_int, positive_seconds, timeout_seconds
from .owner import ThreadOwner
from .pending import Call
from .rate_source import Pollers, Push, SnapshotLike, SourceFn
from .store import ThreadPage, thread_page
from .thread import AsyncThread, Thread
from .wakeups import Dispatcher, dispatcher_for, release
from ..hooks import Hook, checked_hooks
from ..logs import install as install_log_bridge
from ..errors import ThreadNotFoundError
from ..events import RateLimitSnapshot

__all__ = ["EngineBase", "EngineOps", "default_codex_home"]

ThreadT = TypeVar("ThreadT", Thread, AsyncThread)
LoginT = TypeVar("LoginT")
Adopt = Callable[[_native.ThreadHandle, ThreadArgs], ThreadT]
"""Makes a loaded thread of a native handle and its options, and records it in its engine."""


def default_codex_home() -> Path:
    """Where codex itself keeps its home: ``$CODEX_HOME``, else ``~/.codex``."""
    env = os.environ.get("CODEX_HOME")
    return Path(env) if env else Path.home() / ".codex"


def _nothing(raw: object) -> None:
    return None


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _issuer(issuer: object) -> str | None:
    """A login's OAuth issuer: ``None`` (codex's) or a base URL (checked in Rust: http(s))."""
    if issuer is not None and not isinstance(issuer, str):
        raise TypeError(f"issuer must be a str (a base URL) or None, not {type(issuer).__name__}")
    return issuer


class Poll(NamedTuple):
    """How to poll a callable rate-limit source (:class:`Pollers`' ``start`` arguments)."""

    name: str
    source: SourceFn
    push: Push
    refresh_s: float


class EngineOps(Generic[ThreadT]):
    """A started engine's operations, each prepared once: arguments checked, the native call
    started, and how its result becomes the public value (a :class:`Call`)."""

    __slots__ = ("_adopt", "_is_async", "native", "owner")

    def __init__(self, owner: ThreadOwner, adopt: Adopt[ThreadT], is_async: bool) -> None:
        self.owner = owner
        self.native = owner.native
        self._adopt: Adopt[ThreadT] = adopt
        self._is_async = is_async

    def _loading(self, pending: _native.Pending, args: ThreadArgs) -> Call[ThreadT]:
        return Call(pending, lambda handle: self._adopt(handle, args))

    def thread_start(self, args: ThreadArgs) -> Call[ThreadT]:
        return self._loading(self.native.thread_start(**args.start_native(is_async=self._is_async)), args)

    def thread_resume(self, target: str, args: ThreadArgs) -> Call[ThreadT]:
        return self._loading(self.native.thread_resume(target, **args.native()), args)

    def thread_fork(self, thread_id: str, up_to_turn: str | None, args: ThreadArgs) -> Call[ThreadT]:
        return self._loading(self.native.thread_fork(thread_id, up_to_turn, **args.native()), args)

    def thread_list(
        self, cwd: str | os.PathLike[str] | None, archived: bool, limit: int, cursor: str | None
    ) -> Call[ThreadPage]:
        where, size = None if cwd is None else str(cwd), min(positive_int("limit", limit), 100)
        return Call(self.native.thread_list(where, bool(archived), size, cursor), thread_page)

    def thread_archive(self, thread_id: str) -> Call[None]:
        self.owner.forget(thread_id)
        return Call(self.native.thread_archive(thread_id), _nothing)

    def thread_unarchive(self, thread_id: str) -> Call[None]:
        return Call(self.native.thread_unarchive(thread_id), _nothing)

    def login_api_key(self, api_key: str) -> Call[None]:
        if not isinstance(api_key, str):
            raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
        return Call(self.native.login_api_key(api_key), _nothing)

    def login_chatgpt(self, open_browser: bool, issuer: str | None, handle: Callable[[_native.Login], LoginT]) -> Call[LoginT]:
        return Call(self.native.login_chatgpt(_flag("open_browser", open_browser), _issuer(issuer)), handle)

    def login_chatgpt_device_code(self, issuer: str | None, handle: Callable[[_native.Login], LoginT]) -> Call[LoginT]:
        return Call(self.native.login_chatgpt_device_code(_issuer(issuer)), handle)

    def account(self) -> Call[Account | None]:
        return Call(self.native.account(), account)

    def logout(self) -> Call[None]:
        return Call(self.native.logout(), _nothing)

    def models(self) -> Call[list[Model]]:
        return Call(self.native.models(), models)

    def rate_limits(self) -> Call[dict[str, RateLimitSnapshot]]:
        return Call(self.native.rate_limits(), rate_limit_snapshots)

    def fetch_rate_limits(self) -> Call[None]:
        return Call(self.native.fetch_rate_limits(), _nothing)

    def push_rate_limits(self, name: str, snapshot: SnapshotLike) -> None:
        self.native.set_rate_limit_source(*rate_limit_source(name, snapshot))

    def close(self, timeout: float | None) -> Call[None]:
        return Call(self.native.close(timeout), lambda _: release(self.native.wakeups()))


class EngineBase(Generic[ThreadT]):
    """What :class:`Codex` and :class:`AsyncCodex` share: their arguments, hooks, loaded threads
    and rate-limit pollers, and the started engine's operations (``_ops``)."""

    _is_async: ClassVar[bool]
    _thread_type: Callable[[ThreadOwner, _native.ThreadHandle, ThreadArgs], ThreadT]

    def __init__(
        self,
        codex_home: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        config: Mapping[str, object] | None = None,
        env: Mapping[str, str] | None = None,
        hooks: Sequence[Hook] | None = None,
    ) -> None:
        self._home = Path(codex_home) if codex_home is not None else default_codex_home()
        self._cwd = None if cwd is None else str(cwd)
        self._hooks = checked_hooks(hooks, is_async=self._is_async)
        self._config = config_json(engine_config(self._home, config), env)
        self._threads: dict[str, ThreadT] = {}
        self._pollers = Pollers()
        self._running: EngineOps[ThreadT] | None = None
        if not self._is_async:
            self._starting().wait()

    def _starting(self) -> Call[EngineOps[ThreadT]]:
        raise_open_file_limit()
        install_log_bridge()
        return Call(_native.Engine.start(str(self._home), self._cwd, self._config, helper_path()), self._started)

    def _started(self, native: _native.Engine) -> EngineOps[ThreadT]:
        owner = ThreadOwner(native, self._hooks, self._forget)
        self._running = EngineOps(owner, self._adopt, self._is_async)
        return self._running

    @property
    def _ops(self) -> EngineOps[ThreadT]:
        assert self._running is not None, "the engine is started"
        return self._running

    def _dispatcher(self) -> Dispatcher:
        """The running engine's one read for every thread (:mod:`codexrs._core.wakeups`)."""
        return dispatcher_for(self._ops.native.wakeups())

    def _adopt(self, handle: _native.ThreadHandle, args: ThreadArgs) -> ThreadT:
        thread = self._thread_type(self._ops.owner, handle, args)
        self._threads[thread.id] = thread
        return thread

    def _forget(self, thread_id: str) -> None:
        self._threads.pop(thread_id, None)

    def _closing(self, timeout: float | None) -> Call[None] | None:
        """The engine's shutdown, if it is running; stops the pollers and forgets the threads."""
        timeout = timeout_seconds("timeout", timeout)
        self._pollers.stop_all()
        if self._running is None or self._running.native.closed:
            return None
        self._threads.clear()
        return self._running.close(timeout)

    def _rate_source(self, name: str, source: SnapshotLike | SourceFn, refresh_s: float) -> Poll | None:
        """Stops polling the source ``name``; pushes ``source`` if it is a snapshot, else returns
        how to poll it."""
        self._pollers.stop(name)
        if callable(source):
            return Poll(name, source, self._ops.push_rate_limits, positive_seconds("refresh_s", refresh_s))
        self._ops.push_rate_limits(name, source)
        return None

    def add_hook(self, hook: Hook) -> None:
        """Adds an event hook (see ``hooks``; ``async`` ones on :class:`AsyncCodex` only); it sees
        the events read from now on, of every thread, those already started included.

        Raises:
            TypeError, ConfigError: As for ``hooks``.
        """
        self._hooks.extend(checked_hooks([hook], is_async=self._is_async))

    def remove_hook(self, hook: Hook) -> None:
        """Removes an event hook; raises ``ValueError`` if it is not installed."""
        self._hooks.remove(hook)

    def thread(self, thread_id: str) -> ThreadT:
        """The loaded thread with this id.

        Raises:
            ThreadNotFoundError: No such thread loaded in this engine.
        """
        try:
            return self._threads[thread_id]
        except KeyError:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in this {type(self).__name__}") from None

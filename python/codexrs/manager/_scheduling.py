"""The manager's scheduling parts: its options checked once, a thread's queued turn, and the
FIFO gates that cap how many turns run at once (one for the manager, one per group)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, TypedDict

from .._core.options import ThreadOptions, TurnSettings, positive_seconds, timeout_seconds
from .._core.result import Input, TurnResult
from .._core.options import JsonSchema
from ..errors import ConfigError
from ..hooks import Hook

__all__ = ["Gate", "ManagerArgs", "ManagerOptions", "QueuedTurn", "check_settings"]


class ManagerOptions(TypedDict, total=False):
    """The options of :class:`~codexrs.AsyncManager` and :class:`~codexrs.Manager`, passed as
    keywords after the engine's arguments; all optional.

    Wrong types raise ``TypeError``, bad values :class:`~codexrs.ConfigError`.

    Attributes:
        max_running_turns: At most this many turns run at once across the manager (a positive
            int; default ``None``: no cap); the others wait in FIFO order.
        group_limits: At most ``group_limits[g]`` (a positive int) turns of the threads created
            in group ``g`` (``create(name, group=g)``) run at once, within
            ``max_running_turns``; a group not listed has no cap of its own.
        idle_timeout: Seconds after which a thread with nothing running, queued or pending is
            unloaded from codex (its rollout stays); the next ``send`` resumes it with its
            history. Default ``None``: threads stay loaded.
        rate_limit_threshold: A percentage (0 to 100): while a real (or injected) rate-limit
            window of the engine is used at least this much and has a ``resets_at`` ahead, new
            turns wait until that reset (status ``rate_limited``, a ``rate_limited`` event saying
            until when). Default ``None``: turns never wait for a window's use.
        rate_limit_requeues: How many times a turn refused with HTTP 429 is rolled back and
            queued again after the reset (default 3); after that its result is the failed turn.
        rate_limit_backoff: Seconds to hold turns after a 429 that said no reset time
            (doubling with each requeue of that turn; default 60).
        thread_options: Defaults for every thread it creates or resumes
            (:class:`~codexrs.ThreadOptions`: ``approval_policy``, ``sandbox``, ``on_request``, ...).
        hooks: Callables that see every event of every thread (sync or ``async``), as for
            :class:`~codexrs.AsyncCodex`.
    """

    max_running_turns: int | None
    group_limits: Mapping[str, int] | None
    idle_timeout: float | None
    rate_limit_threshold: float | None
    rate_limit_requeues: int
    rate_limit_backoff: float
    thread_options: ThreadOptions | None
    hooks: Sequence[Hook] | None


@dataclass(frozen=True)
class ManagerArgs:
    """:class:`ManagerOptions` checked, with the defaults of those not given."""

    max_running_turns: int | None = None
    group_limits: Mapping[str, int | None] = field(default_factory=dict)
    idle_timeout: float | None = None
    rate_limit_threshold: float | None = None
    rate_limit_requeues: int = 3
    rate_limit_backoff: float = 60.0
    thread_options: ThreadOptions = field(default_factory=lambda: ThreadOptions())
    hooks: Sequence[Hook] | None = None

    @classmethod
    def of(cls, options: ManagerOptions) -> ManagerArgs:
        """``options`` checked.

        Raises:
            TypeError: A name :class:`ManagerOptions` does not have, or a value of the wrong type.
            ConfigError: A value out of its range (a cap below 1, a negative requeue count, a
                threshold outside 0 to 100, a non-positive duration).
        """
        for name in options:
            if name not in ManagerOptions.__annotations__:
                raise TypeError(f"AsyncManager() got an unexpected keyword argument {name!r}")
        groups = options.get("group_limits") or {}
        if not isinstance(groups, Mapping):
            raise TypeError(f"group_limits must be a mapping of group name to int, not {type(groups).__name__}")
        threshold = options.get("rate_limit_threshold")
        if threshold is not None:
            _check_number("rate_limit_threshold", threshold, "a percentage or None", lambda v: 0 <= v <= 100)
        requeues = options.get("rate_limit_requeues", 3)
        _check_number("rate_limit_requeues", requeues, "a non-negative int", lambda v: v >= 0, whole=True)
        thread_options = options.get("thread_options") or ThreadOptions()
        if not isinstance(thread_options, Mapping):
            raise TypeError(f"thread_options must be a mapping of thread options, not {type(thread_options).__name__}")
        return cls(
            max_running_turns=check_limit("max_running_turns", options.get("max_running_turns")),
            group_limits={g: check_limit(f"group_limits[{g!r}]", n) for g, n in groups.items()},
            idle_timeout=timeout_seconds("idle_timeout", options.get("idle_timeout"), positive=True),
            rate_limit_threshold=threshold,
            rate_limit_requeues=requeues,
            rate_limit_backoff=positive_seconds("rate_limit_backoff", options.get("rate_limit_backoff", 60.0)),
            thread_options=thread_options,
            hooks=options.get("hooks"),
        )


def _check_number(name: str, value: object, accepted: str, within: Callable[[float], bool], *, whole: bool = False) -> None:
    """Raises ``TypeError`` unless ``value`` is a real number (an int if ``whole``; never a
    bool), and :class:`ConfigError` unless it is ``within`` its range."""
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise TypeError(f"{name} must be {accepted}, not {type(value).__name__} {value!r}")
    if math.isnan(value) or not within(value):
        raise ConfigError(f"{name} must be {accepted}, not {value!r}")


def check_limit(name: str, value: object) -> int | None:
    """``value`` as a cap on running turns: a positive int, or ``None`` for no cap.

    Raises:
        TypeError: Not an int (a bool is not) or ``None``.
        ConfigError: Below 1.
    """
    if value is None:
        return None
    _check_number(name, value, "a positive int or None", lambda v: v >= 1, whole=True)
    assert isinstance(value, int)
    return value


def check_settings(method: str, settings: TurnSettings) -> TurnSettings:
    """``settings`` if each name is a :class:`~codexrs.TurnSettings` key (``**settings`` takes
    any keyword at run time); else ``TypeError``, as Python names an unexpected keyword."""
    for name in settings:
        if name not in TurnSettings.__annotations__:
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}")
    return settings


@dataclass
class QueuedTurn:
    """A turn sent to a managed thread, not yet finished."""

    input: Input
    settings: TurnSettings
    output_schema: type[Any] | JsonSchema | None
    done: asyncio.Future[TurnResult]
    queued_at: float = field(default_factory=time.monotonic)
    #: How many times a rate limit (HTTP 429) sent it back to the queue.
    requeues: int = 0


class Gate:
    """At most ``limit`` holders at once; waiters are served first come, first served."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.held = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.limit is None or (self.held < self.limit and not self.waiters):
            self.held += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter  # release() hands its slot over: held stays counted
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.held -= 1

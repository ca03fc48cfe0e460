"""A host's rate-limit source given as a callable (e.g. a client of its quota service):
called once when registered, then every ``refresh_s`` seconds off the engine's threads, each
answer pushed to the engine, which marks it ``injected:<name>`` with the time it arrived."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from typing import Awaitable, Callable, Mapping, Union, cast

from .._protocol import RateLimitSnapshot

__all__ = ["Pollers", "SnapshotLike", "SourceFn"]

_log = logging.getLogger("codexrs")

SnapshotLike = Union[RateLimitSnapshot, Mapping[str, object], None]
#: A source: returns the current snapshot (or ``None``: it has none now); may be async for
#: :class:`~codexrs.AsyncCodex`.
SourceFn = Callable[[], Union[SnapshotLike, Awaitable[SnapshotLike]]]
Push = Callable[[str, SnapshotLike], None]


def _failed(name: str, exc: BaseException) -> None:
    # the last snapshot stays: its observed_at says how old it is
    _log.warning("rate-limit source %r failed; its last snapshot stays", name, exc_info=exc)


def _plain(answer: SnapshotLike | Awaitable[SnapshotLike]) -> SnapshotLike:
    if inspect.isawaitable(answer):
        close = getattr(answer, "close", None)
        if close is not None:
            close()  # never awaited: close it quietly
        raise TypeError("Codex takes a plain callable as a rate-limit source; AsyncCodex also takes async ones")
    return answer


async def _answer(source: SourceFn) -> SnapshotLike:
    """``source``'s answer on an event loop: a plain callable runs in a worker thread, so a slow
    one never blocks the loop."""
    if inspect.iscoroutinefunction(source):
        answer = await source()
    else:
        answer = await asyncio.to_thread(source)
    if inspect.isawaitable(answer):
        answer = await answer
    return cast(SnapshotLike, answer)


class Pollers:
    """An engine's callable sources, each polled by a daemon thread of its own (``start``, the
    sync engine) or a task (``start_async``, the async engine)."""

    def __init__(self) -> None:
        self._stops: dict[str, Callable[[], object]] = {}

    def start(self, name: str, source: SourceFn, push: Push, refresh_s: float) -> None:
        """Calls ``source`` now (its error or bad answer raises here), then polls it."""
        push(name, _plain(source()))
        stop = threading.Event()
        self._replace(name, stop.set)

        def poll() -> None:
            while not stop.wait(refresh_s):
                try:
                    push(name, _plain(source()))
                except Exception as exc:
                    _failed(name, exc)

        threading.Thread(target=poll, name=f"codexrs-rate-source-{name}", daemon=True).start()

    async def start_async(self, name: str, source: SourceFn, push: Push, refresh_s: float) -> None:
        """:meth:`start` on an event loop: ``source`` may be async."""
        push(name, await _answer(source))

        async def poll() -> None:
            while True:
                await asyncio.sleep(refresh_s)
                try:
                    push(name, await _answer(source))
                except Exception as exc:
                    _failed(name, exc)

        self._replace(name, asyncio.create_task(poll(), name=f"codexrs-rate-source-{name}").cancel)

    def _replace(self, name: str, stop: Callable[[], object]) -> None:
        self.stop(name)
        self._stops[name] = stop

    def stop(self, name: str) -> None:
        """Stops polling the source ``name``, if it is polled."""
        stop = self._stops.pop(name, None)
        if stop is not None:
            stop()

    def stop_all(self) -> None:
        for name in list(self._stops):
            self.stop(name)

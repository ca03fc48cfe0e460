"""Waiting on a native operation: the one place where the sync and async twins differ.

Every I/O call of the native layer returns a :class:`~codexrs._native.Pending` at once (the
operation runs on codex-core's tokio runtime). The sync twin blocks on it in Rust with the GIL
released (``pending.wait()``); the async twin awaits its descriptor (:func:`await_pending`). A
twin method prepares its operation once, as a :class:`Call` (the pending operation and how to
turn its raw result into the public value), and only chooses how to wait.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Generic, TypeVar

from .. import _native

__all__ = ["Call", "await_pending"]

T = TypeVar("T")


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def await_pending(pending: _native.Pending) -> Any:
    """The result of ``pending``, awaited without blocking the loop (its descriptor becomes
    readable when it is done). Cancelling the awaiting task cancels the operation.

    Raises:
        CodexError: Whatever the native operation raised (typed, see :mod:`codexrs.errors`).
    """
    try:
        if not pending.done():
            await _readable(pending.fileno())
    except BaseException:
        pending.cancel()
        raise
    return pending.result()


def _same(raw: Any) -> Any:
    return raw


class Call(Generic[T]):
    """A started native operation and how its raw result becomes the public value."""

    __slots__ = ("finish", "pending")

    def __init__(self, pending: _native.Pending, finish: Callable[[Any], T] = _same) -> None:
        self.pending = pending
        self.finish = finish

    def wait(self) -> T:
        """Blocks (in Rust, GIL released) until the operation ends; its value."""
        return self.finish(self.pending.wait())

    async def wait_async(self) -> T:
        """Awaits the operation's end without blocking the loop; its value."""
        return self.finish(await await_pending(self.pending))

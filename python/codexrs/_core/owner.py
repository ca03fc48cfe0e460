"""``ThreadOwner``: an engine as its threads see it, so that no thread reaches into its engine.

``Codex`` / ``AsyncCodex`` (:mod:`codexrs._core.engine`) make one when their native engine has
started and hand it to every ``Thread`` / ``AsyncThread`` they load (:mod:`codexrs._core.thread`).
"""

from __future__ import annotations

from typing import Callable

from .. import _native
from ..hooks import Hook

__all__ = ["ThreadOwner"]


class ThreadOwner:
    """What a thread needs of the engine that loaded it.

    Attributes:
        native: The native engine (its store reads, thread names, MCP servers).
        hooks: The engine's hook list itself, not a copy: a hook added to the engine later sees
            the threads already loaded.
    """

    __slots__ = ("_forget", "hooks", "native")

    def __init__(self, native: _native.Engine, hooks: list[Hook], forget: Callable[[str], None]) -> None:
        self.native = native
        self.hooks = hooks
        self._forget = forget

    def forget(self, thread_id: str) -> None:
        """Drops the thread from the engine's loaded threads (it was closed)."""
        self._forget(thread_id)

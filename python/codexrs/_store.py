"""Stored threads as codex's thread store describes them (``thread_list``, ``Thread.info``)."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["StoredThread", "ThreadPage"]


class StoredThread(msgspec.Struct, kw_only=True, frozen=True):
    """A thread in codex's store (codex-thread-store ``StoredThread``), loaded or not.

    Attributes:
        id: codex's thread id (a UUID string).
        name: The name given with ``Thread.set_name`` (or ``codex``'s rename), if any.
        preview: The start of its first user message.
        cwd: Its working directory.
        created_at: When it started, Unix seconds.
        updated_at: When its rollout last changed, Unix seconds.
        archived_at: When it was archived (Unix seconds), or ``None``.
        rollout_path: Its rollout file (JSON lines under ``codex_home/sessions``).
        model_provider: The model provider id it ran against.
        model: The model it last used, if recorded.
        forked_from_id: The thread it was forked from, if any.
        source: Who started it (codex ``SessionSource``: ``"exec"`` for codexrs, ``"cli"``...).
        cli_version: The codex version that wrote it.
    """

    id: str
    preview: str
    cwd: str
    created_at: int
    updated_at: int
    model_provider: str
    name: str | None = None
    archived_at: int | None = None
    rollout_path: str | None = None
    model: str | None = None
    forked_from_id: str | None = None
    source: Any = None
    cli_version: str = ""


class ThreadPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of :meth:`codexrs.Codex.thread_list`, newest first.

    Attributes:
        data: The threads.
        next_cursor: Pass as ``cursor=`` for the next page; ``None`` on the last one.
    """

    data: list[StoredThread]
    next_cursor: str | None = None


def stored_thread(value: Any) -> StoredThread:
    return msgspec.convert(value, StoredThread)


def thread_page(value: Any) -> ThreadPage:
    return msgspec.convert(value, ThreadPage)

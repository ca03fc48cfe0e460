"""Stored threads as codex's thread store describes them (``thread_list``, ``Thread.info``,
``Thread.read``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from ..events import AgentMessage, Event, ItemCompleted, TurnAborted, TurnComplete, TurnStarted, decode_batch
from ..items import TurnItem

__all__ = ["StoredThread", "StoredTurn", "ThreadHistory", "ThreadPage"]


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
        source: Who started it (codex ``SessionSource``: ``"exec"`` for codexrs, ``"cli"``, ...;
            a dict for a sub-agent's or a custom source, e.g. ``{"custom": name}``).
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
    source: str | dict[str, object] | None = None
    cli_version: str = ""


class ThreadPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of :meth:`codexrs.Codex.thread_list`, newest first.

    Attributes:
        data: The threads.
        next_cursor: Pass as ``cursor=`` for the next page; ``None`` on the last one (with
            ``cwd=``, the page after a full one may be empty: the rest are elsewhere).
    """

    data: list[StoredThread]
    next_cursor: str | None = None


def stored_thread(value: object) -> StoredThread:
    return msgspec.convert(value, StoredThread)


def thread_page(value: object) -> ThreadPage:
    return msgspec.convert(value, ThreadPage)


@dataclass(frozen=True)
class StoredTurn:
    """One turn as codex stored it in the thread's rollout.

    Attributes:
        id: codex's turn id.
        status: ``"completed"``, ``"failed"`` (``task_complete`` with an error),
            ``"interrupted"`` (``turn_aborted``) or ``"incomplete"`` (no end stored: the process
            stopped mid-turn).
        final_response: ``task_complete.last_agent_message``, else the last ``agent_message``.
        items: The turn items codex stored (``item_completed``; which ones depends on codex's
            persistence policy for the thread's history mode).
        events: Every codex event stored for the turn, typed, in order.
        started_at: Unix seconds, from ``task_started``.
        completed_at: Unix seconds, from its end, if stored.
    """

    id: str
    status: Literal["completed", "failed", "interrupted", "incomplete"]
    final_response: str | None
    items: list[TurnItem]
    events: list[Event]
    started_at: int | None = None
    completed_at: int | None = None


@dataclass(frozen=True)
class ThreadHistory:
    """A stored thread read back (:meth:`codexrs.Thread.read`).

    Attributes:
        thread: Its metadata.
        turns: Its turns, oldest first.
        events: Every codex event its rollout keeps, typed, in order (turns' and the rest).
    """

    thread: StoredThread
    turns: list[StoredTurn]
    events: list[Event]


def thread_history(value: Any) -> ThreadHistory:
    events = [event for _, event in decode_batch(msgspec.json.encode(value["events"]))]
    turns: list[StoredTurn] = []
    current: dict[str, Any] | None = None

    def close(status: str, final: str | None, completed_at: int | None) -> None:
        nonlocal current
        if current is not None:
            turns.append(
                StoredTurn(
                    id=current["id"],
                    status=status,  # type: ignore[arg-type]
                    final_response=final or current["last"],
                    items=current["items"],
                    events=current["events"],
                    started_at=current["started_at"],
                    completed_at=completed_at,
                )
            )
        current = None

    for event in events:
        if isinstance(event, TurnStarted):
            close("incomplete", None, None)
            current = {"id": event.turn_id, "items": [], "events": [], "last": None, "started_at": event.started_at}
        if current is None:
            continue
        current["events"].append(event)
        if isinstance(event, ItemCompleted):
            current["items"].append(event.item)
        elif isinstance(event, AgentMessage):
            current["last"] = event.message
        elif isinstance(event, TurnComplete):
            close("failed" if event.error is not None else "completed", event.last_agent_message, event.completed_at)
        elif isinstance(event, TurnAborted):
            close("interrupted", None, event.completed_at)
    close("incomplete", None, None)
    return ThreadHistory(thread=stored_thread(value["thread"]), turns=turns, events=events)

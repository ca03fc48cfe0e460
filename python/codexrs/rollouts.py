"""Rollout files: the JSON-lines record codex keeps of each thread (codex ``RolloutLine``), read
whole or followed as they grow, whoever writes them (codexrs, the ``codex`` CLI, another
process).

    for line in codexrs.rollouts.read(path):
        if line.event is not None:
            print(line.timestamp, line.event.type)

    async for seen in codexrs.rollouts.watch(codex_home):
        print(seen.path.name, seen.line.type)
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import msgspec

from .errors import RolloutError
from .events import Event, _decode_one

__all__ = ["RolloutLine", "WatchedLine", "read", "watch"]

#: The kinds of line codex writes (codex ``RolloutItem``'s variants).
KINDS = (
    "session_meta", "response_item", "inter_agent_communication", "inter_agent_communication_metadata",
    "compacted", "turn_context", "world_state", "event_msg",
)  # fmt: skip


class _RawLine(msgspec.Struct):
    timestamp: str
    type: str
    payload: msgspec.Raw = msgspec.Raw(b"null")
    ordinal: int | None = None


_line_decoder = msgspec.json.Decoder(_RawLine)
_any_decoder = msgspec.json.Decoder(Any)


@dataclass(frozen=True)
class RolloutLine:
    """One line of a rollout file (codex ``RolloutLine``).

    Attributes:
        timestamp: When codex wrote it (ISO 8601, UTC, as codex formats it).
        type: Its kind: one of :data:`KINDS` (``session_meta``, ``response_item``,
            ``turn_context``, ``event_msg``, ``compacted``, ...), or a newer codex's.
        payload: The line's payload as JSON values (for ``event_msg``, the event's fields with
            its ``type``).
        event: For ``event_msg`` lines, the typed event (a :mod:`codexrs.events` class, or
            :class:`~codexrs.events.GenericEvent`); ``None`` for the other kinds.
        ordinal: codex's sequence number of the line, when it wrote one.
    """

    timestamp: str
    type: str
    payload: Any
    event: Event | None = None
    ordinal: int | None = None


def parse_line(data: bytes | str) -> RolloutLine:
    """One rollout line (without its newline), typed.

    Raises:
        RolloutError: The line is not a rollout line.
    """
    try:
        raw = _line_decoder.decode(data)
        payload = _any_decoder.decode(raw.payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        raise RolloutError(f"not a rollout line ({exc}): {text[:200]!r}") from None
    event = _decode_one(raw.payload) if raw.type == "event_msg" else None
    return RolloutLine(raw.timestamp, raw.type, payload, event, raw.ordinal)


def read(path: str | os.PathLike[str]) -> Iterator[RolloutLine]:
    """Yields a rollout file's lines, typed, in order. A last line without its newline (a
    writer still busy, or a crash) is left out.

    Raises:
        FileNotFoundError: There is no such file.
        RolloutError: A line is not a rollout line (its number and text in the message).
    """
    with open(path, "rb") as f:
        for number, data in enumerate(f, 1):
            if not data.endswith(b"\n"):
                return
            if not data.strip():
                continue
            try:
                yield parse_line(data)
            except RolloutError as exc:
                raise RolloutError(f"{os.fspath(path)}, line {number}: {exc}") from None


@dataclass(frozen=True)
class WatchedLine:
    """A line :func:`watch` read: the file it is in and the line."""

    path: Path
    line: RolloutLine


class _Follower:
    """One file, read from where the last read stopped; a partial last line waits for its end."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path, self.offset, self.partial = path, offset, b""

    def read_new(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        return [line for line in lines if line.strip()]


def _rollouts(home: Path) -> list[Path]:
    return sorted(home.glob("sessions/**/rollout-*.jsonl"))


async def watch(
    codex_home: str | os.PathLike[str], *, from_start: bool = False, interval: float = 0.2
) -> AsyncIterator[WatchedLine]:
    """Follows every rollout file under ``codex_home/sessions``, as any codex process writes
    them: yields each new complete line, typed, in each file's order, as it appears (checked
    every ``interval`` seconds, by file size: no inotify needed, so it also works on network
    filesystems). A file is read incrementally from where the last read stopped; a partial
    last line is held until its newline arrives; new files are found as they appear and read
    from their start. Files already there when watching starts are followed from their end,
    or, with ``from_start=True``, read from their start.

    A line that does not parse is skipped with a warning on the ``codexrs`` logger (a
    foreign file), not raised. Runs until cancelled (``break`` out of the loop, or cancel the
    task).
    """
    log = logging.getLogger("codexrs")
    home = Path(codex_home)
    followers: dict[Path, _Follower] = {}
    for path in _rollouts(home):
        followers[path] = _Follower(path, 0 if from_start else path.stat().st_size)
    first = True
    while True:
        if not first:
            for path in _rollouts(home):
                if path not in followers:
                    followers[path] = _Follower(path, 0)
        first = False
        for follower in list(followers.values()):
            try:
                size = follower.path.stat().st_size
            except FileNotFoundError:  # archived or removed
                del followers[follower.path]
                continue
            if size == follower.offset:
                continue
            if size < follower.offset:  # rewritten shorter: start again
                follower.offset, follower.partial = 0, b""
            for data in follower.read_new():
                try:
                    line = parse_line(data)
                except RolloutError as exc:
                    log.warning("skipping a line of %s: %s", follower.path, exc)
                    continue
                yield WatchedLine(follower.path, line)
        await asyncio.sleep(interval)

"""A batch's task file: one JSON object per line, each a :class:`Task`.

A line that is not a valid task is reported with its line number (:class:`BadLine`) and
skipped; the others run.

Paths: a task's ``workspace`` is the only path in a line. A relative one (``"repo"``,
``"../fixtures/app"``) is taken relative to the directory of the task file, not the current
directory, so a task file runs the same from anywhere; ``~`` is the home directory; an
absolute path, and with a ``ref`` a git URL (``https://...``, ``ssh://...``, ``file://...``,
``git@host:repo``), are left as written. ``setup`` and ``check`` are shell commands run with
the task's workspace copy as their current directory, so paths in them are relative to it.
``config`` values go to codex as written (codexrs cannot tell which are paths): give any path
there absolute.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Union

import msgspec

__all__ = ["BadLine", "Budget", "Task", "read_tasks", "resolve_workspace"]


class Budget(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Limits on one task. ``wall_s``: seconds for all its turns (past it the running turn is
    interrupted: outcome ``timeout``); ``turns``: at most this many turns; ``tokens``: no turn
    starts once its turns used this many tokens (input + output; outcome ``over_budget`` if a
    prompt was left unsent)."""

    wall_s: float | None = None
    turns: int | None = None
    tokens: int | None = None


class Task(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One task (a line of the task file).

    Attributes:
        id: Unique in the file; the results file is keyed by it.
        prompt: A prompt, or a list of prompts run as successive turns of one conversation.
        workspace: A directory copied into a fresh temporary directory for the task, or, with
            ``ref``, a git repository (a path or a URL) cloned there and checked out at
            ``ref``. ``None``: an empty directory. A relative path is relative to the task
            file's directory (:func:`read_tasks` makes it absolute).
        ref: The git ref to check out (with ``workspace`` a repository).
        setup: Shell commands run in the workspace before the agent (in order; a failure ends
            the task with outcome ``error``).
        check: A shell command run in the workspace after the agent: exit 0 = ``passed``.
        model, effort, approval_policy, sandbox: As for :meth:`codexrs.Codex.thread_start`
            (``effort`` per turn); ``None``: the batch's defaults.
        config: codex config overrides for this task's thread.
        budget: Its :class:`Budget`.
    """

    id: str
    prompt: Union[str, list[str]]
    workspace: str | None = None
    ref: str | None = None
    setup: Union[str, list[str]] = msgspec.field(default_factory=list)
    check: str | None = None
    model: str | None = None
    effort: str | None = None
    approval_policy: str | None = None
    sandbox: str | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    budget: Budget = msgspec.field(default_factory=Budget)

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    @property
    def setup_commands(self) -> list[str]:
        return [self.setup] if isinstance(self.setup, str) else list(self.setup)


@dataclass(frozen=True)
class BadLine:
    """A line of the task file that is not a task."""

    line: int
    error: str


_decoder = msgspec.json.Decoder(Task)
#: A git URL rather than a path: ``scheme://...``, or scp-like ``[user@]host:path`` (a colon
#: before any slash).
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/:]+:")


def resolve_workspace(task: Task, base: Path) -> Task:
    """``task`` with its ``workspace`` an absolute path, a relative one taken from ``base``
    (``~`` expanded); a git URL (with a ``ref``) or no workspace unchanged."""
    if task.workspace is None or (task.ref is not None and _URL.match(task.workspace)):
        return task
    return msgspec.structs.replace(task, workspace=os.path.abspath(base / os.path.expanduser(task.workspace)))


def read_tasks(path: str | os.PathLike[str]) -> Iterator[Task | BadLine]:
    """The task file's tasks, in order, and a :class:`BadLine` for each line that is not one
    (blank lines and lines starting with ``#`` are skipped; an id seen before is a bad line).
    Each task's relative ``workspace`` is made absolute from the task file's directory.

    Raises:
        FileNotFoundError: There is no such file.
    """
    base = Path(os.path.abspath(path)).parent
    seen: set[str] = set()
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            try:
                task = _decoder.decode(line)
            except msgspec.DecodeError as exc:
                yield BadLine(number, str(exc))
                continue
            if not task.prompts or not all(isinstance(p, str) and p for p in task.prompts):
                yield BadLine(number, "prompt must be a non-empty string or list of strings")
            elif task.id in seen:
                yield BadLine(number, f"id {task.id!r} appears on an earlier line")
            else:
                seen.add(task.id)
                yield resolve_workspace(task, base)

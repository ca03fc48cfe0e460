"""A batch's task file: one JSON object per line, each a :class:`Task`.

A line that is not a valid task is reported with its line number (:class:`BadLine`) and
skipped; the others run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Union

import msgspec

__all__ = ["BadLine", "Budget", "Task", "read_tasks"]


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
            ``ref``, a git repository cloned there and checked out at ``ref``. ``None``: an
            empty directory.
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


def read_tasks(path: str | os.PathLike[str]) -> Iterator[Task | BadLine]:
    """The task file's tasks, in order, and a :class:`BadLine` for each line that is not one
    (blank lines and lines starting with ``#`` are skipped; an id seen before is a bad line)."""
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
                yield task

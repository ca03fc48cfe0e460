"""Running a batch (:func:`run`, :func:`arun`): the tasks still to run, then a driver for them:
this process (:mod:`._local`) or a Ray cluster (:mod:`._ray`), chosen here; both write the same
result lines, one per task, the moment it ends."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Unpack

from ._local import run_local
from ._options import BatchOptions, Settings
from ._progress import Progress
from ._ray import run_on_ray
from ._record import Outcome
from ._task import ResultsFile
from ._tasks import BadLine, Task, read_tasks

__all__ = ["Summary", "arun", "done_ids", "plan", "run"]


@dataclass
class Summary:
    """What a batch run did.

    Attributes:
        outcomes: Tasks run now, by outcome.
        skipped: Ids already in the results file (a resumed run does not run them again).
        bad_lines: Lines of the task file that are not tasks, with why.
    """

    outcomes: dict[Outcome, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)


def done_ids(results: Path) -> set[str]:
    """Ids with a result line. A last line cut short by a kill is removed (its task runs again)."""
    if not results.exists():
        return set()
    data = results.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(results, "r+b") as f:
            f.truncate(len(data))
    ids = set()
    for line in data.splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError, TypeError):
            continue
    return ids


def plan(tasks: str | os.PathLike[str], out: Path, summary: Summary) -> list[Task]:
    """The tasks of the file still to run: bad lines and ids already in ``out`` go to ``summary``."""
    done = done_ids(out)
    todo: list[Task] = []
    for item in read_tasks(tasks):
        if isinstance(item, BadLine):
            summary.bad_lines.append(item)
        elif item.id in done:
            summary.skipped.append(item.id)
        else:
            todo.append(item)
    return todo


async def arun(
    tasks: str | os.PathLike[str],
    results: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    **options: Unpack[BatchOptions],
) -> Summary:
    """Runs every task of ``tasks`` not already in ``results``; see :func:`run`. ``progress``
    (a :class:`Progress`) is kept current as tasks start and end, for a live view.

    Raises:
        TypeError: An unknown option, or ``concurrency`` / ``workers`` not an int.
        ConfigError: ``concurrency`` or ``workers`` below 1.
    """
    settings = Settings(**options)
    out = Path(results)
    progress = progress if progress is not None else Progress()
    summary = Summary(outcomes=progress.outcomes)
    todo = plan(tasks, out, summary)
    progress.total = len(todo)
    if settings.ray is not None and todo:
        await run_on_ray(todo, ResultsFile(out), settings.ray, settings, progress)
    elif settings.ray is None:
        await run_local(todo, ResultsFile(out), settings, progress)
    return summary


def run(tasks: str | os.PathLike[str], results: str | os.PathLike[str], **options: Unpack[BatchOptions]) -> Summary:
    """Runs a batch: each task of the ``tasks`` file (JSON lines, :class:`~codexrs.batch.Task`)
    in a fresh copy of its workspace, as its own conversation, ``concurrency`` turns at a time;
    each result is appended to ``results`` as one JSON line when its task ends (flushed to
    disk). Tasks whose id is already in ``results`` are skipped, so a killed run re-run with the
    same ``results`` finishes the rest, each task once. A relative ``workspace`` in the task
    file is taken relative to the task file's directory, not the current directory.

    A result line is a :class:`~codexrs.batch.Record` (``decode_record`` reads one): ``id``,
    ``outcome``, ``check``, ``final_response``, ``diff`` (its first 20,000 characters),
    ``diff_path`` (the whole diff, absolute, in ``<results>.diffs/``; ``None`` for no diff),
    ``diff_truncated``, ``rollout_path``, ``workspace``, ``error``, ``versions``, ``usage``,
    ``turns``, ``rate_limits``, ``timings``. Every line has every key (``null`` where empty).

    Options (:class:`~codexrs.batch.BatchOptions`): ``concurrency`` (tasks and turns at once,
    default 8), ``codex_home``, ``config`` (codex config overrides for every task), ``model``,
    ``approval_policy`` (default ``"never"``), ``sandbox`` (default ``"workspace-write"``),
    ``keep_workspaces``, ``workspaces`` (where the copies go; relative to the current
    directory), ``on_result`` (called with each :class:`~codexrs.batch.Record` once it is
    written).

    Past one machine: ``ray="local"`` (a Ray cluster started on this machine for the run) or a
    Ray address (``"auto"``, ``"ray://head:10001"``) spreads the tasks over ``workers`` Ray
    actors (default: one per alive node), each with its own manager and codex home (seeded
    with the ``config.toml`` and ``auth.json`` of ``codex_home``, or of ``$CODEX_HOME`` /
    ``~/.codex``), running ``concurrency`` tasks at a time; each asks the driver for its next
    task when one ends, and the driver writes the result lines, the same lines as without Ray.
    ``ray_homes``: where, on each node, the workers' codex homes (and so the rollouts) go
    (default: ``codexrs-ray`` in the node's temporary directory). Needs the ``ray`` extra.

    Returns:
        A :class:`Summary`: outcomes, skipped ids, bad lines (each with its line number).

    Raises:
        TypeError: An unknown option, or ``concurrency`` / ``workers`` not an int.
        ConfigError: ``concurrency`` or ``workers`` below 1.
        ImportError: ``ray`` given and Ray is not installed.
        ConnectionError: No Ray cluster answers at ``ray``.
    """
    return asyncio.run(arun(tasks, results, **options))

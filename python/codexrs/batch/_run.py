"""Running a batch: every task as its own conversation on one :class:`~codexrs.AsyncManager`,
each result written as one JSON line the moment its task ends."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import msgspec

from .._core.account import codex_core_version
from .._native import VERSION
from ..errors import CodexError
from ..manager._async import AsyncManager, ManagedThread
from ._progress import Progress
from ._record import Outcome, Record, RecordCheck, RecordTimings, RecordTurn, encode_record
from ._tasks import BadLine, Task, read_tasks
from ._workspace import baseline, capture_diff, prepare, run_command, safe_name

__all__ = ["Outcome", "ResultsFile", "Summary", "arun", "blank_record", "done_ids", "plan", "run", "run_task"]

#: How much of the agent's diff a result line carries inline; the whole diff is saved beside
#: the results, in ``<results>.diffs/<id>.diff``.
DIFF_INLINE = 20_000
#: Longest a setup or check command may run, in seconds.
COMMAND_TIMEOUT_S = 600.0

@dataclass
class Summary:
    """What a batch run did.

    Attributes:
        outcomes: Tasks run now, by outcome.
        skipped: Ids already in the results file (a resumed run does not run them again).
        bad_lines: Lines of the task file that are not tasks, with why.
    """

    outcomes: dict[str, int] = field(default_factory=dict)
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


class ResultsFile:
    """Where a run's results go: result lines appended to ``path``, each flushed to disk as it is
    written, and each task's whole diff in ``<path>.diffs/`` (an absolute path)."""

    def __init__(self, path: Path) -> None:
        path = path.absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.diffs = path.with_name(path.name + ".diffs")
        self.diffs.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "ab")

    def write(self, record: Record, diff: str) -> None:
        """Saves ``diff`` (the whole diff) beside the results, puts its first
        :data:`DIFF_INLINE` characters and its path into ``record``, and appends ``record``.
        An empty ``diff`` writes no file: ``diff_path`` stays ``None``."""
        if diff:
            path = self.diffs / f"{safe_name(record.id)}.diff"
            path.write_text(diff, encoding="utf-8")
            record.diff, record.diff_truncated, record.diff_path = diff[:DIFF_INLINE], len(diff) > DIFF_INLINE, str(path)
        self._f.write(encode_record(record))
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def blank_record(task_id: str) -> Record:
    """A result line with nothing run yet: outcome ``error``, no check, no usage, no turns."""
    return Record(id=task_id)


async def run_task(
    task: Task, manager: AsyncManager, root: Path, defaults: Mapping[str, Any], keep: bool, progress: Progress
) -> tuple[Record, str]:
    """Runs one task on ``manager`` in a fresh workspace under ``root``: its result line (without
    the diff) and the agent's whole diff, for :meth:`ResultsFile.write`. Never raises for the
    task's own failures: they are its ``error`` outcome."""
    started, started_at = time.monotonic(), time.time()
    diff = ""
    record = blank_record(task.id)
    record.versions = _versions()
    turns, usage = record.turns, record.usage
    workspace: Path | None = None
    managed: ManagedThread | None = None
    try:
        workspace = await asyncio.to_thread(prepare, task, root)
        record.workspace = str(workspace)
        for command in task.setup_commands:
            done = await run_command(command, workspace, COMMAND_TIMEOUT_S)
            if done.exit_code != 0:
                record.error = f"setup command {command!r} exited {done.exit_code}: {done.output_tail[-500:]}"
                return record, diff
        await asyncio.to_thread(baseline, workspace)
        options = {k: v for k, v in defaults.items() if v is not None}
        for key in ("model", "approval_policy", "sandbox"):
            if getattr(task, key) is not None:
                options[key] = getattr(task, key)
        if task.config:
            options["config"] = task.config
        managed = await manager.create(cwd=workspace, **options)
        progress.running[task.id] = managed
        budget = task.budget
        outcome: Outcome | None = None
        for prompt in task.prompts:
            spent = usage.input_tokens + usage.output_tokens
            if (budget.turns is not None and len(turns) >= budget.turns) or (budget.tokens is not None and spent >= budget.tokens):
                outcome = "over_budget"
                break
            turn_options = {"effort": task.effort} if task.effort is not None else {}
            await manager.send(managed.name, prompt, **turn_options)
            left = None if budget.wall_s is None else max(0.0, budget.wall_s - (time.monotonic() - started))
            try:
                result = await manager.wait(managed.name, timeout=left)
            except TimeoutError:
                outcome = "timeout"
                if not await manager.interrupt(managed.name):
                    break  # still queued behind other tasks' turns: it never started
                result = await manager.wait(managed.name, timeout=60)
            for key in usage.__struct_fields__:
                setattr(usage, key, getattr(usage, key) + getattr(result.usage, key))
            if result.rate_limits is not None:
                record.rate_limits.append({"at": round(time.time(), 3), **msgspec.to_builtins(result.rate_limits)})
            timing = managed.last_timings if managed.last_result is result else None
            turns.append(
                RecordTurn(
                    id=result.id, status=result.status, duration_ms=result.duration_ms,
                    queue_wait_s=None if timing is None else round(timing.queue_wait_s, 4),
                    first_token_s=None if timing is None or timing.first_token_s is None else round(timing.first_token_s, 4),
                    wall_s=None if timing is None else round(timing.wall_s, 4),
                )
            )  # fmt: skip
            record.final_response = result.final_response
            if outcome is not None:
                break
            if result.status != "completed":
                outcome = "error"
                record.error = result.error.message if result.error is not None else f"the turn ended {result.status}"
                break
        record.rollout_path = (await managed.thread.info()).rollout_path
        diff = await asyncio.to_thread(capture_diff, workspace)
        if outcome is None and task.check is not None:
            check = await run_command(task.check, workspace, COMMAND_TIMEOUT_S)
            record.check = RecordCheck(exit_code=check.exit_code, output_tail=check.output_tail)
            outcome = "passed" if check.exit_code == 0 else "failed"
        record.outcome = outcome or "passed"
    except Exception as exc:  # a task's failure is its result line, never the batch's end
        record.outcome = "error"
        record.error = f"{type(exc).__name__}: {exc}"
    finally:
        if managed is not None:
            try:
                await manager.remove(managed.name)  # its rollout stays
            except CodexError:
                pass
        record.timings = RecordTimings(
            total_s=round(time.monotonic() - started, 3),
            started_at=round(started_at, 3),
            ended_at=round(time.time(), 3),
            queue_wait_s=round(sum(t.queue_wait_s or 0.0 for t in turns), 4),
            first_token_s=turns[0].first_token_s if turns else None,
            turns_s=[t.wall_s for t in turns],
        )
        if workspace is not None and not keep:
            shutil.rmtree(workspace, ignore_errors=True)
            record.workspace = None
    return record, diff


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


def _versions() -> dict[str, str]:
    core = codex_core_version()
    return {"codexrs": VERSION, "codex_core": f"{core.package}=={core.version}"}


async def arun(
    tasks: str | os.PathLike[str],
    results: str | os.PathLike[str],
    *,
    concurrency: int = 8,
    codex_home: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    model: str | None = None,
    approval_policy: str | None = "never",
    sandbox: str | None = "workspace-write",
    keep_workspaces: bool = False,
    workspaces: str | os.PathLike[str] | None = None,
    on_result: Callable[[Record], None] | None = None,
    progress: Progress | None = None,
    ray: str | None = None,
    workers: int | None = None,
    ray_homes: str | None = None,
) -> Summary:
    """Runs every task of ``tasks`` not already in ``results``; see :func:`run`. ``progress``
    (a :class:`Progress`) is kept current as tasks start and end, for a live view."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise TypeError(f"concurrency must be a positive int, not {concurrency!r}")
    out = Path(results)
    progress = progress if progress is not None else Progress()
    summary = Summary(outcomes=progress.outcomes)
    todo = plan(tasks, out, summary)
    progress.total = len(todo)
    defaults = {"model": model, "approval_policy": approval_policy, "sandbox": sandbox}
    if ray is not None and todo:
        from ._ray import run_on_ray

        await run_on_ray(
            todo, ResultsFile(out), ray, workers=workers, concurrency=concurrency, codex_home=codex_home, config=config,
            defaults=defaults, keep_workspaces=keep_workspaces, homes=ray_homes, workspaces=None if workspaces is None else str(workspaces),
            on_result=on_result, progress=progress,
        )  # fmt: skip
        return summary
    root = Path(workspaces).absolute() if workspaces is not None else Path(tempfile.mkdtemp(prefix="codexrs-batch-"))
    root.mkdir(parents=True, exist_ok=True)
    writer = ResultsFile(out)
    slots = asyncio.Semaphore(concurrency)
    try:
        async with AsyncManager(codex_home=codex_home, config=config, max_running_turns=concurrency) as manager:
            progress.manager = manager

            async def one(task: Task) -> None:
                async with slots:
                    progress.running[task.id] = None
                    record, diff = await run_task(task, manager, root, defaults, keep_workspaces, progress)
                writer.write(record, diff)
                progress.finished(record)
                if on_result is not None:
                    on_result(record)

            await asyncio.gather(*(one(task) for task in todo))
    finally:
        writer.close()
        if workspaces is None and not keep_workspaces:
            shutil.rmtree(root, ignore_errors=True)
    return summary


def run(tasks: str | os.PathLike[str], results: str | os.PathLike[str], **options: Any) -> Summary:
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

    Options: ``concurrency`` (tasks and turns at once, default 8), ``codex_home``, ``config``
    (codex config overrides for every task), ``model``, ``approval_policy`` (default
    ``"never"``), ``sandbox`` (default ``"workspace-write"``), ``keep_workspaces``,
    ``workspaces`` (where the copies go; relative to the current directory), ``on_result``
    (called with each :class:`~codexrs.batch.Record` once it is written).

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
    """
    return asyncio.run(arun(tasks, results, **options))

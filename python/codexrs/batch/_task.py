"""Running one task of a batch, whichever driver runs it (this process, or a Ray worker): its
workspace, setup, turns and check (:func:`run_task`), and where its result line goes
(:class:`ResultsFile`, :func:`deliver`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import msgspec

from .._core.account import codex_core_version
from .._core.options import ThreadOptions
from .._native import VERSION
from ..errors import CodexError
from ..manager._async import AsyncManager, ManagedThread
from ._progress import Progress
from ._record import Outcome, Record, RecordCheck, RecordTimings, RecordTurn, encode_record
from ._tasks import Task
from ._workspace import baseline, capture_diff, prepare, run_command, safe_name

__all__ = ["COMMAND_TIMEOUT_S", "DIFF_INLINE", "ResultsFile", "blank_record", "deliver", "run_task"]

#: How much of the agent's diff a result line carries inline; the whole diff is saved beside
#: the results, in ``<results>.diffs/<id>.diff``.
DIFF_INLINE = 20_000
#: Longest a setup or check command may run, in seconds.
COMMAND_TIMEOUT_S = 600.0


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
    task: Task, manager: AsyncManager, root: Path, defaults: ThreadOptions, keep: bool, progress: Progress
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
        options: dict[str, Any] = {k: v for k, v in defaults.items() if v is not None}
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
            await manager.send(managed.name, prompt, effort=task.effort)  # None: the thread's own
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


def deliver(writer: ResultsFile, record: Record, diff: str, progress: Progress, on_result: Callable[[Record], None] | None) -> None:
    """A task's end, in the driver: its line written, counted, and handed to ``on_result``."""
    writer.write(record, diff)
    progress.finished(record)
    if on_result is not None:
        on_result(record)


def _versions() -> dict[str, str]:
    core = codex_core_version()
    return {"codexrs": VERSION, "codex_core": f"{core.package}=={core.version}"}

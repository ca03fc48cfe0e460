"""A batch in this process: every task as its own conversation on one
:class:`~codexrs.AsyncManager`, ``concurrency`` at a time, each result written the moment its
task ends."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from ..manager._async import AsyncManager
from ._options import Settings
from ._progress import Progress
from ._task import ResultsFile, deliver, run_task
from ._tasks import Task

__all__ = ["run_local"]


async def run_local(todo: list[Task], writer: ResultsFile, settings: Settings, progress: Progress) -> None:
    """Runs ``todo`` here and writes each result with ``writer`` (then closes it)."""
    workspaces = settings.workspaces
    root = Path(workspaces).absolute() if workspaces is not None else Path(tempfile.mkdtemp(prefix="codexrs-batch-"))
    root.mkdir(parents=True, exist_ok=True)
    slots = asyncio.Semaphore(settings.concurrency)
    defaults = settings.defaults
    try:
        async with AsyncManager(
            codex_home=settings.codex_home, config=settings.config, max_running_turns=settings.concurrency
        ) as manager:
            progress.manager = manager

            async def one(task: Task) -> None:
                async with slots:
                    progress.running[task.id] = None
                    record, diff = await run_task(task, manager, root, defaults, settings.keep_workspaces, progress)
                deliver(writer, record, diff, progress, settings.on_result)

            await asyncio.gather(*(one(task) for task in todo))
    finally:
        writer.close()
        if workspaces is None and not settings.keep_workspaces:
            shutil.rmtree(root, ignore_errors=True)

"""Batches past one machine: the tasks spread over a Ray cluster.

Each worker is a Ray actor (a process on some node) holding its own
:class:`~codexrs.AsyncManager` and codex home. The driver keeps the queue: each worker runs
``concurrency`` tasks at a time and asks for the next when one ends. Result lines (and the
diffs beside them) are written by the driver, the same lines as without Ray, so resuming and
``codexrs report`` work unchanged.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Mapping

from .._core.options import ThreadOptions
from .._extras import require
from ..manager._async import AsyncManager
from ._options import Settings
from ._progress import Progress
from ._record import Record
from ._task import ResultsFile, blank_record, deliver, run_task
from ._tasks import Task

__all__ = ["HOME_FILES", "run_on_ray"]

#: What a worker's own codex home is seeded with, from the driver's codex home (when there).
HOME_FILES = ("config.toml", "auth.json", "AGENTS.md")
#: How many times a task is given to a worker before its worker dying makes it an error line.
ATTEMPTS = 2
#: How long the workers may take to start (Ray places each on a node with a free CPU), in seconds.
PLACEMENT_TIMEOUT_S = 180.0


class Worker:
    """One worker process: a manager, its codex home, and the workspaces of its tasks."""

    def __init__(
        self, home: str, seed: Mapping[str, bytes], workspaces: str | None, concurrency: int,
        config: Mapping[str, object] | None, defaults: ThreadOptions, keep_workspaces: bool,
    ) -> None:  # fmt: skip
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        for name, data in seed.items():
            path = self.home / name
            path.write_bytes(data)
            if name == "auth.json":
                path.chmod(0o600)
        self.root = Path(workspaces) if workspaces else Path(tempfile.mkdtemp(prefix="codexrs-batch-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.own_root = not workspaces
        self.concurrency, self.config, self.defaults, self.keep = concurrency, dict(config or {}), defaults, keep_workspaces
        self.manager: AsyncManager | None = None
        self.lock = asyncio.Lock()

    async def where(self) -> dict[str, Any]:
        """The node and process this worker runs in, and its codex home."""
        return {"node": socket.gethostname(), "pid": os.getpid(), "codex_home": str(self.home)}

    async def run(self, task: Task) -> tuple[Record, str]:
        """Runs one task: its result line (without the diff) and its whole diff."""
        async with self.lock:
            if self.manager is None:
                self.manager = await AsyncManager(
                    codex_home=self.home, config=self.config, max_running_turns=self.concurrency
                ).__aenter__()
        return await run_task(task, self.manager, self.root, self.defaults, self.keep, Progress())

    async def close(self) -> None:
        if self.manager is not None:
            await self.manager.__aexit__(None, None, None)
            self.manager = None
        if self.own_root and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def _seed(codex_home: str | os.PathLike[str] | None) -> dict[str, bytes]:
    home = Path(codex_home) if codex_home is not None else Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    return {name: (home / name).read_bytes() for name in HOME_FILES if (home / name).is_file()}


def _connect(ray: Any, address: str, workers: int | None) -> bool:
    """Joins (or, for ``"local"``, starts) the cluster; True when this call started Ray."""
    if ray.is_initialized():
        return False
    if address == "local":  # room for every worker (each asks for one CPU)
        ray.init(num_cpus=max(os.cpu_count() or 1, workers or 1), include_dashboard=False, logging_level="WARNING")
    else:
        try:
            ray.init(address=address, include_dashboard=False, logging_level="WARNING")
        except ConnectionError as exc:  # Ray's own text names a flag codexrs does not have
            raise ConnectionError(
                f"no running Ray cluster at --ray {address}: start one (`ray start --head`, then --ray auto), "
                "give a cluster's address (--ray ray://HOST:10001), or use --ray local to start one here"
            ) from exc
    return True


async def run_on_ray(todo: list[Task], writer: ResultsFile, address: str, settings: Settings, progress: Progress) -> None:
    """Runs ``todo`` on the Ray workers of the cluster at ``address`` (``"local"``: one started
    here) and writes each result with ``writer`` (then closes it).

    Raises:
        ImportError: Ray is not installed (the message ends with ``pip install 'codexrs[ray]'``).
        ConnectionError: No Ray cluster answers at ``address``.
        RuntimeError: Every worker died with tasks left (the lines written stay; a re-run with
            the same results file runs the rest).
    """
    workers, concurrency, on_result = settings.workers, settings.concurrency, settings.on_result
    workspaces = None if settings.workspaces is None else str(settings.workspaces)
    ray = require("ray", feature="codexrs batch --ray", library="Ray", extra="ray")
    started = _connect(ray, address, workers)
    actors: list[Any] = []
    try:
        count = workers or max(1, sum(1 for node in ray.nodes() if node.get("Alive")))
        remote = ray.remote(Worker).options(num_cpus=1, max_concurrency=concurrency + 4, scheduling_strategy="SPREAD")
        run_id = uuid.uuid4().hex[:8]
        base = settings.ray_homes or os.path.join(tempfile.gettempdir(), "codexrs-ray")
        seed = _seed(settings.codex_home)
        actors = [
            remote.remote(
                os.path.join(base, run_id, f"worker-{n}"), seed, workspaces, concurrency, settings.config, settings.defaults,
                settings.keep_workspaces,
            )
            for n in range(count)
        ]  # fmt: skip
        queue: deque[tuple[Task, int]] = deque((task, 1) for task in todo)
        try:
            where = await asyncio.wait_for(asyncio.gather(*(actor.where.remote() for actor in actors)), PLACEMENT_TIMEOUT_S)
        except TimeoutError:
            cpus = ray.cluster_resources().get("CPU", 0)
            raise RuntimeError(
                f"Ray placed fewer than {count} workers within {PLACEMENT_TIMEOUT_S:.0f} s (each needs 1 CPU; the cluster "
                f"has {cpus:g}): ask for fewer --workers"
            ) from None
        unfinished = len(queue)  # queued or running
        changed = asyncio.Condition()  # a task was queued again or finished
        dead: set[int] = set()

        async def feed(n: int, actor: Any, place: str) -> None:
            nonlocal unfinished
            while True:
                async with changed:  # wait while the others' tasks may still come back
                    await changed.wait_for(lambda: bool(queue) or unfinished == 0 or n in dead)
                    if n in dead or not queue:
                        return
                    task, attempt = queue.popleft()
                progress.running[task.id] = f"on {place}"
                try:
                    record, diff = await actor.run.remote(task)
                except ray.exceptions.RayActorError as exc:  # the worker is gone: its tasks go to the others
                    progress.running.pop(task.id, None)
                    async with changed:
                        dead.add(n)
                        if attempt < ATTEMPTS:
                            queue.append((task, attempt + 1))
                        else:
                            deliver(writer, _lost(task, exc), "", progress, on_result)
                            unfinished -= 1
                        changed.notify_all()
                    return
                deliver(writer, record, diff, progress, on_result)
                async with changed:
                    unfinished -= 1
                    changed.notify_all()

        await asyncio.gather(
            *(feed(n, actor, f"{w['node']} (worker {n}, pid {w['pid']})") for n, (actor, w) in enumerate(zip(actors, where))
              for _ in range(concurrency))
        )  # fmt: skip
        if queue:
            raise RuntimeError(f"every Ray worker died; {len(queue)} task(s) not run (run again with the same results file)")
        await asyncio.gather(*(actor.close.remote() for n, actor in enumerate(actors) if n not in dead), return_exceptions=True)
    finally:
        writer.close()
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()


def _lost(task: Task, exc: BaseException) -> Record:
    record = blank_record(task.id)
    record.error = f"its Ray worker died ({ATTEMPTS} times): {type(exc).__name__}: {exc}"
    return record

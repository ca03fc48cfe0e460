"""A batch's progress, as the runner updates it, and its live terminal view (rich)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ..manager._async import AsyncManager, ManagedThread
    from ._record import Outcome, Record

__all__ = ["Progress", "render"]


@dataclass
class Progress:
    """Counts and state of a running batch (the runner writes, views read).

    Attributes:
        total: Tasks this run will run (skipped ids and bad lines not counted).
        outcomes: Finished tasks by outcome.
        running: Tasks past their slot, by id, with their managed thread once it exists (or,
            run elsewhere, where: ``"on host (worker 0, pid 123)"``).
        input_tokens, output_tokens: Summed over finished tasks.
        started: When the run started (``time.monotonic()``).
        manager: The run's manager, for its rate-limit state.
    """

    total: int = 0
    outcomes: dict[Outcome, int] = field(default_factory=dict)
    running: dict[str, ManagedThread | str | None] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    manager: AsyncManager | None = None

    @property
    def done(self) -> int:
        return sum(self.outcomes.values())

    def finished(self, record: Record) -> None:
        """Counts a task that ended with ``record``."""
        self.running.pop(record.id, None)
        self.outcomes[record.outcome] = self.outcomes.get(record.outcome, 0) + 1
        self.input_tokens += record.usage.input_tokens
        self.output_tokens += record.usage.output_tokens


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def render(progress: Progress, now: float | None = None) -> RenderableType:
    """The view: done / running / queued, pass rate, tokens, throughput, ETA, rate-limit state,
    and each running task's latest activity."""
    now = time.monotonic() if now is None else now
    elapsed = max(1e-9, now - progress.started)
    done, running = progress.done, len(progress.running)
    queued = max(0, progress.total - done - running)
    passed = progress.outcomes.get("passed", 0)
    rate = f"{passed / done:.0%}" if done else "-"
    per_min = done / elapsed * 60
    eta = _duration((progress.total - done) / (done / elapsed)) if done else "-"
    head = Text.assemble(
        (f"{done}/{progress.total} done", "bold"), f"  {running} running  {queued} queued  ",
        ("pass rate ", "dim"), (rate, "green" if done and passed == done else "yellow"),
        ("  tokens ", "dim"), f"{progress.input_tokens:,} in / {progress.output_tokens:,} out",
        ("  ", ""), f"{per_min:.1f} tasks/min", ("  ETA ", "dim"), eta,
    )  # fmt: skip
    lines: list[RenderableType] = [head]
    outcomes = "  ".join(f"{n} {outcome}" for outcome, n in sorted(progress.outcomes.items()))
    if outcomes:
        lines.append(Text(outcomes, style="dim"))
    held = _rate_limited(progress)
    if held:
        lines.append(Text(held, style="yellow"))
    if progress.running:
        table = Table(box=None, show_header=False, pad_edge=False, expand=False)
        table.add_column(style="cyan", no_wrap=True)
        table.add_column(style="dim", no_wrap=True)
        table.add_column(overflow="ellipsis", no_wrap=True)
        for task_id, managed in list(progress.running.items())[:20]:
            if managed is None or isinstance(managed, str):
                table.add_row(task_id, managed or "setting up", "")
            else:
                table.add_row(task_id, managed.status, managed.activity)
        lines.append(table)
    return Group(*lines)


def _rate_limited(progress: Progress) -> str:
    if progress.manager is None:
        return ""
    until = [m.rate_limited_until for m in progress.manager.list() if m.rate_limited_until is not None]
    if not until:
        return ""
    return f"rate limited: turns wait until {time.strftime('%H:%M:%S', time.localtime(max(until)))}"

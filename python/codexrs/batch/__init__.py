"""Benchmark batches: graded Codex tasks from a JSON-lines file, resumable results.

    codexrs batch TASKS.jsonl --out RESULTS.jsonl --concurrency 8

or, from Python, :func:`codexrs.batch.run`. Each task runs in a fresh copy of its workspace as
its own conversation on one :class:`~codexrs.AsyncManager`; its setup commands run before the
agent and its check after; its result is one JSON line, a :class:`Record` (every key in every
line, ``null`` where empty), written when it ends. A relative ``workspace`` in the task file is
relative to the task file's directory, not the current one.

    codexrs report RESULTS.jsonl [OTHER.jsonl] -o report.html

or :func:`codexrs.batch.write_report`: the results as one self-contained HTML page.
"""

from ._options import BatchOptions
from ._progress import Progress, render
from ._record import Outcome, Record, RecordCheck, RecordTimings, RecordTurn, RecordUsage, decode_record
from ._report import Results, load, write_report
from ._run import Summary, arun, done_ids, run
from ._tasks import BadLine, Budget, Task, read_tasks

__all__ = [
    "BadLine", "BatchOptions", "Budget", "Outcome", "Progress", "Record", "RecordCheck", "RecordTimings", "RecordTurn", "RecordUsage", "Results",
    "Summary", "Task", "arun", "decode_record", "done_ids", "load", "read_tasks", "render", "run", "write_report",
]  # fmt: skip

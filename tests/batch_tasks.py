"""The task files the batch tests share: the same twelve lines run with and without Ray."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from codexrs.testing import ScriptedModel, exec_command, text

#: What the twelve tasks' result lines must say (line 12 is not a task).
TWELVE_OUTCOMES = {
    **{f"p{n}": "passed" for n in range(6)}, "f0": "failed", "f1": "failed",
    "budget": "over_budget", "slow": "timeout", "setup": "error",
}  # fmt: skip


def write_tasks(path: Path, tasks: list[Any]) -> None:
    path.write_text("".join((t if isinstance(t, str) else json.dumps(t)) + "\n" for t in tasks))


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch_command(scripted_model: ScriptedModel, codex_home: Path, tasks_file: Path, out: Path | str, *extra: str) -> list[str]:
    """``codexrs batch`` as a user types it, against the scripted model (its config as ``-c``)."""
    overrides = [arg for k, v in scripted_model.config().items() for arg in ("-c", f"{k}={json.dumps(v)}")]
    return [sys.executable, "-m", "codexrs.cli", "batch", str(tasks_file), "--out", str(out),
            "--codex-home", str(codex_home), *overrides, *extra]  # fmt: skip


def plain_env() -> dict[str, str]:
    """This environment without what would make rich colour or size a piped console."""
    return {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES")}


def twelve_tasks(scripted_model: ScriptedModel, tmp_path: Path) -> Path:
    """Twelve lines, each model answer scripted: six tasks whose agent makes the file their check
    wants, two whose agent does not, one over its token budget before its second prompt, one
    past its wall time, one whose setup fails, and a malformed line (line 12)."""
    tasks: list[Any] = []
    for n in range(6):
        scripted_model.route(f"<batch-p{n}>", exec_command("echo ok > done.txt"), text(f"made it {n}"))
        tasks.append({"id": f"p{n}", "prompt": f"<batch-p{n}>", "check": "test -f done.txt"})
    for n in range(2):
        scripted_model.route(f"<batch-f{n}>", text("did nothing"))
        tasks.append({"id": f"f{n}", "prompt": f"<batch-f{n}>", "check": "test -f done.txt"})
    scripted_model.route("<batch-b-one>", text("spent it", input_tokens=100))
    tasks.append({"id": "budget", "prompt": ["<batch-b-one>", "<batch-b-two>"], "budget": {"tokens": 50}})
    scripted_model.route("<batch-slow>", text("too late").delayed(8.0))
    tasks.append({"id": "slow", "prompt": "<batch-slow>", "budget": {"wall_s": 1.0}, "check": "true"})
    tasks.append({"id": "setup", "prompt": "<batch-never-sent>", "setup": ["exit 3"]})
    tasks.append('{"id": "broken", "prompt": ')  # line 12
    path = tmp_path / "tasks.jsonl"
    write_tasks(path, tasks)
    return path

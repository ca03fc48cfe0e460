"""A task's workspace: a fresh copy, its setup, the agent's diff, and shell commands in it."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._tasks import Task

__all__ = ["CommandResult", "baseline", "capture_diff", "prepare", "run_command", "safe_name"]

#: Git's identity for the workspace's baseline commit (the agent's diff is taken against it).
_GIT = ["git", "-c", "user.name=codexrs batch", "-c", "user.email=batch@codexrs.invalid", "-c", "commit.gpgsign=false"]
#: How much of a command's output a result line keeps (its tail), in characters.
OUTPUT_TAIL = 4000


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output_tail: str


def _git(cwd: Path, *args: str) -> None:
    subprocess.run([*_GIT, *args], cwd=cwd, check=True, capture_output=True)


def prepare(task: Task, root: Path) -> Path:
    """A fresh directory under ``root`` holding the task's workspace: ``workspace`` copied, or
    cloned at ``ref``, or empty; made a git repository if it is not one (for the diff)."""
    dest = Path(tempfile.mkdtemp(prefix=f"{safe_name(task.id)[:40]}-", dir=root))
    if task.workspace is not None and task.ref is not None:
        dest.rmdir()
        _git(root, "clone", "--quiet", "--no-hardlinks", task.workspace, str(dest))
        _git(dest, "checkout", "--quiet", task.ref)
    elif task.workspace is not None:
        shutil.copytree(task.workspace, dest, symlinks=True, dirs_exist_ok=True)
    if not (dest / ".git").exists():
        _git(dest, "init", "--quiet")
    return dest


def baseline(workspace: Path) -> None:
    """Commits the workspace as it is after setup: the agent's diff is taken against it."""
    _git(workspace, "add", "-A")
    _git(workspace, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", "codexrs batch: before the agent")


def capture_diff(workspace: Path) -> str:
    """What the agent changed since :func:`baseline` (new files included), as ``git diff``."""
    _git(workspace, "add", "-A")
    done = subprocess.run([*_GIT, "diff", "--cached", "--binary", "HEAD"], cwd=workspace, capture_output=True, check=True)
    return done.stdout.decode("utf-8", "replace")


async def run_command(command: str, workspace: Path, timeout: float | None = None) -> CommandResult:
    """Runs a shell command in the workspace; exit code 124 if it ran past ``timeout``."""
    proc = await asyncio.create_subprocess_shell(
        command, cwd=workspace, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return CommandResult(124, out.decode("utf-8", "replace")[-OUTPUT_TAIL:] + f"\n[killed after {timeout} s]")
    return CommandResult(proc.returncode if proc.returncode is not None else -1, out.decode("utf-8", "replace")[-OUTPUT_TAIL:])


def safe_name(task_id: str) -> str:
    """The task id as a file name: characters other than letters, digits, ``-_.`` become ``_``,
    and then a hash of the id is added, so two ids never share a name."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in task_id)
    if name == task_id and name not in ("", ".", ".."):
        return name
    return f"{name[:60]}-{hashlib.sha1(task_id.encode()).hexdigest()[:10]}"

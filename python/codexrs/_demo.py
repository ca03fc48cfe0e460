"""``codexrs demo``: one real codex-core turn against the scripted model the package ships.

The agent runs a shell command, applies a patch that creates a file and streams its answer;
the demo prints that as it happens, then the turn's diff, its token usage and a check of each
effect (the file exists, the message arrived, the turn completed).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from . import events as ev
from ._core.engine import Codex
from ._console import TurnPrinter
from .approvals import ApprovalRequest, Decision

DEMO_FILE = "hello.txt"
DEMO_COMMAND = "echo hello from codex-core inside python"
DEMO_PATCH = (
    f"*** Begin Patch\n*** Add File: {DEMO_FILE}\n+Hello from codexrs!\n"
    "+codex-core wrote this file through apply_patch.\n*** End Patch\n"
)
DEMO_MESSAGE = f"I ran a command and created {DEMO_FILE}."


def demo(console: Console, *, verbose: bool = False) -> int:
    """Runs the demo turn; returns the exit status (0 when every check passed)."""
    from .testing import ScriptedModel, apply_patch, exec_command, text

    def approve(request: ApprovalRequest) -> Decision:
        console.print(Text(f"on_approval: approving {request.type}", style="bold"))
        return "approved"

    with tempfile.TemporaryDirectory(prefix="codexrs-demo-") as tmp, ScriptedModel() as model:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        words = DEMO_MESSAGE.split(" ")
        model.enqueue(
            exec_command(DEMO_COMMAND),
            # A real model thinks before its next step; this pause (longer than codex-core's
            # 100 ms trailing-output grace for a finished command) lets the command's
            # exec_command_end arrive in this turn, as it usually does against a real model.
            apply_patch(DEMO_PATCH).delayed(0.2),
            text(DEMO_MESSAGE, deltas=[w + " " for w in words[:-1]] + [words[-1]]),
        )
        console.print(
            Panel(
                f"codex-core runs in this process; the model is codexrs's scripted model at {model.url}\n"
                f"workspace: {repo}",
                title="codexrs demo",
            )
        )
        printer = TurnPrinter(console, verbose=verbose)
        seen: list[ev.Event] = []
        with Codex(codex_home=Path(tmp) / "home", cwd=repo, config=model.config()) as codex:
            thread = codex.thread_start(approval_policy="on-request", sandbox="workspace-write", on_approval=approve)
            turn = thread.turn(f"Run a command, then create {DEMO_FILE}.")
            with turn.stream() as stream:
                for event in stream:
                    seen.append(event)
                    printer.handle(event)
            result = turn.result()
        printer.finish(result)

        # The command's end event, exit 0. (Its output is shown when codex-core reports it: in
        # the end event, or as output deltas when its watcher ends the command, and in a rare
        # race neither; the model always receives it.)
        ran = any(isinstance(e, ev.ExecCommandEnd) and e.exit_code == 0 for e in seen)
        patched = any(isinstance(e, ev.PatchApplyEnd) and e.success for e in seen)
        created = (repo / DEMO_FILE).is_file() and "Hello from codexrs!" in (repo / DEMO_FILE).read_text()
        checks = {
            "command ran (exec_command_end, exit 0)": ran,
            "patch applied (patch_apply_end)": patched,
            f"{DEMO_FILE} exists with the patch's content": created,
            "final message streamed": result.final_response == DEMO_MESSAGE,
            "turn completed": result.status == "completed",
            "usage reported": result.usage.total_tokens > 0,
        }
        for name, ok in checks.items():
            console.print(Text("ok   " if ok else "FAIL ", style="green" if ok else "red") + Text(name))
        return 0 if all(checks.values()) else 1

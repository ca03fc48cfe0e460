"""The ``codexrs`` command line: ``codexrs demo`` and ``codexrs run "prompt"``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from . import events as ev
from ._client import Codex, Thread, TurnResult, Usage
from .approvals import ApprovalRequest, Decision
from .errors import CodexError

DEMO_FILE = "hello.txt"
DEMO_COMMAND = "echo hello from codex-core inside python"
DEMO_PATCH = f"*** Begin Patch\n*** Add File: {DEMO_FILE}\n+Hello from codexrs!\n+codex-core wrote this file through apply_patch.\n*** End Patch\n"
DEMO_MESSAGE = f"I ran a command and created {DEMO_FILE}."


def _print_event(console: Console, event: ev.Event, state: dict[str, bool]) -> None:
    """One line per event; message deltas stream inline."""
    if isinstance(event, ev.AgentMessageContentDelta):
        if not state.get("in_message"):
            console.print("[bold cyan]assistant[/] ", end="")
            state["in_message"] = True
        console.print(event.delta, end="", markup=False, highlight=False)
        return
    if state.pop("in_message", False):
        console.print()
    if isinstance(event, ev.TurnStarted):
        console.print(f"[dim]turn started[/] {event.turn_id}")
    elif isinstance(event, ev.ExecCommandBegin):
        console.print(f"[yellow]$ {' '.join(event.command)}[/]")
    elif isinstance(event, ev.ExecCommandOutputDelta):
        console.print(event.chunk.decode("utf-8", "replace"), end="", markup=False, highlight=False)
    elif isinstance(event, ev.ExecCommandEnd):
        console.print(f"[dim]exit code {event.exit_code} in {event.duration.seconds:.3f}s[/]")
    elif isinstance(event, ev.PatchApplyBegin):
        console.print(f"[magenta]applying patch[/] to {', '.join(event.changes)}")
    elif isinstance(event, ev.PatchApplyEnd):
        console.print(f"[magenta]patch {'applied' if event.success else 'FAILED'}[/] {event.stderr.strip()}")
    elif isinstance(event, (ev.ExecApprovalRequest, ev.ApplyPatchApprovalRequest)):
        console.print(f"[bold]approval requested[/] ({event.type})")
    elif isinstance(event, ev.ApprovalAutoDenied):
        console.print(f"[red]approval denied by codexrs[/]: {event.reason}")
    elif isinstance(event, ev.TurnComplete):
        console.print("[green]turn complete[/]")
    elif isinstance(event, ev.TurnAborted):
        console.print(f"[red]turn aborted[/] ({event.reason})")
    elif isinstance(event, (ev.ErrorEvent, ev.StreamError)):
        console.print(f"[red]error[/] {event.message}")
    elif isinstance(event, ev.WarningEvent):
        console.print(f"[yellow]warning[/] {event.message}")
    else:
        console.print(f"[dim]{event.type}[/]")


def _usage_table(usage: Usage) -> Table:
    table = Table(title="token usage (from codex-core token_count events)")
    for column in ("input", "cached input", "output", "reasoning", "total"):
        table.add_column(column, justify="right")
    table.add_row(
        str(usage.input_tokens),
        str(usage.cached_input_tokens),
        str(usage.output_tokens),
        str(usage.reasoning_output_tokens),
        str(usage.total_tokens),
    )
    return table


def _stream_turn(console: Console, thread: Thread, prompt: str) -> tuple[TurnResult, list[ev.Event]]:
    turn = thread.turn(prompt)
    seen: list[ev.Event] = []
    state: dict[str, bool] = {}
    with turn.stream() as stream:
        for event in stream:
            seen.append(event)
            _print_event(console, event, state)
    if state.get("in_message"):
        console.print()
    return turn.result(), seen


def demo(console: Console) -> int:
    """A real codex-core turn against the scripted model: a command, a patch, a message."""
    from .testing import ScriptedModel, apply_patch, exec_command, text

    def approve(request: ApprovalRequest) -> Decision:
        console.print(f"[bold]on_approval[/] approving {request.type}")
        return "approved"

    with tempfile.TemporaryDirectory(prefix="codexrs-demo-") as tmp, ScriptedModel() as model:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        words = DEMO_MESSAGE.split(" ")
        model.enqueue(
            exec_command(DEMO_COMMAND),
            apply_patch(DEMO_PATCH),
            text(DEMO_MESSAGE, deltas=[w + " " for w in words[:-1]] + [words[-1]]),
        )
        console.print(Panel(f"codex-core in-process, scripted model at {model.url}\nworkspace: {repo}", title="codexrs demo"))
        with Codex(codex_home=Path(tmp) / "home", cwd=repo, config=model.config()) as codex:
            thread = codex.thread_start(approval_policy="on-request", sandbox="workspace-write", on_approval=approve)
            result, seen = _stream_turn(console, thread, f"Run a command, then create {DEMO_FILE}.")
        subprocess.run(["git", "add", "-N", "."], cwd=repo, check=True)
        diff = subprocess.run(["git", "diff"], cwd=repo, check=True, capture_output=True, text=True).stdout
        console.print(Panel(Syntax(diff or "(no changes)", "diff"), title="git diff"))
        console.print(Panel(result.final_response or "(none)", title=f"final message ({result.status})"))
        console.print(_usage_table(result.usage))

        ran = any(isinstance(e, ev.ExecCommandEnd) and e.exit_code == 0 and "hello from codex-core" in e.aggregated_output for e in seen)
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
            console.print(("[green]ok  [/] " if ok else "[red]FAIL[/] ") + name)
        return 0 if all(checks.values()) else 1


def run(console: Console, prompt: str, model: str | None, cwd: str | None, sandbox: str, approval_policy: str) -> int:
    """One turn against a real OpenAI model."""
    config: dict[str, object] = {}
    if os.environ.get("CODEX_API_KEY"):
        pass  # codex-core's AuthManager reads CODEX_API_KEY itself
    elif os.environ.get("OPENAI_API_KEY"):
        config.update(
            {
                "model_provider": "openai-api-key",
                "model_providers.openai-api-key.name": "OpenAI (OPENAI_API_KEY)",
                "model_providers.openai-api-key.base_url": "https://api.openai.com/v1",
                "model_providers.openai-api-key.env_key": "OPENAI_API_KEY",
                "model_providers.openai-api-key.wire_api": "responses",
            }
        )
    else:
        console.print(
            "[red]codexrs run needs an API key:[/] set OPENAI_API_KEY (an OpenAI API key) or "
            "CODEX_API_KEY. Neither is set. `codexrs demo` runs without one."
        )
        return 2
    with Codex(cwd=cwd or os.getcwd(), config=config) as codex:
        thread = codex.thread_start(model=model, sandbox=sandbox, approval_policy=approval_policy)
        result, _ = _stream_turn(console, thread, prompt)
    console.print(_usage_table(result.usage))
    if result.error is not None:
        console.print(f"[red]turn {result.status}:[/] {result.error.message}")
    return 0 if result.status == "completed" else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codexrs", description="codex-core inside Python")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run a real codex-core turn against the bundled scripted model")
    run_p = sub.add_parser("run", help="run one turn against a real OpenAI model")
    run_p.add_argument("prompt")
    run_p.add_argument("--model", default=None)
    run_p.add_argument("--cwd", default=None)
    run_p.add_argument("--sandbox", default="workspace-write")
    run_p.add_argument("--approval-policy", default="never")
    args = parser.parse_args(argv)
    console = Console()
    try:
        if args.command == "demo":
            return demo(console)
        return run(console, args.prompt, args.model, args.cwd, args.sandbox, args.approval_policy)
    except CodexError as exc:
        console.print(f"[red]{type(exc).__name__}:[/] {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())

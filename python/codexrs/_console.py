"""Rendering a turn's events to a terminal with rich, for ``codexrs demo`` and ``codexrs run``.

By default it shows what a person watches a turn for: each command and its output, each patch,
the assistant's text as it streams, then the turn's diff and token usage. Lifecycle events
(``item_started``, ``item_completed``, ``raw_response_completed``, the repeated ``turn_diff``,
``token_count``, ...) are shown, one dim line each, only when ``verbose`` is set.
"""

from __future__ import annotations

import shlex
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from . import events as ev
from ._core.result import TurnResult, Usage


def command_line(command: list[str]) -> str:
    """The command as a person would type it: the script of ``bash -lc SCRIPT``, else shell-quoted."""
    if len(command) == 3 and command[0].rsplit("/", 1)[-1] in ("bash", "sh", "zsh") and command[1] in ("-lc", "-c"):
        return command[2]
    return shlex.join(command)


def patch_text(changes: dict[str, ev.FileChange]) -> str:
    """A ``patch_apply_begin`` event's changes (codex ``FileChange`` per path) as one diff text."""
    parts = []
    for path, change in changes.items():
        if isinstance(change, ev.FileChangeAdd):
            body = "".join(f"+{line}\n" for line in change.content.splitlines())
            parts.append(f"--- /dev/null\n+++ {path}\n{body}")
        elif isinstance(change, ev.FileChangeDelete):
            body = "".join(f"-{line}\n" for line in change.content.splitlines())
            parts.append(f"--- {path}\n+++ /dev/null\n{body}")
        else:
            parts.append(f"--- {path}\n+++ {change.move_path or path}\n{change.unified_diff}")
    return "".join(parts)


def usage_table(usage: Usage) -> Table:
    """Token counts of one turn, from codex-core's ``token_count`` events."""
    table = Table(title="token usage")
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


class TurnPrinter:
    """Prints one turn's events as they arrive; :meth:`finish` prints the diff and usage.

    Args:
        console: Where to print.
        verbose: Also print lifecycle events (one dim line each, with the wire name).
    """

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self.last_diff: str | None = None
        self._open: str | None = None  # "assistant" or "reasoning" while a delta line is open
        self._streamed_output: set[str] = set()  # call ids whose output arrived as deltas

    def _stream(self, kind: str, label: str, delta: str, style: str) -> None:
        if self._open != kind:
            self._close()
            self.console.print(Text(f"{label} ", style=f"bold {style}"), end="")
            self._open = kind
        self.console.print(Text(delta, style=style if kind == "reasoning" else ""), end="")

    def _close(self) -> None:
        if self._open is not None:
            self.console.print()
            self._open = None

    def handle(self, event: ev.Event) -> None:
        """Prints ``event`` (or nothing, for lifecycle events unless verbose)."""
        if isinstance(event, ev.AgentMessageContentDelta):
            self._stream("assistant", "assistant", event.delta, "cyan")
            return
        if isinstance(event, ev.ReasoningContentDelta):
            self._stream("reasoning", "thinking", event.delta, "dim italic")
            return
        self._close()
        c = self.console
        if isinstance(event, ev.ExecCommandBegin):
            c.print(Text(f"$ {command_line(event.command)}", style="bold yellow"))
        elif isinstance(event, ev.ExecCommandOutputDelta):
            self._streamed_output.add(event.call_id)
            c.print(Text(event.chunk.decode("utf-8", "replace"), style="dim"), end="")
        elif isinstance(event, ev.ExecCommandEnd):
            if event.call_id not in self._streamed_output and event.aggregated_output:
                c.print(Text(event.aggregated_output.rstrip("\n"), style="dim"))
            seconds = event.duration.secs + event.duration.nanos / 1e9
            style = "green" if event.exit_code == 0 else "red"
            c.print(Text(f"  exit {event.exit_code} in {seconds:.3f}s", style=style))
        elif isinstance(event, ev.PatchApplyBegin):
            c.print(Panel(Syntax(patch_text(event.changes).rstrip("\n"), "diff"), title="patch", title_align="left"))
        elif isinstance(event, ev.PatchApplyEnd):
            detail = "" if event.success else f": {event.stderr.strip()}"
            c.print(Text(f"  patch {'applied' if event.success else 'FAILED'}{detail}", style="green" if event.success else "red"))
        elif isinstance(event, ev.TurnDiff):
            self.last_diff = event.unified_diff  # printed once, by finish()
            self._lifecycle(event)
        elif isinstance(event, (ev.ExecApprovalRequest, ev.ApplyPatchApprovalRequest)):
            c.print(Text(f"approval requested ({event.type})", style="bold"))
        elif isinstance(event, ev.RequestDenied):
            c.print(Text(f"{event.kind} request denied by codexrs: {event.reason}", style="red"))
        elif isinstance(event, ev.TurnComplete):
            took = f" in {event.duration_ms} ms" if event.duration_ms is not None else ""
            c.print(Text(f"turn complete{took}", style="green"))
        elif isinstance(event, ev.TurnAborted):
            c.print(Text(f"turn aborted ({event.reason})", style="red"))
        elif isinstance(event, (ev.ErrorEvent, ev.StreamError)):
            c.print(Text(f"error: {event.message}", style="red"))
        elif isinstance(event, ev.WarningEvent):
            c.print(Text(f"warning: {event.message}", style="yellow"))
        else:
            self._lifecycle(event)

    def _lifecycle(self, event: ev.Event) -> None:
        if self.verbose:
            self.console.print(Text(event.type, style="dim"))

    def finish(self, result: TurnResult) -> None:
        """Prints the turn's diff (its last ``turn_diff`` event) and its usage."""
        self._close()
        if self.last_diff:
            self.console.print(Panel(Syntax(self.last_diff.rstrip("\n"), "diff"), title="turn diff", title_align="left"))
        self.console.print(usage_table(result.usage))
        if result.error is not None:
            self.console.print(Text(f"turn {result.status}: {result.error.message}", style="red"))

"""``codexrs batch`` and ``codexrs report``: the command lines of :func:`codexrs.batch.run` and
:func:`codexrs.batch.write_report`."""

from __future__ import annotations

import argparse
import asyncio
import tomllib
from typing import Any, get_args

from rich.console import Console
from rich.live import Live
from rich.markup import escape

from .._core.options import ApprovalPolicy, SandboxMode
from ._progress import Progress, render
from ._record import Record
from ._report import write_report
from ._run import Summary, arun

__all__ = ["add_parser", "add_report_parser", "main", "override", "report_main", "summary_line"]


def override(text: str) -> tuple[str, Any]:
    """``key=value`` as in ``codex -c``: the value is TOML, or else a plain string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, not {text!r}")
    try:
        parsed: Any = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key.strip(), parsed


def add_parser(sub: Any) -> None:
    p = sub.add_parser("batch", help="run graded tasks from a JSON-lines file; resumable results")
    p.add_argument("tasks", help="the task file: one JSON task per line")
    p.add_argument("--out", required=True, help="the results file (JSON lines); ids already there are skipped")
    p.add_argument("--concurrency", type=int, default=8, help="tasks and turns at once (default 8)")
    p.add_argument("-c", "--config", dest="overrides", type=override, action="append", default=[], help="codex config key=value, as codex -c")
    p.add_argument("--codex-home", default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--approval-policy", default="never", choices=get_args(ApprovalPolicy))
    p.add_argument("--sandbox", default="workspace-write", choices=get_args(SandboxMode))
    p.add_argument("--keep-workspaces", action="store_true", help="keep each task's workspace copy")
    p.add_argument("--ray", metavar="ADDRESS", default=None, help="spread the tasks over a Ray cluster: its address, or 'local' (needs codexrs[ray])")
    p.add_argument("--workers", type=int, default=None, help="with --ray: worker processes (default one per node); --concurrency is per worker")
    p.add_argument("--ray-homes", default=None, help="with --ray: where each node keeps its workers' codex homes (default: its temp dir)")


def summary_line(summary: Summary, out: str) -> str:
    """The run's last line: ``"2 passed, 1 failed; 3 already in results.jsonl; 0 bad line(s)"``,
    or ``"nothing run; 5 already in results.jsonl; 0 bad line(s)"``."""
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(summary.outcomes.items())) or "nothing run"
    skipped = f"; {len(summary.skipped)} already in {out}" if summary.skipped else ""
    return f"{counts}{skipped}; {len(summary.bad_lines)} bad line(s)"


def main(args: argparse.Namespace, console: Console) -> int:
    def show(record: Record) -> None:
        colour = {"passed": "green", "failed": "red", "timeout": "yellow", "over_budget": "yellow"}.get(record.outcome, "red")
        extra = f" {escape(record.error)}" if record.error else ""
        line = f"[{colour}]{record.outcome:<11}[/] {escape(record.id)} ({record.timings.total_s:.1f} s){extra}"
        console.print(line, soft_wrap=True)

    progress = Progress()

    async def go() -> Summary:
        # transient: the view goes when the run ends (rich leaves a file's last frame without its
        # newline), and its final state is printed once below, only if a task ran
        with Live(render(progress), console=console, auto_refresh=False, transient=True) as live:

            async def refresh() -> None:
                while True:
                    live.update(render(progress), refresh=True)
                    await asyncio.sleep(0.25)

            refresher = asyncio.create_task(refresh())
            try:
                return await arun(
                    args.tasks,
                    args.out,
                    concurrency=args.concurrency,
                    codex_home=args.codex_home,
                    config=dict(args.overrides),
                    model=args.model,
                    approval_policy=args.approval_policy,
                    sandbox=args.sandbox,
                    keep_workspaces=args.keep_workspaces,
                    on_result=show,
                    progress=progress,
                    ray=args.ray,
                    workers=args.workers,
                    ray_homes=args.ray_homes,
                )
            finally:
                refresher.cancel()
                live.update(render(progress), refresh=True)

    summary = asyncio.run(go())
    if progress.total:
        console.print(render(progress), soft_wrap=True)
    for bad in summary.bad_lines:
        console.print(f"[red]line {bad.line} skipped:[/] {escape(bad.error)}", soft_wrap=True)
    console.print(summary_line(summary, args.out), soft_wrap=True, markup=False, highlight=False)
    ran = sum(summary.outcomes.values())
    if ran and summary.outcomes.get("error", 0) == ran:
        console.print(f"every task errored ({ran} of {ran}): each error is above and in {args.out}", soft_wrap=True, markup=False, highlight=False)
        return 1
    return 0


def add_report_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page for a results file, or two side by side")
    p.add_argument("results", nargs="+", help="a results file of codexrs batch; a second one to compare with it")
    p.add_argument("-o", "--output", default="report.html", help="the page to write (default report.html)")


def report_main(args: argparse.Namespace, console: Console) -> int:
    if len(args.results) > 2:
        console.print(f"[red]codexrs report takes one or two results files, not {len(args.results)}[/]")
        return 2
    try:
        page = write_report(args.results, args.output)
    except (OSError, ImportError) as exc:
        console.print(f"[red]{type(exc).__name__}:[/] {exc}")
        return 1
    console.print(f"wrote {page} ({page.stat().st_size / 1e6:.1f} MB)")
    return 0

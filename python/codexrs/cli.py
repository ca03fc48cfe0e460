"""The ``codexrs`` command line: ``codexrs demo``, ``codexrs run "prompt"``, ``codexrs batch``,
``codexrs report``, ``codexrs serve``, ``codexrs sessions``, ``codexrs login``, ``codexrs logout``
and ``codexrs account``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence, get_args

from rich.console import Console
from rich.markup import escape

from . import _native
from ._core.account import codex_core_version
from ._core.engine import Codex
from ._console import TurnPrinter
from ._core.options import ApprovalPolicy, SandboxMode
from ._demo import demo
from . import _login_cli as login_cli
from .batch import _cli as batch_cli
from .server import _cli as server_cli
from ._extras import MissingExtraError, require
from .errors import CodexError, CredentialsError


def run(
    console: Console,
    prompt: str,
    model: str | None,
    cwd: str | None,
    sandbox: SandboxMode,
    approval_policy: ApprovalPolicy,
    verbose: bool,
) -> int:
    """One turn against the model of codex's config (``config.toml``), with the credential the
    Python API would use (README "Credentials"): a missing one is a ``CredentialsError``."""
    with Codex(cwd=cwd or os.getcwd()) as codex:
        thread = codex.thread_start(model=model, sandbox=sandbox, approval_policy=approval_policy)
        printer = TurnPrinter(console, verbose=verbose)
        turn = thread.turn(prompt)
        with turn.stream() as stream:
            for event in stream:
                printer.handle(event)
        result = turn.result()
    printer.finish(result)
    return 0 if result.status == "completed" else 1


def require_extra(args: argparse.Namespace) -> None:
    """Imports the optional dependency the command needs before it starts.

    Raises:
        MissingExtraError: It is not installed.
    """
    if args.command == "report":
        require("plotly.graph_objects", feature="codexrs report", library="Plotly", extra="report")
    elif args.command == "batch" and args.ray is not None:
        require("ray", feature="codexrs batch --ray", library="Ray", extra="ray")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codexrs", description="codex-core inside Python")
    parser.add_argument(
        "--version", action="version", version=f"codexrs {_native.VERSION} ({codex_core_version()})"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", help="also show lifecycle events (item_started, ...)")
    sub.add_parser("demo", parents=[verbose], help="run a real codex-core turn against the bundled scripted model")
    run_p = sub.add_parser("run", parents=[verbose], help="run one turn against the model of your codex config (default: OpenAI; needs its credential)")
    run_p.add_argument("prompt")
    run_p.add_argument("--model", default=None)
    run_p.add_argument("--cwd", default=None)
    run_p.add_argument("--sandbox", default="workspace-write", choices=get_args(SandboxMode))
    run_p.add_argument("--approval-policy", default="never", choices=get_args(ApprovalPolicy))
    batch_cli.add_parser(sub)
    batch_cli.add_report_parser(sub)
    server_cli.add_parsers(sub, batch_cli.override)
    login_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    console = Console()
    try:
        require_extra(args)
        if args.command == "demo":
            return demo(console, verbose=args.verbose)
        if args.command == "batch":
            return batch_cli.main(args, console)
        if args.command == "report":
            return batch_cli.report_main(args, console)
        if args.command == "serve":
            return server_cli.serve_main(args, console)
        if args.command == "sessions":
            return server_cli.sessions_main(args, console)
        if args.command in login_cli.COMMANDS:
            return login_cli.main(args, console)
        return run(console, args.prompt, args.model, args.cwd, args.sandbox, args.approval_policy, args.verbose)
    except MissingExtraError as exc:  # one line, the pip install that adds it, no traceback
        print(exc, file=sys.stderr)
        return 2
    except CredentialsError as exc:
        console.print(f"[red]{type(exc).__name__}:[/] {escape(str(exc))}", soft_wrap=True)
        return 2
    except ConnectionError as exc:  # codexrs batch --ray: no cluster there
        if args.command != "batch":
            raise
        print(exc, file=sys.stderr)
        return 2
    except CodexError as exc:
        console.print(f"[red]{type(exc).__name__}:[/] {escape(str(exc))}", soft_wrap=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())

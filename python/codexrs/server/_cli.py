"""``codexrs serve`` (the server, with uvicorn) and ``codexrs sessions`` (its client, httpx):
named sessions that outlive any one command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from rich.console import Console

__all__ = ["add_parsers", "serve_main", "sessions_main"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parsers(sub: Any, override: Any) -> None:
    serve = sub.add_parser("serve", help="codex threads behind HTTP, with a live dashboard at /")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--token", default=os.environ.get("CODEXRS_TOKEN"), help="bearer token (or CODEXRS_TOKEN); required beyond loopback")
    serve.add_argument("--codex-home", default=None)
    serve.add_argument("--cwd", default=None)
    serve.add_argument("-c", "--config", dest="overrides", type=override, action="append", default=[], help="codex config key=value")
    serve.add_argument("--max-running-turns", type=int, default=None)
    serve.add_argument("--approval-policy", default=None, help="default for new threads (e.g. on-request)")
    serve.add_argument("--sandbox", default=None, help="default for new threads (e.g. workspace-write)")

    sessions = sub.add_parser("sessions", help="the client of codexrs serve: named sessions")
    sessions.add_argument("--url", default=os.environ.get("CODEXRS_URL", "http://127.0.0.1:8765"), help="the server (or CODEXRS_URL)")
    sessions.add_argument("--token", default=os.environ.get("CODEXRS_TOKEN"), help="bearer token (or CODEXRS_TOKEN)")
    verbs = sessions.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser("create", help="start a named session")
    create.add_argument("name")
    for option in ("--cwd", "--model", "--approval-policy", "--sandbox", "--group"):
        create.add_argument(option, default=None)
    send = verbs.add_parser("send", help="send a message; returns at once")
    send.add_argument("name")
    send.add_argument("message")
    wait = verbs.add_parser("wait", help="block until the session's last turn ends; prints its answer")
    wait.add_argument("name")
    wait.add_argument("--timeout", type=float, default=None)
    for verb, text in (("last-message", "the session's last answer"), ("status", "the session's status"),
                       ("kill", "remove the session (its rollout stays)"), ("interrupt", "interrupt the running turn")):
        verbs.add_parser(verb, help=text).add_argument("name")
    verbs.add_parser("list", help="every session with its status")
    for verb in ("approve", "deny"):
        p = verbs.add_parser(verb, help=f"{verb} the session's pending request (the only one, or --request ID)")
        p.add_argument("name")
        p.add_argument("--request", default=None)


def serve_main(args: argparse.Namespace, console: Console) -> int:
    try:
        import uvicorn
    except ImportError:
        console.print("[red]codexrs serve needs uvicorn and Starlette:[/] pip install 'codexrs[serve]'")
        return 2
    if args.host not in LOOPBACK and not args.token:
        console.print(f"[red]--token (or CODEXRS_TOKEN) is required to listen on {args.host}[/] (beyond loopback)")
        return 2
    from ..manager import AsyncManager
    from ._app import create_app

    defaults = {k: v for k, v in (("approval_policy", args.approval_policy), ("sandbox", args.sandbox)) if v is not None}

    async def main() -> None:
        async with AsyncManager(args.codex_home, args.cwd, dict(args.overrides), max_running_turns=args.max_running_turns) as manager:
            app = create_app(manager, token=args.token, thread_options=defaults)
            config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info", lifespan="off")
            await uvicorn.Server(config).serve()

    console.print(f"codexrs serve: http://{args.host}:{args.port}/ (dashboard), API under /api")
    asyncio.run(main())
    return 0


def sessions_main(args: argparse.Namespace, console: Console) -> int:
    import httpx

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    client = httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=None)

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise SystemExit(f"codexrs sessions: cannot reach {args.url}: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            print(f"codexrs sessions: {message} (HTTP {response.status_code})", file=sys.stderr)
            raise SystemExit(1)
        return None if response.status_code == 204 else response.json()

    name = getattr(args, "name", None)
    base = f"/api/threads/{name}" if name else "/api/threads"
    if args.verb == "create":
        body = {"name": name, "cwd": args.cwd, "model": args.model, "approval_policy": args.approval_policy,
                "sandbox": args.sandbox, "group": args.group}  # fmt: skip
        created = call("POST", "/api/threads", {k: v for k, v in body.items() if v is not None})
        print(f"{created['name']} {created['id']}")
    elif args.verb == "send":
        print(call("POST", f"{base}/send", {"input": args.message})["status"])
    elif args.verb == "wait":
        result = call("POST", f"{base}/wait", {} if args.timeout is None else {"timeout": args.timeout})
        print(result["final_response"] or "")
        return 0 if result["status"] == "completed" else 1
    elif args.verb == "last-message":
        print(call("GET", f"{base}/last-message")["last_message"] or "")
    elif args.verb == "status":
        print(call("GET", base)["status"])
    elif args.verb == "list":
        for thread in call("GET", "/api/threads"):
            print(f"{thread['name']}\t{thread['status']}\t{thread['id']}")
    elif args.verb == "kill":
        call("DELETE", base)
    elif args.verb == "interrupt":
        print("interrupted" if call("POST", f"{base}/interrupt")["interrupted"] else "nothing was running")
    elif args.verb in ("approve", "deny"):
        pending = call("GET", f"{base}/requests")
        chosen = [p for p in pending if args.request is None or p["id"] == args.request]
        if len(chosen) != 1:
            which = "no pending request" if not chosen else f"{len(chosen)} pending requests (choose one with --request)"
            print(f"codexrs sessions: {name} has {which}: {json.dumps([p['id'] for p in pending])}", file=sys.stderr)
            return 1
        call("POST", f"{base}/requests/{chosen[0]['id']}", {"answer": args.verb})
        print(f"{args.verb}d {chosen[0]['kind']} request {chosen[0]['id']}")
    return 0

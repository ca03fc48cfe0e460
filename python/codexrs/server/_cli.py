"""``codexrs serve`` (the server, with uvicorn) and ``codexrs sessions`` (its client, httpx):
named sessions that outlive any one command."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import secrets
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from .._extras import require

__all__ = ["add_parsers", "serve_main", "sessions_main"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Binds that listen on every address (loopback included).
WILDCARD = ("0.0.0.0", "::", "")


def add_parsers(sub: Any, override: Any) -> None:
    serve = sub.add_parser("serve", help="codex threads behind HTTP, with a live dashboard at /")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--token", default=os.environ.get("CODEXRS_TOKEN"), help="bearer token (or CODEXRS_TOKEN); default: a random one, printed in the URL")
    serve.add_argument("--no-token", action="store_true", help="serve loopback clients without a token (only when listening on loopback)")
    serve.add_argument("--allowed-host", action="append", default=[], metavar="HOST[:PORT]",
                       help="also answer to this Host header (repeatable); by default only the address it listens on")  # fmt: skip
    serve.add_argument("--allow-config", action="append", default=[], metavar="KEY",
                       help="let HTTP clients set this codex config key and its subtree for a thread (repeatable); default: none")  # fmt: skip
    serve.add_argument("--allow-full-access", action="store_true",
                       help='let HTTP clients ask for sandbox "danger-full-access" and answer requests with a dict')  # fmt: skip
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
    wait = verbs.add_parser("wait", help="block until the session's last turn ends; prints its answer (exit 0) or why it failed (exit 1)")
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
    """``codexrs serve``.

    Raises:
        MissingExtraError: Starlette or uvicorn is not installed (the ``serve`` extra).
    """
    for module in ("starlette", "uvicorn"):
        require(module, feature="codexrs serve", library="Starlette and uvicorn", extra="serve")
    import uvicorn
    if args.no_token and not _is_loopback(args.host):
        console.print(f"[red]--no-token is allowed only when listening on loopback[/] (not {escape(args.host)}): give --token or let serve make one", soft_wrap=True)
        return 2
    from .._core.options import ThreadOptions
    from ..errors import ConfigError
    from ..manager import AsyncManager
    from ._app import create_app
    from ._guard import allowed_host_entries, config_prefixes

    try:
        allowed_host_entries(args.allowed_host)
        config_prefixes(args.allow_config)
    except ConfigError as exc:
        console.print(f"[red]codexrs serve:[/] {escape(str(exc))}", soft_wrap=True)
        return 2
    token = None if args.no_token else (args.token or secrets.token_urlsafe(32))
    defaults = ThreadOptions()
    if args.approval_policy is not None:
        defaults["approval_policy"] = args.approval_policy
    if args.sandbox is not None:
        defaults["sandbox"] = args.sandbox
    allowed_hosts = [*_own_hosts(args.host, args.port), *args.allowed_host]

    async def main() -> None:
        async with AsyncManager(args.codex_home, args.cwd, dict(args.overrides), max_running_turns=args.max_running_turns) as manager:
            app = create_app(manager, token, no_token=args.no_token, thread_options=defaults, allowed_hosts=allowed_hosts,
                             allow_config=args.allow_config, allow_full_access=args.allow_full_access, cwd_root=args.cwd or os.getcwd())  # fmt: skip
            config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info", lifespan="off")
            await uvicorn.Server(config).serve()

    host = "127.0.0.1" if args.host in WILDCARD else f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{host}:{args.port}/"
    if token is None:
        url, note = base, " (no token: loopback clients only)"
    elif args.token:
        url, note = base, " (open it with ?token= and your token)"
    else:
        url, note = f"{base}?token={token}", ""
    print(f"codexrs serve: {url} (dashboard), API under /api{note}", flush=True)
    if args.host in WILDCARD and not args.allowed_host:
        print("codexrs serve: listening on every address; name the host clients reach it by with --allowed-host", flush=True)
    asyncio.run(main())
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _own_hosts(host: str, port: int) -> list[str]:
    """The ``Host`` values naming the address ``codexrs serve`` listens on: that address, and
    for a loopback (or every-address) bind the loopback names, each with the port."""
    names = {host.strip("[]")} - set(WILDCARD)
    if _is_loopback(host) or host in WILDCARD:
        names |= set(LOOPBACK)
    return [f"[{n}]:{port}" if ":" in n else f"{n}:{port}" for n in sorted(names)]


def sessions_main(args: argparse.Namespace, console: Console) -> int:
    """``codexrs sessions``.

    Raises:
        MissingExtraError: httpx is not installed (the ``serve`` extra).
    """
    require("httpx", feature="codexrs sessions", library="httpx", extra="serve")
    import httpx

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    client = httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=None)

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            # A state-changing request must be declared JSON, even with nothing to say.
            response = client.request(method, path, json=body if body is not None or method == "GET" else {})
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
        if result["status"] == "completed":
            print(result["final_response"] or "")
            return 0
        if result["final_response"]:
            print(result["final_response"])
        if result["status"] == "failed":
            status = result.get("error_status")
            kind = result.get("error_kind")  # "other": codex's kind for the rest, which says nothing
            cause = ", ".join(c for c in (kind != "other" and kind, status and f"HTTP {status}") if c)
            why = (f"failed ({cause}): " if cause else "failed: ") + (result["error"] or "no reason given")
        else:
            why = f"was {result['status']}"
        print(f"codexrs sessions: the turn of {name} {why}", file=sys.stderr)
        return 1
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
            ids = ", ".join(p["id"] for p in pending)
            if not pending:
                why = f"{name} has no pending request to {args.verb}"
            elif not chosen:
                why = f"{name} has no pending request {args.request} (pending: {ids})"
            else:
                why = f"{name} has {len(chosen)} pending requests: choose one with --request ({ids})"
            print(f"codexrs sessions: {why}", file=sys.stderr)
            return 1
        call("POST", f"{base}/requests/{chosen[0]['id']}", {"answer": args.verb})
        print(f"{args.verb}d {chosen[0]['kind']} request {chosen[0]['id']}")
    return 0

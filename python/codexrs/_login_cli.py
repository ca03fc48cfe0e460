"""``codexrs login``, ``codexrs logout`` and ``codexrs account``: codex's login in a codex home,
from the command line (the ChatGPT browser and device-code flows, or an API key read from stdin)."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from typing import Any, Iterator, Protocol

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._core.account import Account
from ._core.engine import Codex, default_codex_home

__all__ = ["COMMANDS", "add_parsers", "main"]

#: The subcommands this module answers.
COMMANDS = ("login", "logout", "account")

#: Exit status of a login cancelled with Ctrl-C (128 + SIGINT, as shells report it).
CANCELLED = 130

#: codex ``AuthMode`` names, as a person reads them.
MODES = {"apikey": "an API key", "chatgpt": "ChatGPT", "chatgptAuthTokens": "ChatGPT (tokens from the host app)"}


class _Login(Protocol):
    """What both flows' handles share (:class:`ChatgptLogin`, :class:`DeviceCodeLogin`)."""

    def wait(self, timeout: float | None = None) -> Account: ...

    def cancel(self) -> None: ...


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def add_parsers(sub: Any) -> None:
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--codex-home", default=None, help="the codex home (default: $CODEX_HOME, else ~/.codex)")

    login = sub.add_parser("login", parents=[home], help="log codex in: with ChatGPT (browser or device code) or an API key on stdin")
    how = login.add_mutually_exclusive_group()
    how.add_argument("--device-code", action="store_true",
                     help="log in on another device: prints a URL and a one-time code (for machines without a browser)")  # fmt: skip
    how.add_argument("--api-key", action="store_true",
                     help="store an OpenAI API key read from stdin (never from the command line): printenv OPENAI_API_KEY | codexrs login --api-key")  # fmt: skip
    login.add_argument("--no-browser", action="store_true", help="print the login URL without opening a browser")
    login.add_argument("--timeout", type=_seconds, default=600.0, metavar="SECONDS", help="give up after this long (default 600)")
    login.add_argument("--issuer", default=None, help=argparse.SUPPRESS)  # the OAuth issuer: tests, private deployments

    sub.add_parser("logout", parents=[home], help="remove codex's login from the codex home")

    account = sub.add_parser("account", parents=[home], help="who codex is logged in as (exit 1 when not logged in)")
    account.add_argument("--json", action="store_true", help="print the account as JSON (null when not logged in)")


def main(args: argparse.Namespace, console: Console) -> int:
    """Runs ``codexrs login``, ``logout`` or ``account``; the exit status.

    Raises:
        CodexError: From the engine or the login (``LoginError``, ``ConfigError``); the caller
            prints it on one line.
    """
    try:
        if args.command == "login" and args.api_key:
            key = _read_key()
            if not key:
                console.print(
                    "[red]codexrs login --api-key:[/] no API key on stdin; pipe it in, e.g. "
                    "printenv OPENAI_API_KEY | codexrs login --api-key",
                    soft_wrap=True,
                    highlight=False,
                )
                return 2
        else:
            key = ""
        with Codex(codex_home=args.codex_home) as codex:
            if args.command == "account":
                return _account(console, codex.account(), args.json, args.codex_home)
            if args.command == "logout":
                return _logout(console, codex, args.codex_home)
            if args.api_key:
                codex.login_api_key(key)
                return _show(console, codex.account(), args.codex_home)
            with _stderr_silenced():
                return _login(console, codex, args)
    except KeyboardInterrupt:
        console.print("login cancelled" if args.command == "login" else "cancelled", highlight=False)
        return CANCELLED


def _read_key() -> str:
    """The API key: typed without echo at a terminal, else all of stdin; whitespace stripped."""
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        try:
            return getpass.getpass("OpenAI API key (not shown): ").strip()
        except EOFError:  # Ctrl-D at the prompt: no key
            return ""
    return sys.stdin.read().strip()


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 on ``/dev/null`` while a ChatGPT login runs: codex's login server also
    writes each failure to stderr itself (``OAuth callback error: ...``), which the
    ``LoginError`` line already says. Python's own output is on stdout meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _login(console: Console, codex: Codex, args: argparse.Namespace) -> int:
    handle: _Login
    if args.device_code:
        device = codex.login_chatgpt_device_code(issuer=args.issuer)
        handle = device
        console.print(f"Open this page in a browser, on any device:\n{escape(device.verification_url)}", soft_wrap=True, highlight=False)
        console.print(f"and enter this one-time code: [bold]{escape(device.user_code)}[/]", soft_wrap=True, highlight=False)
    else:
        opening = not args.no_browser and _can_open_browser()
        browser = codex.login_chatgpt(open_browser=opening, issuer=args.issuer)
        handle = browser
        if opening:
            intro = "Opening your browser to log in; if it does not open, open this URL in a browser on this machine:"
        else:
            intro = "Open this URL in a browser on this machine to log in (on another machine: codexrs login --device-code):"
        console.print(f"{intro}\n{escape(browser.auth_url)}", soft_wrap=True, highlight=False)
    console.print("Waiting for the login (Ctrl-C to cancel)...", highlight=False)
    try:
        account = handle.wait(timeout=args.timeout)
    except TimeoutError:
        handle.cancel()
        console.print(f"[red]codexrs login:[/] no login within {args.timeout:g} s (--timeout)", soft_wrap=True, highlight=False)
        return 1
    except BaseException:  # a failed login, or Ctrl-C: stop its callback server or polling
        handle.cancel()
        raise
    return _show(console, account, args.codex_home)


def _can_open_browser() -> bool:
    """Whether a browser can be opened here: one named in ``$BROWSER``, a desktop session (a
    display on Linux and the BSDs), or macOS and Windows. Over SSH with no display, the URL is
    only printed."""
    if os.environ.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _logout(console: Console, codex: Codex, codex_home: str | None) -> int:
    before = codex.account()
    home = escape(str(codex_home or default_codex_home()))
    if before is None:
        console.print(f"Not logged in (in {home}): nothing to remove.", soft_wrap=True, highlight=False)
        return 0
    codex.logout()
    console.print(f"Logged out: removed the login with {escape(_who(before))} from {home}.", soft_wrap=True, highlight=False)
    if codex.account() is not None:  # CODEX_API_KEY or CODEX_ACCESS_TOKEN: not stored, not removed
        console.print("codex is still logged in through the environment (CODEX_API_KEY or CODEX_ACCESS_TOKEN).", highlight=False)
    return 0


def _account(console: Console, account: Account | None, as_json: bool, codex_home: str | None) -> int:
    if as_json:
        print(msgspec.json.encode(account).decode(), flush=True)
    elif account is None:
        home = escape(str(codex_home or default_codex_home()))
        console.print(f"Not logged in (in {home}): run codexrs login.", soft_wrap=True, highlight=False)
    else:
        return _show(console, account, codex_home)
    return 0 if account is not None else 1


def _who(account: Account) -> str:
    mode = MODES.get(account.auth_mode or "", account.auth_mode or "an unknown method")
    return f"{mode} as {account.email}" if account.email else mode


def _show(console: Console, account: Account | None, codex_home: str | None) -> int:
    """Prints who is logged in (mode and email, then plan, account id and codex home); the exit
    status: 1 when nobody is."""
    if account is None:  # a login that stored nothing codex reads back: say so, do not guess
        console.print("[red]codexrs:[/] the login finished, but codex reads no login back from the codex home", highlight=False)
        return 1
    console.print(f"[green]Logged in[/] with {escape(_who(account))}", soft_wrap=True, highlight=False)
    rows = Table.grid(padding=(0, 2))
    rows.add_column(style="dim")
    rows.add_column()
    for name, value in (("plan", account.plan), ("account id", account.account_id),
                        ("codex home", str(codex_home or default_codex_home()))):  # fmt: skip
        if value:
            rows.add_row(f"  {name}", escape(value))
    console.print(rows, soft_wrap=True)
    return 0

"""``codexrs login``, ``logout`` and ``account``: the real command line, in a subprocess, against
a scripted OAuth issuer on 127.0.0.1 (the endpoints codex's login crate calls)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Iterator

import pytest

from codexrs.testing import ScriptedIssuer

KEY = "sk-test-login-cli-0123456789"
#: Seconds a test waits for a line before failing (bounds a broken run; asserts no timing).
LINE_DEADLINE_S = 60.0


def _env(**extra: str) -> dict[str, str]:
    """The environment without any login or browser of the machine's: no key variables, no
    ``CODEX_HOME``, no display to open a browser on."""
    drop = ("OPENAI_", "CODEX_", "CODEXRS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}
    env["COLUMNS"] = "200"
    return {**env, **extra}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "codexrs", *args]


def _run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(*args), input=stdin, capture_output=True, text=True, timeout=120, env=env or _env())


class Running:
    """A ``codexrs`` command running in the background; its output read line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = _command(*args)
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or _env()
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line_matching(self, pattern: str) -> re.Match[str]:
        """The first line from here on that matches ``pattern``; fails if the command ends first."""
        while True:
            try:
                line = self.lines.get(timeout=LINE_DEADLINE_S)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} after {LINE_DEADLINE_S:g} s; saw {self.seen}") from None
            if line is None:
                raise AssertionError(f"the command ended without a line matching {pattern!r}; saw {self.seen}")
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found

    def finish(self) -> tuple[int, str, str]:
        """The exit status, the rest of stdout and all of stderr, once the command ends."""
        code = self.process.wait(timeout=120)
        while (line := self.lines.get(timeout=LINE_DEADLINE_S)) is not None:
            self.seen.append(line)
        assert self.process.stderr is not None
        return code, "\n".join(self.seen), self.process.stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def issuer() -> Iterator[ScriptedIssuer]:
    with ScriptedIssuer() as scripted:
        yield scripted


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "codex-home"
    path.mkdir()
    return path


def _account(home: Path) -> object:
    done = _run("account", "--json", "--codex-home", str(home))
    assert done.stderr == ""
    return json.loads(done.stdout)


def _no_traceback(out: str, err: str) -> None:
    assert "Traceback" not in out + err
    assert err == ""


def test_device_code_login_prints_the_code_and_ends_logged_in(issuer: ScriptedIssuer, home: Path) -> None:
    login = Running("login", "--device-code", "--issuer", issuer.url, "--codex-home", str(home))
    try:
        url = login.line_matching(r"^(http\S+)$").group(1)
        code = login.line_matching(r"one-time code: (\S+)$").group(1)
        assert url.startswith(issuer.url)
        login.line_matching(r"^Waiting for the login")
        assert code in issuer.user_codes()
        issuer.device = "approved"
        status, out, err = login.finish()
    finally:
        login.stop()
    assert status == 0, out + err
    _no_traceback(out, err)
    assert f"Logged in with ChatGPT as {issuer.email}" in out
    assert re.search(rf"^\s+plan\s+{issuer.plan}\s*$", out, re.M), out
    assert (home / "auth.json").is_file()
    account = _account(home)
    assert isinstance(account, dict)
    assert account["auth_mode"] == "chatgpt" and account["plan"] == issuer.plan and account["email"] == issuer.email


def test_browser_login_prints_the_url_a_browser_follows(issuer: ScriptedIssuer, home: Path) -> None:
    login = Running("login", "--no-browser", "--issuer", issuer.url, "--codex-home", str(home))
    try:
        url = login.line_matching(r"^(http\S+)$").group(1)
        assert url.startswith(f"{issuer.url}/oauth/authorize?"), url
        login.line_matching(r"^Waiting for the login")
        # As a browser: the issuer's page redirects to codex's callback on this machine, which
        # exchanges the code (PKCE) and redirects to its success page.
        page = issuer.visit(url)
        assert page.status == 200, page
        status, out, err = login.finish()
    finally:
        login.stop()
    assert status == 0, out + err
    _no_traceback(out, err)
    assert f"Logged in with ChatGPT as {issuer.email}" in out
    account = _account(home)
    assert isinstance(account, dict) and account["plan"] == issuer.plan


def test_api_key_comes_from_stdin_never_argv_nor_output(home: Path) -> None:
    command = _command("login", "--api-key", "--codex-home", str(home))
    assert not any(KEY in arg for arg in command)
    done = subprocess.run(command, input=f"  {KEY}\n", capture_output=True, text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert KEY not in done.stdout + done.stderr
    assert done.stderr == ""
    assert "Logged in with an API key" in done.stdout
    # Stored as codex stores it, whitespace stripped.
    assert json.loads((home / "auth.json").read_text())["OPENAI_API_KEY"] == KEY
    assert _account(home) == {"auth_mode": "apikey", "email": None, "plan": None, "account_id": None}


def test_api_key_refuses_an_empty_stdin(home: Path) -> None:
    done = _run("login", "--api-key", "--codex-home", str(home), stdin=" \n")
    assert done.returncode == 2
    assert done.stdout.strip() == (
        "codexrs login --api-key: no API key on stdin; pipe it in, e.g. printenv OPENAI_API_KEY | codexrs login --api-key"
    )
    assert done.stderr == ""
    assert not (home / "auth.json").exists()


def test_logout_then_account_says_not_logged_in(home: Path) -> None:
    # The codex home from $CODEX_HOME, as everywhere.
    env = _env(CODEX_HOME=str(home))
    assert _run("login", "--api-key", stdin=KEY, env=env).returncode == 0
    shown = _run("account", env=env)
    assert shown.returncode == 0 and "Logged in with an API key" in shown.stdout
    out = _run("logout", env=env)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.strip() == f"Logged out: removed the login with an API key from {home}."
    assert not (home / "auth.json").exists()
    after = _run("account", env=env)
    assert after.returncode == 1
    assert after.stdout.strip() == f"Not logged in (in {home}): run codexrs login."
    as_json = _run("account", "--json", env=env)
    assert as_json.returncode == 1 and json.loads(as_json.stdout) is None
    again = _run("logout", env=env)
    assert again.returncode == 0 and again.stdout.strip() == f"Not logged in (in {home}): nothing to remove."


def _failed(login: Running) -> str:
    """The one line a failed login ends with, after the wait line; no traceback, no stderr."""
    status, out, err = login.finish()
    assert status == 1, out + err
    _no_traceback(out, err)
    after = out.split("Waiting for the login (Ctrl-C to cancel)...\n", 1)[1]
    assert len(after.splitlines()) == 1, out
    return after.strip()


def test_a_denied_browser_login_exits_1_with_one_line(issuer: ScriptedIssuer, home: Path) -> None:
    issuer.deny()
    login = Running("login", "--no-browser", "--issuer", issuer.url, "--codex-home", str(home))
    try:
        url = login.line_matching(r"^(http\S+)$").group(1)
        login.line_matching(r"^Waiting for the login")
        issuer.visit(url)
        failure = _failed(login)
    finally:
        login.stop()
    assert failure.startswith("LoginError: ") and "access_denied" in failure, failure
    assert not (home / "auth.json").exists()


def test_a_denied_device_code_exits_1_with_one_line(issuer: ScriptedIssuer, home: Path) -> None:
    login = Running("login", "--device-code", "--issuer", issuer.url, "--codex-home", str(home))
    try:
        login.line_matching(r"one-time code: (\S+)$")
        login.line_matching(r"^Waiting for the login")
        issuer.device = "denied"
        failure = _failed(login)
    finally:
        login.stop()
    assert failure.startswith("LoginError: "), failure
    assert not (home / "auth.json").exists()


def test_a_login_not_completed_in_time_exits_1(issuer: ScriptedIssuer, home: Path) -> None:
    login = Running("login", "--device-code", "--timeout", "1", "--issuer", issuer.url, "--codex-home", str(home))
    try:
        failure = _failed(login)  # the issuer answers "pending" throughout
    finally:
        login.stop()
    assert failure == "codexrs login: no login within 1 s (--timeout)"
    assert not (home / "auth.json").exists()


def test_ctrl_c_cancels_the_login(issuer: ScriptedIssuer, home: Path) -> None:
    login = Running("login", "--no-browser", "--issuer", issuer.url, "--codex-home", str(home))
    try:
        login.line_matching(r"^Waiting for the login")
        login.process.send_signal(signal.SIGINT)
        status, out, err = login.finish()
    finally:
        login.stop()
    assert status == 130, out + err
    _no_traceback(out, err)
    assert out.splitlines()[-1] == "login cancelled"
    assert not (home / "auth.json").exists()


def test_usage_errors_exit_2(home: Path) -> None:
    both = _run("login", "--device-code", "--api-key", "--codex-home", str(home))
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    bad = _run("login", "--timeout", "0", "--codex-home", str(home))
    assert bad.returncode == 2 and "positive number of seconds" in bad.stderr

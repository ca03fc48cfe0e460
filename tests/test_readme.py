"""Every code block of README.md, run as a user would paste it.

The collector is ours, not pytest-codeblocks or pytest-examples: those run Python blocks inside
the pytest process (``exec``) and shell blocks without ``set -e`` in pytest's directory, with no
way to give a block a working directory, an environment or a model to talk to. Here each block
runs as a program of its own, ``python block.py`` or ``bash -e -o pipefail block.sh``, in one
working directory shared by the README's blocks in order (a user pasting them one after another
in one terminal), with exactly one change from a user's machine, the switch the README names:

    CODEX_HOME=<a codex home whose config.toml names codexrs's scripted model as the provider>

The scripted model answers each prompt the README uses (:data:`ANSWERS`, routed by the
prompt's text). A block marked ``<!-- readme-test: skip (why) -->`` on the line before it is
skipped with that reason; any other block runs, and must exit 0 with nothing on stderr and pass
its effect check (:data:`CHECKS`: files on disk, result lines, printed answers). The count of
blocks run and skipped ends the session's report.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

import codexrs
from codexrs import ApprovalPolicy, SandboxMode
from codexrs.testing import ScriptedModel, ScriptedResponse, apply_patch, exec_command, function_call, text

README = Path(__file__).resolve().parent.parent / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<why>.+)\)\s*-->")
#: Seconds one block may take (the Ray block starts a local cluster: the slowest).
BLOCK_TIMEOUT_S = 150.0


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    line: int  # of its opening fence, 1-based
    lang: str
    code: str
    skip: str | None  # the reason, when marked

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def read_blocks(path: Path = README) -> list[Block]:
    """The README's fenced blocks, in order, each with its skip mark (if any)."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    n = 0
    while n < len(lines):
        if lines[n].lstrip().startswith("```"):  # an opening fence (a bare one: language "")
            start, lang = n, lines[n].lstrip()[3:].strip()
            end = next(i for i in range(n + 1, len(lines)) if lines[i].strip() == "```")
            mark = SKIP.fullmatch(lines[start - 1].strip()) if start > 0 else None
            code = "\n".join(lines[start + 1 : end]) + "\n"
            blocks.append(Block(start + 1, lang, code, mark.group("why") if mark else None))
            n = end
        n += 1
    return blocks


def _patch(path: str, *lines: str) -> ScriptedResponse:
    body = "".join(f"+{line}\n" for line in lines)
    return apply_patch(f"*** Begin Patch\n*** Add File: {path}\n{body}*** End Patch\n")


def _after_tool(message: str) -> ScriptedResponse:
    # A real model takes longer than codex-core's 100 ms trailing-output grace before its next
    # step (README, "Choices"): the command's end arrives inside its turn.
    return text(message).delayed(0.2)


#: The scripted model's answer to each prompt the README sends: (a text in the prompt, the
#: responses for one conversation of it, how many times the README sends it). Routes are tried
#: in this order and a request carries its thread's history, so a later turn's prompt comes
#: before an earlier one's.
ANSWERS: list[tuple[str, Callable[[], list[ScriptedResponse]], int]] = [
    ("Now add tests", lambda: [text("Added tests.", deltas=["Added ", "tests."])], 1),
    ("Add a README", lambda: [_patch("README.md", "# demo"), text("Added README.md.")], 1),
    ("Create notes.txt", lambda: [exec_command("touch notes.txt"), _after_tool("Created notes.txt.")], 1),
    ("Create hello.txt that says hello", lambda: [_patch("hello.txt", "hello"), text("hello.txt says hello.")], 3),
    ("Now double-check answer.txt", lambda: [text("answer.txt holds 42.")], 3),
    ("Write the answer to answer.txt", lambda: [_patch("answer.txt", "42"), text("Wrote 42.")], 3),
    ("make the tests pass", lambda: [exec_command("echo ok > test-report.txt"), _after_tool("The tests pass now.")], 1),
]


def _results(path: Path) -> dict[str, str]:
    """A results file's outcome per task id."""
    return {r["id"]: r["outcome"] for r in map(json.loads, path.read_text().splitlines())}


def _check_sync(work: Path, out: str) -> None:
    assert "completed Added README.md." in out
    assert "Added tests." in out  # streamed, delta by delta
    assert (work / "README.md").read_text() == "# demo\n"


def _check_async(work: Path, out: str) -> None:
    assert "approving exec_approval_request" in out
    assert "running" in out and "touch notes.txt" in out
    assert "completed Created notes.txt." in out
    assert (work / "notes.txt").is_file()


def _check_batch(work: Path, out: str) -> None:
    assert _results(work / "results.jsonl") == {"hello": "passed", "answer": "passed"}


def _check_report(work: Path, out: str) -> None:
    assert _results(work / "high.jsonl") == {"hello": "passed", "answer": "passed"}
    for page in ("report.html", "compare.html"):
        assert "hello" in (work / page).read_text()


def _check_ray(work: Path, out: str) -> None:
    assert _results(work / "ray.jsonl") == {"hello": "passed", "answer": "passed"}


def _check_serve(work: Path, out: str) -> None:
    assert "approved exec request" in out
    assert out.count("The tests pass now.") == 2  # wait, then last-message
    assert (work / "test-report.txt").read_text() == "ok\n"


#: The effect each block that runs must show, keyed by a text found in that block only.
CHECKS: dict[str, Callable[[Path, str], None]] = {
    'thread.run("Add a README")': _check_sync,
    "codexrs.AsyncCodex(": _check_async,
    "cat > tasks.jsonl": _check_batch,
    "codexrs report results.jsonl high.jsonl": _check_report,
    "--ray local": _check_ray,
    "codexrs serve --port 8765": _check_serve,
}

#: Lines a block may write to stderr that are not codexrs's, keyed as :data:`CHECKS`. Ray's
#: driver logs this warning itself whenever it starts a cluster.
STDERR_ALLOWED: dict[str, re.Pattern[str]] = {
    "--ray local": re.compile(r"\S+ \S+\tWARNING authentication_token_setup\.py:\d+ -- Token authentication is enabled for this Ray cluster\..*"),
}

BLOCKS = read_blocks()
_ran: list[Block] = []


class _Summary:
    """Adds the README's count to the end of the session's report."""

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        skipped = [b for b in BLOCKS if b.skip is not None]
        terminalreporter.write_line(
            f"README.md: {len(BLOCKS)} code blocks, {len(_ran)} run, {len(skipped)} skipped as marked "
            f"({', '.join(f'line {b.line}' for b in skipped)})"
        )


@dataclass
class Session:
    work: Path
    env: dict[str, str]
    scripts: Path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Session]:
    """One working directory (a git repository) and one codex home on the scripted model, for
    every block in README order."""
    if not pytestconfig.pluginmanager.has_plugin("codexrs-readme-summary"):
        pytestconfig.pluginmanager.register(_Summary(), "codexrs-readme-summary")
    root = tmp_path_factory.mktemp("readme")
    work, home, scripts = root / "work", root / "codex-home", root / "blocks"
    for d in (work, home, scripts):
        d.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    with ScriptedModel() as model:
        for marker, conversation, times in ANSWERS:
            model.route(marker, *(r for _ in range(times) for r in conversation()))
        # The switch: a codex home whose config.toml makes the scripted model the provider.
        (home / "config.toml").write_text(
            'model = "gpt-5.5"\nmodel_provider = "scripted"\n\n[model_providers.scripted]\n'
            f'name = "codexrs scripted model"\nbase_url = "{model.url}"\nwire_api = "responses"\n'
            "request_max_retries = 0\nstream_max_retries = 0\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEXRS_", "OPENAI_", "CODEX_", "RAY_"))}
        env["CODEX_HOME"] = str(home)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        yield Session(work, env, scripts)


def test_every_check_names_one_block() -> None:
    """A README edit that drops or duplicates a checked block fails here, not silently."""
    for key in [*CHECKS, *STDERR_ALLOWED]:
        assert sum(key in b.code for b in BLOCKS) == 1, f"{key!r} is in {sum(key in b.code for b in BLOCKS)} blocks"
    for block in BLOCKS:
        assert block.lang in ("python", "bash"), f"{block.id}: no way to run a {block.lang!r} block"
    lines = README.read_text().splitlines()
    for n, line in enumerate(lines[:-1]):
        if SKIP.fullmatch(line.strip()):
            assert lines[n + 1].startswith("```"), f"README.md:{n + 1}: a skip mark with no block right after it"


@pytest.mark.timeout(BLOCK_TIMEOUT_S + 30)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block(block: Block, session: Session) -> None:
    if block.skip is not None:
        pytest.skip(f"marked in the README: {block.skip}")
    checks = [check for key, check in CHECKS.items() if key in block.code]
    assert checks, f"{block.id} runs but has no effect check: add one to CHECKS"
    if "--port 8765" in block.code:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", 8765))
            except OSError:
                pytest.fail(f"{block.id} serves on port 8765, which another process holds")
    script = session.scripts / f"line{block.line}.{'py' if block.lang == 'python' else 'sh'}"
    script.write_text(block.code)
    command = [sys.executable, str(script)] if block.lang == "python" else ["bash", "-e", "-o", "pipefail", str(script)]
    done = subprocess.run(
        command, cwd=session.work, env=session.env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
    )
    assert done.returncode == 0, f"{block.id} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    allowed = [pattern for key, pattern in STDERR_ALLOWED.items() if key in block.code]
    stray = [line for line in done.stderr.splitlines() if line and not any(p.fullmatch(line) for p in allowed)]
    assert not stray, f"{block.id} wrote to stderr:\n{done.stderr}"
    for check in checks:
        check(session.work, done.stdout)
    _ran.append(block)


def _tool_output(model: ScriptedModel) -> str:
    """What the model was told of its tool call (the last request's last tool output)."""
    body = model.response_requests()[-1].body
    outputs = [i for i in body["input"] if isinstance(i, dict) and str(i.get("type", "")).endswith("call_output")]
    output = outputs[-1]["output"]
    return output if isinstance(output, str) else json.dumps(output)


def _exec(cmd: str, **args: str) -> ScriptedResponse:
    return function_call("exec_command", {"cmd": cmd, **args})


_ESCALATED = {"sandbox_permissions": "require_escalated", "justification": "needs to run outside"}
_PATCH = "*** Begin Patch\n*** Add File: made.txt\n+made\n*** End Patch\n"

#: Rows of the README's approval table: (policy, sandbox, what the model asks for, the requests
#: the handler gets, whether it happens). ``made.txt`` shows a write; ``gone/`` a removal.
APPROVAL_TABLE = [
    ("untrusted", "workspace-write", _exec("echo hi && ls | wc -l"), [], True),
    ("untrusted", "workspace-write", _exec("touch made.txt"), ["exec_approval_request"], True),
    ("untrusted", "workspace-write", _exec("echo hi > made.txt"), ["exec_approval_request"], True),
    ("on-request", "workspace-write", _exec("touch made.txt"), [], True),
    ("never", "workspace-write", _exec("touch made.txt"), [], True),
    ("on-request", "workspace-write", _exec("rm -rf gone"), ["exec_approval_request"], True),
    ("on-request", "danger-full-access", _exec("rm -rf gone"), ["exec_approval_request"], True),
    ("never", "workspace-write", _exec("rm -rf gone"), [], False),
    ("untrusted", "workspace-write", _exec("touch made.txt", **_ESCALATED), [], False),
    ("on-request", "workspace-write", _exec("touch made.txt", **_ESCALATED), ["exec_approval_request"], True),
    ("never", "workspace-write", _exec("touch made.txt", **_ESCALATED), [], False),
    ("untrusted", "workspace-write", apply_patch(_PATCH), ["apply_patch_approval_request"], True),
    ("on-request", "workspace-write", apply_patch(_PATCH), [], True),
    ("on-request", "read-only", apply_patch(_PATCH), ["apply_patch_approval_request"], True),
    ("never", "read-only", apply_patch(_PATCH), [], False),
]


@pytest.mark.parametrize(
    ("policy", "sandbox", "action", "asked", "happens"),
    APPROVAL_TABLE,
    ids=[f"{p}-{s}-{i}" for i, (p, s, *_) in enumerate(APPROVAL_TABLE)],
)
def test_the_approval_table(
    policy: ApprovalPolicy,
    sandbox: SandboxMode,
    action: ScriptedResponse,
    asked: list[str],
    happens: bool,
    scripted_model: ScriptedModel,
    codex: codexrs.Codex,
    workspace: Path,
) -> None:
    (workspace / "gone").mkdir()
    requests: list[str] = []

    def approve(request: codexrs.ApprovalRequest) -> codexrs.Decision:
        requests.append(request.type)
        return "approved"

    scripted_model.enqueue(action, _after_tool("done"))
    thread = codex.thread_start(approval_policy=policy, sandbox=sandbox, on_approval=approve)
    assert thread.run("go").final_response == "done"
    assert requests == asked
    told = _tool_output(scripted_model)
    if "rm -rf" in json.dumps(action.events):
        assert (workspace / "gone").exists() is not happens, told
    elif "echo hi &&" in json.dumps(action.events):
        assert "Process exited with code 0" in told
    else:
        assert (workspace / "made.txt").exists() is happens, told

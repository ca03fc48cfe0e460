"""Records the real event streams of representative turns into ``tests/golden/*.jsonl``.

    python3 scripts/record_golden.py [scenario ...]

Each scenario runs the real codex-core (the installed codexrs) against the scripted model; every
event the pump hands to Python is written as one JSON line, exactly as codex-core's serde wrote
it (``{"id": <submission id>, "msg": {"type": ..., ...}}``). ``tests/test_golden.py`` decodes
every line into its typed class and checks it encodes back unchanged. Re-record after moving
to a newer codex-core. Scenarios: a streamed text turn, reasoning (summary and raw content), a
shell command, an apply_patch edit, an approval answered by a handler, an MCP tool call (a stdio
server built on the official ``mcp`` SDK, ``tests/mcp_echo_server.py``), a model error, an
interrupted turn.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import codexrs
from codexrs import events as ev
from codexrs.testing import (
    ScriptedModel,
    ScriptedResponse,
    apply_patch,
    exec_command,
    http_error,
    mcp_call,
    reasoning,
    record_batches,
    text,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "golden"
MCP_SERVER = ROOT / "tests" / "mcp_echo_server.py"
#: codex config for the MCP scenario: the echo server as ``mcp_servers.echo``.
MCP_CONFIG: dict[str, Any] = {"mcp_servers": {"echo": {"command": sys.executable, "args": [str(MCP_SERVER)]}}}


def _approve(request: Any) -> str:
    return "approved"


def _one_turn(thread: codexrs.Thread) -> None:
    thread.turn("golden").result()


def _interrupted(thread: codexrs.Thread) -> None:
    turn = thread.turn("say a lot")
    for event in turn.stream():
        if isinstance(event, ev.AgentMessageContentDelta):
            turn.interrupt()
    assert turn.result().status == "interrupted"


SLOW = [f"word{n} " for n in range(200)]

Scenario = tuple[list[ScriptedResponse], dict[str, Any], Callable[[codexrs.Thread], None]]

# name -> (scripted responses, thread options, what to do with the thread)
SCENARIOS: dict[str, Scenario] = {
    "text": ([text("Hello from the golden stream.", deltas=["Hello ", "from the ", "golden stream."])], {}, _one_turn),
    "reasoning": (
        [reasoning(["Thinking about ", "the answer."], content=["raw ", "thoughts"], message="42")],
        {},
        _one_turn,
    ),
    "shell_command": (
        [exec_command("echo golden"), text("ran it").delayed(0.2)],
        {"approval_policy": "never", "sandbox": "workspace-write"},
        _one_turn,
    ),
    "apply_patch": (
        [apply_patch("*** Begin Patch\n*** Add File: golden.txt\n+golden\n*** End Patch\n"), text("patched")],
        {"approval_policy": "never", "sandbox": "workspace-write"},
        _one_turn,
    ),
    "approval": (
        [exec_command("touch golden-approved"), text("approved and ran").delayed(0.2)],
        {"approval_policy": "untrusted", "sandbox": "workspace-write", "on_approval": _approve},
        _one_turn,
    ),
    "mcp_call": (
        [mcp_call("echo", "echo", {"text": "golden"}), text("the server echoed")],
        {"approval_policy": "never", "sandbox": "workspace-write"},
        _one_turn,
    ),
    "error": ([http_error(400, "golden bad request")], {}, _one_turn),
    "interrupted": (
        [text("".join(SLOW), deltas=SLOW).delayed(0.0, between_events=0.02)],
        {},
        _interrupted,
    ),
}

# name -> codex config added to the scripted model's
CONFIG: dict[str, dict[str, Any]] = {
    "reasoning": {"show_raw_agent_reasoning": True},
    "mcp_call": MCP_CONFIG,
}


def record(name: str) -> list[str]:
    responses, options, drive = SCENARIOS[name]
    with tempfile.TemporaryDirectory(prefix="codexrs-golden-") as tmp, ScriptedModel() as model:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        model.enqueue(*responses)
        config = {**model.config(), **CONFIG.get(name, {})}
        with record_batches() as batches, codexrs.Codex(codex_home=Path(tmp) / "home", cwd=repo, config=config) as codex:
            drive(codex.thread_start(**options))
    return [json.dumps(envelope, ensure_ascii=False) for batch in batches for envelope in json.loads(batch)]


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in argv or SCENARIOS:
        lines = record(name)
        (OUT / f"{name}.jsonl").write_text("".join(line + "\n" for line in lines))
        print(f"{name}: {len(lines)} events")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

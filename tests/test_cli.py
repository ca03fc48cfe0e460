"""The command line: the demo is the main job; `run` explains what it needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from codexrs._demo import DEMO_COMMAND, DEMO_MESSAGE

LIFECYCLE = ("item_started", "item_completed", "raw_response_completed", "turn_diff", "token_count")


def _demo(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "codexrs", "demo", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_demo_shows_the_command_its_output_the_patch_the_message_the_diff_and_usage() -> None:
    out = _demo()
    lines = out.splitlines()
    # The command as typed. (Its output follows on a line of its own whenever codex-core reports
    # it, which is nearly always: see test_tool_turn_output_reaches_exec_command_end.)
    assert f"$ {DEMO_COMMAND}" in lines
    # The patch codex-core applied, shown as a diff, then the turn's diff from turn_diff.
    assert "+Hello from codexrs!" in out
    assert "patch applied" in out
    assert "turn diff" in out and "+++ b/hello.txt" in out
    # The assistant's message, streamed on one line.
    assert f"assistant {DEMO_MESSAGE}" in lines
    assert "token usage" in out
    for check in ("command ran", "patch applied", "hello.txt exists", "final message streamed", "turn completed"):
        assert f"ok   {check}" in out
    # No lifecycle noise by default.
    for noise in LIFECYCLE:
        assert noise not in out, noise


def test_demo_verbose_shows_lifecycle_events() -> None:
    lines = _demo("--verbose").splitlines()
    for wire_name in ("item_started", "item_completed", "turn_diff"):
        assert wire_name in lines, wire_name


def test_run_without_a_key_says_what_is_missing(tmp_path: Path) -> None:
    # A codex home of its own: the default (~/.codex) may hold a login, and is not the test's to write.
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_ACCESS_TOKEN")}
    env["CODEX_HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "codexrs", "run", "hello"], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stdout and "CODEX_API_KEY" in proc.stdout

"""The command line: the demo is the main job; `run` explains what it needs."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_a_real_turn_and_checks_it() -> None:
    proc = subprocess.run([sys.executable, "-m", "codexrs", "demo"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("command ran", "patch applied", "hello.txt exists", "final message streamed", "turn completed"):
        assert f"ok   {line}" in proc.stdout


def test_run_without_a_key_says_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "CODEX_API_KEY")}
    proc = subprocess.run(
        [sys.executable, "-m", "codexrs", "run", "hello"], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stdout and "CODEX_API_KEY" in proc.stdout

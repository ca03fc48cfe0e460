"""``codexrs batch``: graded tasks against the real codex-core and the scripted model, each in
its own workspace copy, with budgets, resumable results and a bad line reported, not fatal."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

import codexrs.batch
from codexrs.testing import ScriptedModel, exec_command, text


from batch_tasks import TWELVE_OUTCOMES, results as _results, twelve_tasks, write_tasks as _write_tasks


def test_a_task_file_gives_one_graded_line_per_task(scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path) -> None:
    tasks_file, out = twelve_tasks(scripted_model, tmp_path), tmp_path / "results.jsonl"

    summary = codexrs.batch.run(tasks_file, out, concurrency=4, codex_home=codex_home, config=scripted_model.config())

    results = {r["id"]: r for r in _results(out)}
    assert len(results) == 11 and len(out.read_text().splitlines()) == 11
    assert {i: r["outcome"] for i, r in results.items()} == TWELVE_OUTCOMES
    assert [b.line for b in summary.bad_lines] == [12] and summary.bad_lines[0].error  # reported, not fatal
    passed = results["p0"]
    assert passed["check"]["exit_code"] == 0 and passed["final_response"] == "made it 0"
    assert "done.txt" in passed["diff"] and Path(passed["diff_path"]).read_text() == passed["diff"]
    assert passed["usage"]["input_tokens"] > 0 and passed["versions"]["codex_core"].startswith("typeduck-codex-execpolicy")
    assert Path(passed["rollout_path"]).exists()
    first_turn = passed["turns"][0]
    assert first_turn["status"] == "completed" and first_turn["queue_wait_s"] >= 0
    assert 0 < first_turn["first_token_s"] <= first_turn["wall_s"] <= passed["timings"]["total_s"]
    assert results["f0"]["check"]["exit_code"] != 0 and results["f0"]["diff"] == ""
    assert len(results["budget"]["turns"]) == 1  # the second prompt was never sent
    assert not any("<batch-b-two>" in str(r.body) for r in scripted_model.response_requests())
    assert results["slow"]["turns"][0]["status"] == "interrupted" and results["slow"]["timings"]["total_s"] < 8
    assert "exit 3" in results["setup"]["error"]
    assert not any("<batch-never-sent>" in str(r.body) for r in scripted_model.response_requests())


def test_a_killed_run_resumes_with_every_task_once(scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path) -> None:
    ids = [f"k{n}" for n in range(6)]
    for task_id in ids:  # answers for the killed run's attempts and the re-run's
        scripted_model.route(f"<batch-{task_id}>", *[text(f"ok {task_id}").delayed(0.8) for _ in range(3)])
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "results.jsonl"
    _write_tasks(tasks_file, [{"id": i, "prompt": f"<batch-{i}>", "check": "true"} for i in ids])
    overrides = [arg for k, v in scripted_model.config().items() for arg in ("-c", f"{k}={json.dumps(v)}")]
    command = [sys.executable, "-m", "codexrs.cli", "batch", str(tasks_file), "--out", str(out), "--concurrency", "2",
               "--codex-home", str(codex_home), *overrides]  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (out.exists() and len(out.read_text().splitlines()) >= 2):
        assert time.monotonic() < deadline and first.poll() is None, "the first run wrote no results"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_with = {r["id"] for r in _results(out)}
    assert 2 <= len(killed_with) < 6

    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    final = [r["id"] for r in _results(out)]
    assert sorted(final) == ids  # every task exactly once
    assert f"{len(killed_with)} already in" in second.stdout


async def test_the_live_view_shows_counts_and_what_running_tasks_do(
    scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path
) -> None:
    scripted_model.route("<batch-live-0>", exec_command("sleep 1.5; echo ok > done.txt"), text("built it"))
    scripted_model.route("<batch-live-1>", text("quick"))
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "results.jsonl"
    _write_tasks(tasks_file, [{"id": "live0", "prompt": "<batch-live-0>", "check": "test -f done.txt"},
                              {"id": "live1", "prompt": "<batch-live-1>"}])  # fmt: skip
    progress = codexrs.batch.Progress()
    seen: list[str] = []

    def shown() -> str:
        console = Console(record=True, width=160, file=io.StringIO())
        console.print(codexrs.batch.render(progress))
        return console.export_text()

    async def watch() -> None:
        while True:
            managed = progress.running.get("live0")
            if managed is not None and not isinstance(managed, str) and managed.activity.startswith("$ "):
                seen.append(shown())
                return
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    await codexrs.batch.arun(tasks_file, out, concurrency=2, codex_home=codex_home, config=scripted_model.config(), progress=progress)
    await asyncio.wait_for(watcher, 1)
    (during,) = seen
    assert re.search(r"[01]/2 done  [12] running", during) and "live0  running  $ " in during
    assert "sleep 1.5; echo ok > done.txt" in during  # codex's command, as it started it
    after = shown()
    assert "2/2 done" in after and "0 running" in after and "pass rate 100%" in after and "2 passed" in after


def test_a_task_that_cannot_start_is_an_error_line_not_the_end_of_the_batch(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, tmp_path: Path
) -> None:
    (workspace / "README").write_text("a repository\n")
    subprocess.run(["git", "-C", str(workspace), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(workspace), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"], check=True)
    scripted_model.route("<batch-fine>", text("fine"))
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "results.jsonl"
    _write_tasks(tasks_file, [
        {"id": "nowhere", "prompt": "<batch-x>", "workspace": str(tmp_path / "missing")},
        {"id": "bad-ref", "prompt": "<batch-x>", "workspace": str(workspace), "ref": "no-such-ref"},
        {"id": "fine", "prompt": "<batch-fine>", "workspace": str(workspace), "ref": "HEAD", "check": "test -f README"},
    ])  # fmt: skip
    codexrs.batch.run(tasks_file, out, concurrency=3, codex_home=codex_home, config=scripted_model.config())
    results = {r["id"]: r for r in _results(out)}
    assert {i: r["outcome"] for i, r in results.items()} == {"nowhere": "error", "bad-ref": "error", "fine": "passed"}
    assert "missing" in results["nowhere"]["error"] and "CalledProcessError" in results["bad-ref"]["error"]

"""``codexrs batch --ray local``: the twelve-line task file of ``test_batch`` spread over two Ray
workers (actors in a Ray cluster started on this machine), each with its own codex home seeded
from the driver's; the driver writes the same result lines as a run without Ray."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import codexrs.batch
from batch_tasks import TWELVE_OUTCOMES, results, twelve_tasks, write_tasks
from codexrs.testing import ScriptedModel, text


@pytest.mark.timeout(600)
def test_the_twelve_tasks_under_ray_local_give_the_same_outcomes(scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path) -> None:
    tasks_file = twelve_tasks(scripted_model, tmp_path)
    # The model provider is only in the driver's config.toml (no -c): the workers reach the
    # scripted model only if their own homes were seeded with it.
    (codex_home / "config.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in scripted_model.config().items()))
    out, homes = tmp_path / "results.jsonl", tmp_path / "homes"
    command = [sys.executable, "-m", "codexrs.cli", "batch", str(tasks_file), "--out", str(out), "--concurrency", "2",
               "--codex-home", str(codex_home), "--ray", "local", "--workers", "2", "--ray-homes", str(homes)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, done.stdout + done.stderr

    lines = results(out)
    assert len(lines) == 11
    assert {r["id"]: r["outcome"] for r in lines} == TWELVE_OUTCOMES
    assert "line 12 skipped" in done.stdout
    by_id = {r["id"]: r for r in lines}
    assert by_id["p0"]["final_response"] == "made it 0" and by_id["p0"]["check"]["exit_code"] == 0
    # The diffs were written by the driver beside the results, as without Ray.
    diff_path = Path(by_id["p0"]["diff_path"])
    assert diff_path.parent == out.with_name("results.jsonl.diffs") and diff_path.read_text() == by_id["p0"]["diff"]
    # Each worker kept its conversations in its own codex home: both ran tasks.
    rollouts = [Path(r["rollout_path"]) for r in lines if r["rollout_path"]]
    assert len(rollouts) == 10 and all(p.exists() for p in rollouts)
    assert {p.relative_to(homes).parts[1] for p in rollouts} == {"worker-0", "worker-1"}
    assert not list(codex_home.glob("sessions/**/*.jsonl"))  # nothing ran in the driver's home

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)  # resuming: nothing left
    assert again.returncode == 0 and "11 already in" in again.stdout and len(results(out)) == 11


@pytest.mark.timeout(600)
def test_a_worker_that_dies_loses_no_task(scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path) -> None:
    ids = ["a", "b", "c", "killer", "d", "e"]
    for i in ids:  # the killer's task runs twice: once on the worker it kills, once on the other
        scripted_model.route(f"<ray-{i}>", *[text(f"done {i}").delayed(0.3) for _ in range(2)])
    mark = tmp_path / "killed-once"
    tasks: list[dict[str, Any]] = [{"id": i, "prompt": f"<ray-{i}>", "check": "true"} for i in ids]
    # Its setup kills the worker process running it (the shell's parent), the first time only.
    tasks[3]["setup"] = [f"test -e {mark} || {{ touch {mark}; kill -9 $PPID; }}"]
    tasks_file, out, homes = tmp_path / "tasks.jsonl", tmp_path / "results.jsonl", tmp_path / "homes"
    write_tasks(tasks_file, tasks)
    summary = codexrs.batch.run(tasks_file, out, concurrency=1, codex_home=codex_home, config=scripted_model.config(),
                                ray="local", workers=2, ray_homes=str(homes))  # fmt: skip
    assert mark.exists()  # a worker was killed
    lines = results(out)
    assert sorted(r["id"] for r in lines) == sorted(ids) and summary.outcomes == {"passed": 6}
    # The killer's task ran again on the worker left, and so did every task that ended after it.
    workers = [Path(r["rollout_path"]).relative_to(homes).parts[1] for r in lines]
    after = workers[[r["id"] for r in lines].index("killer") :]
    assert len(set(after)) == 1

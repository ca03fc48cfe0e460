"""``codexrs batch``: graded tasks against the real codex-core and the scripted model, each in
its own workspace copy, with budgets, resumable results and a bad line reported, not fatal."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

import codexrs.batch
from codexrs.testing import ScriptedModel, exec_command, text

from batch_tasks import TWELVE_OUTCOMES, batch_command, plain_env, results as _results, twelve_tasks, write_tasks as _write_tasks
from waiting import await_until, wait_until

#: Every key of a result line, in order.
RECORD_KEYS = list(codexrs.batch.Record.__struct_fields__)

_texts = st.text(max_size=30)
_seconds = st.none() | st.floats(min_value=0, max_value=1e6)
_records = st.builds(
    codexrs.batch.Record,
    id=_texts, outcome=st.sampled_from(["passed", "failed", "error", "timeout", "over_budget"]),
    check=st.none() | st.builds(codexrs.batch.RecordCheck, exit_code=st.integers(-255, 255), output_tail=_texts),
    final_response=st.none() | _texts, diff=_texts, diff_path=st.none() | _texts, diff_truncated=st.booleans(),
    error=st.none() | _texts, versions=st.dictionaries(_texts, _texts, max_size=2),
    usage=st.builds(codexrs.batch.RecordUsage, input_tokens=st.integers(0, 10**9)),
    turns=st.lists(st.builds(codexrs.batch.RecordTurn, id=_texts, status=_texts, first_token_s=_seconds), max_size=3),
    rate_limits=st.lists(st.dictionaries(_texts, st.none() | st.integers() | _texts, max_size=3), max_size=2),
    timings=st.builds(codexrs.batch.RecordTimings, started_at=_seconds, turns_s=st.lists(_seconds, max_size=3)),
)  # fmt: skip


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
    assert results["f0"]["diff_path"] is None and results["f0"]["diff_truncated"] is False  # no diff: keys there, empty
    assert passed["diff_truncated"] is False and passed["workspace"] is None and results["setup"]["check"] is None
    lines = out.read_bytes().splitlines()
    assert all(list(json.loads(line)) == RECORD_KEYS for line in lines)  # one schema: every key on every line
    assert [codexrs.batch.decode_record(line).outcome for line in lines] == [r["outcome"] for r in _results(out)]
    assert len(results["budget"]["turns"]) == 1  # the second prompt was never sent
    assert not any("<batch-b-two>" in str(r.body) for r in scripted_model.response_requests())
    # its wall-clock budget cut the turn: the model's late answer never came
    assert results["slow"]["turns"][0]["status"] == "interrupted" and results["slow"]["final_response"] is None
    assert "exit 3" in results["setup"]["error"]
    assert not any("<batch-never-sent>" in str(r.body) for r in scripted_model.response_requests())


def test_a_killed_run_resumes_with_every_task_once(scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path) -> None:
    ids = [f"k{n}" for n in range(6)]
    for task_id in ids:  # answers for the killed run's attempts and the re-run's
        scripted_model.route(f"<batch-{task_id}>", *[text(f"ok {task_id}").delayed(0.8) for _ in range(3)])
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "results.jsonl"
    _write_tasks(tasks_file, [{"id": i, "prompt": f"<batch-{i}>", "check": "true"} for i in ids])
    command = batch_command(scripted_model, codex_home, tasks_file, out, "--concurrency", "2")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_until(
        lambda: first.poll() is not None or (out.exists() and len(out.read_text().splitlines()) >= 2),
        "the first run's first two results", timeout=120,
    )  # fmt: skip
    assert first.poll() is None, "the first run ended before it was killed"
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

    def running_its_command() -> bool:
        managed = progress.running.get("live0")
        return managed is not None and not isinstance(managed, str) and managed.activity.startswith("$ ")

    async def watch() -> None:  # the view while live0's command runs
        await await_until(running_its_command, "live0 running its command")
        seen.append(shown())

    watcher = asyncio.create_task(watch())
    await codexrs.batch.arun(tasks_file, out, concurrency=2, codex_home=codex_home, config=scripted_model.config(), progress=progress)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    assert seen, "the live view never showed live0 running its command"
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


def test_relative_workspaces_are_the_task_files_and_the_summary_is_its_own_line(
    scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path
) -> None:
    suite, elsewhere = tmp_path / "suite", tmp_path / "elsewhere"
    (suite / "app").mkdir(parents=True)
    (suite / "app" / "from-suite.txt").write_text("the task file's app\n")
    (elsewhere / "app").mkdir(parents=True)  # what resolving against the current directory would copy
    (elsewhere / "app" / "from-cwd.txt").write_text("the wrong app\n")
    scripted_model.route("<batch-edit>", exec_command("echo ok > done.txt"), text("edited"))
    scripted_model.route("<batch-same>", text("left it"))
    tasks_file = suite / "tasks.jsonl"
    _write_tasks(tasks_file, [
        {"id": "edit", "prompt": "<batch-edit>", "workspace": "app", "check": "test -f from-suite.txt && test -f done.txt"},
        {"id": "same", "prompt": "<batch-same>", "workspace": "./app", "check": "test -f from-suite.txt && test ! -f from-cwd.txt"},
    ])  # fmt: skip
    command = batch_command(scripted_model, codex_home, tasks_file, "results.jsonl")  # --out: relative to the cwd

    first = subprocess.run(command, cwd=elsewhere, env=plain_env(), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and first.stderr == "", first.stdout + first.stderr
    assert first.stdout.splitlines()[-2:] == ["2 passed", "2 passed; 0 bad line(s)"]  # the view's last line, then the summary
    assert "passed2" not in first.stdout
    out = elsewhere / "results.jsonl"
    records = {r.id: r for r in map(codexrs.batch.decode_record, out.read_bytes().splitlines())}
    assert {i: r.outcome for i, r in records.items()} == {"edit": "passed", "same": "passed"}
    edit, same = records["edit"], records["same"]
    assert edit.diff_path is not None and Path(edit.diff_path).is_absolute() and "done.txt" in edit.diff
    assert Path(edit.diff_path).samefile(elsewhere / "results.jsonl.diffs" / "edit.diff") and edit.diff_truncated is False
    assert same.diff == "" and same.diff_path is None and same.diff_truncated is False
    assert not (elsewhere / "results.jsonl.diffs" / "same.diff").exists()

    second = subprocess.run(command, cwd=elsewhere, env=plain_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and second.stderr == "", second.stdout + second.stderr
    assert second.stdout == "nothing run; 2 already in results.jsonl; 0 bad line(s)\n"


def test_a_results_file_of_an_older_codexrs_resumes_and_reads_with_every_key(
    scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path
) -> None:
    old: dict[str, Any] = {  # a line as codexrs wrote it before every key was on every line: no diff_path, diff_truncated, workspace
        "id": "old", "outcome": "failed", "check": {"exit_code": 1, "output_tail": ""}, "final_response": "did nothing",
        "diff": "", "rollout_path": None, "error": None, "versions": {},
        "usage": {"input_tokens": 5, "cached_input_tokens": 0, "output_tokens": 2, "reasoning_output_tokens": 0},
        "turns": [], "rate_limits": [], "timings": {"total_s": 1.5, "queue_wait_s": 0.0, "first_token_s": None, "turns_s": []},
    }  # fmt: skip
    out, tasks_file = tmp_path / "results.jsonl", tmp_path / "tasks.jsonl"
    out.write_text(json.dumps(old) + "\n" + json.dumps({"id": "junk", "outcome": "exploded"}) + "\n")
    scripted_model.route("<batch-new>", text("new"))
    _write_tasks(tasks_file, [{"id": "old", "prompt": "<batch-old>"}, {"id": "new", "prompt": "<batch-new>"}])

    summary = codexrs.batch.run(tasks_file, out, concurrency=2, codex_home=codex_home, config=scripted_model.config())

    assert summary.skipped == ["old"] and summary.outcomes == {"passed": 1}
    assert not any("<batch-old>" in str(r.body) for r in scripted_model.response_requests())
    loaded = codexrs.batch.load(out)
    assert loaded.bad_lines == [2]  # "exploded" is no outcome: not a result line
    assert [list(msgspec.structs.asdict(r)) for r in loaded.records] == [RECORD_KEYS, RECORD_KEYS]
    by_id = loaded.by_id()
    assert by_id["old"].diff_path is None and by_id["old"].diff_truncated is False and by_id["old"].workspace is None
    assert by_id["old"].timings.started_at is None and by_id["old"].usage.input_tokens == 5
    assert by_id["new"].outcome == "passed" and by_id["new"].final_response == "new"
    with pytest.warns(DeprecationWarning, match=r'record\["timings"\] is deprecated: .* use record\.timings'):
        assert by_id["old"]["timings"]["total_s"] == 1.5  # as when records were dicts
    # codexrs report reads it too: the old line is a row of the page, with its outcome.
    page = codexrs.batch.write_report([out], tmp_path / "report.html").read_text()
    assert page.count("<tr><td data-v=\"old\">old</td>") == 1 and "Skipped results.jsonl: 1 line(s)" in page


def test_a_bad_concurrency_or_workers_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """One rule for both: a wrong type is TypeError, a value below 1 ConfigError."""
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "results.jsonl"
    _write_tasks(tasks_file, [{"id": "t", "prompt": "p"}])
    bad: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"concurrency": 0}, codexrs.ConfigError, "concurrency must be at least 1, not 0"),
        ({"concurrency": "8"}, TypeError, "concurrency must be an int, not '8'"),
        ({"concurrency": True}, TypeError, "concurrency must be an int, not True"),
        ({"workers": 0, "ray": "local"}, codexrs.ConfigError, "workers must be at least 1, not 0"),
        ({"workers": 1.5}, TypeError, "workers must be an int or None, not 1.5"),
        ({"concurrenccy": 2}, TypeError, "unexpected keyword argument 'concurrenccy'"),
    ]
    for options, error, message in bad:
        with pytest.raises(error, match=re.escape(message)):
            codexrs.batch.run(tasks_file, out, **options)
    assert not out.exists()
    command = [sys.executable, "-m", "codexrs.cli", "batch", str(tasks_file), "--out", str(out), "--concurrency", "0"]
    done = subprocess.run(command, env=plain_env(), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (1, "ConfigError: concurrency must be at least 1, not 0") and not out.exists()


@given(record=_records, dropped=st.sets(st.sampled_from(RECORD_KEYS[1:])))
def test_a_result_line_is_one_json_line_with_every_key_and_reads_back_without_any(
    record: codexrs.batch.Record, dropped: set[str]
) -> None:
    line = codexrs.batch._record.encode_record(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and list(json.loads(line)) == RECORD_KEYS
    assert codexrs.batch.decode_record(line) == record
    older = {k: v for k, v in json.loads(line).items() if k not in dropped}  # a line missing keys, as older codexrs wrote
    read = codexrs.batch.decode_record(json.dumps(older))
    assert all(getattr(read, k) == getattr(codexrs.batch.Record(id=record.id), k) for k in dropped)


def test_a_task_files_relative_workspaces_are_read_from_its_directory(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    workspaces = ["app", "../shared/app", "/srv/app", "~/app", "git@example.com:o/r.git", "file:///srv/r", "repo"]
    _write_tasks(suite / "tasks.jsonl", [
        {"id": f"t{n}", "prompt": "p", "workspace": w, **({"ref": "main"} if n >= 4 else {})} for n, w in enumerate(workspaces)
    ])  # fmt: skip
    read = [t.workspace for t in codexrs.batch.read_tasks(suite / "tasks.jsonl") if isinstance(t, codexrs.batch.Task)]
    home = str(Path("~").expanduser())
    expected = [f"{suite}/app", f"{tmp_path}/shared/app", "/srv/app", f"{home}/app", "git@example.com:o/r.git", "file:///srv/r", f"{suite}/repo"]
    assert read == expected  # git URLs (with a ref) as written; every path absolute, from the task file's directory

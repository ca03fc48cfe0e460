"""Many threads in one process with the defaults a user gets: codexrs turns codex's per-thread
shell snapshot off unless asked (commands still see the user's login profile), wakes asyncio
readers through one descriptor per engine, and raises the soft open-file limit (codex-core
keeps each thread's rollout file open) so 1,000 threads fit under the common 1,024."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import codexrs
from codexrs.testing import ScriptedModel, ScriptedModelProcess, exec_command, text


def _profile_home(tmp_path: Path) -> Path:
    home = tmp_path / "user-home"
    home.mkdir()
    (home / ".profile").write_text("export CODEXRS_FROM_PROFILE=sourced\n")
    return home


def test_commands_see_the_login_profile_without_a_shell_snapshot(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, tmp_path: Path
) -> None:
    scripted_model.enqueue(exec_command("echo $CODEXRS_FROM_PROFILE > profile.txt"), text("ok"))
    env = {"HOME": str(_profile_home(tmp_path))}
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), env=env) as codex:
        thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
        started = time.monotonic()
        assert thread.run("read the profile").status == "completed"
        time.sleep(max(0.0, started + 3.0 - time.monotonic()))  # codex's snapshot takes < 1 s here
        snapshots = codex_home / "shell_snapshots"
        assert not snapshots.exists() or not any(snapshots.iterdir())  # no login shell per thread
    assert (workspace / "profile.txt").read_text() == "sourced\n"  # yet the command saw the profile


def test_config_toml_can_turn_the_shell_snapshot_back_on(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, tmp_path: Path
) -> None:
    (codex_home / "config.toml").write_text("[features]\nshell_snapshot = true\n")
    scripted_model.enqueue(exec_command("echo $CODEXRS_FROM_PROFILE > profile.txt"), text("ok"))
    env = {"HOME": str(_profile_home(tmp_path))}
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), env=env) as codex:
        thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
        assert thread.run("read the profile").status == "completed"
        snapshots = codex_home / "shell_snapshots"
        deadline = time.monotonic() + 30
        while not (snapshots.exists() and any(snapshots.iterdir())):  # codex takes its snapshot
            assert time.monotonic() < deadline, "codex took no shell snapshot"
            time.sleep(0.1)
    assert (workspace / "profile.txt").read_text() == "sourced\n"


def test_a_thousand_threads_under_a_soft_limit_of_1024_open_files(codex_home: Path, workspace: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, resource
        import codexrs
        from codexrs.testing import ScriptedModelProcess, text

        async def main():
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1024
            with ScriptedModelProcess() as model:
                for n in range(1000):
                    model.route(f"<thousand-{{n}}>", text(f"ok {{n}}"))
                async with codexrs.AsyncManager(codex_home={str(codex_home)!r}, cwd={str(workspace)!r},
                                                config=model.config(), max_running_turns=32) as manager:
                    for n in range(1000):
                        await manager.create(f"t{{n}}")
                    for n in range(1000):
                        await manager.send(f"t{{n}}", f"<thousand-{{n}}>")
                    results = await manager.wait_all(timeout=600)
                    bad = [n for n, r in results.items() if r.final_response != f"ok {{n[1:]}}"]
                    print("done", len(results), len(bad), len(os.listdir("/proc/self/fd")))

        asyncio.run(main())
        """
    )
    hard = subprocess.run(["bash", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout.strip()
    assert hard == "unlimited" or int(hard) > 4096, f"this test needs a hard open-file limit above 4096, not {hard}"
    run = subprocess.run(
        ["bash", "-c", f"ulimit -Sn 1024 && exec {sys.executable} -c \"$0\"", script],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    done, count, bad, fds = run.stdout.split()[-4:]
    assert (done, count, bad) == ("done", "1000", "0")
    assert int(fds) > 1024  # it really needed more than the soft limit it started with


async def test_threads_hold_no_wake_up_descriptor_of_their_own(codex_home: Path, workspace: Path) -> None:
    with ScriptedModelProcess() as model:
        for n in range(100):
            model.route(f"<fd-{n}>", text(f"ok {n}"))
        async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=model.config()) as codex:
            before = len(os.listdir("/proc/self/fd"))
            threads = [await codex.thread_start() for _ in range(100)]
            assert len(os.listdir("/proc/self/fd")) - before < 10  # one engine descriptor, not 200
            results = await asyncio.gather(*(t.run(f"<fd-{n}>") for n, t in enumerate(threads)))
    assert [r.final_response for r in results] == [f"ok {n}" for n in range(100)]  # every reader woke


def test_an_engine_read_from_one_loop_then_another_wakes_its_readers(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    # The engine's one wake-up descriptor is watched by one loop at a time: once the first
    # loop is closed, the next loop's readers must still wake (not wait for a closed loop).
    scripted_model.enqueue(text("from the first loop"), text("from the second loop"))
    codex = codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config())

    async def first() -> tuple[codexrs.AsyncThread, str | None]:
        thread = await codex.thread_start()
        return thread, (await thread.run("one")).final_response

    async def second(thread: codexrs.AsyncThread) -> str | None:
        try:
            return (await asyncio.wait_for(thread.run("two"), 30)).final_response
        finally:
            await codex.close()

    thread, answer = asyncio.run(first())
    assert answer == "from the first loop"
    assert asyncio.run(second(thread)) == "from the second loop"


def test_the_runtime_has_spare_workers_and_takes_tokio_worker_threads(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    # codex-core blocks a worker for the child processes of each model request (os_info's
    # `lsb_release -a` and `getconf LONG_BIT`): twice the cores, at least 8, keep streams going
    # through a burst of turn starts. TOKIO_WORKER_THREADS chooses; a bad value is ignored, not
    # a panic (tokio's own reading of it panics).
    script = textwrap.dedent(
        f"""
        import codexrs
        from codexrs import _native
        with codexrs.Codex(codex_home={str(codex_home)!r}, cwd={str(workspace)!r}, config={scripted_model.config()!r}) as codex:
            print(codex.thread_start().run("hi").final_response, _native.runtime_workers())
        """
    )
    default = max(8, 2 * len(os.sched_getaffinity(0)))
    for value, workers in [(None, default), ("3", 3), ("two", default)]:
        scripted_model.enqueue(text("ok"))
        env = {k: v for k, v in os.environ.items() if k != "TOKIO_WORKER_THREADS"}
        if value is not None:
            env["TOKIO_WORKER_THREADS"] = value
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split() == ["ok", str(workers)], value
        assert "panicked" not in run.stderr

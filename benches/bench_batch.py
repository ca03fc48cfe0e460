"""A benchmark batch: N scripted tasks (each: a workspace copy, a setup command, one tool-using
turn, a check) through ``codexrs.batch`` and through the official SDK (``openai-codex``, one
``codex app-server``) with the same concurrency, in one run, against the scripted model in a
process of its own (counted for neither). Prints tasks per minute, CPU per task (every process
but the model's, reaped children included: setup and check commands, git) and how many passed.

    python benches/bench_batch.py                     # 200 tasks at concurrency 1, 8, 32
    python benches/bench_batch.py --tasks 50 --concurrency 8

The official side is the loop a harness author writes around it: copy the workspace, run the
setup, start a thread in it, run the turn, run the check. Both run commands without a sandbox
(full access): on this machine the official SDK's bundled codex cannot start its sandbox (its
command fails with "bwrap: execvp codex-linux-sandbox: No such file or directory"), so both do
the same work. Tasks per minute count every task; each line says how many passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_scale import Cpu  # noqa: E402
from bench_turns import _official_config  # noqa: E402

import codexrs.batch  # noqa: E402
from codexrs.testing import ScriptedModelProcess, exec_command, text  # noqa: E402

SETUP = "echo ready > setup.txt"
CHECK = "test -f setup.txt && test -f out.txt"


def _script(model: ScriptedModelProcess, run: str, n: int) -> list[str]:
    markers = [f"<bb-{run}-{i}>" for i in range(n)]
    for marker in markers:
        model.route(marker, exec_command("echo ok > out.txt"), text("done"))
    return markers


def ours(model: ScriptedModelProcess, template: Path, tmp: Path, n: int, concurrency: int) -> tuple[float, float, int]:
    markers = _script(model, f"ours{concurrency}", n)
    tasks, out, home = tmp / f"tasks-{concurrency}.jsonl", tmp / f"results-{concurrency}.jsonl", tmp / f"home-ours-{concurrency}"
    home.mkdir()
    tasks.write_text("".join(
        json.dumps({"id": f"t{i}", "prompt": m, "workspace": str(template), "setup": SETUP, "check": CHECK}) + "\n"
        for i, m in enumerate(markers)
    ))  # fmt: skip
    meter = Cpu(exclude=model.pid)
    cpu0, t0 = meter.now(), time.perf_counter()
    summary = codexrs.batch.run(
        tasks, out, concurrency=concurrency, codex_home=home, config=model.config(), sandbox="danger-full-access"
    )
    return time.perf_counter() - t0, meter.now() - cpu0, summary.outcomes.get("passed", 0)


def official(model: ScriptedModelProcess, template: Path, tmp: Path, n: int, concurrency: int) -> tuple[float, float, int]:
    from openai_codex import ApprovalMode, AsyncCodex, Sandbox

    markers = _script(model, f"official{concurrency}", n)
    home = tmp / f"home-official-{concurrency}"
    home.mkdir()

    async def shell(command: str, cwd: Path) -> int:
        proc = await asyncio.create_subprocess_shell(command, cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        return await proc.wait()

    async def go() -> int:
        codex = AsyncCodex(_official_config(model, home, tmp))
        await codex.__aenter__()
        slots = asyncio.Semaphore(concurrency)

        async def task(marker: str) -> bool:
            async with slots:
                workspace = Path(tempfile.mkdtemp(dir=tmp))
                shutil.copytree(template, workspace, dirs_exist_ok=True)
                if await shell(SETUP, workspace) != 0:
                    return False
                thread = await codex.thread_start(cwd=str(workspace), approval_mode=ApprovalMode.deny_all, sandbox=Sandbox.full_access)
                await thread.run(marker)
                passed = await shell(CHECK, workspace) == 0
                shutil.rmtree(workspace, ignore_errors=True)
                return passed

        try:
            return sum(await asyncio.gather(*(task(m) for m in markers)))
        finally:
            await codex.close()

    meter = Cpu(exclude=model.pid)
    cpu0, t0 = meter.now(), time.perf_counter()
    passed = asyncio.run(go())
    return time.perf_counter() - t0, meter.now() - cpu0, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--only", choices=["codexrs", "official"])
    args = parser.parse_args()
    rows: dict[str, tuple[float, float]] = {}
    with ScriptedModelProcess() as model, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        template = tmp / "template"
        template.mkdir()
        (template / "README.md").write_text("a workspace to copy\n")
        for concurrency in args.concurrency:
            for name, fn in (("codexrs", ours), ("official", official)):
                if args.only not in (None, name):
                    continue
                wall, cpu, passed = fn(model, template, tmp, args.tasks, concurrency)
                rows[f"{name} c={concurrency}"] = (args.tasks / wall * 60, cpu / args.tasks * 1e3)
                print(f"{name:>9} concurrency {concurrency:>3}: {rows[f'{name} c={concurrency}'][0]:7.1f} tasks/min, "
                      f"{rows[f'{name} c={concurrency}'][1]:6.1f} ms CPU per task, {passed} of {args.tasks} passed", flush=True)  # fmt: skip
    for concurrency in args.concurrency:
        ours_row, theirs = rows.get(f"codexrs c={concurrency}"), rows.get(f"official c={concurrency}")
        if ours_row and theirs:
            print(f"concurrency {concurrency}: tasks/min {ours_row[0] / theirs[0]:.2f}x, CPU per task {ours_row[1] / theirs[1]:.2f}x (codexrs/official)")


if __name__ == "__main__":
    main()

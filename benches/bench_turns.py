"""codexrs vs the official SDK (openai-codex, which drives `codex app-server` over stdio).

Both run the same turns against the same scripted model, in the same run, on this machine:

* a 10-delta turn: round trip from starting the turn to its result (median of N);
* a 10,000-delta turn: deltas/s reaching user code (first to last delta), and CPU per delta
  (this process plus, for the official SDK, its app-server child; the model server runs in a
  separate process and is counted for neither).

Prints absolute figures and the codexrs/official ratios; asserts nothing. Run:

    python benches/bench_turns.py            # needs: pip install openai-codex==0.163.0
    python benches/bench_turns.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import codexrs
from codexrs import events as ev
from codexrs.testing import ScriptedModelProcess, ScriptedResponse
from codexrs.testing.model import config_for, text

BIG = 10_000
SMALL = 10


@dataclass
class Figures:
    round_trip_ms: float
    deltas_per_s: float
    cpu_us_per_delta: float


def deltas_turn(n: int) -> ScriptedResponse:
    """A text response streamed as ``n`` deltas."""
    deltas = [f"d{i} " for i in range(n)]
    return text("".join(deltas), deltas=deltas)


class DeltaClock:
    """Counts the deltas of one turn and when the first and last reached user code."""

    def __init__(self) -> None:
        self.first = self.last = 0.0
        self.count = 0

    def tick(self) -> None:
        self.last = time.perf_counter()
        if not self.count:
            self.first = self.last
        self.count += 1

    def figures(self) -> tuple[float, float, int]:
        return self.first, self.last, self.count


def _cpu_s(pids: list[int]) -> float:
    """utime+stime of these processes (all their threads), in seconds, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def _children() -> list[int]:
    me = os.getpid()
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == me:
                out.append(int(entry.name))
    return out


def measure(
    model: ScriptedModelProcess, run_turn: Callable[[], tuple[float, float, int]], reps: int, extra_pids: Callable[[], list[int]]
) -> Figures:
    trips = []
    for _ in range(reps):
        model.enqueue(deltas_turn(SMALL))
        t0 = time.perf_counter()
        run_turn()
        trips.append((time.perf_counter() - t0) * 1000)
    model.enqueue(deltas_turn(BIG))
    pids = [os.getpid(), *extra_pids()]
    cpu0 = _cpu_s(pids)
    first, last, count = run_turn()
    cpu = _cpu_s(pids) - cpu0
    assert count == BIG, f"expected {BIG} deltas, got {count}"
    return Figures(statistics.median(trips), (count - 1) / (last - first), cpu / count * 1e6)


def codexrs_sync(model: ScriptedModelProcess, home: Path, cwd: Path, reps: int) -> Figures:
    with codexrs.Codex(codex_home=home, cwd=cwd, config=config_for(model.url)) as codex:
        thread = codex.thread_start(approval_policy="never")

        def turn() -> tuple[float, float, int]:
            clock = DeltaClock()
            for e in thread.turn("go").stream():
                if isinstance(e, ev.AgentMessageContentDelta):
                    clock.tick()
            return clock.figures()

        return measure(model, turn, reps, lambda: [])


def codexrs_async(model: ScriptedModelProcess, home: Path, cwd: Path, reps: int) -> Figures:
    loop = asyncio.new_event_loop()
    codex = codexrs.AsyncCodex(codex_home=home, cwd=cwd, config=config_for(model.url))
    try:
        loop.run_until_complete(codex.start())
        thread = loop.run_until_complete(codex.thread_start(approval_policy="never"))

        async def turn_async() -> tuple[float, float, int]:
            clock = DeltaClock()
            async for e in (await thread.turn("go")).stream():
                if isinstance(e, ev.AgentMessageContentDelta):
                    clock.tick()
            return clock.figures()

        return measure(model, lambda: loop.run_until_complete(turn_async()), reps, lambda: [])
    finally:
        loop.run_until_complete(codex.close())
        loop.close()


def _official_config(model: ScriptedModelProcess, home: Path, cwd: Path) -> Any:
    from openai_codex import CodexConfig

    overrides = tuple(f"{k}={json.dumps(v)}" for k, v in {**config_for(model.url), **_codexrs_defaults()}.items())
    return CodexConfig(config_overrides=overrides, cwd=str(cwd), env={**os.environ, "CODEX_HOME": str(home)})


def _codexrs_defaults() -> dict[str, Any]:
    # The same startup settings codexrs applies, so both engines do the same work.
    return {"check_for_update_on_startup": False, "analytics.enabled": False, "features.plugins": False}


def _is_delta(event: Any) -> bool:
    return getattr(event, "method", "") == "item/agentMessage/delta"


def official_sync(model: ScriptedModelProcess, home: Path, cwd: Path, reps: int) -> Figures:
    from openai_codex import Codex

    with Codex(_official_config(model, home, cwd)) as codex:
        thread = codex.thread_start()

        def turn() -> tuple[float, float, int]:
            clock = DeltaClock()
            for e in thread.turn("go").stream():
                if _is_delta(e):
                    clock.tick()
            return clock.figures()

        return measure(model, turn, reps, _children)


def official_async(model: ScriptedModelProcess, home: Path, cwd: Path, reps: int) -> Figures:
    from openai_codex import AsyncCodex

    loop = asyncio.new_event_loop()
    codex = AsyncCodex(_official_config(model, home, cwd))
    try:
        loop.run_until_complete(codex.__aenter__())
        thread = loop.run_until_complete(codex.thread_start())

        async def turn_async() -> tuple[float, float, int]:
            clock = DeltaClock()
            async for e in (await thread.turn("go")).stream():
                if _is_delta(e):
                    clock.tick()
            return clock.figures()

        return measure(model, lambda: loop.run_until_complete(turn_async()), reps, _children)
    finally:
        loop.run_until_complete(codex.close())
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = 5 if args.quick else 20
    model = ScriptedModelProcess()
    results: dict[str, Figures] = {}
    try:
        for name, fn in [
            ("codexrs sync", codexrs_sync),
            ("official sync", official_sync),
            ("codexrs async", codexrs_async),
            ("official async", official_async),
        ]:
            with tempfile.TemporaryDirectory() as tmp:
                home, cwd = Path(tmp) / "home", Path(tmp) / "work"
                home.mkdir()
                cwd.mkdir()
                subprocess.run(["git", "init", "-q", str(cwd)], check=True)
                results[name] = fn(model, home, cwd, reps)
    finally:
        model.close()
    print(f"{'':16}{'10-delta turn ms':>18}{'deltas/s':>12}{'CPU us/delta':>14}")
    for name, f in results.items():
        print(f"{name:16}{f.round_trip_ms:18.1f}{f.deltas_per_s:12.0f}{f.cpu_us_per_delta:14.1f}")
    for mode in ("sync", "async"):
        ours, theirs = results[f"codexrs {mode}"], results[f"official {mode}"]
        print(
            f"ratio {mode}: round trip {ours.round_trip_ms / theirs.round_trip_ms:.2f}x "
            f"(lower is better), deltas/s {ours.deltas_per_s / theirs.deltas_per_s:.2f}x, "
            f"CPU/delta {ours.cpu_us_per_delta / theirs.cpu_us_per_delta:.2f}x"
        )


if __name__ == "__main__":
    main()

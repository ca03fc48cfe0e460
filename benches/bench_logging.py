"""What the log bridge costs: the 10,000-delta turn's delta rate with the bridge installed and
Python logging at WARNING (and, for scale, at DEBUG) against no bridge at all, in one run.

    python benches/bench_logging.py [--rounds 5] [--turns 5] [--deltas 10000]

Each mode runs in its own process (the bridge is installed once per process; without it,
``CODEXRS_LOG_BRIDGE=0``, no Rust record is made), alternating modes round by round so the
machine's drift hits all of them. A process runs one warm-up turn, then ``--turns`` turns of
``--deltas`` deltas each from the scripted model, and reports deltas per second seen by the
reader (first delta to the turn's end) and the records Python logging received. Prints each
mode's median over rounds and its ratio to no bridge.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"no bridge": ("0", None), "bridge, WARNING": ("1", "WARNING"), "bridge, DEBUG": ("1", "DEBUG")}


def child(turns: int, deltas: int, level: str | None) -> None:
    import logging

    import codexrs
    from codexrs.events import AgentMessageContentDelta
    from codexrs.testing import ScriptedModel, text

    counted = [0]

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            counted[0] += 1

    if level is not None:
        logging.getLogger().addHandler(Count())
        logging.getLogger().setLevel(level)
    rates = []
    with tempfile.TemporaryDirectory() as tmp, ScriptedModel() as model:
        parts = [f"d{i} " for i in range(deltas)]
        for _ in range(turns + 1):
            model.enqueue(text("".join(parts), deltas=parts))
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        with codexrs.Codex(codex_home=Path(tmp) / "home", cwd=repo, config=model.config()) as codex:
            thread = codex.thread_start()
            for n in range(turns + 1):
                first = None
                seen = 0
                with thread.turn("go").stream() as stream:
                    for event in stream:
                        if isinstance(event, AgentMessageContentDelta):
                            first = first or time.perf_counter()
                            seen += 1
                end = time.perf_counter()
                assert seen == deltas, seen
                if n:  # the first turn warms up
                    rates.append(deltas / (end - (first or end)))
        codexrs.logs.flush()
    print(json.dumps({"rate": statistics.median(rates), "records": counted[0]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--deltas", type=int, default=10_000)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.turns, args.deltas, None if args.child == "none" else args.child)
        return

    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode, (bridge, level) in MODES.items():
            env = {**os.environ, "CODEXRS_LOG_BRIDGE": bridge}
            out = subprocess.run(
                [sys.executable, __file__, "--child", level or "none", "--turns", str(args.turns), "--deltas", str(args.deltas)],
                env=env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            results[mode].append(json.loads(out.strip().splitlines()[-1]))
    base = statistics.median(r["rate"] for r in results["no bridge"])
    print(f"{args.rounds} rounds x {args.turns} turns x {args.deltas:,} deltas; median per mode")
    for mode, runs in results.items():
        rate = statistics.median(r["rate"] for r in runs)
        records = statistics.median(r["records"] for r in runs)
        print(f"{mode:18} {rate:12,.0f} deltas/s  {rate / base:5.3f}x  records to Python logging: {records:,.0f}")


if __name__ == "__main__":
    main()

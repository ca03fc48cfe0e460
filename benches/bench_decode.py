"""Decode speed of a real 10,000-delta turn: the generated event types against the hand-written
ones they replaced, side by side in one run.

    python benches/bench_decode.py [--reps 20] [--before REV]

Records the batches codex-core's pump hands to Python during one real turn of 10,000 deltas
(scripted model), then times ``decode_batch`` over exactly those bytes with the current
``codexrs.events`` and with ``python/codexrs/events.py`` as it was at ``REV`` (read with
``git show``; the hand-written module, before the types were generated). Prints the median
time per repetition, events per second and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Callable

import codexrs
from codexrs import events
from codexrs.testing import ScriptedModel, record_batches, text

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "cbb61b3"  # the last commit with the hand-written codexrs.events


def turn_batches(deltas: int) -> list[bytes]:
    """The raw batches of one real turn streaming ``deltas`` deltas."""
    with tempfile.TemporaryDirectory() as tmp, ScriptedModel() as model, record_batches() as batches:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        parts = [f"d{i} " for i in range(deltas)]
        model.enqueue(text("".join(parts), deltas=parts))
        with codexrs.Codex(codex_home=Path(tmp) / "home", cwd=repo, config=model.config()) as codex:
            result = codex.thread_start().run("go")
            assert result.status == "completed"
    return batches


def load_before(rev: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:python/codexrs/events.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType("codexrs_events_before")
    sys.modules[module.__name__] = module  # msgspec resolves annotations through sys.modules
    exec(compile(source, f"{rev}:events.py", "exec"), module.__dict__)
    return module


def time_decode(decode: Callable[[bytes], list[Any]], batches: list[bytes], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for batch in batches:
            decode(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--deltas", type=int, default=10_000)
    parser.add_argument("--before", default=BEFORE)
    args = parser.parse_args()

    batches = turn_batches(args.deltas)
    count = sum(len(json.loads(b)) for b in batches)
    before = load_before(args.before)
    typed_before = sum(not isinstance(e, before.GenericEvent) for b in batches for _, e in before.decode_batch(b))
    typed_now = sum(not isinstance(e, events.GenericEvent) for b in batches for _, e in events.decode_batch(b))
    rows = []
    for name, decode in (("generated (now)", events.decode_batch), (f"hand-written ({args.before})", before.decode_batch)):
        seconds = time_decode(decode, batches, args.reps)
        rows.append((name, seconds))
        print(f"{name:28} {seconds * 1e3:8.2f} ms per turn  {count / seconds:12,.0f} events/s")
    print(f"{count} events in {len(batches)} batches; typed: now {typed_now}, before {typed_before}")
    print(f"ratio (now / before, time): {rows[0][1] / rows[1][1]:.2f}x")


if __name__ == "__main__":
    main()

"""Where the Python thread's time per delta goes with many slow streams, and asyncio's own floor.

Two measurements, printed side by side (asserts nothing):

* ``split``: one ``bench_scale.py stream`` run of codexrs (N conversations x R deltas/s), with
  the engine's one read timed from inside the process by ``time.thread_time()`` (CPU of the
  Python thread): the native ``take_batches`` call, msgspec's decode of its buffer, waking the
  readers, the whole dispatcher callback; and Python's cyclic garbage collector, timed through
  ``gc.callbacks``. Each is reported in microseconds per delta next to the run's own
  ``steady_main_us_per_delta``; the rest of the Python thread's time is the reader tasks (one
  wake-up per event per stream), the event loop and the benchmark's loop. The timers cost a few
  tenths of a microsecond per call, so the split runs a little above an untimed run.
* ``floor``: asyncio alone, no codexrs: N tasks, each ``async for`` over an iterator whose
  ``__anext__`` awaits a future, and one callback per loop turn resolving K of them; CPU per
  event. This is what one task wake-up per event costs on this machine, whatever the library.

Run: ``python benches/bench_read_split.py --n 1000 --rate 10 --seconds 60``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).parent))
import bench_scale  # noqa: E402

from codexrs._core import wakeups  # noqa: E402


def split(n: int, rate: float, seconds: float) -> dict[str, float]:
    """Runs the stream section once with the dispatcher's parts timed; us per delta."""
    spent: dict[str, float] = {"take_batches": 0.0, "decode": 0.0, "wake_readers": 0.0, "dispatch": 0.0, "gc": 0.0}
    counts = {"reads": 0, "events": 0}

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            t = time.thread_time()
            try:
                return call(*args)
            finally:
                spent[name] += time.thread_time() - t

        return run

    class TimedWakeups:
        """The engine's native wake-ups, with ``take_batches`` timed."""

        def __init__(self, native: Any) -> None:
            self.native = native
            self.take_batches = timed("take_batches", native.take_batches)

        def fileno(self) -> int:
            return int(self.native.fileno())

    real_decode = getattr(wakeups, "decode_entries")  # what the dispatcher calls, as it names it

    def decode(buffer: bytes) -> Any:
        entries = timed("decode", real_decode)(buffer)
        counts["reads"] += 1
        counts["events"] += sum(len(entry[3]) for entry in entries)
        return entries

    real_init = wakeups.Dispatcher.__init__

    def init(self: wakeups.Dispatcher, native: Any) -> None:
        real_init(self, native)
        self.wakeups = TimedWakeups(native)  # type: ignore[assignment]  # the same two methods

    gc_start = [0.0]

    def on_gc(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[0] = time.thread_time()
        else:
            spent["gc"] += time.thread_time() - gc_start[0]

    patches: list[tuple[Any, str, Any]] = [
        (wakeups, "decode_entries", decode),
        (wakeups.Dispatcher, "__init__", init),
        (wakeups.Dispatcher, "_ready", timed("dispatch", wakeups.Dispatcher._ready)),
        (wakeups.Dispatcher, "_wake_readers", timed("wake_readers", wakeups.Dispatcher._wake_readers)),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    gc.callbacks.append(on_gc)
    try:
        row = bench_scale.stream("codexrs", n, rate, seconds)
    finally:
        gc.callbacks.remove(on_gc)
        for owner, name, value in saved:
            setattr(owner, name, value)
    deltas = row["deltas"]
    out = {f"{name}_us_per_delta": s / deltas * 1e6 for name, s in spent.items()}
    out["events_per_read"] = counts["events"] / max(1, counts["reads"])
    for key in ("main_us_per_delta", "steady_main_us_per_delta", "steady_lag_p99_ms"):
        if key in row:
            out[key] = row[key]
    return out


def floor(n: int, k: int, total: int = 300_000) -> float:
    """CPU us per event of one asyncio task wake-up per event (see the module docs)."""

    class Stream:
        def __init__(self) -> None:
            self.queue: list[int] = []
            self.waiter: asyncio.Future[None] | None = None

        def __aiter__(self) -> Stream:
            return self

        async def __anext__(self) -> int:
            while not self.queue:
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter
            return self.queue.pop()

    async def main() -> float:
        streams = [Stream() for _ in range(n)]
        seen = 0

        async def read(stream: Stream) -> None:
            nonlocal seen
            async for _ in stream:
                seen += 1

        tasks = [asyncio.create_task(read(s)) for s in streams]
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        sent = 0

        def tick() -> None:
            nonlocal sent
            for stream in random.sample(streams, k):
                stream.queue.append(sent)
                sent += 1
                if stream.waiter is not None and not stream.waiter.done():
                    stream.waiter.set_result(None)
            if sent < total:
                loop.call_soon(tick)
            else:
                done.set_result(None)

        t0 = time.process_time()
        loop.call_soon(tick)
        await done
        while seen < sent:
            await asyncio.sleep(0)
        cpu = time.process_time() - t0
        for task in tasks:
            task.cancel()
        return cpu / sent * 1e6

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="conversations (and floor tasks)")
    parser.add_argument("--rate", type=float, default=10.0, help="deltas/s per conversation")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per turn")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 50], help="floor: events per loop turn")
    args = parser.parse_args()
    for k in args.k:
        print(f"floor N={args.n} K={k}: {floor(args.n, k):.2f} us CPU per event (asyncio alone)")
    row = split(args.n, args.rate, args.seconds)
    figures = ", ".join(f"{k}={v:.3g}" for k, v in row.items())
    print(f"split N={args.n} x {args.rate:g}/s x {args.seconds:g} s: {figures}")


if __name__ == "__main__":
    main()

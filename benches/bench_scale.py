"""Many conversations in one process: codexrs (``AsyncManager``) and the official SDK
(``openai-codex``, one ``codex app-server`` child) side by side, in the same run, against the
same scripted model (a process of its own, counted for neither).

Sections (``python benches/bench_scale.py SECTION ...``; ``all`` runs every one):

* ``stream``: N conversations each streaming deltas at a fixed rate, all turns started at once;
  each delta carries the time the model wrote it, so the lag to user code is measured per delta
  (p50 / p99 over every delta, and "steady": over the run's second half, after the burst of N
  turn starts), with the aggregate deltas/s, peak RSS and CPU per delta (codexrs's CPU split by
  thread: the Python main thread, which is codexrs's decoding and dispatch plus this script, and
  the tokio workers, which run codex-core and codexrs's pump; ``steady_*_us_per_delta``: the same
  split over the steady half alone, from a sample of the threads' CPU each second). With
  ``--read all`` (codexrs only) each conversation awaits its turn's ``result()`` (``--read
  manager``: goes through ``AsyncManager.send`` / ``wait_all``) and one ``stream_all``
  consumer sees (and times) every delta: a harness's shape without a task waking per delta
  (``--read batches``: the same, the consumer over ``stream_all().batches()``, a list per read).
* ``start``: time to start thread number 1, the last 10 of 100, the last 10 of 1,000.
* ``throughput``: K warm threads each running one-message turns back to back: turns/s and CPU
  per turn (every process but the scripted model, reaped children included).
* ``interrupt``: 6 async streams wait on slow turns; one is interrupted: time from the call to
  its stream's end.

Each engine runs with the configuration a user gets by default (codexrs turns codex's
per-thread shell snapshot off by default; the official SDK leaves it on). Prints figures and
codexrs/official ratios; asserts nothing. Needs ``pip install openai-codex==0.163.0``.

Environment: ``BENCH_SCALE_DEBUG=1`` prints, for ``stream`` (after the run), each second's delta
count, lag p50 / p99 and the cores each part used (the Python main thread, the tokio workers, the
process's other threads, the scripted model server, the reaped children). ``BENCH_SCALE_MODEL_NICE=N``
runs the scripted model server at nice N: it shares this machine's cores with the engine under
test (a real model does not), and niced it yields them first; its deltas are stamped when
written, so a model that falls behind lowers the delivered rate, not the lag.
``BENCH_SCALE_WORKSPACE=plain`` runs the conversations in a plain directory instead of a fresh git
repository: codex-core then skips its ``git`` probes at each turn start (``turn_metadata.rs``
runs them only inside a repository), which shows what those probes cost the start burst.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Protocol

sys.path.insert(0, str(Path(__file__).parent))
from bench_turns import _children, _cpu_s, _is_delta, _official_config  # noqa: E402

import codexrs  # noqa: E402
from codexrs import events as ev  # noqa: E402
from codexrs.testing import SENT_AT, ScriptedModelProcess, text  # noqa: E402


# -- measuring -----------------------------------------------------------------------------------
def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def _rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes now (VmRSS), summed."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _threads_cpu_s() -> dict[str, float]:
    """This process's CPU seconds by thread kind: ``main`` (the Python thread running the
    event loop), ``workers`` (tokio: codex-core and codexrs's pump), ``other``."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"main": 0.0, "workers": 0.0, "other": 0.0}
    for task in Path("/proc/self/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "main" if task.name == str(os.getpid()) else "workers" if comm.startswith("codexrs-work") else "other"
        out[kind] += (int(fields[11]) + int(fields[12])) / tick
    return out


class Cpu:
    """CPU seconds of this process and every child but ``exclude`` (live ones from /proc with
    their own reaped children; reaped ones from ``os.times``)."""

    def __init__(self, exclude: int) -> None:
        self.exclude = exclude

    def now(self) -> float:
        t = os.times()
        live = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in _children():
            if pid == self.exclude:
                continue
            try:
                f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            live += sum(int(x) for x in f[11:15]) / tick
        # the model process lives through the run: it is never among the reaped children
        return t.user + t.system + t.children_user + t.children_system + live


@contextmanager
def _workspace() -> Iterator[tuple[Path, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        home, cwd = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        cwd.mkdir()
        if os.environ.get("BENCH_SCALE_WORKSPACE", "git") == "git":
            subprocess.run(["git", "init", "-q", str(cwd)], check=True)
        yield home, cwd


def _stamped(n_deltas: int, rate: float) -> Any:
    deltas = [f"{SENT_AT} "] * n_deltas
    response = text("".join(deltas), deltas=deltas).delayed(0.0, between_events=1.0 / rate)
    response.stamp_deltas = True
    return response


# -- the engines, behind one small interface ------------------------------------------------------
class Engine(Protocol):
    name: str

    async def start_thread(self) -> Any: ...
    async def turn(self, thread: Any, prompt: str) -> Any: ...
    def stream(self, turn: Any) -> AsyncIterator[Any]: ...
    def delta(self, event: Any) -> str | None: ...
    async def interrupt(self, turn: Any) -> None: ...
    async def close(self) -> None: ...


class Ours:
    name = "codexrs"

    def __init__(self, model: ScriptedModelProcess, home: Path, cwd: Path) -> None:
        self.manager = codexrs.AsyncManager(codex_home=home, cwd=cwd, config=model.config())
        self.count = 0

    async def open(self) -> Ours:
        await self.manager.__aenter__()
        return self

    async def start_thread(self) -> Any:
        self.count += 1
        return (await self.manager.create(f"t{self.count}")).thread

    async def turn(self, thread: Any, prompt: str) -> Any:
        return await thread.turn(prompt)

    def stream(self, turn: Any) -> AsyncIterator[Any]:
        return turn.stream()  # type: ignore[no-any-return]

    def delta(self, event: Any) -> str | None:
        return event.delta if isinstance(event, ev.AgentMessageContentDelta) else None

    async def interrupt(self, turn: Any) -> None:
        await turn.interrupt()

    async def close(self) -> None:
        await self.manager.close()


class Official:
    name = "official"

    def __init__(self, model: ScriptedModelProcess, home: Path, cwd: Path) -> None:
        from openai_codex import AsyncCodex

        self.codex = AsyncCodex(_official_config(model, home, cwd))

    async def open(self) -> Official:
        await self.codex.__aenter__()
        return self

    async def start_thread(self) -> Any:
        return await self.codex.thread_start()

    async def turn(self, thread: Any, prompt: str) -> Any:
        return await thread.turn(prompt)

    def stream(self, turn: Any) -> AsyncIterator[Any]:
        return turn.stream()  # type: ignore[no-any-return]

    def delta(self, event: Any) -> str | None:
        return event.payload.delta if _is_delta(event) else None

    async def interrupt(self, turn: Any) -> None:
        await turn.interrupt()

    async def close(self) -> None:
        await self.codex.close()


async def _open(kind: str, model: ScriptedModelProcess, home: Path, cwd: Path) -> Engine:
    return await (Ours(model, home, cwd) if kind == "codexrs" else Official(model, home, cwd)).open()


def _run(kind: str, body: Callable[[Engine, ScriptedModelProcess], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Runs ``body`` with a fresh model process, home and engine of ``kind``."""

    async def go(model: ScriptedModelProcess, home: Path, cwd: Path) -> dict[str, Any]:
        engine = await _open(kind, model, home, cwd)
        try:
            return await body(engine, model)
        finally:
            await engine.close()

    with ScriptedModelProcess() as model, _workspace() as (home, cwd):
        if nice := int(os.environ.get("BENCH_SCALE_MODEL_NICE", "0")):
            # every thread the model has (its main thread and the serving loop's)
            for task in Path(f"/proc/{model.pid}/task").iterdir():
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
        return asyncio.run(go(model, home, cwd))


# -- sections -------------------------------------------------------------------------------------
def stream(kind: str, n: int, rate: float, seconds: float, read: str = "streams") -> dict[str, Any]:
    """``read``: ``streams`` (a task per conversation, ``async for`` over its turn's stream) or,
    codexrs only, ``all`` (a task per conversation awaiting its turn's ``result()``) or
    ``manager`` (``AsyncManager.send`` per conversation, then ``wait_all``), each with one
    all-threads consumer (``stream_all``) where the deltas are timed; ``batches``: ``all`` with
    the consumer over ``stream_all().batches()`` (a list per read, each event timed on the
    list's arrival)."""
    per_turn = int(rate * seconds)

    async def body(engine: Engine, model: ScriptedModelProcess) -> dict[str, Any]:
        for i in range(n):
            model.route(f"<s-{i}>", _stamped(per_turn, rate))
        t0 = time.perf_counter()
        threads = []
        for i in range(0, n, 32):
            threads += await asyncio.gather(*(engine.start_thread() for _ in range(i, min(n, i + 32))))
        start_s = time.perf_counter() - t0
        lags: list[float] = []
        seen: list[float] = []


        async def one(i: int) -> int:
            got = 0
            async for event in engine.stream(await engine.turn(threads[i], f"<s-{i}>")):
                delta = engine.delta(event)
                if delta is not None:
                    now = time.time()
                    lags.append(now - float(delta))
                    seen.append(now)
                    got += 1
            return got

        async def awaited(i: int) -> int:
            if read == "manager":  # Ours names its threads t1, t2, ... in the order started
                await engine.manager.send(f"t{i + 1}", f"<s-{i}>")  # type: ignore[attr-defined]
            else:
                await (await engine.turn(threads[i], f"<s-{i}>")).result()
            return 0

        async def watch(everything: AsyncIterator[Any]) -> int:
            got = 0
            async for seen_event in everything:
                delta = engine.delta(seen_event.event)
                if delta is not None:
                    now = time.time()
                    lags.append(now - float(delta))
                    seen.append(now)
                    got += 1
                    if got >= n * per_turn:
                        return got
            return got

        async def watch_batches(everything: Any) -> int:
            # ``batches``: the same consumer over stream_all().batches(), a list per read
            got = 0
            async for batch in everything.batches():
                now = time.time()
                for seen_event in batch:
                    delta = engine.delta(seen_event.event)
                    if delta is not None:
                        lags.append(now - float(delta))
                        seen.append(now)
                        got += 1
                if got >= n * per_turn:
                    return got
            return got

        # each second: (wall time, this process's CPU by thread kind, plus the model server's and
        # this process's reaped children's), for the steady half's split and the debug trace
        samples: list[tuple[float, dict[str, float]]] = []

        async def sample() -> None:
            while True:
                cpu, reaped = _threads_cpu_s(), os.times()
                cpu["model"], cpu["children"] = _cpu_s([model.pid]), reaped.children_user + reaped.children_system
                samples.append((time.time(), cpu))
                await asyncio.sleep(1.0)

        meter = Cpu(exclude=model.pid)
        cpu0, threads0, model0 = meter.now(), _threads_cpu_s(), _cpu_s([model.pid])
        t1 = time.perf_counter()
        sampler = asyncio.create_task(sample())
        if read == "streams":
            counts = await asyncio.gather(*(one(i) for i in range(n)))
        else:
            # made before any turn starts: it sees every delta of them
            everything = engine.manager.stream_all()  # type: ignore[attr-defined]
            watcher = asyncio.create_task(watch_batches(everything) if read == "batches" else watch(everything))
            await asyncio.gather(*(awaited(i) for i in range(n)))
            if read == "manager":
                await engine.manager.wait_all()  # type: ignore[attr-defined]
            counts = [await watcher]
        wall = time.perf_counter() - t1
        sampler.cancel()
        # this process and, for the official SDK, its app-server (threads still loaded)
        rss = _rss_mib([os.getpid(), *(p for p in _children() if p != model.pid)])
        cpu = meter.now() - cpu0  # this process and, for the official SDK, its app-server
        threads_now = _threads_cpu_s()
        total = sum(counts)
        # steady streaming: the second half of the run (the turn-start burst is over)
        half = min(seen) + (max(seen) - min(seen)) / 2
        steady = [lag for at, lag in zip(seen, lags) if at >= half]
        # CPU per delta over the steady half: between the first sample after ``half`` and the last
        # sample, the deltas that reached user code in that window
        span = [(at, cpu) for at, cpu in samples if half <= at <= max(seen)]
        steady_cpu: dict[str, float] = {}
        if len(span) >= 2:
            (a, cpu_a), (b, cpu_b) = span[0], span[-1]
            got = sum(1 for at in seen if a <= at < b)
            for kind in ("main", "workers"):
                steady_cpu[f"steady_{kind}_us_per_delta"] = (cpu_b[kind] - cpu_a[kind]) / max(1, got) * 1e6
        if os.environ.get("BENCH_SCALE_DEBUG"):
            # each second's lag, and the cores each part used over the sample interval starting in
            # it (threads are read live: a tokio blocking thread that exits takes its CPU along)
            begin = min(seen)
            cores: dict[int, dict[str, float]] = {}
            for (at_a, cpu_a), (at_b, cpu_b) in zip(samples, samples[1:]):
                cores.setdefault(int(at_a - begin), {k: (cpu_b[k] - cpu_a[k]) / (at_b - at_a) for k in cpu_a})
            for second in range(int(max(seen) - begin) + 1):
                window = [lag for at, lag in zip(seen, lags) if second <= at - begin < second + 1]
                used = " ".join(f"{k}={v:.2f}" for k, v in cores.get(second, {}).items())
                print(f"  t={second}s deltas={len(window)} p50={_pct(window, 50)*1e3:.1f}ms p99={_pct(window, 99)*1e3:.1f}ms cores: {used}")
        return {
            "n": n, "deltas": total, "expected": n * per_turn, "wall_s": wall, "deltas_per_s": total / wall,
            "lag_p50_ms": _pct(lags, 50) * 1e3, "lag_p99_ms": _pct(lags, 99) * 1e3, "lag_max_ms": max(lags) * 1e3,
            "steady_lag_p50_ms": _pct(steady, 50) * 1e3, "steady_lag_p99_ms": _pct(steady, 99) * 1e3,
            "steady_deltas_per_s": len(steady) / max(1e-9, max(seen) - half),
            "rss_mib": rss, "start_ms_per_thread": start_s / n * 1e3,
            "cpu_us_per_delta": cpu / total * 1e6, "cores": cpu / wall,
            # codexrs: the Python main thread (decoding, dispatch, this script) and the tokio
            # workers (codex-core, codexrs's pump); the official SDK has no tokio workers here
            "main_cores": (threads_now["main"] - threads0["main"]) / wall,
            "worker_cores": (threads_now["workers"] - threads0["workers"]) / wall,
            "main_us_per_delta": (threads_now["main"] - threads0["main"]) / total * 1e6,
            "worker_us_per_delta": (threads_now["workers"] - threads0["workers"]) / total * 1e6,
            **steady_cpu,
            "model_cores": (_cpu_s([model.pid]) - model0) / wall,
        }  # fmt: skip

    return _run(kind, body)


def start(kind: str, counts: list[int]) -> dict[str, Any]:
    async def body(engine: Engine, model: ScriptedModelProcess) -> dict[str, Any]:
        out: dict[str, Any] = {}
        times: list[float] = []
        for target in counts:
            while len(times) < target:
                t0 = time.perf_counter()
                await engine.start_thread()
                times.append((time.perf_counter() - t0) * 1e3)
            last = times[-min(10, target):]
            out[f"ms_at_{target}"] = statistics.median(last)
        out["total_s"] = sum(times) / 1e3
        return out

    return _run(kind, body)


def throughput(kind: str, k: int, turns_each: int) -> dict[str, Any]:
    async def body(engine: Engine, model: ScriptedModelProcess) -> dict[str, Any]:
        threads = [await engine.start_thread() for _ in range(k)]
        for i in range(k):
            model.route(f"<k-{i}>", *[text(f"ok {j}") for j in range(turns_each + 1)])

        async def loop(i: int, turns: int) -> None:
            for _ in range(turns):
                async for _event in engine.stream(await engine.turn(threads[i], f"<k-{i}>")):
                    pass

        await asyncio.gather(*(loop(i, 1) for i in range(k)))  # warm
        meter = Cpu(exclude=model.pid)
        cpu0 = meter.now()
        t0 = time.perf_counter()
        await asyncio.gather(*(loop(i, turns_each) for i in range(k)))
        wall = time.perf_counter() - t0
        turns = k * turns_each
        return {"k": k, "turns_per_s": turns / wall, "cpu_ms_per_turn": (meter.now() - cpu0) / turns * 1e3}

    return _run(kind, body)


def interrupt(kind: str, reps: int) -> dict[str, Any]:
    async def body(engine: Engine, model: ScriptedModelProcess) -> dict[str, Any]:
        threads = [await engine.start_thread() for _ in range(6)]
        latencies = []
        for rep in range(reps):
            for i in range(6):
                model.route(f"<i-{rep}-{i}>", _stamped(2000, 20))  # 100 s if left alone
            turns = [await engine.turn(threads[i], f"<i-{rep}-{i}>") for i in range(6)]
            first = [asyncio.Event() for _ in range(6)]
            ended: dict[int, float] = {}

            async def read(i: int) -> None:
                async for event in engine.stream(turns[i]):
                    if engine.delta(event) is not None:
                        first[i].set()
                ended[i] = time.perf_counter()

            readers = [asyncio.create_task(read(i)) for i in range(6)]
            await asyncio.gather(*(f.wait() for f in first))
            t0 = time.perf_counter()
            await engine.interrupt(turns[0])
            await readers[0]
            latencies.append((ended[0] - t0) * 1e3)
            for turn in turns[1:]:
                await engine.interrupt(turn)
            await asyncio.gather(*readers)
        return {"interrupt_ms_median": statistics.median(latencies), "interrupt_ms_max": max(latencies)}

    return _run(kind, body)


# -- the command line -----------------------------------------------------------------------------
def _show(title: str, rows: dict[str, dict[str, Any]]) -> None:
    print(f"\n## {title}")
    for name, row in rows.items():
        print(f"{name:>24}: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


def _ratio(rows: dict[str, dict[str, Any]], ours: str, theirs: str, key: str) -> None:
    if ours in rows and theirs in rows:
        print(f"{'':>24}  {key}: codexrs/official = {rows[ours][key] / rows[theirs][key]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("section", choices=["stream", "start", "throughput", "interrupt", "all"])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000], help="stream: conversations")
    parser.add_argument("--official-n", type=int, nargs="*", default=[100], help="stream: the official SDK's N")
    parser.add_argument("--rate", type=float, default=50.0, help="stream: deltas/s per conversation")
    parser.add_argument("--seconds", type=float, default=10.0, help="stream: seconds per turn")
    parser.add_argument("--starts", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--official-starts", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--turns", type=int, default=2000, help="throughput: turns per K, in all")
    parser.add_argument("--only", choices=["codexrs", "official"])
    parser.add_argument(
        "--read", choices=["streams", "all", "batches", "manager"], default="streams",
        help="stream: a task per conversation's stream, or (codexrs) result() per turn (all) or the "
        "manager's send/wait_all (manager), with one stream_all consumer (batches: result() per "
        "turn, the consumer over stream_all().batches())",
    )  # fmt: skip
    args = parser.parse_args()
    kinds = [k for k in ("codexrs", "official") if args.only in (None, k)]
    sections = ["stream", "start", "throughput", "interrupt"] if args.section == "all" else [args.section]
    if "stream" in sections:
        rows: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            for n in args.n if kind == "codexrs" else args.official_n:
                rows[f"{kind} N={n}"] = stream(kind, n, args.rate, args.seconds, args.read if kind == "codexrs" else "streams")
        _show(f"stream: N conversations x {args.rate:g} deltas/s x {args.seconds:g} s", rows)
        for n in args.official_n:
            for key in ("lag_p99_ms", "cpu_us_per_delta", "deltas_per_s"):
                _ratio(rows, f"codexrs N={n}", f"official N={n}", key)
    if "start" in sections:
        rows = {kind: start(kind, args.starts if kind == "codexrs" else args.official_starts) for kind in kinds}
        _show("thread start (median ms of the last 10 started, at N threads)", rows)
    if "throughput" in sections:
        rows = {}
        for kind in kinds:
            for k in args.k:
                rows[f"{kind} K={k}"] = throughput(kind, k, max(2, args.turns // k))
        _show("turn throughput with K warm threads", rows)
        for k in args.k:
            for key in ("turns_per_s", "cpu_ms_per_turn"):
                _ratio(rows, f"codexrs K={k}", f"official K={k}", key)
    if "interrupt" in sections:
        rows = {kind: interrupt(kind, 5) for kind in kinds}
        _show("interrupting one turn while 6 async streams wait", rows)
        _ratio(rows, "codexrs", "official", "interrupt_ms_median")


if __name__ == "__main__":
    main()

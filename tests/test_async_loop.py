"""No ``async def`` of codexrs blocks the event loop.

Eight threads at once submit turns, answer approvals (an async handler) and interrupt turns.
A profiler on the loop's thread records every call into ``codexrs._native`` made there: none may
be one that waits (``submit_input``, ``interrupt``, ``respond_*``, ``next_batch``, ``wait``). Their
wall times are reported: on 2 cores busy with codex-core, its commands and the model, a call
that never waits can still measure tens of ms when the thread is preempted or Python collects
garbage, so only their median is held under 20 ms. A 5 ms ticker on the same loop also records how late it wakes; that
lateness includes waiting for a CPU (2 cores, with codex-core, its commands and the model busy
on them), which no code in the loop controls, so it is reported, not asserted. The scripted model
runs in its own process, so its serving loop does not compete with the loop for the GIL.
"""

from __future__ import annotations

import asyncio
import sys
import statistics
import time
from pathlib import Path
from types import FrameType
from typing import Any, Iterator

import pytest

import codexrs
from codexrs import _native
from codexrs import events as ev
from codexrs.approvals import ApprovalRequest, Decision
from codexrs.testing import ScriptedModelProcess, exec_command, text
from codexrs.testing.model import config_for

THREADS = 8
MAX_STALL_S = 0.020


@pytest.fixture
def model_process() -> Iterator[ScriptedModelProcess]:
    with ScriptedModelProcess() as model:
        yield model


async def test_submitting_answering_and_interrupting_never_stall_the_loop(
    model_process: ScriptedModelProcess, codex_home: Path, workspace: Path
) -> None:
    native_types = (_native.ThreadHandle, _native.Pending, _native.Engine)
    calls: dict[str, float] = {}  # native method -> longest call, seconds
    started: list[tuple[str, float]] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and isinstance(getattr(arg, "__self__", None), native_types):
            started.append((f"{type(arg.__self__).__name__}.{arg.__name__}", time.perf_counter()))
        elif event in ("c_return", "c_exception") and started and isinstance(getattr(arg, "__self__", None), native_types):
            name, t0 = started.pop()
            calls[name] = max(calls.get(name, 0.0), time.perf_counter() - t0)

    slow = [f"w{n} " for n in range(400)]
    for i in range(THREADS):
        # A later turn's marker first: a request carries the thread's whole history.
        model_process.route(f"slow-{i}", text("".join(slow), deltas=slow).delayed(0.0, between_events=0.01))
        model_process.route(f"work-{i}", exec_command(f"touch made-{i}"), text(f"done {i}"))

    async def approve(request: ApprovalRequest) -> Decision:
        await asyncio.sleep(0)
        return "approved"

    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last - 0.005)
            last = now

    async def conversation(codex: codexrs.AsyncCodex, i: int) -> tuple[str, str]:
        thread = await codex.thread_start(approval_policy="untrusted", sandbox="workspace-write", on_approval=approve)
        first = await (await thread.turn(f"work-{i}")).result()
        turn = await thread.turn(f"slow-{i}")
        async for event in turn.stream():
            if isinstance(event, ev.AgentMessageContentDelta) and not turn._turn.interrupt_requested:
                await turn.interrupt()
        second = await turn.result()
        return first.status, second.status

    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=config_for(model_process.url)) as codex:
        watchdog = asyncio.create_task(ticker())
        sys.setprofile(profile)  # this thread only: the loop's
        try:
            results = await asyncio.gather(*(conversation(codex, i) for i in range(THREADS)))
        finally:
            sys.setprofile(None)
            stop.set()
            await watchdog
    assert results == [("completed", "interrupted")] * THREADS
    assert all((workspace / f"made-{i}").exists() for i in range(THREADS))  # every approval answered
    assert len(gaps) > 10
    report = f"native calls (longest, ms): { {k: round(v * 1e3, 2) for k, v in calls.items()} }; ticker: {len(gaps)} ticks, latest wake-up {max(gaps) * 1e3:.1f} ms late"
    assert {"ThreadHandle.submit_input", "ThreadHandle.interrupt", "ThreadHandle.respond"} <= calls.keys(), report
    blocking = {"next_batch", "wait"}  # the I/O methods return a Pending: only waiting on one blocks
    assert not [name for name in calls if name.split(".")[1] in blocking], report
    # Most calls take well under a millisecond; on 2 busy cores a rare one measures tens of ms
    # of wall time (preempted, or a GC pass), so the longest is reported, the median asserted.
    assert statistics.median(calls.values()) < MAX_STALL_S, report

"""Concurrency, back-pressure, leaving a stream early, approvals."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

import codexrs
from codexrs import events as ev
from codexrs.testing import ScriptedModel, exec_command, text

from conftest import make_deltas
from waiting import DEADLINE_S, await_until, wait_until


async def test_two_threads_run_turns_at_once(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    alpha, beta = make_deltas(200, seed=1), make_deltas(200, seed=2)
    # Both streams are slow, so the two turns overlap in time.
    scripted_model.route("ALPHA", text("".join(alpha), deltas=alpha).delayed(0.0, between_events=0.002))
    scripted_model.route("BETA", text("".join(beta), deltas=beta).delayed(0.0, between_events=0.002))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        t1, t2 = await asyncio.gather(codex.thread_start(), codex.thread_start())
        # Each turn's first delta ("begin") and its task_complete ("end"), in the order read.
        order: list[tuple[str, str]] = []

        async def run(thread: codexrs.AsyncThread, prompt: str) -> list[str]:
            turn = await thread.turn(prompt)
            out: list[str] = []
            async for e in turn.stream():
                if isinstance(e, ev.AgentMessageContentDelta):
                    if not out:
                        order.append((prompt, "begin"))
                    out.append(e.delta)
                elif isinstance(e, ev.TurnComplete):
                    order.append((prompt, "end"))
            return out

        got_alpha, got_beta = await asyncio.gather(run(t1, "ALPHA"), run(t2, "BETA"))
    assert got_alpha == alpha
    assert got_beta == beta
    at = {mark: n for n, mark in enumerate(order)}
    assert len(at) == 4, order
    # Run one after the other, one turn would end before the other's first delta.
    assert at["ALPHA", "begin"] < at["BETA", "end"] and at["BETA", "begin"] < at["ALPHA", "end"], order


def test_sync_threads_from_two_python_threads(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    import concurrent.futures

    scripted_model.route("ONE", text("first answer"))
    scripted_model.route("TWO", text("second answer"))
    threads = [codex.thread_start(), codex.thread_start()]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda pair: pair[0].run(pair[1]).final_response, zip(threads, ["ONE", "TWO"])))
    assert results == ["first answer", "second answer"]


def test_slow_consumer_gets_every_event(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    deltas = make_deltas(600, seed=3)
    scripted_model.enqueue(text("".join(deltas), deltas=deltas))
    # A queue of 8 events: codexrs must stop pulling from codex-core, not drop anything.
    thread = codex.thread_start(max_queued_events=8)
    turn = thread.turn("go")
    got = []
    for e in turn.stream():
        if isinstance(e, ev.AgentMessageContentDelta):
            got.append(e.delta)
            if len(got) % 50 == 0:
                time.sleep(0.05)
    assert got == deltas
    assert turn.result().final_response == "".join(deltas)


def test_breaking_out_of_a_stream_interrupts_the_turn(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    slow = make_deltas(400, seed=4)
    scripted_model.enqueue(text("".join(slow), deltas=slow).delayed(0.0, between_events=0.02), text("next turn"))
    thread = codex.thread_start()
    first = thread.turn("slow one")
    for e in first.stream():
        if isinstance(e, ev.AgentMessageContentDelta):
            break
    # The next turn waits for the first to end; it never sees the first turn's events.
    second = thread.turn("again")
    events = list(second.stream())
    assert first.result().status == "interrupted"
    assert all(getattr(e, "turn_id", second.id) in (second.id, None) for e in events)
    assert not [e for e in events if isinstance(e, ev.AgentMessageContentDelta) and e.delta in slow[1:]]
    assert second.result().final_response == "next turn"


async def test_cancelling_an_async_reader_interrupts_the_turn(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    slow = make_deltas(400, seed=5)
    scripted_model.enqueue(text("".join(slow), deltas=slow).delayed(0.0, between_events=0.02))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start()
        turn = await thread.turn("slow")
        deltas: list[str] = []

        async def read() -> None:
            async for e in turn.stream():
                if isinstance(e, ev.AgentMessageContentDelta):
                    deltas.append(e.delta)

        task = asyncio.create_task(read())
        await await_until(lambda: deltas, "the reader's first delta")  # it is reading mid-stream
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await turn.result()).status == "interrupted"


def test_approval_without_handler_is_denied_and_the_turn_completes(
    codex: codexrs.Codex, scripted_model: ScriptedModel, workspace: Path
) -> None:
    scripted_model.enqueue(exec_command("touch created-by-denied-command"), text("understood"))
    thread = codex.thread_start(approval_policy="untrusted", sandbox="workspace-write")
    turn = thread.turn("make a file")
    seen = list(turn.stream())
    requests = [e for e in seen if isinstance(e, ev.ExecApprovalRequest)]
    denials = [e for e in seen if isinstance(e, ev.RequestDenied)]
    assert requests and denials
    assert denials[0].key == requests[0].effective_approval_id
    assert denials[0].submitted
    assert not (workspace / "created-by-denied-command").exists()
    result = turn.result()
    assert result.status == "completed"
    assert result.final_response == "understood"


def test_approval_handler_decides(codex: codexrs.Codex, scripted_model: ScriptedModel, workspace: Path) -> None:
    asked: list[ev.Event] = []

    def approve(request: codexrs.ApprovalRequest) -> codexrs.Decision:
        asked.append(request)
        return "approved"

    scripted_model.enqueue(exec_command("touch approved.txt"), text("done"))
    # "untrusted": every command that is not known-safe asks first.
    thread = codex.thread_start(approval_policy="untrusted", sandbox="workspace-write", on_approval=approve)
    result = thread.run("touch it")
    assert result.status == "completed"
    assert [type(a) for a in asked] == [ev.ExecApprovalRequest]
    assert (workspace / "approved.txt").exists()


async def test_async_approval_handler_denies(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    async def deny(request: codexrs.ApprovalRequest) -> codexrs.Decision:
        await asyncio.sleep(0)
        return False

    scripted_model.enqueue(exec_command("touch should-not-exist"), text("ok"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start(approval_policy="untrusted", sandbox="workspace-write", on_approval=deny)
        result = await thread.run("touch")
    assert result.status == "completed"
    assert not (workspace / "should-not-exist").exists()


def test_rate_limit_headers_reach_the_result(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("limited").with_rate_limits(42.5, primary_window_minutes=300))
    result = codex.thread_start().run("hi")
    assert result.rate_limits is not None and result.rate_limits.primary is not None
    assert result.rate_limits.primary.used_percent == 42.5
    assert result.rate_limits.primary.window_minutes == 300


def test_ctrl_c_interrupts_a_blocking_read(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    import os
    import signal
    import threading

    slow = make_deltas(300, seed=6)
    scripted_model.enqueue(text("".join(slow), deltas=slow).delayed(0.0, between_events=0.05))
    turn = codex.thread_start().turn("slow")
    # Python's own Ctrl-C handler, even where the test runner inherited SIGINT ignored (a
    # background job of a non-interactive shell does).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    reading, abandon = threading.Event(), threading.Event()

    def ctrl_c() -> None:  # once the stream is under way, while the reader waits for the next delta
        if reading.wait(DEADLINE_S) and not abandon.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=ctrl_c)
    sender.start()
    read = 0
    try:
        with pytest.raises(KeyboardInterrupt):
            for e in turn.stream():
                if isinstance(e, ev.AgentMessageContentDelta):
                    read += 1
                    reading.set()
    finally:
        abandon.set()
        reading.set()
        sender.join()
        signal.signal(signal.SIGINT, previous)
    assert 0 < read < len(slow)  # Ctrl-C ended the read mid-stream, not the stream's end
    assert turn.result().status == "interrupted"


def test_other_python_threads_run_while_a_read_blocks(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    import threading

    scripted_model.enqueue(text("late").delayed(1.0))
    turn = codex.thread_start().turn("wait")
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        before = ticks
        assert turn.result().final_response == "late"  # blocks about a second in Rust
        progressed = ticks - before
    finally:
        stop.set()
        spinner.join()
    assert progressed > 100_000, "the blocking read held the GIL"


def test_raw_response_items_only_when_asked(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("a"), text("b"))
    plain = [e.type for e in codex.thread_start().turn("x").stream()]
    raw = [e.type for e in codex.thread_start(raw_response_items=True).turn("y").stream()]
    assert "raw_response_item" not in plain
    assert "raw_response_item" in raw


def test_env_reaches_commands(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    value = uuid.uuid4().hex
    # The command writes what it sees to a file: the effect does not depend on how codex-core
    # reports the command's output (see the tool-turn test).
    scripted_model.enqueue(exec_command("echo probe=$CODEXRS_PROBE > probe.txt"), text("ok"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), env={"CODEXRS_PROBE": value}) as codex:
        result = codex.thread_start(approval_policy="never", sandbox="workspace-write").run("env")
    assert result.status == "completed"
    assert (workspace / "probe.txt").read_text() == f"probe={value}\n"


def test_a_dropped_unread_turn_is_interrupted(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    ignored = make_deltas(300, seed=8)
    # A request carries the thread's history: NEXT's request also contains "IGNORED", so its
    # route goes first.
    scripted_model.route("NEXT", text("next answer"))
    scripted_model.route("IGNORED", text("".join(ignored), deltas=ignored).delayed(0.0, between_events=0.02))
    thread = codex.thread_start()
    thread.turn("IGNORED")  # the handle is dropped unread
    turn = thread.turn("NEXT")
    deltas = [e.delta for e in turn.stream() if isinstance(e, ev.AgentMessageContentDelta)]
    assert deltas == ["next answer"]
    assert turn.result().status == "completed"


def test_interrupt_then_a_new_turn(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    slow = make_deltas(300, seed=9)
    scripted_model.route("SLOW", text("".join(slow), deltas=slow).delayed(0.0, between_events=0.02))
    scripted_model.route("AFTER", text("after"))
    thread = codex.thread_start()
    first = thread.turn("SLOW")
    stream = first.stream()
    next(e for e in stream if isinstance(e, ev.AgentMessageContentDelta))
    first.interrupt()
    assert thread.run("AFTER").final_response == "after"
    assert first.result().status == "interrupted"


def test_closed_threads_release_their_descriptors(codex: codexrs.Codex) -> None:
    import gc
    import os

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def churn(n: int) -> None:
        for _ in range(n):
            codex.thread_start().close()
        gc.collect()

    churn(3)  # warm up whatever codex opens once per engine
    before = open_fds()
    churn(20)
    # codex-core finishes a thread's teardown in the background
    wait_until(lambda: open_fds() - before < 10, "each closed thread keeps descriptors open")


def test_dropping_one_of_two_streams_does_not_interrupt_the_turn(
    codex: codexrs.Codex, scripted_model: ScriptedModel
) -> None:
    import gc

    deltas = make_deltas(50, seed=9)
    scripted_model.enqueue(text("".join(deltas), deltas=deltas).delayed(0.0, between_events=0.01))
    turn = codex.thread_start().turn("two readers")
    first, second = turn.stream(), turn.stream()
    next(first)
    del first
    gc.collect()
    read = [e.delta for e in second if isinstance(e, ev.AgentMessageContentDelta)]
    result = turn.result()
    assert result.status == "completed" and result.final_response == "".join(deltas)
    assert "".join(read) in "".join(deltas) and read  # the second kept reading to the end


def test_dropping_the_only_stream_interrupts_the_turn(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    deltas = make_deltas(300, seed=10)
    scripted_model.enqueue(text("".join(deltas), deltas=deltas).delayed(0.0, between_events=0.02))
    turn = codex.thread_start().turn("one reader")
    for _ in turn.stream():
        break
    assert turn.result().status == "interrupted"

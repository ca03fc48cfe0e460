"""The manager: many conversations on one engine, names, a cap on running turns, waits.

The scripted model runs in its own process (``ScriptedModelProcess``), so 50 streams do not
compete with the test for the GIL; routes pick each conversation's answers by its marker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import codexrs
from codexrs.events import TurnComplete, TurnStarted
from codexrs.testing import ScriptedModel, ScriptedModelProcess, exec_command, stall, text, usage_limit

from waiting import DEADLINE_S, await_until


def _record(manager: codexrs.AsyncManager) -> tuple[list[codexrs.ManagerEvent], asyncio.Task[None]]:
    """Collects every manager event from now on; cancel the task to stop."""
    events: list[codexrs.ManagerEvent] = []

    async def watch() -> None:
        async for event in manager.events():
            events.append(event)

    return events, asyncio.create_task(watch())


def _finished(events: list[codexrs.ManagerEvent], n: int) -> bool:
    return sum(e.kind == "turn_finished" for e in events) == n


def _most_at_once(begins: Iterable[bool]) -> int:
    """The most turns running at once, from their begin (``True``) and end (``False``) events in order."""
    running = peak = 0
    for begin in begins:
        running += 1 if begin else -1
        peak = max(peak, running)
    return peak


async def test_fifty_conversations_never_run_more_than_the_cap(codex_home: Path, workspace: Path) -> None:
    with ScriptedModelProcess() as model:
        for n in range(50):
            # each answer takes a while, so turns overlap and the cap matters
            model.route(f"<conversation-{n}>", text(f"answer {n}").delayed(0.05, between_events=0.01))
        config = model.config()  # codexrs's defaults: no login shell per thread start
        async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=config, max_running_turns=8) as manager:
            events, watcher = _record(manager)
            names = [f"c{n}" for n in range(50)]
            for name in names:
                await manager.create(name)
            for n, name in enumerate(names):
                await manager.send(name, f"<conversation-{n}>")
            assert sum(manager.status(name) == "queued" for name in names) >= 42  # 8 run, the rest wait
            results = await manager.wait_all(timeout=120)
            assert sorted(results) == sorted(names)
            assert all(results[f"c{n}"].final_response == f"answer {n}" for n in range(50))
            assert manager.peak_running == 8, manager.peak_running  # the cap held, and was used
            assert all(manager.status(name) == "idle" for name in names)
            assert manager.last_message("c7") == "answer 7"
            await await_until(lambda: _finished(events, 50), "the manager's 50 turn_finished events")
            watcher.cancel()
    started = [e for e in events if e.kind == "turn_started"]
    assert len(started) == 50 and all(e.detail["queue_wait_s"] >= 0 for e in started)
    first_end = next(i for i, e in enumerate(events) if e.kind == "turn_finished")
    waited = [e for e in events[first_end:] if e.kind == "turn_started"]
    assert len(waited) >= 42  # the rest waited for a slot: they started only after a turn ended
    assert all(e.detail["queue_wait_s"] > 0 for e in waited)  # and their events say they waited


async def test_send_returns_before_the_turn_ends_and_wait_can_time_out(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("slow answer").delayed(1.0))
    async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as manager:
        await manager.create("slow")
        await manager.send("slow", "take your time")
        assert manager.status("slow") in ("queued", "running")
        with pytest.raises(TimeoutError):
            await manager.wait("slow", timeout=0.2)
        result = await manager.wait("slow", timeout=30)  # the turn went on regardless
    assert result.final_response == "slow answer"


async def test_concurrent_creates_of_one_name_yield_one_thread(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as manager:
        outcomes = await asyncio.gather(*(manager.create("same") for _ in range(5)), return_exceptions=True)
        threads = [o for o in outcomes if isinstance(o, codexrs.ManagedThread)]
        errors = [o for o in outcomes if isinstance(o, codexrs.NameTakenError)]
        assert len(threads) == 1 and len(errors) == 4
        assert [m.name for m in manager.list()] == ["same"]
        assert len(manager._codex._threads) == 1  # the losers started no thread: no orphan


def test_a_manager_in_a_new_process_resumes_a_named_thread(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("remembered"), text("still here"))
    script = textwrap.dedent(
        f"""
        import asyncio, codexrs
        async def main():
            async with codexrs.AsyncManager(codex_home={str(codex_home)!r}, cwd={str(workspace)!r}, config={scripted_model.config()!r}) as m:
                await m.create("project-x")
                await m.send("project-x", "remember the project")
                print((await m.wait("project-x")).final_response)
        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "remembered"

    async def later() -> str | None:
        async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as manager:
            with pytest.raises(codexrs.NameTakenError):
                await manager.create("project-x")
            managed = await manager.resume("project-x")
            assert managed.name == "project-x"
            await manager.send("project-x", "and now?")
            return (await manager.wait("project-x")).final_response

    assert asyncio.run(later()) == "still here"
    assert scripted_model.response_requests()[1].user_texts()[-2:] == ["remember the project", "and now?"]


async def test_closing_a_busy_manager_finishes_within_its_timeout(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    for _ in range(4):
        scripted_model.enqueue(stall(text("never finished"), 0))  # a turn that never ends by itself
    manager = codexrs.AsyncManager(
        codex_home=codex_home, cwd=workspace, config=scripted_model.config(), max_running_turns=2
    )
    async with manager:
        for n in range(4):
            await manager.create(f"busy{n}")
            await manager.send(f"busy{n}", "work")

        def statuses() -> list[str]:
            return sorted(manager.status(f"busy{n}") for n in range(4))

        await await_until(lambda: statuses() == ["queued", "queued", "running", "running"], "two running turns, two queued")
        closing = asyncio.create_task(manager.close(timeout=5))
        done, _ = await asyncio.wait({closing}, timeout=DEADLINE_S)
        assert done, "close(timeout=5) waited for turns that never end"
        closing.result()
    assert all(manager.status(f"busy{n}") == "closed" for n in range(4))
    with pytest.raises(codexrs.EngineClosedError):
        await manager.wait("busy3")


def test_the_sync_manager_runs_the_same_way(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    for n in range(3):
        scripted_model.route(f"sync-{n}", text(f"sync answer {n}"))
    with codexrs.Manager(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), max_running_turns=2) as manager:
        for n in range(3):
            manager.create(f"s{n}")
            manager.send(f"s{n}", f"sync-{n}")
        results = manager.wait_all(timeout=60)
        assert {name: r.final_response for name, r in results.items()} == {f"s{n}": f"sync answer {n}" for n in range(3)}
        assert manager.peak_running <= 2 and [m.status for m in manager.list()] == ["idle"] * 3
        assert manager.last_message("s1") == "sync answer 1"
    assert manager.status("s0") == "closed"


async def test_usage_is_summed_per_thread_and_manager(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.route("alpha", text("a", input_tokens=100, output_tokens=7))
    scripted_model.route("beta", exec_command("true"), text("b", input_tokens=50, output_tokens=3).delayed(0.2))
    async with codexrs.AsyncManager(
        codex_home=codex_home, cwd=workspace, config=scripted_model.config(),
        thread_options={"approval_policy": "never", "sandbox": "workspace-write"},
    ) as manager:  # fmt: skip
        await manager.create("a")
        await manager.create("b")
        await manager.send("a", "alpha")
        await manager.send("b", "beta")
        results = await manager.wait_all(timeout=60)
        a, b, total = manager.usage("a"), manager.usage("b"), manager.usage()
    assert (a.input_tokens, a.output_tokens, a.turns, a.tool_calls) == (100, 7, 1, 0)
    assert b.turns == 1 and b.tool_calls == 1 and b.input_tokens == 100 + 50  # two model calls
    assert total.input_tokens == a.input_tokens + b.input_tokens and total.turns == 2
    assert total.wall_s > 0
    # One Usage: a thread's sum carries each token count of its turns' Usage, under its name.
    for summed, result in ((a, results["a"]), (b, results["b"])):
        tokens = dataclasses.asdict(result.usage)
        assert isinstance(summed, codexrs.Usage) and tokens["total_tokens"] > 0
        assert codexrs.manager.usage_json(summed) == {**tokens, "turns": 1, "tool_calls": summed.tool_calls, "wall_s": summed.wall_s}


async def test_waiting_on_a_thread_sent_nothing_raises_nothing_sent(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as manager:
        await manager.create("quiet")
        with pytest.raises(codexrs.NothingSentError, match="nothing was sent to thread 'quiet'"):
            await manager.wait("quiet")
        with pytest.raises(codexrs.NothingSentError, match="nothing was sent to any of these threads"):
            await manager.wait_any(["quiet"])
        with pytest.raises(codexrs.ThreadNotFoundError, match="no thread 'ghost'"):
            await manager.wait("ghost")
        with pytest.raises(TypeError, match="send\\(\\) got an unexpected keyword argument 'efort'"):
            await manager.send("quiet", "hello", efort="high")  # type: ignore[call-arg]
        assert (manager.status("quiet"), manager.get("quiet").queued_turns) == ("idle", 0)  # nothing queued
        with pytest.raises(codexrs.NothingSentError):
            await manager.wait("quiet")
    assert scripted_model.requests == []  # no turn reached the model


def test_bad_manager_options_raise_typeerror_for_a_type_and_configerror_for_a_value() -> None:
    """The same rule for every cap, count and duration, on both twins, before any engine starts."""
    bad_values: list[dict[str, Any]] = [
        {"max_running_turns": 0}, {"max_running_turns": -3}, {"group_limits": {"g": 0}}, {"rate_limit_requeues": -1},
        {"rate_limit_threshold": 101}, {"rate_limit_threshold": float("nan")}, {"rate_limit_backoff": 0}, {"idle_timeout": -1},
    ]  # fmt: skip
    bad_types: list[dict[str, Any]] = [
        {"max_running_turns": "8"}, {"max_running_turns": True}, {"max_running_turns": 2.5}, {"group_limits": {"g": "1"}},
        {"group_limits": [("g", 1)]}, {"rate_limit_requeues": 1.0}, {"rate_limit_threshold": "90"},
        {"rate_limit_backoff": "60"}, {"thread_options": "never"}, {"max_runing_turns": 8},
    ]  # fmt: skip
    for manager_type in (codexrs.AsyncManager, codexrs.Manager):
        for options in bad_values:
            with pytest.raises(codexrs.ConfigError) as refused:
                manager_type(**options)
            assert next(iter(options)) in str(refused.value)
        for options in bad_types:
            with pytest.raises(TypeError) as wrong:
                manager_type(**options)
            assert next(iter(options)) in str(wrong.value)


async def test_an_idle_thread_is_unloaded_and_the_next_send_resumes_it(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("first"), text("second"))
    async with codexrs.AsyncManager(
        codex_home=codex_home, cwd=workspace, config=scripted_model.config(), idle_timeout=0.3
    ) as manager:
        events, watcher = _record(manager)
        managed = await manager.create("sleepy")
        await manager.send("sleepy", "remember the number 17")
        await manager.wait("sleepy", timeout=30)
        await await_until(lambda: not managed.loaded, "the idle thread to be unloaded")
        assert not managed.loaded and manager.status("sleepy") == "idle"
        assert managed.id not in manager._codex._threads  # codex really closed it
        await manager.send("sleepy", "which number?")
        assert (await manager.wait("sleepy", timeout=30)).final_response == "second"
        watcher.cancel()
    assert {"thread_unloaded", "thread_resumed"} <= {e.kind for e in events}
    assert scripted_model.response_requests()[1].user_texts()[-2:] == ["remember the number 17", "which number?"]


async def test_a_hundred_threads_on_one_home_run_at_once(codex_home: Path, workspace: Path) -> None:
    begins: list[bool] = []  # codex's own turn events, in the order the engine delivered them

    def turns(hooked: codexrs.HookEvent) -> None:
        if isinstance(hooked.event, (TurnStarted, TurnComplete)):
            begins.append(isinstance(hooked.event, TurnStarted))

    with ScriptedModelProcess() as model:
        for n in range(100):
            model.route(f"<hundred-{n}>", text(f"ok {n}"))
        async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=model.config(), hooks=[turns]) as manager:
            await asyncio.gather(*(manager.create(f"h{n}") for n in range(100)))
            for n in range(100):
                await manager.send(f"h{n}", f"<hundred-{n}>")
            results = await manager.wait_all(timeout=180)
            assert manager.peak_running > 1
    assert len(begins) == 200
    assert _most_at_once(begins) > 1  # codex ran them at once: a turn began before another ended
    assert [results[f"h{n}"].final_response for n in range(100)] == [f"ok {n}" for n in range(100)]
    assert all(r.status == "completed" and r.error is None for r in results.values())  # no sqlite errors


async def test_the_scheduler_holds_a_turn_until_the_window_resets(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    reset_at = int(time.time()) + 3
    scripted_model.enqueue(text("nearly out").with_rate_limits(95.0, primary_reset_at=reset_at), text("after the reset"))
    async with codexrs.AsyncManager(
        codex_home=codex_home, cwd=workspace, config=scripted_model.config(), rate_limit_threshold=90
    ) as manager:
        events, watcher = _record(manager)
        await manager.create("limited")
        await manager.send("limited", "use most of the window")
        await manager.wait("limited", timeout=30)
        await manager.send("limited", "one more")
        await await_until(lambda: manager.status("limited") != "queued", "the second turn to leave the queue")
        assert manager.status("limited") == "rate_limited"
        result = await manager.wait("limited", timeout=30)
        watcher.cancel()
    assert scripted_model.response_requests()[1].at >= reset_at  # it did not run before the window reset
    assert result.final_response == "after the reset"
    held = [e for e in events if e.kind == "rate_limited"]
    assert len(held) == 1 and held[0].detail["until"] == reset_at


async def test_a_429_is_rolled_back_and_queued_again_after_its_reset(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    reset_at = int(time.time()) + 3
    scripted_model.route("<refused>", usage_limit(reset_at).with_rate_limits(100.0, primary_reset_at=reset_at), text("done after the reset"))
    scripted_model.route("<other>", text("other done"))
    async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as manager:
        events, watcher = _record(manager)
        await manager.create("a")
        await manager.create("b")
        await manager.send("a", "<refused>")
        await await_until(lambda: manager.status("a") == "rate_limited", "a's 429 to hold it")
        await manager.send("b", "<other>")  # the account is limited: b's turn waits too
        await await_until(lambda: manager.status("b") != "queued", "b's turn to leave the queue")
        assert manager.status("b") == "rate_limited"
        results = await manager.wait_all(timeout=30)
        watcher.cancel()
    assert results["a"].final_response == "done after the reset" and results["b"].final_response == "other done"
    first, *after = scripted_model.response_requests()
    assert len(after) == 2 and all(r.at >= reset_at for r in after)  # nothing ran before the reset
    retried = next(r for r in after if "<refused>" in str(r.body))
    assert [t for t in retried.user_texts() if t == "<refused>"] == ["<refused>"]  # rolled back: once
    (requeued,) = [e for e in events if e.kind == "turn_requeued"]
    assert requeued.name == "a" and requeued.detail["until"] == reset_at
    assert requeued.detail["resets_at_source"] == "provider"
    assert {e.name for e in events if e.kind == "rate_limited"} == {"a", "b"}
    assert all(e.detail["reason"] == "rate_limit_error" for e in events if e.kind == "rate_limited")


async def test_a_group_limit_caps_its_threads_within_the_manager(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    for n in range(6):
        scripted_model.route(f"<group-{n}>", text(f"r{n}", input_tokens=10 * (n + 1)).delayed(0.3))
    async with codexrs.AsyncManager(
        codex_home=codex_home, cwd=workspace, config=scripted_model.config(), group_limits={"serial": 1}
    ) as manager:
        events, watcher = _record(manager)
        for n in range(6):
            await manager.create(f"t{n}", group="serial" if n < 3 else None)
        for n in range(6):
            await manager.send(f"t{n}", f"<group-{n}>")
        await manager.wait_all(timeout=60)
        await await_until(lambda: _finished(events, 6), "the manager's 6 turn_finished events")
        watcher.cancel()
        assert [m.name for m in manager.list("serial")] == ["t0", "t1", "t2"]
        serial = manager.usage(group="serial")
    assert (serial.turns, serial.input_tokens) == (3, 10 + 20 + 30)

    def most_at_once(names: set[str]) -> int:
        turns = [e for e in events if e.name in names and e.kind in ("turn_started", "turn_finished")]
        return _most_at_once(e.kind == "turn_started" for e in turns)

    assert most_at_once({"t0", "t1", "t2"}) == 1
    assert most_at_once({"t3", "t4", "t5"}) > 1  # the others were not held by the group

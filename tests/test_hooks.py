"""Event hooks: every event of every thread, in order, with its thread id; a slow hook slows the
reader instead of losing events; a hook that raises is logged and the rest goes on."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import codexrs
from codexrs.events import AgentMessageContentDelta, Event, TurnStarted
from codexrs.testing import ScriptedModel, exec_command, text


async def test_a_hook_sees_every_event_of_three_concurrent_threads_in_order(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    seen: list[codexrs.HookEvent] = []
    slow_seen: list[codexrs.HookEvent] = []

    async def slow(event: codexrs.HookEvent) -> None:  # an async hook, awaited in turn
        await asyncio.sleep(0)
        slow_seen.append(event)

    for n in range(3):
        deltas = [f"t{n}-{i} " for i in range(50)]
        scripted_model.route(f"<hooks-{n}>", exec_command(f"echo thread {n}"), text("".join(deltas), deltas=deltas))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), hooks=[seen.append, slow]) as codex:
        threads = [await codex.thread_start(approval_policy="never", sandbox="danger-full-access") for _ in range(3)]

        async def read(n: int) -> list[Event]:
            events = []
            async with (await threads[n].turn(f"<hooks-{n}>")).stream() as stream:
                async for event in stream:
                    events.append(event)
            return events

        read_by_streams = await asyncio.gather(*(read(n) for n in range(3)))

    for thread, events in zip(threads, read_by_streams):
        hooked = [h.event for h in seen if h.thread_id == thread.id]
        # The hook saw each thread's events in codex's order, the stream's events among them
        # (the hook also sees the thread's own start-up events, before the first turn).
        assert hooked[-len(events) :] == events
        assert sum(isinstance(e, AgentMessageContentDelta) for e in hooked) == 50
        turn_id = next(e.turn_id for e in events if isinstance(e, TurnStarted))
        # Each carries the submission id codex tagged it with: the turn's (or none).
        assert {h.turn_id for h in seen if h.thread_id == thread.id and h.event in events} - {""} == {turn_id}
    assert {h.thread_id for h in seen} == {t.id for t in threads}
    assert all(0 <= h.lag_s < 30 for h in seen) and any(h.lag_s > 0 for h in seen)  # measured per batch
    assert [(h.thread_id, h.event) for h in slow_seen] == [(h.thread_id, h.event) for h in seen]


def test_a_slow_hook_applies_back_pressure_and_loses_nothing(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    import time

    counted = [0]

    def slow(event: codexrs.HookEvent) -> None:
        if isinstance(event.event, AgentMessageContentDelta):
            counted[0] += 1
            if counted[0] % 100 == 0:
                time.sleep(0.01)

    deltas = [f"d{i} " for i in range(3000)]
    scripted_model.route("<hooks-slow>", text("".join(deltas), deltas=deltas))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), hooks=[slow]) as codex:
        thread = codex.thread_start(max_queued_events=16)  # a small queue: codex-core is held back
        result = thread.run("<hooks-slow>")
    assert result.status == "completed" and result.final_response == "".join(deltas)
    assert counted[0] == 3000


def test_a_hook_that_raises_is_logged_and_the_rest_goes_on(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: codexrs.HookEvent) -> None:
        if event.event.type == "task_started":
            raise RuntimeError("hook bug")

    after: list[str] = []
    scripted_model.route("<hooks-raise>", text("fine"))
    with caplog.at_level(logging.ERROR, logger="codexrs.hooks"):
        with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), hooks=[broken, lambda e: after.append(e.event.type)]) as codex:
            result = codex.thread_start().run("<hooks-raise>")
    assert result.status == "completed" and result.final_response == "fine"
    assert "task_started" in after and "task_complete" in after  # the next hook saw every event
    (record,) = [r for r in caplog.records if r.name == "codexrs.hooks"]
    assert "raised on a task_started event" in record.getMessage() and record.exc_info is not None


def test_async_hooks_need_an_async_engine_and_hooks_must_be_callable(codex_home: Path) -> None:
    async def hook(event: codexrs.HookEvent) -> None: ...

    with pytest.raises(codexrs.ConfigError, match="async hooks need AsyncCodex"):
        codexrs.Codex(codex_home=codex_home, hooks=[hook])
    with pytest.raises(TypeError, match="must be callable"):
        codexrs.AsyncCodex(codex_home=codex_home, hooks=["not a hook"])  # type: ignore[list-item]


def test_a_managers_hooks_see_its_threads(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    seen: list[tuple[str, str]] = []
    scripted_model.route("<hooks-manager>", text("managed"))
    with codexrs.Manager(codex_home, workspace, scripted_model.config(), hooks=[lambda e: seen.append((e.thread_id, e.event.type))]) as manager:
        managed = manager.create("one")
        manager.send("one", "<hooks-manager>")
        assert manager.wait("one").final_response == "managed"
    assert (managed.thread.id, "task_complete") in seen

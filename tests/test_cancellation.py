"""Cancellation never loses an event: a reader interrupted anywhere (a hook raising
``KeyboardInterrupt`` or cancelled, ``break``, a cancelled task, ``asyncio.wait_for`` around
``result()``) leaves every event codex-core handed over either delivered or kept on the turn,
once each; ``result()`` then reads the turn to its end and the next turn completes.

Each turn streams numbered deltas, so a lost, repeated or reordered event shows in the list.
The hooks are ``[interrupter, recorder]``: the recorder sees every event exactly once even when
the interrupter is interrupted on it (the hooks resume after the interrupted one).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import codexrs
from codexrs import events as ev
from codexrs.testing import ScriptedModel, text

_examples = itertools.count()


@dataclass
class _Trap:
    """Fires once, on the ``at``-th event of turn ``turn_id`` the hooks see."""

    turn_id: str | None = None
    at: int = 0
    count: int = 0

    def arm(self, turn_id: str, at: int) -> None:
        self.turn_id, self.at, self.count = turn_id, at, 0

    def disarm(self) -> None:
        self.turn_id = None

    def hit(self, seen: codexrs.HookEvent) -> bool:
        if self.turn_id is None or seen.turn_id != self.turn_id:
            return False
        self.count += 1
        if self.count < self.at:
            return False
        self.turn_id = None
        return True


@dataclass
class _Turns:
    """The turns of one example: their scripted text and what the recorder hook saw."""

    model: ScriptedModel
    paced: list[bool]
    label: str = field(default_factory=lambda: f"c{next(_examples)}")
    recorded: list[codexrs.HookEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A request carries the thread's history (every earlier marker): the routes are added
        # latest first, so each turn's own marker is matched first (see ScriptedModel.route).
        for i in reversed(range(len(self.paced) + 1)):
            response = text(self.text(i), deltas=self.deltas(i))
            if i < len(self.paced) and self.paced[i]:
                response = response.delayed(0.0, between_events=0.002)
            self.model.route(self.marker(i), response)

    def marker(self, i: int) -> str:
        return f"<{self.label}-{i}>"

    def deltas(self, i: int) -> list[str]:
        return [f"{self.label}.{i}.{j} " for j in range(12 + 3 * i)]

    def text(self, i: int) -> str:
        return "".join(self.deltas(i))

    def record(self, seen: codexrs.HookEvent) -> None:
        self.recorded.append(seen)

    def check(self, i: int, turn_id: str, result: codexrs.TurnResult, read: list[ev.Event] | None, tail: list[ev.Event]) -> None:
        """Turn ``i`` ended completed with its text, or interrupted with a prefix of it; its
        deltas were seen once each, in order, by the hooks and (``read`` + ``tail``) by readers."""
        expected = self.deltas(i)
        hooked = _deltas(seen.event for seen in self.recorded if seen.turn_id == turn_id)
        assert hooked == expected[: len(hooked)], hooked
        if result.status == "completed":
            assert hooked == expected and result.final_response == self.text(i)
        else:
            assert result.status == "interrupted", result
            assert self.text(i).startswith(result.final_response or "")
        if read is not None:
            assert _deltas([*read, *tail]) == hooked


def _deltas(events: Iterable[ev.Event]) -> list[str]:
    return [e.delta for e in events if isinstance(e, ev.AgentMessageContentDelta)]


turns_st = st.lists(st.booleans(), min_size=2, max_size=3)  # one per turn: paced or all at once
at_st = st.integers(min_value=1, max_value=30)  # the event to interrupt at (a turn has 20 to 30)

SYNC_POINTS = ["none", "break", "raise in the loop", "hook", "hook in result"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(paced=turns_st, plans=st.lists(st.tuples(st.sampled_from(SYNC_POINTS), at_st), min_size=3, max_size=3))
def test_sync_readers_interrupted_anywhere_lose_no_event(
    codex: codexrs.Codex, scripted_model: ScriptedModel, paced: list[bool], plans: list[tuple[str, int]]
) -> None:
    turns = _Turns(scripted_model, paced)
    trap = _Trap()

    def interrupter(seen: codexrs.HookEvent) -> None:
        if trap.hit(seen):
            raise KeyboardInterrupt  # as Ctrl-C would, inside a hook

    codex.add_hook(interrupter)
    codex.add_hook(turns.record)
    try:
        thread = codex.thread_start()
        for i, (where, at) in zip(range(len(paced)), plans):
            handle = thread.turn(turns.marker(i))
            if where.startswith("hook"):
                trap.arm(handle.id, at)
            read: list[ev.Event] | None = None
            try:
                if where == "hook in result":
                    handle.result()
                else:
                    read = []
                    with handle.stream() as stream:
                        for event in stream:
                            read.append(event)
                            if len(read) == at and where == "break":
                                break
                            if len(read) == at and where == "raise in the loop":
                                raise KeyboardInterrupt
            except KeyboardInterrupt:
                assert where != "none"
            trap.disarm()
            result = handle.result()  # bounded: settling an interrupted turn gives up after 30 s
            turns.check(i, handle.id, result, read, handle._turn.tail)
        final = len(paced)
        assert thread.run(turns.marker(final)).final_response == turns.text(final)
    finally:
        codex.remove_hook(interrupter)
        codex.remove_hook(turns.record)


ASYNC_POINTS = ["none", "break", "cancel", "hook", "hook in result", "cancel in result", "wait_for result"]


async def _async_example(
    model: ScriptedModel, codex_home: Path, workspace: Path, paced: list[bool], plans: list[tuple[str, int]]
) -> None:
    turns = _Turns(model, paced)
    trap = _Trap()
    how = ["hook"]

    async def interrupter(seen: codexrs.HookEvent) -> None:
        if trap.hit(seen):
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            if how[0] == "hook":
                await asyncio.sleep(0)  # cancelled here, inside the hook
            # else: at the reader's next await

    async with codexrs.AsyncCodex(
        codex_home=codex_home, cwd=workspace, config=model.config(), hooks=[interrupter, turns.record]
    ) as codex:
        thread = await codex.thread_start()
        for i, (where, at) in zip(range(len(paced)), plans):
            handle = await thread.turn(turns.marker(i))
            how[0] = where.split()[0]
            if where in ("hook", "hook in result", "cancel in result"):
                trap.arm(handle.id, at)
            read: list[ev.Event] | None = None
            if where in ("none", "break", "cancel", "hook"):
                read = []
                reached = asyncio.Event()

                async def reader(into: list[ev.Event], at: int, where: str) -> None:
                    async with handle.stream() as stream:
                        async for event in stream:
                            into.append(event)
                            if len(into) >= at:
                                if where == "break":
                                    break
                                reached.set()

                task = asyncio.create_task(reader(read, at, where))
                if where == "cancel":
                    waiting = asyncio.create_task(reached.wait())
                    await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
                    waiting.cancel()
                    task.cancel()  # the reader is somewhere after its at-th event
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            elif where == "wait_for result":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(handle.result(), at / 1000)
            else:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.create_task(handle.result())
            trap.disarm()
            result = await asyncio.wait_for(handle.result(), 60)
            turns.check(i, handle.id, result, read, handle._turn.tail)
        final = len(paced)
        assert (await thread.run(turns.marker(final))).final_response == turns.text(final)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(paced=turns_st, plans=st.lists(st.tuples(st.sampled_from(ASYNC_POINTS), at_st), min_size=3, max_size=3))
def test_async_readers_cancelled_anywhere_lose_no_event(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, paced: list[bool], plans: list[tuple[str, int]]
) -> None:
    asyncio.run(_async_example(scripted_model, codex_home, workspace, paced, plans))


def test_a_hook_interrupted_on_task_complete_loses_no_turn(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    """The issue's case, sync: Ctrl-C inside a hook, on the batch that holds ``task_complete``."""
    scripted_model.enqueue(text("all of it", deltas=["all ", "of ", "it"]), text("the next turn"))

    def interrupter(seen: codexrs.HookEvent) -> None:
        if seen.event.type == "task_complete":
            raise KeyboardInterrupt

    codex.add_hook(interrupter)
    thread = codex.thread_start()
    turn = thread.turn("go")
    try:
        list(turn.stream())
        raise AssertionError("the hook did not interrupt the reader")
    except KeyboardInterrupt:
        pass
    codex.remove_hook(interrupter)
    result = turn.result()
    assert (result.status, result.final_response) == ("completed", "all of it")
    assert thread.run("next").final_response == "the next turn"


async def test_a_cancelled_async_hook_on_task_complete_loses_no_turn(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    """The issue's case, async: the reader's task is cancelled (``wait_for``) while an async
    hook awaits on the batch that holds ``task_complete``."""
    scripted_model.enqueue(text("all of it", deltas=["all ", "of ", "it"]), text("the next turn"))
    stuck = asyncio.Event()  # never set: the hook waits until its reader is cancelled

    async def slow_audit(seen: codexrs.HookEvent) -> None:
        if seen.event.type == "task_complete" and not stuck.is_set():
            await stuck.wait()

    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), hooks=[slow_audit]) as codex:
        thread = await codex.thread_start()
        turn = await thread.turn("go")
        try:
            await asyncio.wait_for(turn.result(), 1.0)
            raise AssertionError("the hook did not hold the reader")
        except TimeoutError:
            pass
        stuck.set()
        result = await asyncio.wait_for(turn.result(), 60)
        assert (result.status, result.final_response) == ("completed", "all of it")
        assert (await thread.run("next")).final_response == "the next turn"

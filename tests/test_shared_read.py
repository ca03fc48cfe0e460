"""One read for every thread: an engine's asyncio readers and its all-threads consumers are fed by
one native read per wake-up (``codexrs._core.wakeups``). Nothing is lost, each thread keeps its
order, a lagging reader holds back only its own thread, and ``stream_all`` sees everything.

The scripted model runs in its own process; routes pick each thread's answer by its marker.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

import codexrs
from codexrs import events as ev
from codexrs._core.wakeups import POLL_MAX_S, POLL_S, Dispatcher
from codexrs.testing import ScriptedModelProcess, text

from conftest import make_deltas
from waiting import DEADLINE_S, await_until, wait_until


def _deltas_of(events: list[ev.Event]) -> list[str]:
    return [e.delta for e in events if isinstance(e, ev.AgentMessageContentDelta)]


async def test_a_slow_reader_on_one_of_200_threads_holds_back_only_its_own_and_loses_nothing(
    codex_home: Path, workspace: Path
) -> None:
    fast = {n: make_deltas(40, seed=n) for n in range(199)}
    slow = make_deltas(800, seed=1000)
    with ScriptedModelProcess() as model:
        for n, deltas in fast.items():
            model.route(f"<fast-{n}>", text("".join(deltas), deltas=deltas))
        model.route("<slow>", text("".join(slow), deltas=slow))
        async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=model.config()) as codex:
            # The slow thread's queue holds 16 events: past that its pump must wait, not drop.
            slow_thread = await codex.thread_start(max_queued_events=16)
            threads = [await codex.thread_start() for _ in fast]
            slow_read: list[str] = []
            fast_done_at: list[int] = []  # how far the slow reader was when each fast turn ended
            all_fast_done = asyncio.Event()

            async def read_slowly() -> None:
                turn = await slow_thread.turn("<slow>")
                async for event in turn.stream():
                    if isinstance(event, ev.AgentMessageContentDelta):
                        slow_read.append(event.delta)
                        if len(slow_read) == 20:
                            # The lagging reader: it stops reading until every other thread is
                            # done. Its thread's queue fills (16) and its pump waits; the others
                            # must not wait for it.
                            await all_fast_done.wait()

            async def read_fast(n: int, thread: codexrs.AsyncThread) -> list[str]:
                turn = await thread.turn(f"<fast-{n}>")
                got = _deltas_of([event async for event in turn.stream()])
                fast_done_at.append(len(slow_read))
                return got

            slow_task = asyncio.create_task(read_slowly())
            results = await asyncio.wait_for(asyncio.gather(*(read_fast(n, t) for n, t in enumerate(threads))), DEADLINE_S)
            all_fast_done.set()
            await asyncio.wait_for(slow_task, DEADLINE_S)
    assert results == list(fast.values())  # every fast thread: every delta, in order
    assert slow_read == slow  # the held-back thread: every delta, in order
    # The others went on while the slow reader read nothing: all 199 ended (the gather above,
    # bounded) with it still paused at delta 20, its queue full and its pump waiting.
    assert max(fast_done_at) <= 20 and len(fast_done_at) == 199


async def test_a_reader_cancelled_mid_batch_loses_nothing(codex_home: Path, workspace: Path) -> None:
    deltas = make_deltas(300, seed=5)
    seen: dict[str, list[str]] = defaultdict(list)

    def record(hooked: codexrs.HookEvent) -> None:
        if isinstance(hooked.event, ev.AgentMessageContentDelta):
            seen[hooked.thread_id].append(hooked.event.delta)

    with ScriptedModelProcess() as model:
        for n in range(2):
            model.route(f"<cancel-{n}>", text("".join(deltas), deltas=deltas).delayed(0.0, between_events=0.002))
        async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=model.config(), hooks=[record]) as codex:
            threads = [await codex.thread_start() for _ in range(2)]
            turns = [await t.turn(f"<cancel-{n}>") for n, t in enumerate(threads)]
            read: dict[str, list[str]] = defaultdict(list)
            first_delta = asyncio.Event()

            async def reader(n: int) -> None:
                async for event in turns[n].stream():
                    if isinstance(event, ev.AgentMessageContentDelta):
                        read[threads[n].id].append(event.delta)
                        first_delta.set()

            tasks = [asyncio.create_task(reader(n)) for n in range(2)]
            await first_delta.wait()
            tasks[0].cancel()  # mid-stream: the rest of its batch is in the thread's inbox
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert isinstance(results[0], asyncio.CancelledError)
            ends = [await t.result() for t in turns]
    assert ends[1].status == "completed"
    assert read[threads[1].id] == deltas == seen[threads[1].id]
    # The cancelled reader's thread: what it read, then what its turn kept when the reader went
    # away (the tail), is exactly what the hooks saw, in order: nothing lost or doubled.
    hooked = seen[threads[0].id]
    assert hooked == deltas[: len(hooked)] and (ends[0].status == "interrupted" or hooked == deltas)
    assert read[threads[0].id] + _deltas_of(turns[0]._turn.tail) == hooked


async def test_a_busy_engine_reads_on_a_timer_then_wakes_on_its_descriptor_again(codex_home: Path, workspace: Path) -> None:
    # Long enough for the interval (set from the last 250 ms of reads) to follow the streams'
    # pace after their threads' starts, which look like slow streams (a few events each).
    answers = {n: make_deltas(1000, seed=400 + n) for n in range(20)}
    lone = make_deltas(3, seed=499)
    polling_seen: list[bool] = []
    intervals: list[float] = []
    engine: dict[str, Dispatcher] = {}

    def record(seen: codexrs.HookEvent) -> None:
        # Hooks run in the readers, after the engine's read that handed them the event.
        dispatcher = engine["dispatcher"]
        polling_seen.append(dispatcher.poll is not None)
        if dispatcher.poll is not None:
            intervals.append(dispatcher.interval)

    with ScriptedModelProcess() as model:
        for n, deltas in answers.items():
            model.route(f"<busy-{n}>", text("".join(deltas), deltas=deltas).delayed(0.0, between_events=0.001))
        model.route("<lone>", text("".join(lone), deltas=lone).delayed(0.3))
        async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=model.config(), hooks=[record]) as codex:
            engine["dispatcher"] = dispatcher = codex._dispatcher()
            threads = [await codex.thread_start() for _ in answers]

            async def read(n: int, thread: codexrs.AsyncThread) -> list[str]:
                turn = await thread.turn(f"<busy-{n}>")
                return _deltas_of([event async for event in turn.stream()])

            results = await asyncio.wait_for(asyncio.gather(*(read(n, t) for n, t in enumerate(threads))), DEADLINE_S)
            # 20 threads at 1,000 deltas/s each: reads came closer than POLL_S, so the engine
            # read on a timer; once a poll found nothing it watches its descriptor again.
            assert any(polling_seen)
            # A thread's events come 1 ms apart: mostly the shortest interval.
            assert intervals.count(POLL_S) > len(intervals) / 2 and max(intervals) <= POLL_MAX_S
            await await_until(lambda: dispatcher.poll is None, "the engine's read to go back to its descriptor")
            turn = await threads[0].turn("<lone>")  # its first event comes 0.3 s later
            late = await asyncio.wait_for(turn.result(), DEADLINE_S)
    assert results == list(answers.values())  # every delta of every thread, in order
    assert late.final_response == "".join(lone)


async def test_many_slow_streams_are_polled_at_their_pace_and_lose_nothing(codex_home: Path, workspace: Path) -> None:
    # 100 threads at 10 deltas/s: reads come ~1 ms apart (the engine polls), but each thread's
    # events 100 ms apart, so the polls space out to the longest interval (a tenth of 100 ms is past it).
    answers = {n: make_deltas(60, seed=600 + n) for n in range(100)}
    intervals: list[float] = []
    with ScriptedModelProcess() as model:
        for n, deltas in answers.items():
            model.route(f"<slow-{n}>", text("".join(deltas), deltas=deltas).delayed(0.0, between_events=0.1))
        async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=model.config()) as codex:
            dispatcher = codex._dispatcher()
            threads = await asyncio.gather(*(codex.thread_start() for _ in answers))

            async def read(n: int, thread: codexrs.AsyncThread) -> list[str]:
                got = []
                async for event in (await thread.turn(f"<slow-{n}>")).stream():
                    if isinstance(event, ev.AgentMessageContentDelta):
                        got.append(event.delta)
                        if dispatcher.poll is not None:
                            intervals.append(dispatcher.interval)
                return got

            results = await asyncio.wait_for(asyncio.gather(*(read(n, t) for n, t in enumerate(threads))), DEADLINE_S)
    assert results == list(answers.values())  # every delta of every thread, in order
    assert intervals, "the engine never polled"
    assert max(intervals) == POLL_MAX_S and min(intervals) >= POLL_S


async def test_stream_all_sees_every_event_of_100_concurrent_threads_in_order(codex_home: Path, workspace: Path) -> None:
    answers = {n: make_deltas(30, seed=200 + n) for n in range(100)}
    hooked: dict[str, list[tuple[str, str]]] = defaultdict(list)

    def record(seen: codexrs.HookEvent) -> None:
        hooked[seen.thread_id].append((seen.turn_id, seen.event.type))

    with ScriptedModelProcess() as model:
        for n, deltas in answers.items():
            model.route(f"<all-{n}>", text("".join(deltas), deltas=deltas))
        async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=model.config(), hooks=[record]) as manager:
            streamed: dict[str, list[codexrs.HookEvent]] = defaultdict(list)
            completed: set[str] = set()

            async def watch(everything: AsyncIterator[codexrs.HookEvent]) -> None:
                async for seen in everything:
                    streamed[seen.thread_id].append(seen)
                    if isinstance(seen.event, ev.TurnComplete):
                        completed.add(seen.thread_id)

            watcher = asyncio.create_task(watch(manager.stream_all()))  # it follows every thread from the call on
            threads = [await manager.create(f"t{n}") for n in answers]
            for n in answers:
                await manager.send(f"t{n}", f"<all-{n}>")
            results = await manager.wait_all()
            await await_until(lambda: len(completed) == 100, "stream_all to see every turn end")
            watcher.cancel()
    for n, managed in enumerate(threads):
        events = [s.event for s in streamed[managed.id]]
        assert _deltas_of(events) == answers[n]  # every delta, in the thread's order
        assert results[f"t{n}"].final_response == "".join(answers[n])
        # The same events, in the same order, as the thread's own reader handed its hooks.
        assert [(s.turn_id, s.event.type) for s in streamed[managed.id]] == hooked[managed.id][: len(streamed[managed.id])]
        assert streamed[managed.id][-1].event.type == "task_complete"


def test_the_sync_managers_stream_all_sees_every_thread(codex_home: Path, workspace: Path) -> None:
    answers = {n: make_deltas(20, seed=300 + n) for n in range(10)}
    with ScriptedModelProcess() as model:
        for n, deltas in answers.items():
            model.route(f"<sync-all-{n}>", text("".join(deltas), deltas=deltas))
        with codexrs.Manager(codex_home=codex_home, cwd=workspace, config=model.config()) as manager:
            streamed: dict[str, list[str]] = defaultdict(list)
            ends: set[str] = set()
            with manager.stream_all() as everything:

                def watch() -> None:
                    for seen in everything:
                        if isinstance(seen.event, ev.AgentMessageContentDelta):
                            streamed[seen.thread_id].append(seen.event.delta)
                        elif isinstance(seen.event, ev.TurnComplete):
                            ends.add(seen.thread_id)
                            if len(ends) == len(answers):
                                return

                watcher = threading.Thread(target=watch)
                watcher.start()
                ids = {n: manager.create(f"s{n}").id for n in answers}
                for n in answers:
                    manager.send(f"s{n}", f"<sync-all-{n}>")
                manager.wait_all()
                wait_until(lambda: not watcher.is_alive(), "the sync stream_all to see every turn end")
    assert {n: streamed[ids[n]] for n in answers} == answers


async def test_stream_all_batches_hand_over_whole_reads_after_the_events_already_taken(codex_home: Path, workspace: Path) -> None:
    answers = {n: make_deltas(40, seed=500 + n) for n in range(20)}
    with ScriptedModelProcess() as model:
        for n, deltas in answers.items():
            model.route(f"<batches-{n}>", text("".join(deltas), deltas=deltas))
        async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=model.config()) as manager:
            streamed: dict[str, list[str]] = defaultdict(list)
            ends: set[str] = set()
            sizes: list[int] = []

            def note(seen: codexrs.HookEvent) -> None:
                if isinstance(seen.event, ev.AgentMessageContentDelta):
                    streamed[seen.thread_id].append(seen.event.delta)
                elif isinstance(seen.event, ev.TurnComplete):
                    ends.add(seen.thread_id)

            async def watch(everything: codexrs.manager.AsyncAllEventsStream) -> None:
                note(await everything.__anext__())  # one event taken on its own, then lists
                async for batch in everything.batches():
                    sizes.append(len(batch))
                    for seen in batch:
                        note(seen)
                    if len(ends) == len(answers):
                        return

            watcher = asyncio.create_task(watch(manager.stream_all()))
            ids = {n: (await manager.create(f"b{n}")).id for n in answers}
            for n in answers:
                await manager.send(f"b{n}", f"<batches-{n}>")
            await manager.wait_all()
            await asyncio.wait_for(watcher, DEADLINE_S)
    assert {n: streamed[ids[n]] for n in answers} == answers  # every delta, in each thread's order
    assert len(sizes) < sum(sizes)  # some read carried more than one event, handed over as one list


def test_the_sync_stream_all_hands_over_whole_reads_too(codex_home: Path, workspace: Path) -> None:
    answers = {n: make_deltas(30, seed=600 + n) for n in range(8)}
    with ScriptedModelProcess() as model:
        for n, deltas in answers.items():
            model.route(f"<sync-batches-{n}>", text("".join(deltas), deltas=deltas))
        with codexrs.Manager(codex_home=codex_home, cwd=workspace, config=model.config()) as manager:
            streamed: dict[str, list[str]] = defaultdict(list)
            ends: set[str] = set()
            sizes: list[int] = []
            with manager.stream_all() as everything:

                def watch() -> None:
                    for batch in everything.batches():
                        sizes.append(len(batch))
                        for seen in batch:
                            if isinstance(seen.event, ev.AgentMessageContentDelta):
                                streamed[seen.thread_id].append(seen.event.delta)
                            elif isinstance(seen.event, ev.TurnComplete):
                                ends.add(seen.thread_id)
                        if len(ends) == len(answers):
                            return

                watcher = threading.Thread(target=watch)
                watcher.start()
                ids = {n: manager.create(f"sb{n}").id for n in answers}
                for n in answers:
                    manager.send(f"sb{n}", f"<sync-batches-{n}>")
                manager.wait_all()
                wait_until(lambda: not watcher.is_alive(), "the sync batches to see every turn end")
    assert {n: streamed[ids[n]] for n in answers} == answers
    assert len(sizes) < sum(sizes)


async def test_turns_awaited_for_their_result_sleep_through_their_deltas_and_stream_all_still_sees_each(
    codex_home: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {n: make_deltas(300, seed=600 + n) for n in range(20)}
    waits: Counter[int] = Counter()
    with ScriptedModelProcess() as model:
        for n, deltas in answers.items():
            model.route(f"<skim-{n}>", text("".join(deltas), deltas=deltas).delayed(0.0, between_events=0.002))
        async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=model.config()) as manager:
            dispatcher = manager._codex._dispatcher()
            wait = dispatcher.wait

            def counted(token: int, ready: Callable[[], bool]) -> asyncio.Future[None] | None:
                waits[token] += 1
                return wait(token, ready)

            monkeypatch.setattr(dispatcher, "wait", counted)
            streamed: dict[str, list[str]] = defaultdict(list)
            ends: set[str] = set()

            async def watch(everything: AsyncIterator[codexrs.HookEvent]) -> None:
                async for seen in everything:
                    if isinstance(seen.event, ev.AgentMessageContentDelta):
                        streamed[seen.thread_id].append(seen.event.delta)
                    elif isinstance(seen.event, ev.TurnComplete):
                        ends.add(seen.thread_id)

            watcher = asyncio.create_task(watch(manager.stream_all()))
            threads = [await manager.create(f"k{n}") for n in answers]

            async def run(n: int) -> codexrs.TurnResult[Any]:
                return await (await threads[n].thread.turn(f"<skim-{n}>")).result()

            results = await asyncio.wait_for(asyncio.gather(*(run(n) for n in answers)), DEADLINE_S)
            await await_until(lambda: len(ends) == len(answers), "stream_all to see every turn end")
            watcher.cancel()
    for n, managed in enumerate(threads):
        assert results[n].final_response == "".join(answers[n])  # the result is whole
        assert streamed[managed.id] == answers[n]  # the all-threads consumer saw every delta, in order
        # 300 deltas 2 ms apart came in about as many reads; the task awaiting the result woke
        # about once per other event of the turn (its items, usage, end), not once per delta.
        assert 0 < waits[managed.thread._core.token] < 40


async def test_stream_all_follows_every_thread_from_the_call_on_and_a_dropped_one_lets_go(
    codex_home: Path, workspace: Path
) -> None:
    deltas = make_deltas(40, seed=700)
    with ScriptedModelProcess() as model:
        model.route("<early>", text("".join(deltas), deltas=deltas))
        async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=model.config()) as manager:
            dispatcher = manager._codex._dispatcher()
            everything = manager.stream_all()  # made, not yet iterated
            managed = await manager.create("early")
            result = await asyncio.wait_for((await managed.thread.turn("<early>")).result(), DEADLINE_S)
            # The turn ran to its end before the first iteration: all of it is there, in order.
            seen: list[codexrs.HookEvent] = []
            async for hooked in everything:
                seen.append(hooked)
                if isinstance(hooked.event, ev.TurnComplete):
                    break
            await everything.aclose()
            assert not dispatcher.subscriptions  # closed: it no longer holds the engine back
            dropped = manager.stream_all()
            assert len(dispatcher.subscriptions) == 1
            del dropped  # never iterated: it lets go on its loop
            await await_until(lambda: not dispatcher.subscriptions, "the dropped stream_all to let go")
    types = [s.event.type for s in seen]
    assert "task_started" in types and types[-1] == "task_complete"
    assert {s.thread_id for s in seen} == {managed.id}
    assert _deltas_of([s.event for s in seen]) == deltas
    assert result.final_response == "".join(deltas)

"""The sync ``Manager`` from many Python threads: exact answers per thread, Ctrl-C in a waiting
call, the sync ``events()`` iterator, and a deferred request answered with the sync ``respond``.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import codexrs
from codexrs.manager import SyncThreadHandle
from codexrs.testing import ScriptedModel, exec_command, text

_WORKERS = 8
_ROUNDS = 3


def test_one_manager_hammered_from_eight_threads_answers_each_exactly(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    for k in range(_WORKERS):
        for r in range(_ROUNDS):
            scripted_model.route(f"<hammer-{k}-{r}>", text(f"thread {k} round {r}"))
    start = threading.Barrier(_WORKERS)

    def worker(manager: codexrs.Manager, k: int) -> list[str | None]:
        start.wait()
        answers: list[str | None] = []
        for r in range(_ROUNDS):
            name = f"w{k}-{r}"
            managed = manager.create(name)
            assert managed.status == "idle" and manager.get(managed.id) == managed
            manager.send(name, f"<hammer-{k}-{r}>")
            assert manager.status(name) in ("queued", "running", "idle")
            assert name in [m.name for m in manager.list()]  # while the others create and remove
            result = manager.wait(name, timeout=120)
            answers.append(result.final_response)
            assert (manager.status(name), managed.status, managed.queued_turns) == ("idle", "idle", 0)
            assert manager.last_message(name) == f"thread {k} round {r}" and manager.usage(name).turns == 1
            manager.remove(name)
            assert name not in [m.name for m in manager.list()]
            with pytest.raises(codexrs.ThreadNotFoundError):
                manager.status(name)
        return answers

    # Switch threads far more often than the default 5 ms, so a read racing the loop shows.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with codexrs.Manager(
            codex_home=codex_home, cwd=workspace, config=scripted_model.config(), max_running_turns=4
        ) as manager:
            done = threading.Event()
            seen: set[str] = set()

            def dashboard() -> int:  # reads all the while, as a service's status page would
                reads = 0
                while not done.is_set():
                    seen.update(m.name for m in manager.list() if m.status != "closed")
                    reads += 1
                return reads

            with ThreadPoolExecutor(_WORKERS + 1) as pool:
                reader = pool.submit(dashboard)
                futures = [pool.submit(worker, manager, k) for k in range(_WORKERS)]
                answers = [f.result() for f in futures]
                done.set()
                assert reader.result() > 0
            assert manager.list() == [] and 1 <= manager.peak_running <= 4
    finally:
        sys.setswitchinterval(interval)
    assert answers == [[f"thread {k} round {r}" for r in range(_ROUNDS)] for k in range(_WORKERS)]
    assert seen <= {f"w{k}-{r}" for k in range(_WORKERS) for r in range(_ROUNDS)}
    assert len(scripted_model.response_requests()) == _WORKERS * _ROUNDS


def _deferring(into: queue.Queue[Any]) -> Any:
    """An ``on_request`` handler that leaves every request pending and hands it over."""

    def on_request(request: Any) -> Any:
        into.put(request)
        return codexrs.DEFER

    return on_request


def _blocked_in(thread_id: int, qualname: str) -> bool:
    """Whether ``thread_id`` is blocked (in a ``threading`` wait) inside the function ``qualname``."""
    frame: types.FrameType | None = sys._current_frames().get(thread_id)
    if frame is None or not frame.f_code.co_filename.endswith("threading.py"):
        return False
    while frame is not None:
        if frame.f_code.co_qualname == qualname:
            return True
        frame = frame.f_back
    return False


def _waits_on_loop(manager: codexrs.Manager) -> int:
    """How many coroutines of ``AsyncManager.wait`` the manager's loop is running."""

    def count() -> int:
        found = 0
        for task in asyncio.all_tasks():
            coro: Any = task.get_coro()
            while coro is not None and hasattr(coro, "cr_code"):
                found += coro.cr_code.co_qualname == "AsyncManager.wait"
                coro = coro.cr_await
        return found

    return manager._read(count)


def test_ctrl_c_in_a_sync_wait_cancels_that_wait_and_the_manager_stays_usable(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    # The turn waits for an approval nobody gives, with no request timeout: wait() would block
    # forever; only Ctrl-C ends it.
    scripted_model.route("<held>", exec_command("touch held.txt"), text("held answer"))
    scripted_model.route("<after>", text("after the interrupt"))
    asked: queue.Queue[Any] = queue.Queue()
    options: codexrs.ThreadOptions = {"approval_policy": "untrusted", "sandbox": "workspace-write", "on_request": _deferring(asked), "request_timeout": None}
    main = threading.get_ident()
    waits_before: list[int] = []
    raised = threading.Event()

    with codexrs.Manager(codex_home=codex_home, cwd=workspace, config=scripted_model.config(), thread_options=options) as manager:
        held = manager.create("held")
        manager.send("held", "<held>")
        request = asked.get(timeout=60)
        while manager.status("held") != "waiting_for_approval":  # the manager saw the request
            threading.Event().wait(0.01)

        def interrupt_the_wait() -> None:
            for _ in range(6000):
                if _blocked_in(main, "Manager.wait"):
                    break
                threading.Event().wait(0.01)
            waits_before.append(_waits_on_loop(manager))
            os.kill(os.getpid(), signal.SIGINT)
            if not raised.wait(60):  # never hang the suite: let wait() return, and the test fail
                held.thread.respond(request, True)

        # Python's own Ctrl-C handler, even where the runner inherited SIGINT ignored.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        interrupter = threading.Thread(target=interrupt_the_wait)
        interrupter.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                manager.wait("held")
        finally:
            raised.set()
            interrupter.join()
            signal.signal(signal.SIGINT, previous)

        assert waits_before == [1] and _waits_on_loop(manager) == 0  # the wait it started is gone
        assert manager.status("held") == "waiting_for_approval"  # the turn itself went on
        manager.create("after")  # the manager is usable from the interrupted thread
        manager.send("after", "<after>")
        assert manager.wait("after", timeout=60).final_response == "after the interrupt"
        assert held.thread.respond(request, True) is True
        assert manager.wait("held", timeout=60).final_response == "held answer"
    assert (workspace / "held.txt").exists()


def test_the_sync_events_iterator_yields_a_turns_events_and_ends_at_close(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.route("<events>", text("evented"))
    with codexrs.Manager(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as manager:

        def watchers() -> int:
            return manager._read(lambda: len(manager._async._watchers))

        with manager.events() as events:
            managed = manager.create("e")
            manager.send("e", "<events>")
            seen: list[codexrs.ManagerEvent] = []
            for event in events:  # read as the turn runs, on this thread
                seen.append(event)
                if event.kind == "turn_finished":
                    break
        assert [e.kind for e in seen] == ["thread_created", "turn_queued", "turn_started", "turn_finished"]
        assert {(e.name, e.thread_id) for e in seen} == {("e", managed.id)}
        assert seen[-1].detail["status"] == "completed" and manager.last_message("e") == "evented"
        assert watchers() == 0 and list(events) == []  # leaving the block closed it

        dropped = manager.events()
        assert watchers() == 1
        del dropped  # dropping it stops it too
        assert watchers() == 0

        late = manager.events()
        ended: list[list[codexrs.ManagerEvent]] = []
        reader = threading.Thread(target=lambda: ended.append(list(late)))  # blocked in next()
        reader.start()
    reader.join(timeout=60)
    assert ended == [[]]  # the manager's close ended it


def test_a_deferred_request_answered_with_the_sync_respond_completes_the_turn(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.route("<deferred>", exec_command("touch answered.txt"), text("answered"))
    asked: queue.Queue[Any] = queue.Queue()
    with codexrs.Manager(
        codex_home=codex_home, cwd=workspace, config=scripted_model.config(),
        thread_options={"approval_policy": "untrusted", "sandbox": "workspace-write"},
    ) as manager:  # fmt: skip
        managed = manager.create("d", on_request=_deferring(asked), request_timeout=60)
        assert isinstance(managed.thread, SyncThreadHandle) and managed.thread.id == managed.id
        manager.send("d", "<deferred>")
        request = asked.get(timeout=60)
        assert isinstance(request, codexrs.events.ExecApprovalRequest)
        assert not (workspace / "answered.txt").exists()  # nothing ran before the answer
        assert managed.thread.respond(request, "approved") is True
        result = manager.wait("d", timeout=60)
        assert (result.status, result.final_response) == ("completed", "answered")
        assert (workspace / "answered.txt").exists()
        assert managed.thread.respond(request, "approved") is False  # no longer pending

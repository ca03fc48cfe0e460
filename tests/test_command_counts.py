"""A turn's result counts every command it began (issue 21).

codex-core reports a command that was still running when it stored it from a watcher task,
after a 100 ms trailing-output grace, so its ``exec_command_end`` (and ``item_completed``) can
follow the turn's ``task_complete`` when the model answers fast, as the scripted model does.
codexrs ends the turn only once those ends came (or ``COMMAND_END_GRACE_S`` passed, with a
warning): ``items``, ``usage().tool_calls`` and the hooks agree with what ran.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import codexrs
from codexrs import items
from codexrs._core import turn as _turn
from codexrs.events import ExecCommandEnd, TurnComplete
from codexrs.hooks import HookEvent
from codexrs.testing import ScriptedModel, exec_command, function_call, text

CONVERSATIONS = 20
ROUNDS = 10


def _commands(n: int, round_: int) -> list[str]:
    """What conversation ``n`` runs in ``round_``: one to three ``echo`` commands."""
    return [f"echo c{n}-r{round_}-{i}" for i in range(1 + n % 3)]


def _grace_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [m for m in caplog.messages if "did not end within" in m]


async def test_twenty_conversations_count_every_approved_command_ten_times_in_a_row(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ended: dict[str, set[str]] = {}  # turn id -> call ids of the exec_command_end events hooks saw
    completed: set[str] = set()  # turn ids whose task_complete the hooks saw

    def approve(request: codexrs.requests.Request) -> bool:
        return True

    def hook(seen: HookEvent) -> None:
        if isinstance(seen.event, ExecCommandEnd):
            ended.setdefault(seen.turn_id, set()).add(seen.event.call_id)
        elif isinstance(seen.event, TurnComplete):
            completed.add(seen.turn_id)

    names = [f"c{n}" for n in range(CONVERSATIONS)]
    caplog.set_level(logging.WARNING, logger="codexrs")
    async with codexrs.AsyncManager(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as manager:
        manager.add_hook(hook)
        for name in names:
            await manager.create(name, approval_policy="untrusted", sandbox="workspace-write", on_approval=approve)
        expected_total = 0
        for round_ in range(ROUNDS):
            for n, name in enumerate(names):
                calls = [exec_command(cmd, call_id=f"call-c{n}-r{round_}-{i}") for i, cmd in enumerate(_commands(n, round_))]
                scripted_model.route(f"<c{n}-r{round_}>", *calls, text(f"done c{n} r{round_}"))
            for n, name in enumerate(names):
                await manager.send(name, f"<c{n}-r{round_}> run the commands")
            results = await manager.wait_all(timeout=300)
            for n, name in enumerate(names):
                result = results[name]
                commands = [i for i in result.items if isinstance(i, items.CommandExecutionItem)]
                want = _commands(n, round_)
                assert result.status == "completed" and result.final_response == f"done c{n} r{round_}"
                assert [c.id for c in commands] == [f"call-c{n}-r{round_}-{i}" for i in range(len(want))], (round_, name)
                assert all(cmd in " ".join(c.command) for c, cmd in zip(commands, want))
                assert all(c.exit_code == 0 and c.status == "completed" for c in commands)
                # the hooks saw each command's end by the time the result was declared
                assert result.id in completed and ended[result.id] == {c.id for c in commands}
                expected_total += len(want)
                assert manager.usage(name).tool_calls == sum(len(_commands(n, r)) for r in range(round_ + 1))
            assert manager.usage().tool_calls == expected_total, round_
            assert manager.usage().turns == CONVERSATIONS * (round_ + 1)
    assert expected_total == ROUNDS * sum(1 + n % 3 for n in range(CONVERSATIONS))
    assert _grace_warnings(caplog) == []  # every end came as an event, none was given up on


async def test_a_command_left_running_ends_its_turn_after_the_grace_with_a_warning(
    scripted_model: ScriptedModel,
    codex_home: Path,
    workspace: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_turn, "COMMAND_END_GRACE_S", 0.5)
    # the model leaves a command running in the background (exec_command yields after 250 ms)
    background = function_call("exec_command", {"cmd": "sleep 60", "yield_time_ms": 250}, call_id="call-bg")
    scripted_model.route("<bg>", background, text("left it running"))
    caplog.set_level(logging.WARNING, logger="codexrs")
    async with codexrs.AsyncCodex(codex_home=codex_home, config=scripted_model.config()) as codex:
        thread = await codex.thread_start(cwd=workspace, approval_policy="never", sandbox="workspace-write")
        result = await thread.run("<bg> start it")
        assert result.status == "completed" and result.final_response == "left it running"
        assert not any(isinstance(i, items.CommandExecutionItem) for i in result.items)  # it has not ended
        (warning,) = _grace_warnings(caplog)
        assert f"turn {result.id}:" in warning and "call-bg" in warning
        # the thread goes on: the next turn runs
        scripted_model.route("<next>", text("next answer"))
        assert (await thread.run("<next>")).final_response == "next answer"


def test_the_sync_side_waits_for_the_same_grace(
    scripted_model: ScriptedModel,
    codex_home: Path,
    workspace: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_turn, "COMMAND_END_GRACE_S", 0.5)
    scripted_model.route("<sync>", exec_command("echo counted", call_id="call-echo"), text("ran it"))
    background = function_call("exec_command", {"cmd": "sleep 60", "yield_time_ms": 250}, call_id="call-bg")
    scripted_model.route("<sync-bg>", background, text("left it running"))
    caplog.set_level(logging.WARNING, logger="codexrs")
    with codexrs.Codex(codex_home=codex_home, config=scripted_model.config()) as codex:
        thread = codex.thread_start(cwd=workspace, approval_policy="untrusted", sandbox="workspace-write", on_approval=lambda r: True)
        handle = thread.turn("<sync> run it")
        seen = [event.type for event in handle.stream()]
        result = handle.result()
        assert [i.id for i in result.items if isinstance(i, items.CommandExecutionItem)] == ["call-echo"]
        assert "task_complete" in seen and "exec_command_end" in seen  # the turn's stream carries the end, whatever its order
        assert _grace_warnings(caplog) == []
        left = thread.run("<sync-bg> start it")
        assert left.final_response == "left it running"
        assert not any(isinstance(i, items.CommandExecutionItem) for i in left.items)
        (warning,) = _grace_warnings(caplog)
        assert f"turn {left.id}:" in warning and "call-bg" in warning

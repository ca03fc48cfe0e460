"""A panic inside the process fails the turn it hit, and only that turn.

The shipped build has no debug assertions (codex-core's ``error_or_panic`` then logs instead of
panicking). For the panics that remain possible, private fault points make one happen where it
matters: inside codex-core's turn task, and inside codexrs's event pump. Each test shows the
turn ending ``failed`` with an :class:`InternalError` naming the panic, the thread's next turn
and the engine's other threads completing with their exact text, the panic on the
``codexrs.core.panic`` logger, and nothing on stderr.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import codexrs
from codexrs import _native
from codexrs import events as ev
from codexrs.testing import ScriptedModel, text
from conftest import Records


def test_the_shipped_build_has_no_debug_assertions() -> None:
    # With them, a malformed model stream panics codex-core's turn task (error_or_panic).
    assert _native.debug_assertions() is False


def test_a_panic_in_codex_core_fails_its_turn_and_nothing_else(
    codex: codexrs.Codex,
    scripted_model: ScriptedModel,
    core_records: Records,
    capfd: pytest.CaptureFixture[str],
) -> None:
    scripted_model.route("<other>", text("the other thread is fine"))
    scripted_model.route("<after>", text("the next turn is fine"))
    scripted_model.route("<doomed>", text("never seen whole"))
    victim = codex.thread_start(approval_policy="never")
    other = codex.thread_start(approval_policy="never")
    _native._inject_panic("turn", victim.id)

    turn = victim.turn("<doomed>")
    seen = list(turn.stream())
    result = turn.result()
    assert result.status == "failed"
    assert result.panic is not None and "inside codex-core's turn task" in result.panic.message
    assert result.panic.turn_id == turn.id and result.panic.interrupted
    assert result.error is not None and "panic" in result.error.message
    assert isinstance(seen[-1], ev.CodexrsPanic)  # the stream ends on the panic

    # run() raises the typed error naming the panic.
    _native._inject_panic("turn", victim.id)
    scripted_model.route("<doomed again>", text("never seen whole"))
    with pytest.raises(codexrs.InternalError, match="inside codex-core's turn task"):
        victim.run("<doomed again>")

    assert other.run("<other>").final_response == "the other thread is fine"
    assert victim.run("<after>").final_response == "the next turn is fine"

    assert any("inside codex-core's turn task" in m for m in core_records.messages()), core_records.messages()
    panics = [r for r in core_records.records if r.name == "codexrs.core.panic"]
    assert panics and {getattr(r, "thread_id", None) for r in panics} == {victim.id}
    err = capfd.readouterr().err
    assert "panicked" not in err and "panic" not in err, err


async def test_a_panic_in_the_event_pump_fails_its_turn(
    scripted_model: ScriptedModel,
    codex_home: Path,
    workspace: Path,
    core_records: Records,
    capfd: pytest.CaptureFixture[str],
) -> None:
    scripted_model.route("<after>", text("the pump goes on"))
    scripted_model.route("<doomed>", text("never seen whole"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start(approval_policy="never")
        _native._inject_panic("pump", thread.id)
        with pytest.raises(codexrs.InternalError, match="event pump"):
            await thread.run("<doomed>")
        result = await thread.run("<after>")
        assert result.final_response == "the pump goes on"
        assert result.status == "completed"
    assert any("inside the event pump" in m for m in core_records.messages())
    # The panic's record names the pump's thread (the span codexrs keeps around each pump).
    panics = [r for r in core_records.records if r.name == "codexrs.core.panic"]
    assert panics and {getattr(r, "thread_id", None) for r in panics} == {thread.id}
    err = capfd.readouterr().err
    assert "panic" not in err, err


def test_an_unknown_fault_point_is_refused() -> None:
    with pytest.raises(ValueError, match="no fault point"):
        _native._inject_panic("elsewhere", "x")

"""Closing an engine while a turn runs: the reader learns it in bounded time, nothing hangs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import codexrs
from codexrs import events as ev
from codexrs.testing import ScriptedModel, text


def test_closing_the_engine_mid_turn_ends_the_turn_for_its_reader(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    # A turn that streams for a long time (200 deltas, 50 ms apart: 10 s if left alone).
    scripted_model.enqueue(text("x" * 200, deltas=["x"] * 200).delayed(0.0, between_events=0.05))
    codex = codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config())
    thread = codex.thread_start(approval_policy="never")
    turn = thread.turn("stream for a long time")
    stream = turn.stream()
    for event in stream:
        if isinstance(event, ev.AgentMessageContentDelta):
            break  # the turn is streaming
    closer = threading.Thread(target=codex.close)
    closer.start()
    rest = []
    try:
        for event in stream:
            rest.append(event.type)
    except codexrs.EngineClosedError:
        rest.append("engine closed")  # (seen as a failure below)
    closer.join()
    # codex aborts the turn on shutdown: the reader sees it end, well before the 200th delta.
    assert rest[-1] == "turn_aborted", rest[-5:]
    assert rest.count("agent_message_content_delta") < 150
    assert turn.result().status == "interrupted"
    with pytest.raises(codexrs.EngineClosedError):
        thread.turn("after close")

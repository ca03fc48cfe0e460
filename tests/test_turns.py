"""Real codex-core turns against the scripted model: text, tools, patches, the sandbox."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

import codexrs
from codexrs import events as ev
from codexrs.items import AgentMessageItem
from codexrs.testing import ScriptedModel, apply_patch, exec_command, text


def test_text_turn_streams_every_delta_byte_for_byte(
    codex: codexrs.Codex, scripted_model: ScriptedModel, deltas_1000: list[str]
) -> None:
    message = "".join(deltas_1000)
    scripted_model.enqueue(text(message, deltas=deltas_1000))
    thread = codex.thread_start(approval_policy="never", sandbox="read-only")
    turn = thread.turn("say things")
    seen = [e for e in turn.stream()]
    deltas = [e.delta for e in seen if isinstance(e, ev.AgentMessageContentDelta)]
    assert deltas == deltas_1000
    types = [e.type for e in seen]
    assert types.index("task_started") < types.index("agent_message_content_delta")
    assert types[-1] == "task_complete"
    result = turn.result()
    assert result.status == "completed"
    assert result.final_response == message
    assert result.id == turn.id
    with pytest.warns(DeprecationWarning, match=r"TurnResult\.turn_id is deprecated: use TurnResult\.id"):
        assert result.turn_id == result.id
    with pytest.warns(DeprecationWarning, match=r"TurnHandle\.turn_id is deprecated: use TurnHandle\.id"):
        assert turn.turn_id == turn.id
    # When codex says the turn started and ended, Unix seconds.
    assert result.started_at is not None and result.completed_at is not None
    assert 1_700_000_000 < result.started_at <= result.completed_at
    assert result.usage.output_tokens == 1000  # the scripted usage: one token per delta
    assert result.usage.input_tokens == 100
    messages = [item for item in result.items if isinstance(item, AgentMessageItem)]
    assert messages and messages[-1].content[0].text == message


async def test_text_turn_async_streams_every_delta(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, deltas_1000: list[str]
) -> None:
    message = "".join(deltas_1000)
    scripted_model.enqueue(text(message, deltas=deltas_1000))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start(approval_policy="never")
        turn = await thread.turn("say things")
        deltas = [e.delta async for e in turn.stream() if isinstance(e, ev.AgentMessageContentDelta)]
        assert deltas == deltas_1000
        result = await turn.result()
        assert result.final_response == message
        assert result.status == "completed"


async def test_a_second_turn_is_refused_while_the_first_is_submitted_and_then_taken(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("one"), text("two"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start(approval_policy="never")
        outcomes: list[object] = list(await asyncio.gather(thread.turn("first"), thread.turn("second"), return_exceptions=True))
        first, second = outcomes
        assert isinstance(first, codexrs.AsyncTurnHandle)
        # Refused while the first is being submitted, or (if codex-core took it at once) running.
        assert isinstance(second, codexrs.TurnInProgressError), second
        assert (await first.result()).final_response == "one"
        assert (await thread.run("second")).final_response == "two"


def test_run_returns_final_response(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("hello"))
    result = codex.thread_start().run("hi")
    assert result.final_response == "hello"
    request = scripted_model.response_requests()[0]
    assert "hi" in request.user_texts()


def test_tool_turn_output_reaches_exec_command_end(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    marker = f"tool-{uuid.uuid4().hex}"
    scripted_model.enqueue(exec_command(f"echo {marker}"), text("ran it").delayed(0.2))
    thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
    turn = thread.turn("run echo")
    seen = list(turn.stream())
    ends = [e for e in seen if isinstance(e, ev.ExecCommandEnd)]
    if not ends:
        # When the command is still alive as codex-core stores it, its exec_command_end comes
        # from a watcher after a 100 ms trailing-output grace (codex-core's unified_exec
        # async_watcher), which the scripted model's instant answer can beat to task_complete.
        # The event is not lost: it carries this turn's id and leads the thread's next read.
        scripted_model.enqueue(text("next"))
        later = list(thread.turn("next").stream())
        ends = [e for e in later if isinstance(e, ev.ExecCommandEnd) and e.turn_id == turn.id]
    assert len(ends) == 1, [e.type for e in seen]
    assert ends[0].exit_code == 0
    # The output reaches the user in the end event's aggregated_output when codex-core ends the
    # command itself; when its watcher does (the command outlived the first check), it comes as
    # exec_command_output_delta events and the end carries none, and in a rare race of
    # codex-core's (deltas subscribed after the output was read) in neither. Whatever codex
    # reports must be the command's output; the model always gets it (below).
    streamed = "".join(
        e.chunk.decode() for e in seen if isinstance(e, ev.ExecCommandOutputDelta) and e.call_id == ends[0].call_id
    )
    reported = ends[0].aggregated_output + streamed
    assert marker in reported or not reported.strip(), reported
    assert turn.result().final_response == "ran it"
    # codex sent the command's output back to the model.
    follow_up = scripted_model.response_requests()[1]
    assert marker in str(follow_up.body)


def test_apply_patch_creates_the_file(codex: codexrs.Codex, scripted_model: ScriptedModel, workspace: Path) -> None:
    patch = "*** Begin Patch\n*** Add File: notes/a.txt\n+first line\n+second line\n*** End Patch\n"
    scripted_model.enqueue(apply_patch(patch), text("patched"))
    thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
    turn = thread.turn("write a file")
    seen = list(turn.stream())
    ends = [e for e in seen if isinstance(e, ev.PatchApplyEnd)]
    assert ends and ends[0].success, seen
    assert (workspace / "notes" / "a.txt").read_text() == "first line\nsecond line\n"
    assert turn.result().status == "completed"


def test_sandbox_refuses_a_write_outside_the_workspace(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    target = Path.home() / f"codexrs-sandbox-probe-{uuid.uuid4().hex}"
    scripted_model.enqueue(exec_command(f"echo escaped > {target}"), text("tried"))
    thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
    result = thread.run("write outside")
    try:
        assert not target.exists(), "the sandbox let a command write outside the workspace"
    finally:
        target.unlink(missing_ok=True)
    follow_up = scripted_model.response_requests()[1]
    assert "Read-only file system" in str(follow_up.body)
    assert result.status == "completed"


def test_apply_patch_goes_through_the_helper_executable(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codexrs._core.helper import helper_path

    real = helper_path()
    assert real is not None, "the wheel ships codexrs-helper"
    log = tmp_path / "helper.log"
    wrapper = tmp_path / "helper-wrapper"
    # Logs each invocation (argv[0] name, argv[1]) and runs the real helper under the same argv[0].
    wrapper.write_text(f'#!/bin/bash\necho "$(basename "$0") $1" >> {log}\nexec -a "$0" {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CODEXRS_HELPER", str(wrapper))
    patch = "*** Begin Patch\n*** Add File: via-helper.txt\n+made by the helper\n*** End Patch\n"
    scripted_model.enqueue(apply_patch(patch), text("done"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        result = codex.thread_start(approval_policy="never", sandbox="workspace-write").run("patch")
    assert result.status == "completed"
    assert (workspace / "via-helper.txt").read_text() == "made by the helper\n"
    assert log.exists(), "codex-core never ran the codexrs helper"
    # The patch was written by the helper's fs mode, inside the Linux sandbox (bwrap).
    calls = log.read_text().splitlines()
    assert "helper-wrapper --codex-run-as-fs-helper" in calls
    assert any(call.startswith("codex-linux-sandbox ") for call in calls)

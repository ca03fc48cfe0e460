"""Turn control: per-turn settings, update, steer, compact, rollback, review, shell, structured
output. Each effect is checked where it lands: the model's next request, or the workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, assert_type

import msgspec
import pytest

import codexrs
from codexrs import events as ev
from codexrs.testing import ScriptedModel, exec_command, text


def _bodies(model: ScriptedModel) -> list[dict[str, Any]]:
    return [r.body for r in model.response_requests()]


def test_per_turn_settings_reach_the_model_and_last(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("a"), text("b"), text("c"))
    thread = codex.thread_start()
    thread.run("default settings")
    thread.run("other model", model="gpt-5.4", effort="high", summary="concise")
    thread.run("no settings given")
    first, second, third = _bodies(scripted_model)
    assert first["model"] == "gpt-5.5"
    assert second["model"] == "gpt-5.4" and second["reasoning"]["effort"] == "high"
    assert second["reasoning"]["summary"] == "concise"
    assert third["model"] == "gpt-5.4" and third["reasoning"]["effort"] == "high"  # they last


def test_a_per_turn_sandbox_decides_what_a_command_may_do(
    codex: codexrs.Codex, scripted_model: ScriptedModel, workspace: Path
) -> None:
    scripted_model.enqueue(
        exec_command("touch made-read-only"), text("tried").delayed(0.2),
        exec_command("touch made-writable"), text("done").delayed(0.2),
    )  # fmt: skip
    thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
    thread.run("try it read-only", sandbox="read-only")
    assert not (workspace / "made-read-only").exists()
    thread.run("now writable", sandbox="workspace-write")
    assert (workspace / "made-writable").exists()


def test_update_changes_the_turns_that_follow(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("a"), text("b"))
    thread = codex.thread_start()
    thread.run("before")
    thread.update(model="gpt-5.4", approval_policy="never")
    thread.run("after")
    assert [b["model"] for b in _bodies(scripted_model)] == ["gpt-5.5", "gpt-5.4"]
    with pytest.raises(codexrs.ConfigError, match="sandbox"):
        thread.update(sandbox="sideways")  # type: ignore[arg-type]


def test_steer_reaches_the_model_within_the_same_turn(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(exec_command("sleep 1"), text("steered").delayed(0.2))
    thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
    turn = thread.turn("start something slow")
    for event in turn.stream():
        if isinstance(event, ev.ExecCommandBegin):
            turn.steer("also mention bananas")
    result = turn.result()
    assert result.status == "completed" and result.final_response == "steered"
    requests = scripted_model.response_requests()
    assert len(requests) == 2 and "also mention bananas" in requests[1].user_texts()
    with pytest.raises(codexrs.TurnNotSteerableError, match="ended"):
        turn.steer("too late")


def test_rollback_drops_turns_from_the_next_request(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("1"), text("2"), text("3"))
    thread = codex.thread_start()
    thread.run("turn one")
    thread.run("turn two")
    thread.rollback(1)
    thread.run("turn three")
    last = scripted_model.response_requests()[-1].user_texts()
    assert last[-2:] == ["turn one", "turn three"] and "turn two" not in last
    with pytest.raises(codexrs.ConfigError):
        thread.rollback(0)


def test_compaction_replaces_history_with_its_summary(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("long answer"), text("SUMMARY: the user likes bananas"), text("after"))
    thread = codex.thread_start()
    thread.run("tell me about bananas")
    compaction = thread.compact()
    thread.run("what do I like?")  # reads the compaction to its end first
    assert compaction.result().status == "completed"
    after = json.dumps(_bodies(scripted_model)[-1])
    assert "SUMMARY: the user likes bananas" in after


def test_review_yields_typed_review_output(codex: codexrs.Codex, scripted_model: ScriptedModel, workspace: Path) -> None:
    (workspace / "a.txt").write_text("changed\n")
    verdict = {
        "findings": [],
        "overall_correctness": "patch is correct",
        "overall_explanation": "nothing to fix",
        "overall_confidence_score": 0.5,
    }
    scripted_model.enqueue(text(json.dumps(verdict)))
    result = codex.thread_start().review("uncommitted")
    assert result.status == "completed"
    assert result.review is not None
    assert (result.review.overall_correctness, result.review.findings) == ("patch is correct", [])


def test_run_shell_runs_a_user_command_in_the_thread(codex: codexrs.Codex, workspace: Path) -> None:
    thread = codex.thread_start(sandbox="workspace-write")
    result = thread.run_shell("echo from-the-user > shell.txt")
    assert result.status == "completed"
    assert (workspace / "shell.txt").read_text() == "from-the-user\n"


class Answer(msgspec.Struct):
    city: str
    population: int


def test_structured_output_decodes_into_the_type(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text('{"city": "Lyon", "population": 522000}'), text('{"city": "Lyon"}'))
    thread = codex.thread_start()
    result = thread.run("a city?", output_schema=Answer)
    assert_type(result.output, Answer | None)  # mypy checks the generic: TurnResult[Answer]
    assert result.output == Answer(city="Lyon", population=522000)
    sent = json.dumps(_bodies(scripted_model)[0].get("text"))
    assert "population" in sent and "json_schema" in sent  # codex sent the schema to the model
    with pytest.raises(codexrs.OutputValidationError) as info:
        thread.run("another", output_schema=Answer)
    assert info.value.raw == '{"city": "Lyon"}'


def test_a_dict_schema_gives_parsed_json(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text('{"ok": true}'))
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}
    result = codex.thread_start().run("ok?", output_schema=schema)
    assert_type(result, codexrs.TurnResult[Any])
    assert result.output == {"ok": True}


def test_an_unknown_setting_is_a_type_error_naming_it(codex: codexrs.Codex) -> None:
    thread = codex.thread_start()
    with pytest.raises(TypeError, match=r"turn\(\) got an unexpected keyword argument 'modle'"):
        thread.turn("x", modle="gpt-5.4")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"run\(\) got an unexpected keyword argument 'modle'"):
        thread.run("x", modle="gpt-5.4")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"update\(\) got an unexpected keyword argument 'sandbox_mode'"):
        thread.update(sandbox_mode="read-only")  # type: ignore[call-arg]


async def test_async_turn_control(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    scripted_model.enqueue(text("1"), text("2"), text("3"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start()
        await thread.run("one", model="gpt-5.4")
        await thread.run("two")
        await thread.rollback(1)
        await thread.update(model="gpt-5.5")
        await thread.run("three")
    bodies = _bodies(scripted_model)
    assert [b["model"] for b in bodies] == ["gpt-5.4", "gpt-5.4", "gpt-5.5"]
    assert "two" not in scripted_model.response_requests()[-1].user_texts()

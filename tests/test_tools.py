"""Python functions as tools (``@codexrs.tool``, codex dynamic tools): the model sees them, its
calls run them, and their results (or errors) reach the model's next request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

import pytest

import codexrs
from codexrs import events as ev
from codexrs.testing import ScriptedModel, function_call, text


@codexrs.tool
def add(a: int, b: int = 1) -> int:
    """Adds two integers."""
    return a + b


@codexrs.tool(name="lookup", description="Looks a word up.")
def find(word: str, mode: Literal["short", "long"] = "short") -> dict[str, str]:
    if word == "boom":
        raise ValueError("no such word")
    return {"word": word, "mode": mode}


def _outputs(model: ScriptedModel, index: int) -> list[dict[str, Any]]:
    body = model.response_requests()[index].body
    return [i for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call_output"]


def test_the_schema_comes_from_the_signature() -> None:
    assert add.name == "add" and add.description == "Adds two integers."
    assert add.input_schema["properties"]["a"] == {"type": "integer"}
    assert add.input_schema["required"] == ["a"]
    assert sorted(find.input_schema["properties"]["mode"]["enum"]) == ["long", "short"]
    assert add(2, 3) == 5  # still a plain function


def test_the_model_sees_the_tool_and_its_result_reaches_the_next_request(
    codex: codexrs.Codex, scripted_model: ScriptedModel
) -> None:
    scripted_model.enqueue(function_call("add", {"a": 2, "b": 40}), text("it is 42"))
    thread = codex.thread_start(tools=[add, find])
    turn = thread.turn("add them")
    seen = list(turn.stream())
    assert turn.result().final_response == "it is 42"
    offered = json.dumps(scripted_model.response_requests()[0].body["tools"])
    assert '"add"' in offered and "Adds two integers." in offered and '"lookup"' in offered
    assert [e.tool for e in seen if isinstance(e, ev.DynamicToolCallRequest)] == ["add"]
    outputs = _outputs(scripted_model, 1)
    assert len(outputs) == 1 and "42" in json.dumps(outputs[0])


def test_an_exception_or_bad_arguments_go_back_as_an_error_and_the_turn_goes_on(
    codex: codexrs.Codex, scripted_model: ScriptedModel
) -> None:
    scripted_model.enqueue(
        function_call("lookup", {"word": "boom"}), text("hm").delayed(0.0),
        function_call("add", {"a": "not a number"}), text("hm again"),
    )  # fmt: skip
    thread = codex.thread_start(tools=[add, find])
    assert thread.run("look it up").status == "completed"
    assert "ValueError: no such word" in json.dumps(_outputs(scripted_model, 1))
    assert thread.run("add").status == "completed"
    assert "ValidationError" in json.dumps(_outputs(scripted_model, 3)[-1])


def test_a_call_to_a_tool_nobody_registered_is_denied(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(function_call("add", {"a": 1}), text("denied"))
    thread = codex.thread_start(tools=[find])  # "add" is not offered; the model calls it anyway
    turn = thread.turn("add")
    seen = list(turn.stream())
    assert turn.result().status == "completed"
    assert not [e for e in seen if isinstance(e, ev.DynamicToolCallRequest)]  # codex refused it itself
    assert "add" in json.dumps(_outputs(scripted_model, 1))


@codexrs.tool
async def slow_double(x: int) -> int:
    """Doubles x, slowly."""
    await asyncio.sleep(0.01)
    return 2 * x


async def test_async_tools_on_an_async_codex(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    scripted_model.enqueue(function_call("slow_double", {"x": 21}), function_call("add", {"a": 1, "b": 2}), text("done"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start(tools=[slow_double, add])
        assert (await thread.run("double it")).final_response == "done"
    assert "42" in json.dumps(_outputs(scripted_model, 1)) and "3" in json.dumps(_outputs(scripted_model, 2)[-1])


def test_bad_tools_are_refused(codex: codexrs.Codex) -> None:
    with pytest.raises(codexrs.ConfigError, match="async"):
        codex.thread_start(tools=[slow_double])
    with pytest.raises(codexrs.ConfigError, match="distinct"):
        codex.thread_start(tools=[add, add])
    with pytest.raises(codexrs.ConfigError, match="name"):
        codexrs.tool(name="mcp__x")(lambda: None)
    with pytest.raises(TypeError):
        codex.thread_start(tools=[lambda: None])  # type: ignore[list-item]

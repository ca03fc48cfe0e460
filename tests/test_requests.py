"""Requests codex-core waits on are answered or denied, never left waiting (codexrs.requests).

MCP elicitations come from a real stdio MCP server (``tests/mcp_echo_server.py``, official
``mcp`` SDK): its ``echo_write`` tool claims no read-only hint, so codex asks for approval (an
``elicitation_request``) before each call. Effects are checked where they land: the tool's
output in the model's next request, or a file a command would have made.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import codexrs
from codexrs import events as ev
from codexrs.requests import Answer
from codexrs.testing import ScriptedModel, apply_patch, exec_command, function_call, mcp_call, text

MCP_SERVER = Path(__file__).resolve().parent / "mcp_echo_server.py"


def _config(model: ScriptedModel) -> dict[str, Any]:
    return {**model.config(), "mcp_servers": {"echo": {"command": sys.executable, "args": [str(MCP_SERVER)]}}}


def _tool_ran(model: ScriptedModel, marker: str = "wrote: hello") -> bool:
    return any(marker in str(request.body) for request in model.response_requests())


def _write_call(model: ScriptedModel) -> None:
    model.enqueue(mcp_call("echo", "echo_write", {"text": "hello"}), text("after the tool"))


def test_an_elicitation_without_a_handler_is_declined_and_the_turn_completes(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    _write_call(scripted_model)
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=_config(scripted_model)) as codex:
        turn = codex.thread_start(approval_policy="never").turn("write")
        seen = list(turn.stream())
    assert turn.result().status == "completed"
    asked = [e for e in seen if isinstance(e, ev.ElicitationRequest)]
    denied = [e for e in seen if isinstance(e, ev.RequestDenied)]
    assert len(asked) == 1 and asked[0].server_name == "echo"
    assert [(d.kind, d.submitted) for d in denied] == [("elicitation", True)]
    assert seen.index(denied[0]) == seen.index(asked[0]) + 1
    assert not _tool_ran(scripted_model)
    assert len(scripted_model.response_requests()) == 2  # the model heard back and finished


def test_a_handler_accepts_an_elicitation_and_the_tool_runs(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    _write_call(scripted_model)
    asked: list[Any] = []

    def on_request(request: codexrs.Request) -> Answer:
        asked.append(request)
        return "accept"

    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=_config(scripted_model)) as codex:
        result = codex.thread_start(approval_policy="never", on_request=on_request).run("write")
    assert [type(r) for r in asked] == [ev.ElicitationRequest]
    assert result.final_response == "after the tool"
    assert _tool_ran(scripted_model)


def test_a_raising_handler_denies_the_turn_completes_and_the_error_reaches_the_reader(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    _write_call(scripted_model)

    def on_request(request: codexrs.Request) -> Answer:
        raise RuntimeError("the handler broke")

    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=_config(scripted_model)) as codex:
        thread = codex.thread_start(approval_policy="never", on_request=on_request)
        turn = thread.turn("write")
        seen: list[ev.Event] = []
        with pytest.raises(RuntimeError, match="the handler broke"):
            for event in turn.stream():
                seen.append(event)
        # The request was denied and the turn went on to its end before the error surfaced.
        assert isinstance(seen[-1], ev.TurnComplete), seen[-3:]
        assert turn.result().final_response == "after the tool"
    assert not _tool_ran(scripted_model)
    assert len(scripted_model.response_requests()) == 2


def test_an_unanswered_request_is_denied_at_its_timeout_and_a_late_answer_is_refused(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    _write_call(scripted_model)
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=_config(scripted_model)) as codex:
        thread = codex.thread_start(approval_policy="never", on_request=lambda r: codexrs.DEFER, request_timeout=0.5)
        turn = thread.turn("write")
        seen = list(turn.stream())
        assert turn.result().status == "completed"
        asked = [e for e in seen if isinstance(e, ev.ElicitationRequest)]
        timed_out = [e for e in seen if isinstance(e, ev.RequestTimedOut)]
        assert [(t.kind, t.submitted) for t in timed_out] == [("elicitation", True)], seen
        assert thread.respond(asked[0], "accept") is False  # too late: nothing is sent
    assert not _tool_ran(scripted_model)


def test_a_deferred_request_is_answered_later_from_another_python_thread(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    _write_call(scripted_model)
    answered: list[bool] = []
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=_config(scripted_model)) as codex:
        holder: list[codexrs.Thread] = []

        def on_request(request: codexrs.Request) -> Answer:
            # A person answers later, elsewhere: another Python thread, after a pause.
            def later() -> None:
                answered.append(holder[0].respond(request, True))

            threading.Timer(0.3, later).start()
            return codexrs.DEFER

        thread = codex.thread_start(approval_policy="never", on_request=on_request, request_timeout=30)
        holder.append(thread)
        result = thread.run("write")
    assert answered == [True]
    assert result.final_response == "after the tool"
    assert _tool_ran(scripted_model)


async def test_an_async_handler_answers_an_elicitation(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    _write_call(scripted_model)

    async def on_request(request: codexrs.Request) -> Answer:
        await asyncio.sleep(0.01)
        return True

    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=_config(scripted_model)) as codex:
        thread = await codex.thread_start(approval_policy="never", on_request=on_request)
        result = await thread.run("write")
    assert result.final_response == "after the tool"
    assert _tool_ran(scripted_model)


def test_an_exec_approval_nobody_answers_is_denied_at_the_timeout(
    codex: codexrs.Codex, scripted_model: ScriptedModel, workspace: Path
) -> None:
    scripted_model.enqueue(exec_command("touch made-after-approval"), text("gave up").delayed(0.2))
    thread = codex.thread_start(
        approval_policy="untrusted", sandbox="workspace-write", on_request=lambda r: codexrs.DEFER, request_timeout=0.3
    )
    turn = thread.turn("make a file")
    seen = list(turn.stream())
    assert turn.result().status == "completed"
    assert [t.kind for t in seen if isinstance(t, ev.RequestTimedOut)] == ["exec"]
    assert not (workspace / "made-after-approval").exists()
    assert codexrs.events.RequestTimedOut.__doc__ and "request_timeout" in codexrs.events.RequestTimedOut.__doc__


def test_a_junk_answer_denies_and_raises(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    _write_call(scripted_model)
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=_config(scripted_model)) as codex:
        thread = codex.thread_start(approval_policy="never", on_request=lambda r: 3.5)
        with pytest.raises(TypeError, match="elicitation answer cannot be a float"):
            thread.run("write")
    assert not _tool_ran(scripted_model)
    assert len(scripted_model.response_requests()) == 2  # denied, and the turn completed


def test_bad_request_timeouts_are_refused(codex: codexrs.Codex) -> None:
    with pytest.raises(codexrs.ConfigError, match="request_timeout"):
        codex.thread_start(request_timeout=0)
    with pytest.raises(TypeError, match="request_timeout"):
        codex.thread_start(request_timeout="soon")  # type: ignore[arg-type]


QUESTION = {
    "questions": [
        {
            "id": "color",
            "header": "Color",
            "question": "Which color?",
            "options": [{"label": "red", "description": "warm"}, {"label": "blue", "description": "cool"}],
        }
    ]
}
# codex offers request_user_input in default mode, and request_permissions, behind these flags.
ASKING = {"features.default_mode_request_user_input": True, "features.request_permissions_tool": True}


def _tool_output(model: ScriptedModel) -> str:
    """The function_call_output the model received in its second request."""
    body = model.response_requests()[1].body
    outputs = [i for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call_output"]
    assert len(outputs) == 1, body["input"]
    return str(outputs[0]["output"])


def test_a_question_is_answered_by_the_handler(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    scripted_model.enqueue(function_call("request_user_input", QUESTION), text("noted"))
    asked: list[Any] = []

    def on_request(request: codexrs.Request) -> Answer:
        asked.append(request)
        return {"color": "blue"}

    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config={**scripted_model.config(), **ASKING}) as codex:
        result = codex.thread_start(on_request=on_request).run("ask me")
    assert [(type(r), [q.id for q in r.questions]) for r in asked] == [(ev.RequestUserInput, ["color"])]
    assert result.final_response == "noted"
    assert json.loads(_tool_output(scripted_model)) == {"answers": {"color": {"answers": ["blue"]}}}


def test_a_question_without_a_handler_gets_an_empty_answer(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(function_call("request_user_input", QUESTION), text("noted"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config={**scripted_model.config(), **ASKING}) as codex:
        turn = codex.thread_start().turn("ask me")
        seen = list(turn.stream())
    assert turn.result().status == "completed"
    assert [d.kind for d in seen if isinstance(d, ev.RequestDenied)] == ["user_input"]
    assert json.loads(_tool_output(scripted_model)) == {"answers": {}}


@pytest.mark.parametrize(("answer", "granted"), [(True, True), ("denied", False)])
def test_a_permission_request_is_granted_or_refused(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, answer: Answer, granted: bool
) -> None:
    ask = {"reason": "fetch a page", "permissions": {"network": {"enabled": True}}}
    scripted_model.enqueue(function_call("request_permissions", ask), text("ok"))
    asked: list[Any] = []

    def on_request(request: codexrs.Request) -> Answer:
        asked.append(request)
        return answer

    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config={**scripted_model.config(), **ASKING}) as codex:
        result = codex.thread_start(sandbox="workspace-write", on_request=on_request).run("go online")
    assert [type(r) for r in asked] == [ev.RequestPermissions]
    assert asked[0].reason == "fetch a page"
    assert result.status == "completed"
    output = _tool_output(scripted_model)
    assert ('"enabled":true' in output.replace(" ", "")) is granted, output


def _raise(request: codexrs.Request) -> Answer:
    raise RuntimeError("handler broke")


@codexrs.tool
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


# kind -> (config, thread options, the scripted call that makes codex ask)
KINDS: dict[str, tuple[dict[str, Any] | str, dict[str, Any], Any]] = {
    "exec": ({}, {"approval_policy": "untrusted", "sandbox": "workspace-write"}, lambda: exec_command("touch asked")),
    "patch": (
        {},
        {"approval_policy": "untrusted", "sandbox": "read-only"},
        lambda: apply_patch("*** Begin Patch\n*** Add File: asked.txt\n+x\n*** End Patch\n"),
    ),
    "permissions": (
        ASKING,
        {"sandbox": "workspace-write"},
        lambda: function_call("request_permissions", {"permissions": {"network": {"enabled": True}}}),
    ),
    "user_input": (ASKING, {}, lambda: function_call("request_user_input", QUESTION)),
    "elicitation": ("mcp", {"approval_policy": "never"}, lambda: mcp_call("echo", "echo_write", {"text": "hello"})),
    "dynamic_tool": ({}, {}, lambda: function_call("add", {"a": 1, "b": 2})),
}


@pytest.mark.parametrize("mode", ["no handler", "raising handler", "never answered"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_request_kind_ends_with_the_turn_completing(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, kind: str, mode: str
) -> None:
    extra, options, call = KINDS[kind]
    config = _config(scripted_model) if isinstance(extra, str) else {**scripted_model.config(), **extra}
    handlers: dict[str, dict[str, Any]] = {
        "no handler": {},
        "raising handler": {"on_request": _raise},
        "never answered": {"on_request": lambda r: codexrs.DEFER, "request_timeout": 0.3},
    }
    handler = handlers[mode]
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        if kind == "dynamic_tool":
            # A thread whose rollout registered a tool, resumed without its Python function:
            # codex still offers it, and the call reaches codexrs as a plain request.
            scripted_model.enqueue(text("registered"))
            first = codex.thread_start(tools=[add])
            first.run("register")
            first.close()
            thread = codex.thread_resume(first.id, **options, **handler)
        else:
            thread = codex.thread_start(**options, **handler)
        scripted_model.enqueue(call(), text("went on").delayed(0.2))
        turn = thread.turn("do the thing")
        seen: list[ev.Event] = []
        try:
            for event in turn.stream():
                seen.append(event)
        except RuntimeError as exc:
            assert mode == "raising handler" and "handler broke" in str(exc)
        result = turn.result()
    assert result.status == "completed" and result.final_response == "went on", (kind, mode, seen[-5:])
    asked = [e for e in seen if codexrs.requests.kind_of(e) == kind]
    assert len(asked) == 1, seen
    if mode == "no handler":
        assert [e.kind for e in seen if isinstance(e, ev.RequestDenied)] == [kind]
    if mode == "never answered":
        assert [e.kind for e in seen if isinstance(e, ev.RequestTimedOut)] == [kind]
    assert not (workspace / "asked").exists() and not (workspace / "asked.txt").exists()

"""Turns that meet an MCP server and reasoning: typed end to end, and their effects reach the model.

The MCP server is a real stdio server built on the official ``mcp`` SDK
(``tests/mcp_echo_server.py``), started by codex-core itself from ``mcp_servers``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import codexrs
from codexrs import events as ev
from codexrs import items
from codexrs.testing import ScriptedModel, mcp_call, reasoning, text

MCP_SERVER = Path(__file__).resolve().parent / "mcp_echo_server.py"


def _input_items(body: Any) -> list[dict[str, Any]]:
    return [item for item in body.get("input", []) if isinstance(item, dict)]


def test_an_mcp_tool_call_reaches_the_server_and_its_result_reaches_the_model(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    config = {
        **scripted_model.config(),
        "mcp_servers": {"echo": {"command": sys.executable, "args": [str(MCP_SERVER)]}},
    }
    scripted_model.enqueue(mcp_call("echo", "echo", {"text": "from the model"}), text("echoed"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
        turn = thread.turn("call the echo tool")
        seen = list(turn.stream())
        result = turn.result()

    assert not [e for e in seen if isinstance(e, ev.GenericEvent)], seen
    assert any(isinstance(e, ev.McpStartupComplete) and e.ready == ["echo"] for e in seen), seen
    ends = [e for e in seen if isinstance(e, ev.McpToolCallEnd)]
    assert len(ends) == 1, seen
    assert ends[0].invocation.server == "echo" and ends[0].invocation.tool == "echo"
    ok = ends[0].result.Ok
    assert isinstance(ok, ev.CallToolResult), ends[0].result
    assert [part["text"] for part in ok.content] == ["echo: from the model"]
    calls = [item for item in result.items if isinstance(item, items.McpToolCallItem)]
    assert [(c.server, c.tool, c.status, c.arguments) for c in calls] == [
        ("echo", "echo", "completed", {"text": "from the model"})
    ]
    assert result.final_response == "echoed"
    # The server's answer went back to the model as the call's output.
    follow_up = scripted_model.response_requests()[1]
    outputs = [i for i in _input_items(follow_up.body) if i.get("type") == "function_call_output"]
    assert len(outputs) == 1 and "echo: from the model" in json.dumps(outputs[0]), outputs


def test_reasoning_is_typed_and_goes_back_to_the_model(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    config = {**scripted_model.config(), "show_raw_agent_reasoning": True}
    scripted_model.enqueue(
        reasoning(["Weighing ", "the options."], content=["raw ", "thoughts"], message="42"), text("again")
    )
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        thread = codex.thread_start()
        turn = thread.turn("think")
        seen = list(turn.stream())
        result = turn.result()
        thread.run("and again")

    assert not [e for e in seen if isinstance(e, ev.GenericEvent)], seen
    assert "".join(e.delta for e in seen if isinstance(e, ev.ReasoningContentDelta)) == "Weighing the options."
    assert "".join(e.delta for e in seen if isinstance(e, ev.ReasoningRawContentDelta)) == "raw thoughts"
    assert [e.text for e in seen if isinstance(e, ev.AgentReasoning)] == ["Weighing ", "the options."]
    steps = [item for item in result.items if isinstance(item, items.ReasoningItem)]
    assert [(s.summary_text, s.raw_content) for s in steps] == [(["Weighing ", "the options."], ["raw ", "thoughts"])]
    assert result.final_response == "42"
    assert result.usage is not None and result.usage.reasoning_output_tokens == 20
    # The next turn's request carries the reasoning item (with its encrypted content) back.
    follow_up = scripted_model.response_requests()[1]
    sent = [i for i in _input_items(follow_up.body) if i.get("type") == "reasoning"]
    assert len(sent) == 1 and sent[0].get("encrypted_content"), _input_items(follow_up.body)


def test_mcp_status_lists_servers_their_state_and_tools(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    config = {**scripted_model.config(), "mcp_servers": {"echo": {"command": sys.executable, "args": [str(MCP_SERVER)]}}}
    scripted_model.enqueue(text("hi"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        thread = codex.thread_start()
        thread.run("hello")  # codex starts its MCP servers during the first turn
        (server,) = thread.mcp_status()
    assert server.name == "echo" and isinstance(server.status, ev.McpStartupStatusReady)
    assert {t.name for t in server.tools} == {"echo", "echo_write"}
    assert {t.namespace for t in server.tools} == {"mcp__echo"}
    echo = next(t for t in server.tools if t.name == "echo")
    assert echo.description and "echo" in echo.description and echo.input_schema["required"] == ["text"]


def test_refresh_picks_up_a_server_added_to_config_toml(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("no tools yet"), mcp_call("echo", "echo", {"text": "late"}), text("done"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = codex.thread_start(approval_policy="never")
        thread.run("first")
        assert thread.mcp_status() == []
        (codex_home / "config.toml").write_text(
            f"[mcp_servers.echo]\ncommand = {json.dumps(sys.executable)}\nargs = [{json.dumps(str(MCP_SERVER))}]\n"
        )
        thread.refresh_mcp_servers()
        turn = thread.turn("now call it")
        ends = [e for e in turn.stream() if isinstance(e, ev.McpToolCallEnd)]
        assert [s.name for s in thread.mcp_status()] == ["echo"]
    assert len(ends) == 1 and isinstance(ends[0].result.Ok, ev.CallToolResult)
    assert "echo: late" in json.dumps(scripted_model.response_requests()[-1].body)

"""Handlers never hold a turn: a handler that waits for a person who never comes is denied at
the thread's ``request_timeout``, the turn goes on and ``run()`` returns; the handler's answer,
when it finally comes, is refused (nothing reaches codex) and logged.

Each of the six request kinds is asked by the scripted model as in ``test_requests.py``; the
handler blocks on an event the test sets only after the turn has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import codexrs
from codexrs import events as ev
from codexrs.requests import Answer
from codexrs.testing import ScriptedModel, function_call, text

from test_requests import KINDS, _config, add

# What each kind's handler answers once released: a yes, so that a late answer that got
# through would show (a file made, a tool output sent).
ANSWERS: dict[str, Answer] = {
    "exec": "approved",
    "patch": "approved",
    "permissions": True,
    "user_input": {"color": "red"},
    "elicitation": "accept",
    "dynamic_tool": "3",
}
LATE = "came after the request stopped waiting"


class _Refusals(logging.Handler):
    """Collects the ``codexrs`` logger's late-answer warnings; ``on_refused`` is called on each."""

    def __init__(self, on_refused: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.on_refused = on_refused
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if LATE in message:
            self.messages.append(message)
            self.on_refused()


@contextlib.contextmanager
def _watch(on_refused: Callable[[], None]) -> Iterator[_Refusals]:
    handler = _Refusals(on_refused)
    logger = logging.getLogger("codexrs")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _setup(model: ScriptedModel, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    extra, options, call = KINDS[kind]
    config = _config(model) if isinstance(extra, str) else {**model.config(), **extra}
    if kind == "dynamic_tool":
        model.enqueue(text("registered"))  # the first thread's turn, below
    model.enqueue(call(), text("went on"), text("the next turn"))
    return config, options


def _no_effect(workspace: Path, model: ScriptedModel) -> None:
    """Nothing the late "yes" would have allowed happened."""
    assert not (workspace / "asked").exists() and not (workspace / "asked.txt").exists()
    assert "wrote: hello" not in json.dumps([r.body for r in model.response_requests()])  # the MCP tool


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_sync_handler_that_never_answers_cannot_hold_run(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, kind: str
) -> None:
    config, options = _setup(scripted_model, kind)
    person = threading.Event()  # never set during the turn
    asked: list[codexrs.Request] = []

    def on_request(request: codexrs.Request) -> Answer:
        asked.append(request)
        person.wait()
        return ANSWERS[kind]

    seen: list[ev.Event] = []
    refused = threading.Event()
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config, hooks=[lambda h: seen.append(h.event)]) as codex:
        if kind == "dynamic_tool":  # a tool codex offers that only on_request answers
            first = codex.thread_start(tools=[add])
            first.run("register")
            first.close()
            thread = codex.thread_resume(first.id, **options, on_request=on_request, request_timeout=1)
        else:
            thread = codex.thread_start(**options, on_request=on_request, request_timeout=1)
        result = thread.run("do the thing")
        assert (result.status, result.final_response) == ("completed", "went on")
        assert [codexrs.requests.kind_of(r) for r in asked] == [kind]
        assert [t.kind for t in seen if isinstance(t, ev.RequestTimedOut)] == [kind]
        with _watch(refused.set) as watcher:
            person.set()  # the person answers, too late
            assert refused.wait(30), "the late answer was not reported"
        assert [m for m in watcher.messages if type(asked[0]).__name__ in m and repr(codexrs.requests.key_of(asked[0])) in m]
        assert thread.respond(asked[0], ANSWERS[kind]) is False  # still refused, from anyone
        assert thread.run("and now?").final_response == "the next turn"
    _no_effect(workspace, scripted_model)


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_an_async_handler_that_never_answers_cannot_hold_run(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, kind: str
) -> None:
    config, options = _setup(scripted_model, kind)
    person = asyncio.Event()
    asked: list[codexrs.Request] = []

    async def on_request(request: codexrs.Request) -> Answer:
        asked.append(request)
        await person.wait()
        return ANSWERS[kind]

    seen: list[ev.Event] = []
    refused = asyncio.Event()
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=config, hooks=[lambda h: seen.append(h.event)]) as codex:
        if kind == "dynamic_tool":
            first = await codex.thread_start(tools=[add])
            await first.run("register")
            await first.close()
            thread = await codex.thread_resume(first.id, **options, on_request=on_request, request_timeout=1)
        else:
            thread = await codex.thread_start(**options, on_request=on_request, request_timeout=1)
        result = await thread.run("do the thing")
        assert (result.status, result.final_response) == ("completed", "went on")
        assert [codexrs.requests.kind_of(r) for r in asked] == [kind]
        assert [t.kind for t in seen if isinstance(t, ev.RequestTimedOut)] == [kind]
        with _watch(refused.set) as watcher:  # the task answers on this loop's thread
            person.set()
            await asyncio.wait_for(refused.wait(), 30)
        assert [m for m in watcher.messages if repr(codexrs.requests.key_of(asked[0])) in m]
        assert await thread.respond(asked[0], ANSWERS[kind]) is False
        assert (await thread.run("and now?")).final_response == "the next turn"
    _no_effect(workspace, scripted_model)


def test_a_python_tool_that_blocks_is_denied_at_the_timeout(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    person = threading.Event()
    done = threading.Event()

    @codexrs.tool
    def ask_a_person(question: str) -> str:
        """Asks a person (who is away)."""
        person.wait()
        return "a late reply"

    scripted_model.enqueue(function_call("ask_a_person", {"question": "ok?"}), text("went on"), text("the next turn"))
    thread = codex.thread_start(tools=[ask_a_person], request_timeout=1)
    turn = thread.turn("ask")
    seen = list(turn.stream())
    result = turn.run()
    assert (result.status, result.final_response) == ("completed", "went on")
    assert [t.kind for t in seen if isinstance(t, ev.RequestTimedOut)] == ["dynamic_tool"]
    with _watch(done.set) as watcher:
        person.set()
        assert done.wait(30)
    assert watcher.messages and "DynamicToolCallRequest" in watcher.messages[0]
    assert "a late reply" not in json.dumps([r.body for r in scripted_model.response_requests()])
    assert thread.run("again").final_response == "the next turn"


async def test_an_async_python_tool_that_blocks_is_denied_at_the_timeout(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    person = asyncio.Event()

    @codexrs.tool
    async def ask_a_person(question: str) -> str:
        """Asks a person (who is away)."""
        await person.wait()
        return "a late reply"

    scripted_model.enqueue(function_call("ask_a_person", {"question": "ok?"}), text("went on"), text("the next turn"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start(tools=[ask_a_person], request_timeout=1)
        assert (await thread.run("ask")).final_response == "went on"
        refused = asyncio.Event()
        with _watch(refused.set) as watcher:
            person.set()
            await asyncio.wait_for(refused.wait(), 30)
        assert (await thread.run("again")).final_response == "the next turn"
    assert watcher.messages and "a late reply" not in json.dumps([r.body for r in scripted_model.response_requests()])


def test_a_blocked_handler_does_not_block_the_next_request(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    person = threading.Event()
    calls: list[int] = []

    @codexrs.tool
    def lookup(n: int) -> str:
        """Looks n up; the first lookup waits for a person."""
        calls.append(n)
        if n == 1:
            person.wait()
        return f"found {n}"

    scripted_model.enqueue(function_call("lookup", {"n": 1}), function_call("lookup", {"n": 2}), text("both asked"))
    thread = codex.thread_start(tools=[lookup], request_timeout=1)
    try:
        assert thread.run("look up 1, then 2").final_response == "both asked"
    finally:
        person.set()
    assert calls == [1, 2]
    last = json.dumps(scripted_model.response_requests()[-1].body)
    assert "found 2" in last and "found 1" not in last  # the second answered while the first still waited


def test_a_sync_handler_returning_an_awaitable_is_a_config_error(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    async def on_approval(request: codexrs.Request) -> bool:
        return True

    scripted_model.enqueue(KINDS["exec"][2](), text("went on"))
    thread = codex.thread_start(approval_policy="untrusted", sandbox="workspace-write", on_approval=on_approval)
    turn = thread.turn("make a file")
    with pytest.raises(codexrs.ConfigError, match="awaitable on a sync Codex"):
        list(turn.stream())
    assert turn.result().final_response == "went on"  # denied, and the turn went on


async def test_closing_the_engine_cancels_a_waiting_async_handler(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    cancelled = asyncio.Event()

    async def on_approval(request: codexrs.Request) -> bool:
        try:
            await asyncio.Event().wait()  # a person who never comes
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return True

    scripted_model.enqueue(KINDS["exec"][2](), text("went on"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start(**KINDS["exec"][1], on_approval=on_approval, request_timeout=None)
        turn = await thread.turn("make a file")
        async for event in turn.stream():
            if isinstance(event, ev.ExecApprovalRequest):
                break  # the handler runs on; leaving interrupts the turn
        await asyncio.sleep(0)  # the handler's task starts waiting
        assert not cancelled.is_set()
    await asyncio.wait_for(cancelled.wait(), 30)
    assert not (workspace / "asked").exists()

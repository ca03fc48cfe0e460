"""``codexrs.rollouts``: a real rollout read as typed lines, and ``watch`` following rollouts that
another process writes as it writes them, a partial last line held until its end."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

import codexrs
from codexrs.events import AgentMessage, TurnComplete
from codexrs.rollouts import WatchedLine, read, watch
from codexrs.testing import ScriptedModel, text

WRITER = """
import json, sys, time
from pathlib import Path
import codexrs
home, cwd, config, go = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), Path(sys.argv[4])
with codexrs.Codex(codex_home=home, cwd=cwd, config=config) as codex:
    thread = codex.thread_start()
    thread.run("<rollouts-one>")
    while not go.exists():
        time.sleep(0.05)
    thread.run("<rollouts-two>")
"""


def test_read_gives_a_real_rollouts_lines_typed(codex: codexrs.Codex, scripted_model: ScriptedModel, tmp_path: Path) -> None:
    scripted_model.route("<rollouts-read>", text("read me"))
    thread = codex.thread_start()
    thread.run("<rollouts-read>")
    path = thread.info().rollout_path
    assert path is not None
    lines = list(read(path))
    assert lines[0].type == "session_meta" and lines[0].payload["id"] == thread.id and lines[0].event is None
    events = [line.event for line in lines if line.event is not None]
    assert any(isinstance(e, AgentMessage) and e.message == "read me" for e in events)
    assert isinstance(events[-1], TurnComplete) and events[-1].last_agent_message == "read me"
    assert any(line.type == "response_item" and "<rollouts-read>" in json.dumps(line.payload) for line in lines)

    cut = tmp_path / "cut.jsonl"  # a writer still busy: the partial last line is left out
    data = Path(path).read_bytes()
    cut.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 20])
    assert len(list(read(cut))) == len(lines) - 1
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(data.split(b"\n")[0] + b"\nnot json\n")
    with pytest.raises(codexrs.RolloutError, match="line 2"):
        list(read(bad))


async def _collect(home: Path, into: list[WatchedLine]) -> None:
    async for seen in watch(home, interval=0.05):
        into.append(seen)


async def _until(condition: object, timeout: float = 60) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def test_watch_follows_a_rollout_another_process_writes(scripted_model: ScriptedModel, tmp_path: Path, workspace: Path) -> None:
    scripted_model.route("<rollouts-one>", text("first answer"))
    scripted_model.route("<rollouts-two>", text("second answer"))
    home, go = tmp_path / "writer-home", tmp_path / "go"
    home.mkdir()
    seen: list[WatchedLine] = []
    watcher = asyncio.create_task(_collect(home, seen))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(workspace), json.dumps(scripted_model.config()), str(go)])
    try:

        def answers() -> list[str]:
            return [s.line.event.last_agent_message or "" for s in seen if isinstance(s.line.event, TurnComplete)]

        await _until(lambda: answers() == ["first answer"])  # the first turn, while the writer waits
        before = len(seen)
        go.touch()
        await _until(lambda: answers() == ["first answer", "second answer"])
        assert len(seen) > before
        assert seen[0].line.type == "session_meta" and len({s.path for s in seen}) == 1
        assert await asyncio.to_thread(writer.wait, 60) == 0
    finally:
        writer.kill()
        watcher.cancel()
    # Every line the writer wrote was seen once, in the file's order.
    assert [s.line for s in seen] == list(read(seen[0].path))


async def test_watch_holds_a_partial_line_until_its_end(tmp_path: Path) -> None:
    day = tmp_path / "sessions" / "2026" / "11" / "22"
    day.mkdir(parents=True)
    seen: list[WatchedLine] = []
    watcher = asyncio.create_task(_collect(tmp_path, seen))
    try:
        await asyncio.sleep(0.2)  # watching: the file is new
        line = json.dumps({"timestamp": "2026-11-22T10:00:00.000Z", "type": "event_msg", "payload": {"type": "agent_message", "message": "hi"}})
        path = day / "rollout-2026-11-22T10-00-00-x.jsonl"
        path.write_text(line[:30])
        await asyncio.sleep(0.3)
        assert seen == []  # half a line is not a line
        with open(path, "a") as f:
            f.write(line[30:] + "\n")
        await _until(lambda: len(seen) == 1, 10)
        assert isinstance(seen[0].line.event, AgentMessage) and seen[0].line.event.message == "hi"
    finally:
        watcher.cancel()

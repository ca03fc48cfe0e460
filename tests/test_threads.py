"""Threads that outlive the process: resume, fork, list, archive, names (codex's thread store).

Each test checks the effect where it lands: what the model's next request carries, what the
store lists, what a later process finds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import codexrs
from codexrs.testing import ScriptedModel, http_error, text


def _engine(model: ScriptedModel, home: Path, workspace: Path) -> codexrs.Codex:
    return codexrs.Codex(codex_home=home, cwd=workspace, config=model.config())


def test_a_thread_resumed_in_a_new_codex_sends_its_history(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    # Rate-limit headers put a fractional used_percent into the rollout: resume must read it.
    scripted_model.enqueue(text("noted: banana").with_rate_limits(42.5), text("it was banana"))
    with _engine(scripted_model, codex_home, workspace) as codex:
        thread = codex.thread_start()
        thread.run("remember the word banana")
        thread_id = thread.id
    with _engine(scripted_model, codex_home, workspace) as codex:
        resumed = codex.thread_resume(thread_id)
        assert resumed.id == thread_id
        assert resumed.run("which word?").final_response == "it was banana"
    request = scripted_model.response_requests()[1]
    assert request.user_texts()[-2:] == ["remember the word banana", "which word?"]
    assert "noted: banana" in json.dumps(request.body)


def test_a_thread_from_an_earlier_process_resumes_by_id_and_by_rollout_path(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, tmp_path: Path
) -> None:
    scripted_model.enqueue(text("stored away"))
    script = textwrap.dedent(
        f"""
        import codexrs
        with codexrs.Codex(codex_home={str(codex_home)!r}, cwd={str(workspace)!r}, config={scripted_model.config()!r}) as codex:
            thread = codex.thread_start()
            thread.run("a turn from another process")
            print(thread.id, thread.session.rollout_path)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120)
    thread_id, rollout = out.stdout.split()
    assert Path(rollout).is_file()
    scripted_model.enqueue(text("by id"), text("by path"))
    with _engine(scripted_model, codex_home, workspace) as codex:
        listed = codex.thread_list()
        assert [t.id for t in listed.data] == [thread_id]
        assert listed.data[0].preview == "a turn from another process" and listed.data[0].rollout_path == rollout
        codex.thread_resume(thread_id).run("again, by id")
        codex.thread(thread_id).close()
        codex.thread_resume(Path(rollout)).run("again, by path")
    by_id, by_path = (r.user_texts() for r in scripted_model.response_requests()[1:])
    assert by_id[-2:] == ["a turn from another process", "again, by id"]
    assert by_path[-3:] == ["a turn from another process", "again, by id", "again, by path"]


def test_a_fork_carries_the_parents_history_and_then_diverges(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("one"), text("two"), text("fork: three"), text("parent: three"), text("cut: three"))
    with _engine(scripted_model, codex_home, workspace) as codex:
        parent = codex.thread_start()
        first = parent.run("turn one")
        parent.run("turn two")
        fork = codex.thread_fork(parent.id)
        assert fork.id != parent.id
        fork.run("fork turn three")
        parent.run("parent turn three")
        cut = codex.thread_fork(parent.id, up_to_turn=first.id)
        cut.run("cut turn three")
        assert cut.info().forked_from_id == parent.id
    requests = [r.user_texts() for r in scripted_model.response_requests()]
    assert requests[2][-3:] == ["turn one", "turn two", "fork turn three"]
    assert requests[3][-3:] == ["turn one", "turn two", "parent turn three"]
    assert "fork turn three" not in requests[3]  # the parent never saw the fork's turn
    assert requests[4][-2:] == ["turn one", "cut turn three"] and "turn two" not in requests[4]


def test_names_archive_and_unarchive_go_through_codexs_store(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("a"), text("b"), text("c"))
    with _engine(scripted_model, codex_home, workspace) as codex:
        kept = codex.thread_start()
        kept.run("kept thread")
        gone = codex.thread_start()
        gone.run("archived thread")
        assert kept.set_name("  my thread  ").name == "my thread"
        with pytest.raises(codexrs.ConfigError, match="empty"):
            kept.set_name("   ")
        codex.thread_archive(gone.id)
        assert [t.id for t in codex.thread_list().data] == [kept.id]
        archived = codex.thread_list(archived=True).data
        assert [t.id for t in archived] == [gone.id] and archived[0].archived_at is not None
        with pytest.raises(codexrs.RolloutError, match="archived"):
            codex.thread_resume(gone.id)
        assert codex.thread_unarchive(gone.id).archived_at is None
        codex.thread_resume(gone.id).run("back again")
    with _engine(scripted_model, codex_home, workspace) as codex:  # a later process sees the name
        names = {t.id: t.name for t in codex.thread_list().data}
        assert names == {kept.id: "my thread", gone.id: None}
        assert codex.thread_list(cwd=workspace.parent).data == []
    assert scripted_model.response_requests()[2].user_texts()[-2:] == ["archived thread", "back again"]


def test_unknown_threads_and_bad_rollouts_raise_typed_errors(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, tmp_path: Path
) -> None:
    scripted_model.enqueue(text("x"))
    with _engine(scripted_model, codex_home, workspace) as codex:
        with pytest.raises(codexrs.ThreadNotFoundError):
            codex.thread_resume("01a20303-0000-7000-8000-000000000000")
        with pytest.raises(codexrs.ThreadNotFoundError):
            codex.thread_resume(tmp_path / "missing.jsonl")
        with pytest.raises(codexrs.ThreadNotFoundError):
            codex.thread_fork("not-a-thread-id")
        with pytest.raises(codexrs.ThreadNotFoundError):
            codex.thread_archive("01a20303-0000-7000-8000-000000000000")
        garbage = tmp_path / "garbage.jsonl"
        garbage.write_text("this is not a rollout\n")
        with pytest.raises(codexrs.RolloutError):
            codex.thread_resume(garbage)
        thread = codex.thread_start()
        thread.run("a real turn")
        rollout = thread.session.rollout_path if thread.session else None
        assert rollout
        thread.close()
        truncated = tmp_path / "truncated.jsonl"
        truncated.write_text(Path(rollout).read_text()[:40])
        with pytest.raises(codexrs.RolloutError):
            codex.thread_resume(truncated)
        with pytest.raises(codexrs.ConfigError, match="no turn"):
            codex.thread_fork(thread.id, up_to_turn="no-such-turn")


async def test_async_resume_fork_and_list(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    scripted_model.enqueue(text("first"), text("resumed"), text("forked"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start()
        await thread.run("async turn one")
        await thread.close()
        resumed = await codex.thread_resume(thread.id)
        await resumed.run("async turn two")
        fork = await codex.thread_fork(thread.id)
        await fork.run("async fork")
        await fork.set_name("async fork")
        page = await codex.thread_list()
        assert {t.id: t.name for t in page.data} == {thread.id: None, fork.id: "async fork"}
    texts = [r.user_texts() for r in scripted_model.response_requests()]
    assert texts[1][-2:] == ["async turn one", "async turn two"]
    assert texts[2][-3:] == ["async turn one", "async turn two", "async fork"]


def test_read_returns_the_stored_turns_with_typed_events(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("first answer"), http_error(400, "refused"))
    with _engine(scripted_model, codex_home, workspace) as codex:
        thread = codex.thread_start()
        first = thread.run("first question")
        handle = thread.turn("second question")
        assert handle.thread_id == thread.id
        second = handle.result()
        history = thread.read()
    assert second.status == "failed"
    assert history.thread.id == thread.id and history.thread.preview == "first question"
    assert [(t.id, t.status) for t in history.turns] == [(first.id, "completed"), (second.id, "failed")]
    assert history.turns[0].final_response == "first answer"
    # codexrs threads keep codex's legacy history: messages as events, not items.
    said = [e.message for t in history.turns for e in t.events if isinstance(e, codexrs.events.UserMessage)]
    assert said == ["first question", "second question"]
    assert not [e for e in history.events if isinstance(e, codexrs.events.GenericEvent)]


def test_resume_overrides_apply(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    scripted_model.enqueue(text("one"), text("two"))
    with _engine(scripted_model, codex_home, workspace) as codex:
        thread = codex.thread_start()
        thread.run("on the default model")
        thread.close()
        codex.thread_resume(thread.id, model="gpt-5.4").run("on another model")
    assert [r.body["model"] for r in scripted_model.response_requests()] == ["gpt-5.5", "gpt-5.4"]

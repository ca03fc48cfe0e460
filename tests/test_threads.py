"""Threads that outlive the process: resume, fork, list, archive, names (codex's thread store).

Each test checks the effect where it lands: what the model's next request carries, what the
store lists, what a later process finds.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import codexrs
from codexrs._core.options import ThreadArgs
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
        back = codex.thread_unarchive(gone.id)  # restored and loaded, as openai-codex does
        assert isinstance(back, codexrs.Thread) and back.id == gone.id
        assert back.info().archived_at is None
        assert codex.thread_resume(gone.id) is back
        back.run("back again")
    with _engine(scripted_model, codex_home, workspace) as codex:  # a later process sees the name
        names = {t.id: t.name for t in codex.thread_list().data}
        assert names == {kept.id: "my thread", gone.id: None}
        assert codex.thread_list(cwd=workspace.parent).data == []
    assert scripted_model.response_requests()[2].user_texts()[-2:] == ["archived thread", "back again"]


def test_thread_list_pages_with_a_checked_limit(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("a"), text("b"), text("c"))
    with _engine(scripted_model, codex_home, workspace) as codex:
        ids = set()
        for word in ("one", "two", "three"):
            thread = codex.thread_start()
            thread.run(word)
            ids.add(thread.id)
        first = codex.thread_list(limit=2)
        assert len(first.data) == 2 and first.next_cursor is not None
        rest = codex.thread_list(limit=2, cursor=first.next_cursor)
        assert len(rest.data) == 1 and {t.id for t in first.data + rest.data} == ids
        assert {t.id for t in codex.thread_list(limit=1000).data} == ids  # taken as 100
        for bad in (0, -5):
            with pytest.raises(codexrs.ConfigError, match=f"limit must be at least 1, not {bad}"):
                codex.thread_list(limit=bad)
        for wrong in (True, 2.0, "2"):
            with pytest.raises(TypeError, match="limit must be an int"):
                codex.thread_list(limit=wrong)  # type: ignore[arg-type]


def test_thread_list_in_a_cwd_pages_through_every_thread_there(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    # Threads started back to back share a creation second: codex's own cwd-filtered listing
    # would drop the rest of that second from the next page.
    elsewhere = workspace.parent / "elsewhere"
    elsewhere.mkdir()
    scripted_model.enqueue(*(text(f"reply {n}") for n in range(5)))
    with _engine(scripted_model, codex_home, workspace) as codex:
        here: list[str] = []
        for n, where in enumerate((workspace, elsewhere, workspace, elsewhere, workspace)):
            thread = codex.thread_start(cwd=where)
            thread.run(f"turn {n}")
            if where == workspace:
                here.insert(0, thread.id)  # newest first
        pages = [codex.thread_list(cwd=workspace, limit=2)]
        while pages[-1].next_cursor is not None:
            pages.append(codex.thread_list(cwd=workspace, limit=2, cursor=pages[-1].next_cursor))
        assert [len(p.data) for p in pages] == [2, 1]
        assert [t.id for p in pages for t in p.data] == here
        assert {t.cwd for p in pages for t in p.data} == {str(workspace)}
        assert len(codex.thread_list(cwd=elsewhere).data) == 2


def test_an_unknown_thread_option_is_a_type_error_naming_it(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    with _engine(scripted_model, codex_home, workspace) as codex:
        with pytest.raises(TypeError, match=r"^thread_start\(\) got an unexpected keyword argument 'modle'$"):
            codex.thread_start(modle="gpt-5.5")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"^thread_fork\(\) got an unexpected keyword argument 'up_to'$"):
            codex.thread_fork("any", up_to="t")  # type: ignore[call-arg]
        assert codex.thread_list().data == []  # nothing was started
        assert codex.start() is codex  # the twin of AsyncCodex.start: a Codex is started when made


def test_every_thread_option_has_its_field_and_default() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(ThreadArgs)}
    assert set(fields) == set(codexrs.ThreadOptions.__annotations__)
    assert fields["request_timeout"] == 300 and fields["max_queued_events"] == 4096


async def test_an_unknown_thread_option_is_a_type_error_on_async_codex_too(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        with pytest.raises(TypeError, match=r"^thread_resume\(\) got an unexpected keyword argument 'sandbox_mode'$"):
            await codex.thread_resume("any", sandbox_mode="read-only")  # type: ignore[call-arg]


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
        await codex.thread_archive(fork.id)
        assert [t.id for t in (await codex.thread_list()).data] == [thread.id]
        back = await codex.thread_unarchive(fork.id)
        assert isinstance(back, codexrs.AsyncThread) and back.id == fork.id
        assert (await back.info()).archived_at is None and codex.thread(fork.id) is back
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

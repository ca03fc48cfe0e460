"""Bad input gets a clear, typed exception (or a typed failed turn), fast, with no hang."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any, cast

import pytest

import codexrs
import codexrs.errors
from codexrs import events as ev
from codexrs.testing import ScriptedModel, ScriptedResponse, cut, exec_command, failed, garbage, http_error, text


def test_errors_share_one_base() -> None:
    # Both ways, so a new exception cannot be left out: every class codexrs.errors documents
    # derives from CodexError, and every CodexError codexrs defines is documented there.
    documented = {getattr(codexrs.errors, name) for name in codexrs.errors.__all__}
    documented = {cls for cls in documented if isinstance(cls, type)}

    def descendants(cls: type) -> set[type]:
        found: set[type] = set()
        direct: type
        for direct in cls.__subclasses__():
            found |= {direct, *descendants(direct)}
        return found

    assert len(documented) > 10  # the list is read from the module, not empty by mistake
    for cls in documented:
        assert issubclass(cls, codexrs.CodexError), cls
    ours = {cls for cls in descendants(codexrs.CodexError) if cls.__module__.split(".")[0] == "codexrs"}
    assert ours == documented - {codexrs.CodexError}


def test_bad_config_value_raises_config_error(codex_home: Path, scripted_model: ScriptedModel) -> None:
    config = {**scripted_model.config(), "model_context_window": "big"}
    with pytest.raises(codexrs.ConfigError, match="model_context_window"):
        codexrs.Codex(codex_home=codex_home, config=config)
    with pytest.raises(codexrs.ConfigError, match="unknown variant `sometimes`"):
        codexrs.Codex(codex_home=codex_home, config={"approval_policy": "sometimes"})


def test_none_config_value_raises_config_error(codex_home: Path) -> None:
    with pytest.raises(codexrs.ConfigError, match="None"):
        codexrs.Codex(codex_home=codex_home, config={"model": None})


def test_bad_policy_names_raise_config_error_naming_the_accepted_ones(codex: codexrs.Codex) -> None:
    with pytest.raises(codexrs.ConfigError, match="approval policy 'sometimes': expected one of 'untrusted', 'on-request'"):
        codex.thread_start(approval_policy=cast(Any, "sometimes"))
    with pytest.raises(codexrs.ConfigError, match="sandbox 'none': expected one of 'read-only'"):
        codex.thread_start(sandbox=cast(Any, "none"))


def test_wrong_types_raise_type_error(codex: codexrs.Codex) -> None:
    with pytest.raises(TypeError, match="approval policy must be a str"):
        codex.thread_start(approval_policy=cast(Any, 3))
    with pytest.raises(TypeError, match="sandbox must be a str"):
        codex.thread_start(sandbox=cast(Any, ["read-only"]))
    with pytest.raises(TypeError):
        codex.thread_start(cast(Any, "/tmp"))  # type: ignore[call-arg]  # every parameter is keyword-only


def test_openai_codex_full_access_spelling_runs_unsandboxed(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    # Outside the workspace and outside /tmp (which workspace-write leaves writable).
    outside = Path.home() / f".codexrs-full-access-{uuid.uuid4().hex}"
    scripted_model.enqueue(exec_command(f"echo hi > {outside}"), text("wrote it"))
    try:
        thread = codex.thread_start(approval_policy="never", sandbox="full-access")
        assert thread.session is not None
        thread.run("write outside")
        assert outside.read_text() == "hi\n"
    finally:
        outside.unlink(missing_ok=True)


def test_a_wrong_typed_approval_decision_raises_type_error_and_denies(
    codex: codexrs.Codex, scripted_model: ScriptedModel, workspace: Path
) -> None:
    scripted_model.enqueue(exec_command("touch made-by-approved-command"), text("done"))
    thread = codex.thread_start(approval_policy="untrusted", sandbox="workspace-write", on_approval=lambda r: cast(Any, 1.5))
    with pytest.raises(TypeError, match="on_approval returned a float"):
        thread.run("make a file")
    assert not (workspace / "made-by-approved-command").exists()


def test_unknown_model_provider_raises_config_error(codex_home: Path) -> None:
    with pytest.raises(codexrs.ConfigError, match="no-such-provider"):
        codexrs.Codex(codex_home=codex_home, config={"model_provider": "no-such-provider"})


def test_unknown_thread_raises(codex: codexrs.Codex) -> None:
    with pytest.raises(codexrs.ThreadNotFoundError):
        codex.thread("00000000-0000-0000-0000-000000000000")


def test_closed_engine_raises(codex: codexrs.Codex) -> None:
    codex.close()
    with pytest.raises(codexrs.EngineClosedError):
        codex.thread_start()


def test_second_turn_while_one_runs_raises(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("one"), text("two"))
    thread = codex.thread_start()
    first = thread.turn("first")
    with pytest.raises(codexrs.TurnInProgressError):
        thread.turn("second")
    assert first.result().final_response == "one"
    assert thread.run("second").final_response == "two"


def _failed_turn(codex: codexrs.Codex) -> codexrs.TurnFailedError:
    thread = codex.thread_start()
    with pytest.raises(codexrs.TurnFailedError) as info:
        thread.run("hello")
    return info.value


def test_model_server_down(codex_home: Path, workspace: Path) -> None:
    model = ScriptedModel()
    config = model.config()
    model.stop()  # nothing listens on its port any more
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        error = _failed_turn(codex)
    assert isinstance(error, codexrs.ModelError)
    assert error.result.status == "failed"
    assert error.result.error is not None


def test_a_stopped_scripted_model_refuses_to_start_again() -> None:
    model = ScriptedModel()
    model.stop()  # its socket is closed: nothing can serve it any more
    with pytest.raises(RuntimeError, match="could not serve"):
        model.start()  # raises, rather than waiting forever for a loop that died
    model.stop()


def test_http_500_fails_the_turn_as_retryable(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(http_error(500, "boom"))
    error = _failed_turn(codex)
    assert error.retryable
    assert error.result.error is not None


def test_http_400_is_not_retryable(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(http_error(400, "bad request"))
    error = _failed_turn(codex)
    assert not error.retryable


@pytest.mark.parametrize(
    "response",
    [pytest.param(garbage(), id="garbage"), pytest.param(failed(), id="response.failed"), pytest.param(cut(text("partial answer", deltas=["partial ", "answer"]), 3), id="cut")],
)
def test_malformed_streams_fail_the_turn(
    codex: codexrs.Codex, scripted_model: ScriptedModel, response: ScriptedResponse
) -> None:
    scripted_model.enqueue(response)
    thread = codex.thread_start()
    turn = thread.turn("hello")
    seen = list(turn.stream())
    result = turn.result()
    assert result.status == "failed"
    assert any(isinstance(e, ev.ErrorEvent) for e in seen) or result.error is not None


def test_turn_handle_run_raises_like_thread_run_and_result_does_not(
    codex: codexrs.Codex, scripted_model: ScriptedModel
) -> None:
    scripted_model.enqueue(http_error(400, "bad request"), http_error(400, "again"))
    thread = codex.thread_start()
    with pytest.raises(codexrs.TurnFailedError) as info:
        thread.turn("a").run()
    assert info.value.result.status == "failed" and info.value.result.error is not None
    assert "bad request" in str(info.value)
    assert thread.turn("b").result().status == "failed"  # result() reports, never raises


async def test_async_turn_handle_run_raises(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    scripted_model.enqueue(http_error(400, "bad request"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = await codex.thread_start()
        with pytest.raises(codexrs.TurnFailedError):
            await (await thread.turn("a")).run()


def test_thread_survives_a_failed_turn(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(http_error(500), text("recovered"))
    thread = codex.thread_start()
    assert thread.turn("a").result().status == "failed"
    assert thread.run("b").final_response == "recovered"


def test_exit_mid_stream_is_clean(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    """A process that exits while a turn streams exits cleanly: no panic, no hang."""
    script = textwrap.dedent(
        f"""
        import sys, codexrs
        from codexrs import events as ev
        codex = codexrs.Codex(codex_home={str(codex_home)!r}, cwd={str(workspace)!r}, config={scripted_model.config()!r})
        turn = codex.thread_start().turn("stream")
        for e in turn.stream():
            if isinstance(e, ev.AgentMessageContentDelta):
                print("got a delta", flush=True)
                sys.exit(0)
        """
    )
    deltas = [f"d{i} " for i in range(300)]
    scripted_model.enqueue(text("".join(deltas), deltas=deltas).delayed(0.0, between_events=0.01))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "got a delta" in proc.stdout
    assert "panicked" not in proc.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_a_clear_error(codex: codexrs.Codex, codex_home: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        pid = os.fork()
    if pid == 0:  # child: the parent's runtime must be refused, not hang
        code = 3
        try:
            codexrs.Codex(codex_home=codex_home)
        except codexrs.EngineClosedError as exc:
            code = 0 if "fork" in str(exc) else 4
        except BaseException:
            code = 5
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_closed_thread_refuses_turns(codex: codexrs.Codex) -> None:
    thread = codex.thread_start()
    thread.close()
    with pytest.raises(codexrs.EngineClosedError):
        thread.turn("anyone there?")


def test_run_retries_a_retryable_failure(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(http_error(500, "a server error"), text("recovered"))
    result = codex.thread_start().run("try twice", retries=2)
    assert result.final_response == "recovered"
    assert len(scripted_model.response_requests()) == 2


def test_run_gives_up_after_its_retries_and_says_how_many_attempts(
    codex: codexrs.Codex, scripted_model: ScriptedModel
) -> None:
    scripted_model.enqueue(http_error(500, "one"), http_error(500, "two"), http_error(500, "three"))
    with pytest.raises(codexrs.TurnFailedError, match="after 3 attempts") as info:
        codex.thread_start().run("keep failing", retries=2)
    assert info.value.attempts == 3 and info.value.retryable
    assert len(scripted_model.response_requests()) == 3


def test_run_never_retries_a_non_retryable_failure(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(http_error(400, "bad request"), text("never reached"))
    with pytest.raises(codexrs.TurnFailedError) as info:
        codex.thread_start().run("bad", retries=5)
    assert info.value.attempts == 1 and not info.value.retryable
    assert len(scripted_model.response_requests()) == 1
    with pytest.raises(TypeError, match="retries"):
        codex.thread_start().run("x", retries=-1)


def test_a_429_is_a_rate_limit_error_that_carries_its_status(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(http_error(429, "slow down"))
    with pytest.raises(codexrs.RateLimitError) as info:
        codex.thread_start().run("too fast", retries=2)
    assert isinstance(info.value, codexrs.TurnFailedError)  # what callers of Thread.run catch
    assert info.value.status_code == 429 and not info.value.retryable  # waits for a reset, not a loop
    assert len(scripted_model.response_requests()) == 1

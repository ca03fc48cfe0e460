"""Durations: every timeout takes ``None`` (no limit) or a finite number ``>= 0``, and ``inf`` is
``None``; NaN, negatives and non-numbers raise ``ConfigError`` / ``TypeError`` naming the
parameter, in Python, before anything reaches the native layer; and the native layer itself
takes any float without a panic (``InternalError``)."""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import pytest

import codexrs
from codexrs import _native
from codexrs import events as ev
from codexrs.testing import ScriptedModel, exec_command, text

INF, NAN = math.inf, math.nan
Call = Callable[[Any], Any]


@dataclass
class Env:
    home: Path
    workspace: Path
    config: dict[str, Any]

    def codex(self) -> codexrs.Codex:
        return codexrs.Codex(codex_home=self.home, cwd=self.workspace, config=self.config)

    def async_codex(self) -> codexrs.AsyncCodex:
        return codexrs.AsyncCodex(codex_home=self.home, cwd=self.workspace, config=self.config)

    def manager(self, **options: Any) -> codexrs.AsyncManager:
        return codexrs.AsyncManager(self.home, self.workspace, self.config, **options)

    def sync_manager(self, **options: Any) -> codexrs.Manager:
        return codexrs.Manager(self.home, self.workspace, self.config, **options)


@pytest.fixture
def env(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> Env:
    return Env(codex_home, workspace, scripted_model.config())


# -- every public duration parameter, opened as a call taking the value -----------------------
Opener = Callable[[Env], contextlib.AbstractAsyncContextManager[Call]]


@contextlib.asynccontextmanager
async def _codex_call(env: Env, method: str, param: str, *args: Any) -> AsyncIterator[Call]:
    with env.codex() as codex:
        yield lambda value: getattr(codex, method)(*args, **{param: value})


@contextlib.asynccontextmanager
async def _async_codex_call(env: Env, method: str, param: str) -> AsyncIterator[Call]:
    async with env.async_codex() as codex:
        yield lambda value: getattr(codex, method)(**{param: value})


@contextlib.asynccontextmanager
async def _manager_call(env: Env, method: str, *args: Any) -> AsyncIterator[Call]:
    async with env.manager() as manager:
        yield lambda value: getattr(manager, method)(*args, timeout=value)


@contextlib.asynccontextmanager
async def _sync_manager_call(env: Env, method: str, *args: Any) -> AsyncIterator[Call]:
    with env.sync_manager() as manager:
        yield lambda value: getattr(manager, method)(*args, timeout=value)


@contextlib.asynccontextmanager
async def _plain(call: Call) -> AsyncIterator[Call]:
    yield call


def _source() -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Param:
    """A public duration parameter: ``kind`` is ``"timeout"`` (``>= 0``, ``inf``/``None``: no
    limit), ``"positive"`` (a timeout that must be ``> 0``) or ``"period"`` (a duration that is
    not a limit, as a poll period: finite and ``> 0``; ``None`` is not one)."""

    id: str
    name: str
    kind: str
    open: Opener


PARAMS = [
    Param("Codex.close", "timeout", "timeout", lambda e: _codex_call(e, "close", "timeout")),
    Param("Codex.thread_start", "request_timeout", "positive", lambda e: _codex_call(e, "thread_start", "request_timeout")),
    Param("Codex.thread_resume", "request_timeout", "positive", lambda e: _codex_call(e, "thread_resume", "request_timeout", "no-such-thread")),
    Param("Codex.thread_fork", "request_timeout", "positive", lambda e: _codex_call(e, "thread_fork", "request_timeout", "no-such-thread")),
    Param("Codex.set_rate_limit_source", "refresh_s", "period", lambda e: _codex_call(e, "set_rate_limit_source", "refresh_s", "quota", _source)),
    Param("AsyncCodex.close", "timeout", "timeout", lambda e: _async_codex_call(e, "close", "timeout")),
    Param("AsyncCodex.thread_start", "request_timeout", "positive", lambda e: _async_codex_call(e, "thread_start", "request_timeout")),
    Param("AsyncManager", "idle_timeout", "positive", lambda e: _plain(lambda v: e.manager(idle_timeout=v))),
    Param("AsyncManager", "rate_limit_backoff", "period", lambda e: _plain(lambda v: e.manager(rate_limit_backoff=v))),
    Param("AsyncManager.close", "timeout", "timeout", lambda e: _manager_call(e, "close")),
    Param("AsyncManager.wait", "timeout", "timeout", lambda e: _manager_call(e, "wait", "no-such-thread")),
    Param("AsyncManager.wait_all", "timeout", "timeout", lambda e: _manager_call(e, "wait_all", None)),
    Param("AsyncManager.wait_any", "timeout", "timeout", lambda e: _manager_call(e, "wait_any", None)),
    Param("Manager", "idle_timeout", "positive", lambda e: _plain(lambda v: e.sync_manager(idle_timeout=v).close())),
    Param("Manager.close", "timeout", "timeout", lambda e: _sync_manager_call(e, "close")),
    Param("Manager.wait", "timeout", "timeout", lambda e: _sync_manager_call(e, "wait", "no-such-thread")),
    Param("Manager.wait_all", "timeout", "timeout", lambda e: _sync_manager_call(e, "wait_all", None)),
    Param("Manager.wait_any", "timeout", "timeout", lambda e: _sync_manager_call(e, "wait_any", None)),
    Param("logs.flush", "timeout", "timeout", lambda e: _plain(lambda v: codexrs.logs.flush(v))),
]

#: Refused by every duration parameter, with the error each raises.
BAD: list[tuple[object, type[Exception]]] = [
    (NAN, codexrs.ConfigError),
    (-1, codexrs.ConfigError),
    (-0.001, codexrs.ConfigError),
    (-INF, codexrs.ConfigError),
    ("x", TypeError),
    ("10", TypeError),
    (True, TypeError),
    ([1.0], TypeError),
]
#: Refused too by the ``positive`` ones (and ``inf``, ``None`` by a ``period``).
BAD_MORE: dict[str, list[tuple[object, type[Exception]]]] = {
    "timeout": [],
    "positive": [(0, codexrs.ConfigError), (0.0, codexrs.ConfigError)],
    "period": [(0, codexrs.ConfigError), (INF, codexrs.ConfigError), (None, TypeError)],
}


async def _called(call: Call, value: object) -> None:
    outcome = call(value)
    if inspect.isawaitable(outcome):
        await outcome


@pytest.mark.parametrize("param", PARAMS, ids=[f"{p.id}({p.name})" for p in PARAMS])
async def test_a_bad_duration_is_refused_naming_the_parameter(param: Param, env: Env) -> None:
    async with param.open(env) as call:
        for value, error in BAD + BAD_MORE[param.kind]:
            with pytest.raises(error, match=param.name) as info:
                await _called(call, value)
            assert type(info.value) is error, (value, info.value)  # not a subclass: never InternalError
            assert repr(value) in str(info.value) or type(value).__name__ in str(info.value)


# -- what the accepted values do ---------------------------------------------------------------
def test_close_with_an_infinite_timeout_closes(env: Env, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("before closing"))
    codex = env.codex()
    assert codex.thread_start().run("hi").final_response == "before closing"
    codex.close(timeout=INF)  # was InternalError: a panic of Duration::from_secs_f64
    with pytest.raises(codexrs.EngineClosedError):
        codex.thread_start()
    codex.close(timeout=None)  # idempotent


async def test_async_close_with_no_limit_closes(env: Env, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("async, before closing"))
    codex = await env.async_codex().start()
    assert (await (await codex.thread_start()).run("hi")).final_response == "async, before closing"
    await codex.close(timeout=None)
    with pytest.raises(codexrs.EngineClosedError):
        await codex.thread_start()
    await codex.close(timeout=INF)


async def test_manager_waits_take_none_inf_and_zero(env: Env, scripted_model: ScriptedModel) -> None:
    scripted_model.route("<one>", text("one done"))
    scripted_model.route("<two>", text("two done"))
    async with env.manager(idle_timeout=INF) as manager:
        for name in ("one", "two"):
            await manager.create(name)
            await manager.send(name, f"<{name}>")
        assert (await manager.wait("one", timeout=INF)).final_response == "one done"
        assert (await manager.wait("one", timeout=0)).final_response == "one done"  # ended: no wait
        results = await manager.wait_all(timeout=None)
        assert {n: r.final_response for n, r in results.items()} == {"one": "one done", "two": "two done"}
        name, result = await manager.wait_any(["two"], timeout=INF)
        assert (name, result.final_response) == ("two", "two done")
        assert manager.get("one").loaded  # idle_timeout=inf: nothing is unloaded
        await manager.close(timeout=INF)
    with pytest.raises(codexrs.EngineClosedError):
        await manager.create("three")


def test_sync_manager_takes_no_limit(env: Env, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("sync done"))
    manager = env.sync_manager(idle_timeout=None)
    manager.create("one")
    manager.send("one", "hi")
    assert manager.wait("one", timeout=INF).final_response == "sync done"
    manager.close(timeout=INF)
    manager.close(timeout=None)


def test_an_infinite_request_timeout_never_denies(env: Env, scripted_model: ScriptedModel, workspace: Path) -> None:
    scripted_model.enqueue(exec_command("touch made-after-approval"), text("made it"))
    with env.codex() as codex:
        thread = codex.thread_start(
            approval_policy="untrusted", sandbox="workspace-write", on_request=lambda r: codexrs.DEFER, request_timeout=INF
        )
        turn = thread.turn("make a file")
        answered, seen = [], []
        for event in turn.stream():
            seen.append(event)
            if isinstance(event, ev.ExecApprovalRequest):
                answered.append(thread.respond(event, True))  # still pending: never timed out
        assert answered == [True]
        assert turn.result().final_response == "made it"
    assert not [e for e in seen if isinstance(e, ev.RequestTimedOut)]
    assert (workspace / "made-after-approval").exists()


@contextlib.contextmanager
def _rust_records() -> Iterator[None]:
    """Rust emits warning records until the block ends (a wait with no limit ends at the first)."""
    stop = threading.Event()

    def emit() -> None:
        while not stop.is_set():
            _native.emit_test_log(2, "a record for a wait with no limit")
            stop.wait(0.05)

    emitter = threading.Thread(target=emit, daemon=True)
    emitter.start()
    try:
        yield
    finally:
        stop.set()
        emitter.join()


def test_flush_with_no_limit_returns_at_the_first_record(caplog: pytest.LogCaptureFixture) -> None:
    codexrs.logs.install()
    for timeout in (None, INF):
        caplog.clear()
        with _rust_records():
            codexrs.logs.flush(timeout)
        assert "a record for a wait with no limit" in caplog.messages
    codexrs.logs.flush(0)


# -- the native layer: any float, no panic --------------------------------------------------------
NATIVE_VALUES = [INF, NAN, -1.0, -INF, 1e300, 0.0]


def test_native_close_and_next_batch_take_any_float(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(*[text(f"answer {i}") for i in range(len(NATIVE_VALUES))])
    native = codex.thread_start()._core.native
    items = json.dumps([{"type": "text", "text": "hi", "text_elements": []}])
    while native.try_next_batch() is not None:  # nothing queued: next_batch must wait
        pass
    for i, value in enumerate(NATIVE_VALUES):
        got: list[object] = []
        waiting = threading.Event()

        def read(value: float = value) -> None:
            waiting.set()
            got.append(_outcome(lambda: native.next_batch(value)))

        reader = threading.Thread(target=read)
        reader.start()
        waiting.wait()
        native.submit_input(items).wait()  # events come: a wait with no limit ends
        reader.join()
        assert isinstance(got[0], bytes) or (got[0] is None and not value > 0), (value, got)
        seen = got[0] if isinstance(got[0], bytes) else b""
        while b"task_complete" not in seen:  # read the turn to its end: nothing left queued
            seen += native.next_batch(None) or b""
        assert f"answer {i}".encode() in seen
    engine = codex._ops.native
    for timeout in [*NATIVE_VALUES, None]:
        assert engine.close(timeout).wait() is None


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as exc:  # reported as the outcome, asserted by the caller
        return exc


def test_native_thread_start_refuses_a_bad_request_timeout_typed(codex: codexrs.Codex) -> None:
    engine = codex._ops.native
    for value in (NAN, -1.0, 0.0, -INF):
        with pytest.raises(codexrs.ConfigError, match="request_timeout"):
            engine.thread_start(request_timeout=value).wait()
    for value in (INF, 1e300):  # no limit
        handle = engine.thread_start(request_timeout=value).wait()
        assert isinstance(handle, _native.ThreadHandle)


def test_native_drain_logs_takes_any_float() -> None:
    codexrs.logs.install()
    for value in [*NATIVE_VALUES, None]:
        with codexrs.logs._lock, _rust_records():  # the bridge's drainer waits meanwhile
            rows, _ = _native.drain_logs(value)
        assert rows or (value is not None and not value > 0), value  # a limit of 0 may find nothing


@pytest.mark.parametrize("value", ["inf", "nan", "-1.0", "1e300", "0.0"])
def test_native_shutdown_runtime_takes_any_float(value: str, codex_home: Path) -> None:
    script = (
        "import codexrs, sys\n"
        f"codex = codexrs.Codex(codex_home={str(codex_home)!r})\n"
        "codex.close(timeout=5)\n"
        f"print(codexrs._native.shutdown_runtime(float({value!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "True\n", "")

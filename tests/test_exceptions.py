"""Every public exception is an ordinary Python exception: named by the module it is documented
under (``codexrs.errors``), it pickles and unpickles to the same type with the same message and
attributes, so it crosses processes (multiprocessing, concurrent.futures, logging queues, Ray)
and is caught typed on the other side."""

from __future__ import annotations

import copy
import logging
import pickle
import subprocess
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

import codexrs
import codexrs.errors
from codexrs.testing import ScriptedModel, http_error, text, usage_limit

#: Every exception class codexrs.errors documents (``RETRYABLE_ERRORS`` is a set, not a class).
CLASSES = [name for name in codexrs.errors.__all__ if isinstance(getattr(codexrs.errors, name), type)]


class Answer(msgspec.Struct):
    city: str
    population: int


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BaseException]:
    """One instance of each class. Those a real failure raises come from one: turns against the
    scripted model (two HTTP 500s, a usage limit, an answer that does not match its schema, a
    plain HTTP 429) and two errors raised in Rust; the others are made with a message."""
    home, workspace = tmp_path_factory.mktemp("codex-home"), tmp_path_factory.mktemp("workspace")
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    out: dict[str, BaseException] = {}
    with ScriptedModel() as model, codexrs.Codex(codex_home=home, cwd=workspace, config=model.config()) as codex:
        resets = int(time.time()) + 2 * 3600
        model.enqueue(http_error(500, "boom"), http_error(500, "boom again"), usage_limit(resets), text('{"city": "Lyon"}'), http_error(429, "slow down"))
        thread = codex.thread_start()
        with pytest.raises(codexrs.TurnFailedError) as failed:
            thread.run("fail twice", retries=1)
        with pytest.raises(codexrs.RateLimitError) as limited:
            thread.run("hit the limit")
        with pytest.raises(codexrs.OutputValidationError) as invalid:
            thread.run("a city?", output_schema=Answer)
        with pytest.raises(codexrs.RateLimitError) as too_fast:
            thread.run("too fast")
        out["RateLimitError(429)"] = too_fast.value
        with pytest.raises(codexrs.ThreadNotFoundError) as not_found:
            codex.thread_resume("00000000-0000-4000-8000-000000000000")
        with pytest.raises(codexrs.ConfigError) as config:
            codexrs.Codex(codex_home=home, config={"approval_policy": "sometimes"})
        for info in (failed, limited, invalid, not_found, config):
            out[type(info.value).__name__] = info.value
    for name in CLASSES:
        if name not in out:
            out[name] = getattr(codexrs.errors, name)(f"a {name} for the test")
    return out


def _same(back: BaseException, original: BaseException) -> None:
    assert type(back) is type(original)
    assert back.args == original.args and str(back) == str(original)
    assert vars(back) == vars(original)


def test_every_exception_codexrs_exports_is_documented_in_codexrs_errors() -> None:
    exported = {name for name in codexrs.__all__ if isinstance(getattr(codexrs, name), type) and issubclass(getattr(codexrs, name), BaseException)}
    assert exported == set(CLASSES)
    for name in CLASSES:
        assert getattr(codexrs, name) is getattr(codexrs.errors, name)


@pytest.mark.parametrize("name", CLASSES)
def test_each_exception_pickles_to_the_same_type_message_and_attributes(name: str, raised: dict[str, BaseException]) -> None:
    cls = getattr(codexrs.errors, name)
    assert cls.__module__ == "codexrs.errors" and cls.__qualname__ == name
    assert issubclass(cls, codexrs.CodexError)
    original = raised[name]
    assert type(original) is cls
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        _same(pickle.loads(pickle.dumps(original, protocol)), original)
    _same(copy.deepcopy(original), original)


def test_unpickled_errors_keep_the_turn_and_its_facts(raised: dict[str, BaseException]) -> None:
    failed = raised["TurnFailedError"]
    assert isinstance(failed, codexrs.TurnFailedError) and type(failed) is codexrs.TurnFailedError
    back = pickle.loads(pickle.dumps(failed))
    assert str(back).endswith("(after 2 attempts)") and back.attempts == 2
    assert (back.kind, back.status_code, back.retryable) == ("internal_server_error", failed.status_code, True)
    assert back.result == failed.result and back.result.status == "failed"
    assert back.result.error is not None and back.result.error.message in str(back)

    limited = raised["RateLimitError"]
    assert isinstance(limited, codexrs.RateLimitError)
    again = pickle.loads(pickle.dumps(limited))
    assert isinstance(again, codexrs.RateLimitError)
    assert (again.kind, again.retryable, again.resets_at_source) == ("usage_limit_exceeded", False, "message")
    # read from codex's message in local time when raised; carried as it was, not re-read
    assert again.resets_at == limited.resets_at and again.resets_at is not None
    assert again.result == limited.result
    plain = pickle.loads(pickle.dumps(raised["RateLimitError(429)"]))
    assert isinstance(plain, codexrs.RateLimitError) and str(plain) == "exceeded retry limit, last status: 429 Too Many Requests"
    assert (plain.status_code, plain.resets_at, plain.retryable) == (429, None, False)

    invalid = pickle.loads(pickle.dumps(raised["OutputValidationError"]))
    assert isinstance(invalid, codexrs.OutputValidationError) and invalid.raw == '{"city": "Lyon"}'


@pytest.mark.timeout(600)
def test_each_exception_raised_in_a_ray_task_is_caught_typed_in_the_driver(raised: dict[str, BaseException]) -> None:
    import ray

    def raise_it(exc: BaseException) -> None:
        raise exc

    ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.WARNING)
    try:
        task: Any = ray.remote(max_retries=0)(raise_it)
        for name in CLASSES:
            cls, original = getattr(codexrs.errors, name), raised[name]
            with pytest.raises(cls) as info:
                ray.get(task.remote(original))
            assert isinstance(info.value, ray.exceptions.RayTaskError)  # Ray's subclass of both
            _same(info.value.cause, original)
    finally:
        ray.shutdown()


def test_a_native_error_crosses_a_spawned_process(tmp_path: Path) -> None:
    """Raised in Rust in a child process (``spawn``: a fresh interpreter, as Ray's workers are),
    pickled back by ``concurrent.futures`` and caught typed."""
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(_bad_codex, str(tmp_path / "home"))
        with pytest.raises(codexrs.ConfigError, match="unknown variant `sometimes`") as info:
            future.result(timeout=120)
    assert type(info.value) is codexrs.ConfigError


def _bad_codex(home: str) -> None:
    Path(home).mkdir()
    codexrs.Codex(codex_home=home, config={"approval_policy": "sometimes"})

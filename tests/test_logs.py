"""codex-core's ``tracing`` records in Python ``logging``: under ``codexrs.core.<crate>``, with the
thread's id, filtered in Rust by the loggers' levels and directives, no secret in any record,
and a full queue counted and reported, never silent."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import pytest

import codexrs
from codexrs import _native
from codexrs.testing import ScriptedModel, exec_command, text

API_KEY = "sk-codexrs-test-SECRETKEY-0123456789abcdef"
BEARER = "codexrs-bearer-SECRETTOKEN-9876543210"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Capture]:
    """Every record of the ``codexrs`` loggers at DEBUG and above; levels restored after."""
    codexrs.logs.flush()  # hand over what earlier tests left
    handler, logger = Capture(), logging.getLogger("codexrs")
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    codexrs.logs.flush()  # Rust now filters at DEBUG
    handler.records.clear()
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
        codexrs.logs.set_filter(None)
        codexrs.logs.flush()


def _texts(record: logging.LogRecord) -> list[str]:
    fields = getattr(record, "rust_fields", {})
    return [record.getMessage(), str(getattr(record, "thread_id", "")), str(getattr(record, "turn_id", "")),
            *fields.keys(), *fields.values()]  # fmt: skip


def test_codex_core_records_arrive_with_thread_ids_and_no_secret(
    scripted_model: ScriptedModel, tmp_path: Path, workspace: Path, captured: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEXRS_TEST_API_KEY", API_KEY)
    providers = {
        "key": {"model_providers.scripted.env_key": "CODEXRS_TEST_API_KEY"},
        "bearer": {"model_providers.scripted.experimental_bearer_token": BEARER},
    }
    thread_ids = []
    for name, auth in providers.items():
        scripted_model.route(f"<logs-{name}>", exec_command("echo hi"), text("done"))
        config = {**scripted_model.config(), **auth}
        with codexrs.Codex(codex_home=tmp_path / f"home-{name}", cwd=workspace, config=config) as codex:
            thread = codex.thread_start(approval_policy="never", sandbox="danger-full-access")
            assert thread.run(f"<logs-{name}>").status == "completed"
            thread_ids.append(thread.id)
    # The secrets were in play: codex sent them to the model server.
    sent = [r.headers.get("Authorization", r.headers.get("authorization", "")) for r in scripted_model.response_requests()]
    assert f"Bearer {API_KEY}" in sent and f"Bearer {BEARER}" in sent
    codexrs.logs.flush()

    core = [r for r in captured.records if r.name.startswith("codexrs.core.")]
    assert core, "no codex-core record arrived"
    assert any(r.name == "codexrs.core.codex_core" for r in core)
    assert any(r.levelno == logging.DEBUG for r in core)
    with_thread = {r.thread_id for r in captured.records if getattr(r, "thread_id", None)}  # type: ignore[attr-defined]
    assert set(thread_ids) <= with_thread  # both threads' records carry their ids
    assert all(hasattr(r, "rust_target") and hasattr(r, "turn_id") for r in core)
    leaks = [r for r in captured.records for t in _texts(r) if "SECRETKEY" in t or "SECRETTOKEN" in t]
    assert leaks == [], [r.getMessage()[:300] for r in leaks]


def test_levels_and_directives_filter_in_rust(captured: Capture) -> None:
    _native.emit_test_log(5, "a trace record", 100)  # below DEBUG: filtered before it is made
    _native.emit_test_log(4, "a debug record")
    codexrs.logs.flush()
    assert [r.getMessage() for r in captured.records] == ["a debug record"]
    record = captured.records[0]
    assert record.name == "codexrs" and record.levelno == logging.DEBUG and record.rust_target == "codexrs::test"  # type: ignore[attr-defined]

    logging.getLogger("codexrs").setLevel(codexrs.logs.TRACE)
    codexrs.logs.flush()  # levels re-read
    _native.emit_test_log(5, "now a trace record")
    codexrs.logs.set_filter("codexrs::test=warn")  # finer: this target only from WARN
    _native.emit_test_log(3, "an info record")
    _native.emit_test_log(2, "a warning")
    codexrs.logs.flush()
    assert [r.getMessage() for r in captured.records][1:] == ["now a trace record", "a warning"]
    assert captured.records[1].levelname == "TRACE"
    with pytest.raises(ValueError, match="bad log directives"):
        codexrs.logs.set_filter("codexrs::test=loud")


def test_a_full_queue_is_counted_and_reported(captured: Capture) -> None:
    capacity = codexrs.logs.QUEUE_CAPACITY
    with codexrs.logs._lock:  # the drain thread waits: nothing leaves the queue meanwhile
        _native.emit_test_log(2, "flood", capacity + 2500)
    codexrs.logs.flush()
    floods = [r for r in captured.records if r.getMessage() == "flood"]
    dropped = [r for r in captured.records if "were dropped" in r.getMessage()]
    assert len(floods) == capacity
    assert [r.getMessage() for r in dropped] == [f"2500 log records from Rust were dropped: the queue ({capacity} records) was full"]
    assert dropped[0].levelno == logging.WARNING


def test_nothing_is_printed_when_logging_is_not_configured(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = "import codexrs, time; codexrs.logs.install(); codexrs._native.emit_test_log(1, 'an error'); codexrs.logs.flush()"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert done.returncode == 0 and done.stderr == "" and done.stdout == ""
    configured = script.replace("import codexrs,", "import logging; logging.basicConfig(); import codexrs,")
    done = subprocess.run([sys.executable, "-c", configured], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "ERROR:codexrs:an error" in done.stderr

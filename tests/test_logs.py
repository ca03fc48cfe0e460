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

from conftest import Records

API_KEY = "sk-codexrs-test-SECRETKEY-0123456789abcdef"
BEARER = "codexrs-bearer-SECRETTOKEN-9876543210"


def test_codex_core_records_arrive_with_thread_ids_and_no_secret(
    scripted_model: ScriptedModel, tmp_path: Path, workspace: Path, debug_records: Records, monkeypatch: pytest.MonkeyPatch
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

    core = [r for r in debug_records.records if r.name.startswith("codexrs.core.")]
    assert core, "no codex-core record arrived"
    assert any(r.name == "codexrs.core.codex_core" for r in core)
    assert any(r.levelno == logging.DEBUG for r in core)
    with_thread = {r.thread_id for r in debug_records.records if getattr(r, "thread_id", None)}  # type: ignore[attr-defined]
    assert set(thread_ids) <= with_thread  # both threads' records carry their ids
    assert all(hasattr(r, "rust_target") and hasattr(r, "turn_id") for r in core)
    leaks = [t for t in debug_records.texts() if "SECRETKEY" in t or "SECRETTOKEN" in t]
    assert leaks == [], [t[:300] for t in leaks]


def test_levels_and_directives_filter_in_rust(debug_records: Records) -> None:
    _native.emit_test_log(5, "a trace record", 100)  # below DEBUG: filtered before it is made
    _native.emit_test_log(4, "a debug record")
    codexrs.logs.flush()
    assert [r.getMessage() for r in debug_records.records] == ["a debug record"]
    record = debug_records.records[0]
    assert record.name == "codexrs" and record.levelno == logging.DEBUG and record.rust_target == "codexrs::test"  # type: ignore[attr-defined]

    logging.getLogger("codexrs").setLevel(codexrs.logs.TRACE)
    codexrs.logs.flush()  # levels re-read
    _native.emit_test_log(5, "now a trace record")
    codexrs.logs.set_filter("codexrs::test=warn")  # finer: this target only from WARN
    _native.emit_test_log(3, "an info record")
    _native.emit_test_log(2, "a warning")
    codexrs.logs.flush()
    assert [r.getMessage() for r in debug_records.records][1:] == ["now a trace record", "a warning"]
    assert debug_records.records[1].levelname == "TRACE"
    with pytest.raises(ValueError, match="bad log directives"):
        codexrs.logs.set_filter("codexrs::test=loud")


def test_a_full_queue_is_counted_and_reported(debug_records: Records) -> None:
    capacity = codexrs.logs.QUEUE_CAPACITY
    with codexrs.logs._lock:  # the drain thread waits: nothing leaves the queue meanwhile
        _native.emit_test_log(2, "flood", capacity + 2500)
    codexrs.logs.flush()
    floods = [r for r in debug_records.records if r.getMessage() == "flood"]
    dropped = [r for r in debug_records.records if "were dropped" in r.getMessage()]
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

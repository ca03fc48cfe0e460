"""Honest rate limits: every snapshot in a ``token_count`` event says where it came from, and
none is invented. Headers come from the scripted model (as codex's provider would send them)."""

from __future__ import annotations

from pathlib import Path

import codexrs
from codexrs import events as ev
from codexrs.testing import ScriptedModel, text


def _snapshots(turn: codexrs.TurnHandle) -> list[ev.RateLimitSnapshot | None]:
    return [e.rate_limits for e in turn.stream() if isinstance(e, ev.TokenCount)]


def test_provider_carried_and_absent_snapshots(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("no headers yet"), text("limited").with_rate_limits(42.5), text("no headers again"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        assert codex.rate_limits() == {}
        first = codex.thread_start()
        assert _snapshots(first.turn("before any headers")) == [None]  # no source: nothing invented
        second = codex.thread_start()
        (provider,) = [s for s in _snapshots(second.turn("with headers")) if s is not None]
        assert provider.source == "provider" and provider.observed_thread_id == second.id
        assert provider.primary is not None and provider.primary.used_percent == 42.5
        carried = _snapshots(first.turn("no headers, after another thread saw some"))
        assert len(carried) == 1 and carried[0] is not None
        assert (carried[0].source, carried[0].observed_thread_id) == ("carried", second.id)
        assert carried[0].primary == provider.primary and carried[0].observed_at == provider.observed_at
        (latest,) = codex.rate_limits().values()
        assert latest.source == "provider" and latest.primary == provider.primary


def test_an_injected_source_is_marked_as_injected(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("one"), text("two"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        snapshot = ev.RateLimitSnapshot(primary=ev.RateLimitWindow(used_percent=12.0, window_minutes=60))
        codex.set_rate_limit_source("quota-service", snapshot)
        thread = codex.thread_start()
        (injected,) = _snapshots(thread.turn("x"))
        assert injected is not None and injected.source == "injected:quota-service"
        assert injected.primary == snapshot.primary and injected.observed_at is not None
        assert codex.rate_limits()["injected:quota-service"].primary == snapshot.primary
        codex.set_rate_limit_source("quota-service", None)
        assert _snapshots(thread.turn("y")) == [None]

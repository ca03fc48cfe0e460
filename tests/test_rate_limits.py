"""Honest rate limits: every snapshot in a ``token_count`` event says where it came from, and
none is invented. Headers come from the scripted model (as codex's provider would send them)."""

from __future__ import annotations

import base64
import datetime
import json
import threading
import time
from pathlib import Path

import pytest

import codexrs
from codexrs import events as ev
from codexrs.testing import ScriptedModel, http_error, text, usage_limit

from waiting import DEADLINE_S, await_until, wait_until


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


def test_a_usage_limit_is_a_rate_limit_error_with_its_reset_and_no_retry(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    resets = int(time.time()) + 2 * 3600
    scripted_model.enqueue(usage_limit(resets), usage_limit(resets).with_rate_limits(100.0, primary_reset_at=resets), http_error(429))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = codex.thread_start()
        with pytest.raises(codexrs.RateLimitError) as body_only:
            thread.run("hit the limit", retries=5)
        # codex-core writes the body's reset into its message, to the minute, in local time
        assert body_only.value.resets_at_source == "message"
        assert body_only.value.resets_at is not None and resets <= body_only.value.resets_at <= resets + 60
        assert body_only.value.attempts == 1 and not body_only.value.retryable
        assert len(scripted_model.response_requests()) == 1  # retries=5, yet one request: no storm
        with pytest.raises(codexrs.RateLimitError) as with_headers:
            thread.run("hit it again")
        assert (with_headers.value.resets_at, with_headers.value.resets_at_source) == (resets, "provider")
        with pytest.raises(codexrs.RateLimitError) as plain:
            thread.run("a plain 429", retries=3)
        assert plain.value.resets_at is None and plain.value.status_code == 429
        assert len(scripted_model.response_requests()) == 3


def test_a_callable_source_is_polled_and_its_snapshots_marked_injected(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("one"), text("two"), text("three"))
    used = [10.0]
    calls = 0

    def quota_service() -> dict[str, object] | None:
        nonlocal calls
        calls += 1
        if used[0] < 0:
            raise ConnectionError("quota service down")
        return {"primary": {"used_percent": used[0], "window_minutes": 60}}

    def primary_used(thread: codexrs.Thread) -> float | None:
        (snapshot,) = _snapshots(thread.turn("x"))
        assert snapshot is not None and snapshot.source == "injected:quota"
        return None if snapshot.primary is None else snapshot.primary.used_percent

    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        with pytest.raises(TypeError):  # a broken answer fails at registration, loudly
            codex.set_rate_limit_source("quota", lambda: 42)  # type: ignore[arg-type, return-value]
        codex.set_rate_limit_source("quota", quota_service, refresh_s=0.1)
        assert calls == 1  # called at once
        thread = codex.thread_start()
        assert primary_used(thread) == 10.0
        used[0] = 55.0
        wait_until(
            lambda: codex.rate_limits()["injected:quota"].primary.used_percent == 55.0,  # type: ignore[union-attr]
            "the engine's snapshot to show the source's new answer",
        )
        assert primary_used(thread) == 55.0  # polled again, no restart
        used[0] = -1.0  # the service fails: logged, the last snapshot (with its age) stays
        seen = calls
        wait_until(lambda: calls >= seen + 2, "two polls of the failing source")
        assert primary_used(thread) == 55.0
        (poller,) = [t for t in threading.enumerate() if t.name == "codexrs-rate-source-quota"]
    poller.join(DEADLINE_S)
    assert not poller.is_alive(), "closing the engine did not stop the polling"


async def test_an_async_source_feeds_the_managers_threshold(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    reset_at = int(time.time()) + 2

    async def quota_service() -> ev.RateLimitSnapshot:
        return ev.RateLimitSnapshot(primary=ev.RateLimitWindow(used_percent=99.0, resets_at=reset_at, window_minutes=5))

    scripted_model.enqueue(text("after the injected window reset"))
    async with codexrs.AsyncManager(
        codex_home=codex_home, cwd=workspace, config=scripted_model.config(), rate_limit_threshold=90
    ) as manager:
        await manager.set_rate_limit_source("quota", quota_service, refresh_s=0.2)
        assert (await manager.rate_limits())["injected:quota"].primary == (await quota_service()).primary
        await manager.create("held")
        await manager.send("held", "wait for the window")
        await await_until(lambda: manager.status("held") != "queued", "the turn to leave the queue")
        assert manager.status("held") == "rate_limited"
        result = await manager.wait("held", timeout=30)
    assert result.final_response == "after the injected window reset"
    assert scripted_model.response_requests()[0].at >= reset_at


def _jwt(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.unsigned"


def _chatgpt_login(codex_home: Path) -> str:
    """A ChatGPT login in codex's auth.json, as `codex login` writes it; returns its token."""
    access = _jwt({"exp": int(time.time()) + 86400})
    id_token = _jwt(
        {
            "email": "dev@example.com",
            "https://api.openai.com/auth": {"chatgpt_plan_type": "plus", "chatgpt_account_id": "acct-123", "chatgpt_user_id": "user-1"},
        }
    )
    auth = {
        "OPENAI_API_KEY": None,
        "tokens": {"id_token": id_token, "access_token": access, "refresh_token": "refresh-x", "account_id": "acct-123"},
        "last_refresh": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    (codex_home / "auth.json").write_text(json.dumps(auth))
    return access


def test_fresh_rate_limits_come_from_codexs_backend_with_a_chatgpt_login(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    token = _chatgpt_login(codex_home)
    resets = int(time.time()) + 1800
    scripted_model.usage = {
        "plan_type": "plus",
        "rate_limit": {
            "primary_window": {"used_percent": 37, "limit_window_seconds": 18000, "reset_at": resets},
            "secondary_window": {"used_percent": 12, "limit_window_seconds": 604800, "reset_at": resets + 86400},
        },
        "credits": {"has_credits": True, "unlimited": False, "balance": 5.39},
    }
    config = {**scripted_model.config(), "chatgpt_base_url": scripted_model.url.removesuffix("/v1") + "/backend-api"}
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        assert "backend" not in codex.rate_limits()  # nothing asked yet: nothing there
        fresh = codex.rate_limits(refresh=True)["backend"]
        assert fresh.source == "backend" and fresh.observed_at is not None
        assert fresh.primary == ev.RateLimitWindow(used_percent=37.0, window_minutes=300, resets_at=resets)
        assert fresh.secondary is not None and fresh.secondary.window_minutes == 7 * 24 * 60
        assert fresh.credits is not None and fresh.credits.balance == "5.39"
        assert codex.rate_limits()["backend"] == fresh  # kept by the engine
    (asked,) = [r for r in scripted_model.requests if r.path.endswith("/backend-api/wham/usage")]
    headers = {k.lower(): v for k, v in asked.headers.items()}
    assert headers["authorization"] == f"Bearer {token}" and headers["chatgpt-account-id"] == "acct-123"
    assert headers["originator"] == "codexrs"


def test_fresh_rate_limits_need_a_chatgpt_login(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        codex.login_api_key("sk-test-key")
        with pytest.raises(codexrs.ConfigError, match="ChatGPT"):
            codex.rate_limits(refresh=True)
    assert not [r for r in scripted_model.requests if "usage" in r.path]  # nothing was asked

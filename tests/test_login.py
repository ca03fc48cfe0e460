"""Logging in with a ChatGPT plan from codexrs, as ``codex login`` does: codex's own login crate
against a scripted OAuth issuer on 127.0.0.1, the real codex-core against the scripted model.

Each flow ends with ``auth.json`` written as the codex CLI writes it, ``account()`` reporting the
plan, and the next model request carrying the login's bearer token and account id; a denied,
expired, refused or cancelled login raises ``LoginError`` and writes nothing; no log record
carries a token. No browser: the test follows the login's URL as a browser would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

import codexrs
from codexrs.testing import ScriptedIssuer, ScriptedModel, text

from conftest import Records
from waiting import await_until, wait_until

EMAIL, PLAN, ACCOUNT_ID = "ada@example.com", "pro", "acct-login-test-42"
#: codex's OAuth client id (``codex_login::CLIENT_ID``), the one ``codex login`` sends.
CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedIssuer]:
    with ScriptedIssuer(email=EMAIL, plan=PLAN, account_id=ACCOUNT_ID) as scripted:
        # Only the login counts: no key from the environment, and a token refresh (if codex
        # wanted one) goes to the scripted issuer, not to auth.openai.com.
        for var in ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_ACCESS_TOKEN"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("CODEX_REFRESH_TOKEN_URL_OVERRIDE", f"{scripted.url}/oauth/token")
        yield scripted


def config(model: ScriptedModel) -> dict[str, Any]:
    """The scripted model as a provider that needs codex's OpenAI login (as the built-in
    ``openai`` does), and codex's ChatGPT backend pointed at it too (nothing leaves 127.0.0.1)."""
    return {
        **model.config(),
        "model_providers.scripted.requires_openai_auth": True,
        "chatgpt_base_url": model.url.removesuffix("/v1"),
    }


def auth_json(home: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((home / "auth.json").read_text())
    return loaded


def assert_logged_in(home: Path, issuer: ScriptedIssuer, account: codexrs.Account) -> None:
    """``auth.json`` is what ``codex login`` writes, and the account is the issuer's."""
    assert account == codexrs.Account(auth_mode="chatgpt", email=EMAIL, plan=PLAN, account_id=ACCOUNT_ID)
    stored = auth_json(home)
    tokens = issuer.tokens
    assert stored["auth_mode"] == "chatgpt"
    assert stored["OPENAI_API_KEY"] is None  # the scripted account has no API organization
    assert stored["tokens"] == {
        "id_token": tokens.id_token,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "account_id": ACCOUNT_ID,
    }
    assert datetime.fromisoformat(stored["last_refresh"]).tzinfo is not None


def assert_next_request_uses_the_login(model: ScriptedModel, issuer: ScriptedIssuer) -> None:
    headers = {k.lower(): v for k, v in model.response_requests()[-1].headers.items()}
    assert headers["authorization"] == f"Bearer {issuer.tokens.access_token}"
    assert headers["chatgpt-account-id"] == ACCOUNT_ID


def assert_no_token_logged(records: Records, issuer: ScriptedIssuer) -> None:
    texts = records.texts()
    assert texts, "no record arrived: the check would prove nothing"
    for tokens in issuer.issued:
        for secret in (tokens.id_token, tokens.access_token, tokens.refresh_token, tokens.access_token.split(".")[1]):
            assert not [t for t in texts if secret in t]


def callback_port(auth_url: str) -> int:
    redirect = urllib.parse.parse_qs(urllib.parse.urlsplit(auth_url).query)["redirect_uri"][0]
    port = urllib.parse.urlsplit(redirect).port
    assert port is not None
    return port


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_browser_login_stores_codexs_auth_json_and_the_next_request_carries_the_token(
    issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path, workspace: Path, debug_records: Records
) -> None:
    scripted_model.enqueue(text("logged in"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config(scripted_model)) as codex:
        assert codex.account() is None
        with codex.login_chatgpt(issuer=issuer.url) as login:
            url = urllib.parse.urlsplit(login.auth_url)
            query = urllib.parse.parse_qs(url.query)
            assert f"{url.scheme}://{url.netloc}{url.path}" == f"{issuer.url}/oauth/authorize"
            assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]
            assert query["redirect_uri"] == [f"http://localhost:{callback_port(login.auth_url)}/auth/callback"]
            assert not (codex_home / "auth.json").exists()  # nothing until the browser comes back

            page = issuer.visit(login.auth_url)  # the issuer's page, the callback, codex's success page
            account = login.wait(timeout=60)

        assert (page.status, urllib.parse.urlsplit(page.url).path) == (200, "/success")
        assert_logged_in(codex_home, issuer, account)
        assert codex.account() == account
        assert codex.thread_start().run("who am I?").final_response == "logged in"
    assert_next_request_uses_the_login(scripted_model, issuer)
    exchange = [r for r in issuer.requests if r.path == "/oauth/token" and r.body["grant_type"] == "authorization_code"]
    assert [r.body["client_id"] for r in exchange] == [CLIENT_ID]  # PKCE checked by the issuer: it answered
    assert_no_token_logged(debug_records, issuer)

    # A later engine on the same home (or the codex CLI) sees the login.
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config(scripted_model)) as codex:
        assert codex.account() == account
        codex.logout()
        assert codex.account() is None
    assert not (codex_home / "auth.json").exists()


async def test_async_browser_login(issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    scripted_model.enqueue(text("async login"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=config(scripted_model)) as codex:
        async with await codex.login_chatgpt(issuer=issuer.url) as login:
            assert isinstance(login, codexrs.AsyncChatgptLogin)
            page = await asyncio.to_thread(issuer.visit, login.auth_url)
            account = await login.wait(timeout=60)
        assert page.status == 200
        assert_logged_in(codex_home, issuer, account)
        assert await codex.account() == account
        thread = await codex.thread_start()
        assert (await thread.run("hello")).final_response == "async login"
    assert_next_request_uses_the_login(scripted_model, issuer)


def test_device_code_login(
    issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path, workspace: Path, debug_records: Records
) -> None:
    scripted_model.enqueue(text("device"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config(scripted_model)) as codex:
        with codex.login_chatgpt_device_code(issuer=issuer.url) as login:
            assert login.verification_url == f"{issuer.url}/codex/device"
            assert issuer.user_codes() == [login.user_code]
            wait_until(lambda: issuer.polls() >= 1, "codex polling the issuer")
            with pytest.raises(TimeoutError, match="still running"):
                login.wait(timeout=0)  # the code is not approved yet: the login goes on
            assert not (codex_home / "auth.json").exists()

            issuer.device = "approved"  # the user entered the code on another device
            account = login.wait(timeout=60)
        assert_logged_in(codex_home, issuer, account)
        assert codex.thread_start().run("hi").final_response == "device"
    assert_next_request_uses_the_login(scripted_model, issuer)
    assert_no_token_logged(debug_records, issuer)


async def test_async_device_code_login(
    issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.enqueue(text("async device"))
    async with codexrs.AsyncCodex(codex_home=codex_home, cwd=workspace, config=config(scripted_model)) as codex:
        async with await codex.login_chatgpt_device_code(issuer=issuer.url) as login:
            await await_until(lambda: issuer.polls() >= 1, "codex polling the issuer")
            with pytest.raises(TimeoutError):
                await login.wait(timeout=0)
            issuer.device = "approved"
            account = await login.wait()
        assert_logged_in(codex_home, issuer, account)
        thread = await codex.thread_start()
        assert (await thread.run("hi")).final_response == "async device"
    assert_next_request_uses_the_login(scripted_model, issuer)


def test_a_denied_authorization_raises_and_stores_nothing(
    issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path
) -> None:
    issuer.deny()
    with codexrs.Codex(codex_home=codex_home, config=config(scripted_model)) as codex:
        with codex.login_chatgpt(issuer=issuer.url) as login:
            page = issuer.visit(login.auth_url)
            with pytest.raises(codexrs.LoginError, match="the ChatGPT login was denied: Sign-in failed: access_denied"):
                login.wait(timeout=60)
        assert "Sign-in could not be completed" in page.body  # codex's error page, in the browser
        assert codex.account() is None
    assert not (codex_home / "auth.json").exists()
    assert issuer.issued == []


@pytest.mark.parametrize(("answer", "message"), [
    ("expired", r"the device code expired: the issuer answered 410 Gone"),
    ("denied", r"the issuer refused the device code: device auth failed with status 400 Bad Request"),
])  # fmt: skip
def test_an_expired_or_refused_device_code_raises_and_stores_nothing(
    issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path, answer: Any, message: str
) -> None:
    with codexrs.Codex(codex_home=codex_home, config=config(scripted_model)) as codex:
        login = codex.login_chatgpt_device_code(issuer=issuer.url)
        issuer.device = answer
        with pytest.raises(codexrs.LoginError, match=message):
            login.wait(timeout=60)
        with pytest.raises(codexrs.LoginError, match=message):
            login.wait()  # the outcome stays
        assert codex.account() is None
    assert not (codex_home / "auth.json").exists()


def test_a_cancelled_login_raises_stops_its_server_and_stores_nothing(
    issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path
) -> None:
    with codexrs.Codex(codex_home=codex_home, config=config(scripted_model)) as codex:
        login = codex.login_chatgpt(issuer=issuer.url)
        port = callback_port(login.auth_url)
        login.cancel()
        with pytest.raises(codexrs.LoginError, match="the login was cancelled"):
            login.wait(timeout=60)
        wait_until(lambda: refused(port), "the callback server to stop listening")

        with codex.login_chatgpt(issuer=issuer.url) as left:  # leaving the block cancels it
            pass
        with pytest.raises(codexrs.LoginError, match="cancelled"):
            left.wait(timeout=60)

        # A second login on the callback port cancels the first, as a second `codex login` does.
        with codex.login_chatgpt(issuer=issuer.url) as first, codex.login_chatgpt(issuer=issuer.url) as second:
            with pytest.raises(codexrs.LoginError, match="another login started on the same callback port"):
                first.wait(timeout=60)
            assert callback_port(second.auth_url) == callback_port(first.auth_url)

        device = codex.login_chatgpt_device_code(issuer=issuer.url)
        wait_until(lambda: issuer.polls() >= 1, "codex polling the issuer")
        device.cancel()
        with pytest.raises(codexrs.LoginError, match="the login was cancelled"):
            device.wait(timeout=60)
        assert codex.account() is None
    assert not (codex_home / "auth.json").exists()
    assert issuer.issued == []


def test_an_unreachable_or_garbage_issuer_raises(issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, never listening: refused
        with codexrs.Codex(codex_home=codex_home, config=config(scripted_model)) as codex:
            with pytest.raises(codexrs.LoginError, match=f"cannot start a device code login with the issuer {nowhere}"):
                codex.login_chatgpt_device_code(issuer=nowhere)

            issuer.garbage = True
            with pytest.raises(codexrs.LoginError, match="cannot start a device code login with the issuer"):
                codex.login_chatgpt_device_code(issuer=issuer.url)

            # The browser's part works, the code exchange gets garbage back.
            with codex.login_chatgpt(issuer=issuer.url) as login:
                issuer.visit(login.auth_url)
                with pytest.raises(codexrs.LoginError, match="the ChatGPT login failed"):
                    login.wait(timeout=60)

            with pytest.raises(codexrs.ConfigError, match="issuer must be an http"):
                codex.login_chatgpt(issuer="auth.example.com")
            with pytest.raises(TypeError, match="open_browser must be a bool"):
                codex.login_chatgpt(open_browser="yes")  # type: ignore[arg-type]
    assert not (codex_home / "auth.json").exists()


def test_a_config_that_forces_api_key_login_refuses_chatgpt(
    issuer: ScriptedIssuer, scripted_model: ScriptedModel, codex_home: Path
) -> None:
    with codexrs.Codex(codex_home=codex_home, config={**config(scripted_model), "forced_login_method": "api"}) as codex:
        with pytest.raises(codexrs.LoginError, match='forced_login_method = "api"'):
            codex.login_chatgpt(issuer=issuer.url)
    assert issuer.requests == []

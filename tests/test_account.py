"""Login, account, logout, models, versions, and codexrs's identity on the wire."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import codexrs
from codexrs.testing import ScriptedModel, text


def test_login_account_logout_round_trip_and_the_key_reaches_the_provider(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    # A provider that uses codex's OpenAI login: the stored key becomes the bearer token.
    config = {**scripted_model.config(), "model_providers.scripted.requires_openai_auth": True}
    scripted_model.enqueue(text("authenticated"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        assert codex.account() is None
        codex.login_api_key("sk-codexrs-test-key")
        account = codex.account()
        assert account is not None and account.auth_mode == "apikey"
        codex.thread_start().run("who am I?")
        codex.logout()
        assert codex.account() is None
    auth = scripted_model.response_requests()[0].headers
    assert {k.lower(): v for k, v in auth.items()}["authorization"] == "Bearer sk-codexrs-test-key"
    # What codexrs stored is what `codex login` stores: a later engine on the home sees it.
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        assert codex.account() is None  # logged out for good
        codex.login_api_key("sk-second")
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=config) as codex:
        account = codex.account()
        assert account is not None and account.auth_mode == "apikey"


async def test_async_account_and_models(scripted_model: ScriptedModel, codex_home: Path) -> None:
    async with codexrs.AsyncCodex(codex_home=codex_home, config=scripted_model.config()) as codex:
        assert await codex.account() is None
        await codex.login_api_key("sk-async")
        account = await codex.account()
        assert account is not None and account.auth_mode == "apikey"
        await codex.logout()
        models = await codex.models()
    assert all(isinstance(m, codexrs.Model) and m.model for m in models)


def test_models_come_from_codex_core(codex: codexrs.Codex) -> None:
    models = codex.models()
    assert models, "codex-core's catalogue is empty"
    assert len({m.id for m in models}) == len(models)
    assert any(m.model == "gpt-5.5" for m in models)  # the kit's model is one codex knows


def test_requests_identify_codexrs(codex: codexrs.Codex, scripted_model: ScriptedModel) -> None:
    scripted_model.enqueue(text("hi"))
    codex.thread_start().run("hello")
    headers = {k.lower(): v for k, v in scripted_model.response_requests()[0].headers.items()}
    assert headers["originator"] == "codexrs"
    assert headers["user-agent"].startswith("codexrs/")
    assert f"codexrs {codexrs.__version__}; codex-core typeduck-codex-execpolicy==0.6.0" in headers["user-agent"]
    assert "codex_cli_rs" not in headers["user-agent"]


def test_versions() -> None:
    assert codexrs.__version__ == importlib.metadata.version("codexrs")
    core = codexrs.codex_core_version()
    assert (core.package, core.version) == ("typeduck-codex-execpolicy", "0.6.0")
    out = subprocess.run([sys.executable, "-m", "codexrs", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"codexrs {codexrs.__version__} (codex-core from crates.io typeduck-codex-execpolicy 0.6.0)"

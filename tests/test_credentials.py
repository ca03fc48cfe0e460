"""Credentials: a provider that needs one and has none fails at ``thread_start`` with a
``CredentialsError`` naming where codexrs looked, before any request; ``codexrs run`` and the
Python API pick the same credential (README "Credentials").

Each case runs in a child process with an environment made for it (no credential variable
unless the test sets one), so the variables codex-core reads are the child's own; the scripted
model runs here and records what reached it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from codexrs.testing import ScriptedModel, text

from batch_tasks import batch_command, write_tasks

CREDENTIAL_VARS = ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_ACCESS_TOKEN", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES")

#: Starts a thread (after an optional login) and runs one turn; a CredentialsError exits 3.
SCRIPT = """
import json, sys
import codexrs
config, home, cwd, login = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
with codexrs.Codex(codex_home=home, cwd=cwd, config=config) as codex:
    if login:
        codex.login_api_key(login)
    try:
        thread = codex.thread_start()
    except codexrs.CredentialsError as exc:
        print(type(exc).__name__, isinstance(exc, codexrs.ConfigError))
        print(exc)
        sys.exit(3)
    print(thread.run("hi").final_response)
"""


def env_with(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    return {**env, **variables}


def run_api(config: dict[str, Any], home: Path, cwd: Path, login: str = "", **variables: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", SCRIPT, json.dumps(config), str(home), str(cwd), login]
    return subprocess.run(command, env=env_with(**variables), capture_output=True, text=True, timeout=120)


def needs_openai_auth(model: ScriptedModel) -> dict[str, Any]:
    """The scripted model as a provider that needs codex's OpenAI login, as the built-in ``openai``."""
    return {**model.config(), "model_providers.scripted.requires_openai_auth": True}


def missing_login(home: Path) -> str:
    return (
        'model provider "scripted" needs an OpenAI API key or a ChatGPT login, and codexrs found none: it looked at '
        f"the variables OPENAI_API_KEY, CODEX_API_KEY and CODEX_ACCESS_TOKEN, a login in {home}/auth.json, "
        "and the provider's env_key and experimental_bearer_token. "
        f"To log in: run `codexrs login --codex-home {home}` (a ChatGPT plan; --device-code without a browser, "
        "--api-key for an API key), call Codex.login_chatgpt() or Codex.login_api_key(key), or set OPENAI_API_KEY"
    )


def bearer(model: ScriptedModel) -> list[str]:
    return [{k.lower(): v for k, v in r.headers.items()}.get("authorization", "") for r in model.response_requests()]


def test_no_credential_fails_at_thread_start_naming_where_codexrs_looked(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    done = run_api(needs_openai_auth(scripted_model), codex_home, workspace)

    assert (done.returncode, done.stderr) == (3, ""), done.stdout + done.stderr
    assert done.stdout == f"CredentialsError True\n{missing_login(codex_home)}\n"
    assert scripted_model.requests == []  # nothing was sent: no 30 s of retries against the network


def test_a_provider_env_key_that_is_unset_is_named(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    config = {
        **scripted_model.config(),
        "model_providers.scripted.env_key": "SCRIPTED_KEY",
        "model_providers.scripted.env_key_instructions": "ask the team for one",
    }
    done = run_api(config, codex_home, workspace, OPENAI_API_KEY="sk-not-this-providers")

    assert (done.returncode, done.stderr) == (3, ""), done.stdout + done.stderr
    assert done.stdout == (
        "CredentialsError True\n"
        'model provider "scripted" takes its API key from the environment variable SCRIPTED_KEY (its env_key), '
        "which is not set (ask the team for one): set SCRIPTED_KEY, or give the provider an experimental_bearer_token\n"
    )
    assert scripted_model.requests == []

    scripted_model.enqueue(text("keyed"))
    done = run_api(config, codex_home, workspace, SCRIPTED_KEY="sk-provider")
    assert (done.returncode, done.stdout) == (0, "keyed\n"), done.stdout + done.stderr
    assert bearer(scripted_model) == ["Bearer sk-provider"]


def test_each_credential_source_reaches_the_provider_in_codexs_order(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    config = needs_openai_auth(scripted_model)
    scripted_model.enqueue(text("one"), text("two"), text("three"), text("four"))

    assert run_api(config, codex_home, workspace, OPENAI_API_KEY="sk-openai").stdout == "one\n"  # no login: OPENAI_API_KEY
    assert run_api(config, codex_home, workspace, OPENAI_API_KEY="sk-openai", CODEX_API_KEY="sk-codex").stdout == "two\n"
    assert run_api(config, codex_home, workspace, "sk-login", OPENAI_API_KEY="sk-openai").stdout == "three\n"  # a login wins
    assert run_api(config, codex_home, workspace, "", CODEX_API_KEY="sk-codex").stdout == "four\n"  # CODEX_API_KEY beats it

    assert bearer(scripted_model) == ["Bearer sk-openai", "Bearer sk-codex", "Bearer sk-login", "Bearer sk-codex"]


def test_a_provider_that_needs_no_key_runs_without_one(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    scripted_model.enqueue(text("no key needed"))
    done = run_api(scripted_model.config(), codex_home, workspace)
    assert (done.returncode, done.stdout, done.stderr) == (0, "no key needed\n", ""), done.stderr
    assert bearer(scripted_model) == [""]


def write_config_toml(home: Path, model: ScriptedModel, requires_openai_auth: bool) -> None:
    """A user's ``config.toml`` selecting the scripted model as its provider."""
    (home / "config.toml").write_text(
        f'model = "{model.config()["model"]}"\nmodel_provider = "scripted"\n\n[model_providers.scripted]\n'
        f'name = "codexrs scripted model"\nbase_url = "{model.url}"\nwire_api = "responses"\n'
        f"request_max_retries = 0\nstream_max_retries = 0\nrequires_openai_auth = {str(requires_openai_auth).lower()}\n"
    )


def codexrs_run(home: Path, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "codexrs", "run", "say hi", "--cwd", str(cwd)]
    return subprocess.run(command, env=env_with(CODEX_HOME=str(home), **variables), capture_output=True, text=True, timeout=120)


def test_codexrs_run_uses_the_config_toml_provider_and_the_apis_credential_rule(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    write_config_toml(codex_home, scripted_model, requires_openai_auth=False)
    scripted_model.enqueue(text("from config.toml"), text("with OPENAI_API_KEY"))
    done = codexrs_run(codex_home, workspace)  # no key, and none needed
    assert done.returncode == 0 and "from config.toml" in done.stdout, done.stdout + done.stderr

    write_config_toml(codex_home, scripted_model, requires_openai_auth=True)
    done = codexrs_run(codex_home, workspace, OPENAI_API_KEY="sk-openai")  # the provider kept, the key used
    assert done.returncode == 0 and "with OPENAI_API_KEY" in done.stdout, done.stdout + done.stderr
    assert bearer(scripted_model) == ["", "Bearer sk-openai"]

    done = codexrs_run(codex_home, workspace)
    assert (done.returncode, done.stderr) == (2, ""), done.stdout + done.stderr
    assert done.stdout == f"CredentialsError: {missing_login(codex_home)}\n"
    assert len(scripted_model.requests) == 2


def test_codexrs_batch_exits_1_when_every_task_errored(scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path) -> None:
    tasks_file = tmp_path / "tasks.jsonl"
    write_tasks(tasks_file, [{"id": "a", "prompt": "one"}, {"id": "b", "prompt": "two"}])
    command = batch_command(scripted_model, codex_home, tasks_file, tmp_path / "results.jsonl")
    command += ["-c", "model_providers.scripted.requires_openai_auth=true"]

    done = subprocess.run(command, env=env_with(), capture_output=True, text=True, timeout=300)

    assert (done.returncode, done.stderr) == (1, ""), done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2:] == ["2 error; 0 bad line(s)", f"every task errored (2 of 2): each error is above and in {tmp_path / 'results.jsonl'}"]
    errors = [json.loads(line)["error"] for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(errors) == 2 and all("CredentialsError" in e and "OPENAI_API_KEY" in e for e in errors), errors
    assert scripted_model.requests == []

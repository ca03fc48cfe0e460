"""``codexrs serve`` (and ``create_app``) with a hostile web page in mind: what a page in the
user's browser can send to ``127.0.0.1`` (a cross-site ``text/plain`` POST, a rebound ``Host``,
a foreign ``Origin``) is refused with its status and creates nothing; over HTTP a thread gets
no config key, full access, ``cwd`` or granting answer its operator did not allow; and the
token ``codexrs serve`` makes is the one its printed URL carries. Real codex-core behind a real
uvicorn, in its own process, talking to the scripted model."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from codexrs import AsyncManager, ConfigError
from codexrs.server import create_app
from codexrs.testing import ScriptedModel, exec_command, text

EVIL = "http://evil.example"


@dataclass
class Served:
    """A running ``codexrs serve``."""

    url: str  # http://127.0.0.1:PORT
    port: int
    token: str | None
    workspace: Path
    codex_home: Path
    model: ScriptedModel
    output: Path  # its stdout and stderr

    def client(self, **headers: str) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers={**auth, **headers}, timeout=60)

    def names(self) -> list[str]:
        with self.client() as api:
            return [t["name"] for t in api.get("/api/threads").json()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp: Path, *args: str) -> Iterator[Served]:
    """``codexrs serve *args`` on a free port; its token read from the URL it prints."""
    workspace, codex_home, output = tmp / "workspace", tmp / "codex-home", tmp / "serve.log"
    workspace.mkdir()
    codex_home.mkdir()
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "CODEXRS_TOKEN"}
    with ScriptedModel() as model, output.open("w") as log:
        overrides = [arg for k, v in model.config().items() for arg in ("-c", f"{k}={json.dumps(v)}")]
        command = [sys.executable, "-m", "codexrs.cli", "serve", "--port", str(port), "--codex-home", str(codex_home),
                   "--cwd", str(workspace), *overrides, *args]  # fmt: skip
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 60
            token: str | None = None
            while True:
                assert process.poll() is None, output.read_text()
                assert time.monotonic() < deadline, f"codexrs serve did not start: {output.read_text()}"
                printed = re.search(rf"http://127\.0\.0\.1:{port}/(\?token=([\w-]+))? \(dashboard\)", output.read_text())
                if printed:
                    token = printed.group(2)
                    try:
                        headers = {"Authorization": f"Bearer {token}"} if token else {}
                        if httpx.get(f"http://127.0.0.1:{port}/api/threads", headers=headers).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                time.sleep(0.1)
            yield Served(f"http://127.0.0.1:{port}", port, token, workspace, codex_home, model, output)
        finally:
            process.terminate()
            process.wait(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``codexrs serve`` as started by default: no token given, no option."""
    yield from _serve(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def served_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``codexrs serve --no-token``: loopback clients without a token."""
    yield from _serve(tmp_path_factory.mktemp("open"), "--no-token")


@pytest.fixture(scope="module")
def served_allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``codexrs serve`` with each allowance."""
    yield from _serve(tmp_path_factory.mktemp("allowing"), "--allowed-host", "codexrs.test", "--allow-config",
                      "developer_instructions", "--allow-full-access")  # fmt: skip


def test_the_printed_url_carries_a_fresh_token_that_works(served: Served) -> None:
    assert served.token is not None and len(served.token) >= 40  # secrets.token_urlsafe(32)
    page = httpx.get(f"{served.url}/?token={served.token}")
    assert page.status_code == 200 and "<title>codexrs</title>" in page.text
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {served.token[:-1]}"}):
        refused = httpx.get(f"{served.url}/api/threads", headers=headers)
        assert refused.status_code == 401 and refused.json() == {"error": "missing or wrong bearer token"}
    assert httpx.get(f"{served.url}/api/threads?token={served.token}").status_code == 200  # as the dashboard's EventSource

    def sessions(*args: str, token: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "CODEXRS_TOKEN"} | {"CODEXRS_URL": served.url}
        env |= {"CODEXRS_TOKEN": token} if token else {}
        return subprocess.run([sys.executable, "-m", "codexrs.cli", "sessions", *args], capture_output=True, text=True, timeout=120, env=env)

    created = sessions("create", "from-the-cli", token=served.token)
    assert created.returncode == 0 and created.stdout.startswith("from-the-cli "), created.stderr
    assert sessions("kill", "from-the-cli", token=served.token).returncode == 0  # a DELETE, sent as JSON
    refused_cli = sessions("list", token=None)
    assert refused_cli.returncode == 1 and refused_cli.stderr.strip() == "codexrs sessions: missing or wrong bearer token (HTTP 401)"
    assert "from-the-cli" not in served.names()


def _cross_site_create(served: Served, name: str, **headers: str) -> httpx.Response:
    """What ``fetch(url, {method: "POST", body})`` from a page sends: a CORS "simple request"."""
    query = f"?token={served.token}" if served.token else ""
    body = json.dumps({"name": name, "sandbox": "workspace-write"})
    return httpx.post(f"{served.url}/api/threads{query}", content=body, headers=headers)


@pytest.mark.parametrize("which", ["served", "served_open"])
def test_a_cross_site_text_plain_post_creates_no_thread(which: str, request: pytest.FixtureRequest) -> None:
    served: Served = request.getfixturevalue(which)
    page = _cross_site_create(served, f"evil-{which}", **{"Origin": EVIL, "Content-Type": "text/plain;charset=UTF-8"})
    assert page.status_code == 403 and page.json() == {"error": f"cross-origin requests are refused: Origin {EVIL!r} is not this server's"}
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        typed = _cross_site_create(served, f"evil-{which}", **{"Content-Type": content_type})
        assert typed.status_code == 415, typed.text
        assert typed.json() == {"error": f"POST needs Content-Type: application/json (got Content-Type {content_type!r})"}
    untyped = _cross_site_create(served, f"evil-{which}")
    assert untyped.status_code == 415 and untyped.json()["error"] == "POST needs Content-Type: application/json (got no Content-Type)"
    assert f"evil-{which}" not in served.names()
    # The same request from the server's own origin, declared JSON, creates the thread.
    own = _cross_site_create(served, f"own-{which}", **{"Origin": served.url, "Content-Type": "application/json"})
    assert own.status_code == 201, own.text
    assert f"own-{which}" in served.names()


def test_a_foreign_host_is_refused(served_allowing: Served) -> None:
    served, port = served_allowing, served_allowing.port
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", f"127.0.0.1.evil.example:{port}"):
        for path in ("/api/threads", "/"):
            with served.client(Host=host) as api:
                refused = api.get(path)
            assert refused.status_code == 403, (host, path)
            assert refused.json() == {"error": f"this server does not answer to Host {host!r} (codexrs serve --allowed-host NAME allows one)"}
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}", f"codexrs.test:{port}", "codexrs.test:9"):
        with served.client(Host=host) as api:
            assert api.get("/api/threads").status_code == 200, host


def test_a_foreign_origin_is_refused(served: Served) -> None:
    port = served.port
    for origin in (EVIL, f"http://127.0.0.1:{port + 1}", "null", f"http://evil.example:{port}", f"{served.url}/path"):
        with served.client(Origin=origin) as api:
            for response in (api.get("/api/threads"), api.post("/api/threads", json={"name": "from-a-foreign-origin"})):
                assert response.status_code == 403, (origin, response.text)
                assert response.json()["error"] == f"cross-origin requests are refused: Origin {origin!r} is not this server's"
    assert "from-a-foreign-origin" not in served.names()
    with served.client(Origin=f"http://localhost:{port}", Host=f"localhost:{port}") as api:
        assert api.post("/api/threads", json={"name": "from-its-own-origin"}).status_code == 201


def test_config_keys_need_allow_config(served: Served, served_allowing: Served) -> None:
    for server, key in ((served, "developer_instructions"), (served, "mcp_servers.evil.command"), (served_allowing, "mcp_servers.evil.command"),
                        (served_allowing, "mcp_servers"), (served_allowing, "developer_instructionsx")):  # fmt: skip
        with server.client() as api:
            refused = api.post("/api/threads", json={"name": "configured", "config": {key: "touch pwned"}})
        allowed = "developer_instructions" if server is served_allowing else "none"
        assert refused.status_code == 403
        assert refused.json() == {"error": f"config key {key!r} is not allowed over HTTP (allowed: {allowed}; codexrs serve --allow-config KEY)"}
        assert "configured" not in server.names()
    # Allowed with the flag, and codex-core uses it: the model is sent the instructions.
    served_allowing.model.route("<configured>", text("configured answer"))
    with served_allowing.client() as api:
        created = api.post("/api/threads", json={"name": "configured", "config": {"developer_instructions": "<dev-from-http>"}})
        assert created.status_code == 201, created.text
        assert api.post("/api/threads/configured/send", json={"input": "<configured>"}).status_code == 202
        assert api.post("/api/threads/configured/wait", json={"timeout": 60}).json()["final_response"] == "configured answer"
    sent = [json.dumps(r.body) for r in served_allowing.model.response_requests() if "<configured>" in json.dumps(r.body)]
    assert sent and all("<dev-from-http>" in body for body in sent)


def test_full_access_needs_allow_full_access(served: Served, served_allowing: Served) -> None:
    for sandbox in ("danger-full-access", "full-access"):
        with served.client() as api:
            refused = api.post("/api/threads", json={"name": f"full-{sandbox}", "sandbox": sandbox})
        assert refused.status_code == 403
        assert refused.json() == {"error": "sandbox danger-full-access is not allowed over HTTP (codexrs serve --allow-full-access)"}
        assert f"full-{sandbox}" not in served.names()
    with served_allowing.client() as api:
        assert api.post("/api/threads", json={"name": "full", "sandbox": "danger-full-access"}).status_code == 201


def test_a_cwd_outside_the_served_directory_is_refused(served: Served, tmp_path: Path) -> None:
    (served.workspace / "sub").mkdir(exist_ok=True)
    (served.workspace / "escape").symlink_to(tmp_path, target_is_directory=True)
    for cwd in (str(tmp_path), "..", "sub/../..", "escape", "/"):
        with served.client() as api:
            refused = api.post("/api/threads", json={"name": "elsewhere", "cwd": cwd})
        assert refused.status_code == 403
        assert refused.json()["error"] == f"cwd {cwd!r} is outside {str(served.workspace.resolve())!r}, the directory this server's threads work in"
    assert "elsewhere" not in served.names()
    with served.client() as api:
        assert api.post("/api/threads", json={"name": "inside", "cwd": "sub"}).status_code == 201


def test_a_granting_answer_needs_allow_full_access(served: Served) -> None:
    served.model.route("<grant>", exec_command("touch granted.txt"), text("went on without it"))
    amendment = {"approved_execpolicy_amendment": {"proposed_execpolicy_amendment": ["touch"]}}
    with served.client() as api:
        assert api.post("/api/threads", json={"name": "grant", "approval_policy": "untrusted", "sandbox": "workspace-write"}).status_code == 201
        with api.stream("GET", "/api/threads/grant/events") as stream:
            assert api.post("/api/threads/grant/send", json={"input": "<grant>"}).status_code == 202
            for line in stream.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["type"] == "exec_approval_request":
                    break
        (pending,) = api.get("/api/threads/grant/requests").json()
        refused = api.post(f"/api/threads/grant/requests/{pending['id']}", json={"answer": amendment})
        assert refused.status_code == 403
        assert refused.json()["error"].startswith("over HTTP, exec requests are answered by name (approve, deny, ...)")
        assert [p["id"] for p in api.get("/api/threads/grant/requests").json()] == [pending["id"]]  # still waiting
        assert api.post(f"/api/threads/grant/requests/{pending['id']}", json={"answer": "deny"}).json() == {"answered": True}
        result = api.post("/api/threads/grant/wait", json={"timeout": 60}).json()
    assert result["status"] == "completed" and result["final_response"] == "went on without it"
    assert not (served.workspace / "granted.txt").exists()


async def test_create_app_has_the_same_defaults(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    async with AsyncManager(codex_home, workspace, scripted_model.config()) as manager:
        with pytest.raises(ConfigError, match="create_app needs token="):
            create_app(manager)
        with pytest.raises(ConfigError, match="choose one"):
            create_app(manager, "t", no_token=True)
        with pytest.raises(ConfigError, match="is not a host name"):
            create_app(manager, "t", allowed_hosts=["http://x"])
        app = create_app(manager, "t")
        auth = {"Authorization": "Bearer t"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", headers=auth) as api:
            refusals: list[tuple[Any, int]] = [
                (await api.get("/api/threads", headers={"Authorization": ""}), 401),
                (await api.get("http://evil.example:8000/api/threads"), 403),
                (await api.get("/api/threads", headers={"Origin": EVIL}), 403),
                (await api.post("/api/threads", content=b'{"name": "x"}', headers={"Content-Type": "text/plain"}), 415),
                (await api.post("/api/threads", json={"name": "x", "config": {"model": "other"}}), 403),
                (await api.post("/api/threads", json={"name": "x", "sandbox": "danger-full-access"}), 403),
                (await api.post("/api/threads", json={"name": "x", "cwd": str(workspace)}), 403),  # no cwd_root
            ]
            assert [r.status_code for r, _ in refusals] == [status for _, status in refusals], [r.text for r, _ in refusals]
            assert (await api.get("/api/threads")).json() == []
            assert (await api.post("/api/threads", json={"name": "x", "sandbox": "workspace-write"})).status_code == 201
        opened = create_app(manager, no_token=True, allowed_hosts=["service.test"], allow_config=["model_reasoning_effort"], allow_full_access=True, cwd_root=workspace)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=opened), base_url="http://service.test") as api:
            assert (await api.get("http://127.0.0.1/api/threads")).status_code == 403  # only the hosts listed
            created = await api.post("/api/threads", json={"name": "y", "sandbox": "danger-full-access", "cwd": ".", "config": {"model_reasoning_effort": "low"}})
            assert created.status_code == 201, created.text

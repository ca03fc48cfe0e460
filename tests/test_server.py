"""``codexrs serve`` and ``codexrs sessions``: the real codex-core behind HTTP (uvicorn, in its
own process), driven by the command-line client and by raw HTTP: named sessions, a send that
returns at once, waits, Server-Sent Events, a request answered over HTTP, 401 without the
token, and 4xx (never a traceback) for bad input; why a turn failed, from ``sessions wait``
(exit 1); a missing extra named in one line (exit 2); the dashboard in headless chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from browser import chromium, dashboard_streams_and_approves
from codexrs.testing import ScriptedModel, exec_command, http_error, text

TOKEN = "codexrs-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> Iterator[str]:
    """``codexrs serve`` on a free port with a token, its threads talking to the scripted model."""
    port = _free_port()
    overrides = [arg for k, v in scripted_model.config().items() for arg in ("-c", f"{k}={json.dumps(v)}")]
    command = [sys.executable, "-m", "codexrs.cli", "serve", "--port", str(port), "--token", TOKEN,
               "--codex-home", str(codex_home), "--cwd", str(workspace), *overrides]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"{url}/api/threads", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "codexrs serve did not start"
        time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _sessions(url: str, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CODEXRS_URL": url}
    env.pop("CODEXRS_TOKEN", None)
    if token is not None:
        env["CODEXRS_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "codexrs.cli", "sessions", *args], capture_output=True, text=True, timeout=120, env=env)


def _api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)


def test_sessions_from_the_command_line(server: str, scripted_model: ScriptedModel) -> None:
    scripted_model.route("<serve-hello>", text("hello from the server").delayed(0.5))
    created = _sessions(server, "create", "s1")
    assert created.returncode == 0 and created.stdout.startswith("s1 ")
    started = time.monotonic()
    sent = _sessions(server, "send", "s1", "<serve-hello>")
    assert sent.returncode == 0 and sent.stdout.strip() in ("queued", "running")
    assert time.monotonic() - started < 5  # send returned without waiting for the 0.5 s answer... and the CLI start
    waited = _sessions(server, "wait", "s1")
    assert waited.returncode == 0 and waited.stdout.strip() == "hello from the server"
    assert _sessions(server, "last-message", "s1").stdout.strip() == "hello from the server"
    assert _sessions(server, "status", "s1").stdout.strip() == "idle"
    assert "s1\tidle\t" in _sessions(server, "list").stdout
    # The model got the message the CLI sent.
    assert any("<serve-hello>" in t for r in scripted_model.response_requests() for t in r.user_texts())

    denied = _sessions(server, "list", token="wrong")
    assert denied.returncode == 1 and "HTTP 401" in denied.stderr
    assert _sessions(server, "status", "nobody").stderr.strip().endswith("(HTTP 404)")
    assert _sessions(server, "kill", "s1").returncode == 0
    assert "s1" not in _sessions(server, "list").stdout


def test_sessions_say_why_a_turn_failed_and_that_nothing_is_pending(server: str, scripted_model: ScriptedModel) -> None:
    scripted_model.route("<serve-refused>", http_error(400, "the model fell over"))
    scripted_model.route("<serve-overloaded>", http_error(500))
    assert _sessions(server, "create", "s3").returncode == 0
    # The provider's answer, as codex-core reports it, and codex's kind of error when it has one.
    body = json.dumps({"error": {"message": "the model fell over", "type": "server_error", "code": None}})
    for marker, why in (("<serve-refused>", f"failed: {body}"),
                        ("<serve-overloaded>", "failed (internal_server_error): We're currently experiencing high demand, which may cause temporary errors.")):  # fmt: skip
        assert _sessions(server, "send", "s3", marker).returncode == 0
        waited = _sessions(server, "wait", "s3")
        assert (waited.returncode, waited.stdout, waited.stderr) == (1, "", f"codexrs sessions: the turn of s3 {why}\n")
    for verb in ("deny", "approve"):
        nothing = _sessions(server, verb, "s3")
        assert (nothing.returncode, nothing.stdout) == (1, "")
        assert nothing.stderr == f"codexrs sessions: s3 has no pending request to {verb}\n"
    # The same session's next turn succeeds: its answer on stdout, exit 0.
    scripted_model.route("<serve-recover>", text("back on my feet"))
    assert _sessions(server, "send", "s3", "<serve-recover>").returncode == 0
    recovered = _sessions(server, "wait", "s3")
    assert (recovered.returncode, recovered.stdout, recovered.stderr) == (0, "back on my feet\n", "")


@pytest.mark.parametrize(
    ("blocked", "argv", "message"),
    [
        ("httpx", ["sessions", "list"], "codexrs sessions needs httpx: pip install 'codexrs[serve]'"),
        ("uvicorn", ["serve"], "codexrs serve needs Starlette and uvicorn: pip install 'codexrs[serve]'"),
        ("starlette", ["serve"], "codexrs serve needs Starlette and uvicorn: pip install 'codexrs[serve]'"),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_pip_install(blocked: str, argv: list[str], message: str) -> None:
    # The library made unimportable, as if not installed, before the command line starts.
    program = f"import sys; sys.modules[{blocked!r}] = None; from codexrs.cli import main; sys.exit(main({argv!r}))"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")


def test_events_over_sse_and_a_request_answered_over_http(server: str, scripted_model: ScriptedModel, workspace: Path) -> None:
    deltas = [f"part{i} " for i in range(20)]
    scripted_model.route("<serve-approve>", exec_command("touch approved.txt"), text("".join(deltas), deltas=deltas))
    with _api(server) as api:
        assert api.post("/api/threads", json={"name": "s2", "approval_policy": "untrusted", "sandbox": "workspace-write"}).status_code == 201
        events: list[dict[str, Any]] = []
        with api.stream("GET", "/api/threads/s2/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert api.post("/api/threads/s2/send", json={"input": "<serve-approve>"}).status_code == 202
            lines = stream.iter_lines()
            for line in lines:
                if not line.startswith("data: "):
                    continue
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "exec_approval_request":
                    (pending,) = api.get("/api/threads/s2/requests").json()
                    assert pending["kind"] == "exec" and "touch approved.txt" in " ".join(pending["request"]["command"])
                    assert api.get("/api/threads/s2").json()["status"] == "waiting_for_approval"
                    answered = api.post(f"/api/threads/s2/requests/{pending['id']}", json={"answer": "approve"})
                    assert answered.status_code == 200 and answered.json() == {"answered": True}
                if events[-1]["type"] == "task_complete":
                    break
        result = api.post("/api/threads/s2/wait", json={"timeout": 30}).json()
        thread = api.get("/api/threads/s2").json()
    assert result["status"] == "completed" and result["final_response"] == "".join(deltas)
    # The turn's own id is "id" (its events refer to it as "turn_id"); "turn_id" stays, deprecated.
    assert result["id"] == result["turn_id"] and result["id"] in {e["turn_id"] for e in events}
    # One usage shape: the thread's sum has the turn's token counts under the same names.
    assert result["usage"]["input_tokens"] > 0 and set(result["usage"]) < set(thread["usage"])
    assert thread["usage"] == {**result["usage"], "turns": 1, "tool_calls": 1, "wall_s": thread["usage"]["wall_s"]}
    assert (workspace / "approved.txt").exists()  # the approved command ran
    streamed = [e["event"]["delta"] for e in events if e["type"] == "agent_message_content_delta"]
    assert streamed == deltas  # every delta, in order
    assert {e["thread_id"] for e in events} == {result_thread_id(server)}


def result_thread_id(url: str) -> str:
    with _api(url) as api:
        return str(api.get("/api/threads/s2").json()["id"])


def test_bad_input_gets_4xx_with_a_message(server: str) -> None:
    with _api(server) as api:
        assert api.post("/api/threads", json={"name": "ok"}).status_code == 201
        cases = [
            (api.post("/api/threads", json={"name": "ok"}), 409, "exists"),
            (api.post("/api/threads", json={"nmae": "typo"}), 400, "unknown fields: nmae"),
            (api.post("/api/threads", content=b"{not json", headers={"Content-Type": "application/json"}), 400, "not JSON"),
            (api.post("/api/threads/ok/send", json={}), 400, "input"),
            (api.post("/api/threads/ok/wait", json={}), 409, "nothing was sent"),
            (api.post("/api/threads/ok/wait", json={"timeout": "soon"}), 400, "timeout"),
            (api.get("/api/threads/ghost"), 404, "no thread"),
            (api.post("/api/threads/ok/requests/nope", json={"answer": "approve"}), 404, "no pending request"),
            (api.get("/api/nowhere"), 404, "no such endpoint"),
            (api.delete("/api/threads"), 405, "not allowed"),
            (api.post("/api/threads", json={"name": "bad", "sandbox": "everything"}), 400, "sandbox"),
        ]
        for response, status, message in cases:
            assert response.status_code == status, (response.request.url, response.text)
            assert message in response.json()["error"], response.text
            assert "Traceback" not in response.text
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        assert httpx.get(f"{server}/api/threads", headers=headers).status_code == 401
    assert httpx.get(f"{server}/api/threads?token={TOKEN}").status_code == 200  # for EventSource


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(codex_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CODEXRS_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "codexrs.cli", "serve", "--host", "0.0.0.0", "--no-token", "--codex-home", str(codex_home)],
                          capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert done.returncode == 2 and "--no-token is allowed only when listening on loopback" in done.stdout


@pytest.mark.timeout(300)
def test_the_dashboard_streams_a_turn_and_clicks_an_approval_through(server: str, scripted_model: ScriptedModel, workspace: Path) -> None:
    with _api(server) as api, chromium() as driver:
        dashboard_streams_and_approves(driver, api, f"{server}/", f"{server}/", TOKEN, scripted_model, workspace, "dashboard")

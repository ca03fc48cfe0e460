"""``create_app`` mounted under ``/codex`` in a service's own Starlette app, served by uvicorn:
the dashboard at ``/codex/`` calls the API and the event stream beside it (not at the server's
root), streams a turn and approves a request as it does at ``/`` (headless chromium); the
token, Host, Origin and JSON checks hold under the mount; the service's own routes are its
own. Real codex-core talking to the scripted model."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from browser import chromium, dashboard_streams_and_approves
from codexrs import AsyncManager
from codexrs.server import create_app
from codexrs.testing import ScriptedModel

TOKEN = "codexrs-mount-token"
EVIL = "http://evil.example"


async def _home(request: Request) -> Response:
    return PlainTextResponse("the service's own page")


@pytest.fixture
def service(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> Iterator[str]:
    """A service's Starlette app, its own ``/`` and ``create_app`` under ``/codex``, served by
    uvicorn on a thread (its own event loop). Its URL, without the mount."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # connections queue here until uvicorn accepts them: no start-up race
    port = listener.getsockname()[1]
    servers: list[uvicorn.Server] = []
    failures: list[BaseException] = []

    async def main() -> None:
        async with AsyncManager(codex_home, workspace, scripted_model.config()) as manager:
            app = Starlette(routes=[Route("/", _home), Mount("/codex", app=create_app(manager, TOKEN))])
            servers.append(uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", timeout_graceful_shutdown=10)))
            await servers[0].serve(sockets=[listener])

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the fixture's teardown
            failures.append(exc)

    thread = threading.Thread(target=run, name="uvicorn")
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        if servers:
            servers[0].should_exit = True
        thread.join(60)
        listener.close()
    assert not thread.is_alive(), "uvicorn did not stop"
    assert failures == []


def _api(service: str) -> httpx.Client:
    """A client of the mounted app: its paths are relative to ``/codex/``."""
    return httpx.Client(base_url=f"{service}/codex/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)


@pytest.mark.timeout(300)
def test_the_mounted_dashboard_streams_a_turn_and_clicks_an_approval_through(
    service: str, scripted_model: ScriptedModel, workspace: Path
) -> None:
    with _api(service) as api, chromium() as driver:
        # Opened as a user types it (no trailing slash): the service redirects to /codex/.
        dashboard_streams_and_approves(driver, api, f"{service}/codex", f"{service}/codex/", TOKEN, scripted_model, workspace, "mounted")
        calls = driver.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
        events = driver.execute_script("return source.url")  # the page's EventSource
    assert events == f"{service}/codex/api/events?token={TOKEN}"
    assert f"{service}/codex/api/threads" in calls, calls
    assert not [c for c in calls if c.startswith(f"{service}/api/")], calls  # nothing at the service's root


def test_the_checks_hold_under_the_mount(service: str) -> None:
    assert httpx.get(f"{service}/").text == "the service's own page"
    with _api(service) as api:
        created = api.post("api/threads", json={"name": "under-the-mount"})
        assert created.status_code == 201, created.text
        assert [t["name"] for t in api.get("api/threads").json()] == ["under-the-mount"]
        page = api.get("")
        assert page.status_code == 200 and "<title>codexrs</title>" in page.text
        missing = api.get("api/nowhere")
        assert missing.status_code == 404 and missing.json() == {"error": "no such endpoint: GET /codex/api/nowhere"}
    threads, auth = f"{service}/codex/api/threads", {"Authorization": f"Bearer {TOKEN}"}
    refusals = [
        (httpx.get(threads), 401, "missing or wrong bearer token"),
        (httpx.get(threads, headers={**auth, "Host": "evil.example"}), 403,
         "this server does not answer to Host 'evil.example' (codexrs serve --allowed-host NAME allows one)"),
        (httpx.get(threads, headers={**auth, "Origin": EVIL}), 403, f"cross-origin requests are refused: Origin {EVIL!r} is not this server's"),
        (httpx.post(threads, content=json.dumps({"name": "evil"}), headers={**auth, "Content-Type": "text/plain"}), 415,
         "POST needs Content-Type: application/json (got Content-Type 'text/plain')"),
    ]  # fmt: skip
    for response, status, error in refusals:
        assert (response.status_code, response.json()) == (status, {"error": error}), response.request.url
    with _api(service) as api:
        assert [t["name"] for t in api.get("api/threads").json()] == ["under-the-mount"]  # the refused POST created nothing

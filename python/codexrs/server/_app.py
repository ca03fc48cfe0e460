"""The ASGI application (Starlette) that puts an :class:`~codexrs.AsyncManager` behind HTTP."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .._core.options import ThreadOptions, sandbox_name
from .._core.result import TurnResult
from .._failure import error_kind
from ..errors import CodexError, ConfigError, EngineClosedError, NothingSentError, ThreadNotFoundError
from ..manager import AsyncManager, ManagedThread, NameTakenError, usage_json
from ..requests import DEFER
from ._guard import LOOPBACK_NAMES, GuardMiddleware, HTTPError, allowed_host_entries, check_config, check_cwd, config_prefixes, refused_content_type
from ._hub import Hub

__all__ = ["create_app"]

#: Keyword arguments of ``POST /api/threads`` passed to ``manager.create``.
_CREATE_OPTIONS = ("cwd", "model", "approval_policy", "sandbox", "config")
#: Seconds between SSE keep-alive comments.
_KEEPALIVE_S = 15.0


#: What each exception a handler raises answers with, the first that matches: an HTTP status
#: (the message is the exception's; for 502 with its type's name).
_STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (NothingSentError, 409),
    (ThreadNotFoundError, 404),
    (NameTakenError, 409),
    (ConfigError, 400),
    (TypeError, 400),
    (ValueError, 400),
    (EngineClosedError, 503),
    (CodexError, 502),
)

#: Request kinds whose answer, as a dict, can grant more than was asked (a codex
#: ``ReviewDecision`` with an exec-policy amendment, a permissions grant of its own).
_GRANTING_KINDS = ("exec", "patch", "permissions")


def _defer(request: object) -> object:
    """Every request of a served thread waits for an answer over HTTP (or its timeout)."""
    return DEFER


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _thread_json(managed: ManagedThread, hub: Hub) -> dict[str, Any]:
    result = managed.last_result
    return {
        "name": managed.name, "id": managed.id, "group": managed.group, "status": managed.status,
        "activity": managed.activity, "last_message": None if result is None else result.final_response,
        "usage": usage_json(managed.usage), "rate_limited_until": managed.rate_limited_until,
        "pending": [p.to_json() for p in hub.pending.get(managed.id, {}).values()],
    }  # fmt: skip


def _result_json(result: TurnResult) -> dict[str, Any]:
    kind, status = (None, None) if result.error is None else error_kind(result.error.codex_error_info)
    return {
        "id": result.id, "status": result.status, "final_response": result.final_response,
        "usage": usage_json(result.usage), "duration_ms": result.duration_ms,
        "error": None if result.error is None else result.error.message, "error_kind": kind, "error_status": status,
        "turn_id": result.id,  # deprecated: the same as "id"
    }  # fmt: skip


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The app's error answer: ``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _exception_error(exc: Exception) -> JSONResponse | None:
    """The answer to what a handler raised (:data:`_STATUSES`), or ``None``: not one of those."""
    status = next((status for kind, status in _STATUSES if isinstance(exc, kind)), None)
    if status is None:
        return None
    return _error(status, f"{type(exc).__name__}: {exc}" if status == 502 else str(exc))


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise HTTPError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    return body


def create_app(
    manager: AsyncManager,
    token: str | None = None,
    *,
    no_token: bool = False,
    thread_options: ThreadOptions | None = None,
    allowed_hosts: Iterable[str] | None = None,
    allow_config: Iterable[str] = (),
    allow_full_access: bool = False,
    cwd_root: str | os.PathLike[str] | None = None,
) -> Starlette:
    """An ASGI application (Starlette) exposing ``manager`` over HTTP, for a service to mount or
    for ``codexrs serve`` to run. Its defaults are ``codexrs serve``'s: safe with a browser
    open on the same machine.

    JSON endpoints, under ``/api``:

    * ``GET /api/threads``: every thread (name, id, group, status, activity, last message,
      usage (:func:`~codexrs.manager.usage_json` of :class:`~codexrs.ManagerUsage`), pending
      requests); ``POST /api/threads`` ``{"name", "group", "cwd", "model",
      "approval_policy", "sandbox", "config"}``: creates one (201);
    * ``GET /api/threads/{name}``: one thread; ``DELETE``: removes it (its rollout stays);
    * ``POST /api/threads/{name}/send`` ``{"input": "..."}``: queues a turn and returns at once
      (202); ``POST .../wait`` ``{"timeout": s}``: blocks until the last sent turn ends, then
      its result ``{"id", "status", "final_response", "usage", "duration_ms", "error",
      "error_kind", "error_status"}`` (``id``: the turn's id, also under the deprecated key
      ``turn_id``; ``usage``: :class:`~codexrs.Usage`'s fields; ``error``: why a failed turn failed, ``error_kind``:
      codex's kind of error, e.g. ``"internal_server_error"``, ``error_status``: the HTTP
      status the provider answered; each null when absent; 408 past ``timeout``);
      ``GET .../last-message``; ``POST .../interrupt``;
    * ``GET .../requests``: the requests codex-core waits on; ``POST .../requests/{id}``
      ``{"answer": ...}``: answers one (``"approve"``, ``"deny"``, or any answer
      :meth:`codexrs.Thread.respond` takes);
    * ``GET .../events`` and ``GET /api/events``: the thread's (every thread's) events as
      Server-Sent Events, each ``data:`` a JSON object ``{"thread_id", "turn_id", "type",
      "event"}``; a client that falls 10,000 events behind gets an ``overflow`` event and the
      stream ends (it reconnects); nothing is held back for it.

    ``GET /`` serves the dashboard page. It calls the API relative to its own address, so the
    app can be mounted under a path (``Mount("/codex", app=create_app(...))`` in a Starlette
    app, or behind a proxy's path prefix): the page is then at ``/codex/`` and calls
    ``/codex/api/...``; every check below applies there too.

    Threads created over HTTP leave every request pending (``on_request`` returns
    :data:`~codexrs.requests.DEFER`): answered over HTTP, or denied at the thread's
    ``request_timeout``.

    What a web page in the user's browser could send is refused before any handler runs:

    * a ``Host`` header not in ``allowed_hosts`` (DNS rebinding): 403;
    * an ``Origin`` header, when present, naming another origin than the ``Host``: 403;
    * a ``POST``, ``PUT``, ``PATCH`` or ``DELETE`` to ``/api`` without ``Content-Type:
      application/json`` (a form or a ``text/plain`` ``fetch``, sent without a preflight):
      415, even with an empty body.

    And over HTTP a thread gets no more than its operator allowed: each key of ``config`` must
    lie under an ``allow_config`` key (else 403 naming it), ``sandbox: "danger-full-access"``
    (or ``"full-access"``) needs ``allow_full_access``, ``cwd`` must lie inside ``cwd_root``,
    and an exec, patch or permissions request is answered with a name (``"approve"``,
    ``"approved_for_session"``, ``"deny"``, ``"abort"``, ``true``/``false``); a dict answer (a
    codex ``ReviewDecision`` that may amend the exec policy on disk, a permissions grant of
    its own) needs ``allow_full_access`` (else 403). ``thread_options`` are not checked: they
    are the operator's.

    Args:
        manager: The manager to expose (its engine gets the server's event hook).
        token: The bearer token every ``/api`` request must carry (``Authorization: Bearer
            ...``, or ``?token=`` for ``EventSource`` and the dashboard's URL); wrong or
            missing: 401. Required unless ``no_token``; ``secrets.token_urlsafe(32)`` makes one.
        no_token: Serve without a token: only loopback clients are served (others get 401),
            still subject to every check above.
        thread_options: Defaults for threads created over HTTP (:class:`~codexrs.ThreadOptions`).
        allowed_hosts: The ``Host`` values the app answers to: ``"name"`` (any port) or
            ``"name:port"``, an IPv6 address in brackets with a port. Default: ``localhost``,
            ``127.0.0.1`` and ``[::1]``, any port; a service reached by another name lists it.
        allow_config: Dotted codex keys a request's ``config`` may set, each with its subtree
            (``"model_reasoning_effort"``, ``"tools"``). Default: none. A key can grant what
            codex does with it (``mcp_servers`` runs programs): allow few.
        allow_full_access: Lets a request ask for ``sandbox: "danger-full-access"`` and answer
            a request with a dict.
        cwd_root: A directory: a request's ``cwd`` (relative ones read from here) must resolve
            inside it. Default None: a request cannot choose ``cwd``.

    Raises:
        ConfigError: No ``token`` and not ``no_token`` (or both), a malformed
            ``allowed_hosts`` entry or ``allow_config`` key.

    Errors are JSON ``{"error": message}`` with a 4xx status (400 bad input, 401 no token, 403
    refused by a check above, 404 unknown thread or request, 409 name taken or nothing to wait
    for, 415 not JSON), never a traceback.
    """
    if no_token and token is not None:
        raise ConfigError("create_app got a token and no_token=True: choose one")
    if not no_token and (not isinstance(token, str) or not token):
        raise ConfigError("create_app needs token= (e.g. secrets.token_urlsafe(32)), or no_token=True to serve loopback clients without one")
    hosts = allowed_host_entries(LOOPBACK_NAMES if allowed_hosts is None else allowed_hosts)
    config_allowed = config_prefixes(allow_config)
    root = None if cwd_root is None else Path(os.path.realpath(cwd_root))
    hub = Hub(manager)
    manager.add_hook(hub)
    defaults = thread_options or ThreadOptions()

    def authorized(request: Request) -> bool:
        if token is None:
            return _loopback(request.client.host if request.client else None)
        given = request.headers.get("authorization", "")
        presented = given[7:] if given.lower().startswith("bearer ") else request.query_params.get("token", "")
        return hmac.compare_digest(presented.encode(), token.encode())

    def endpoint(handler: Callable[..., Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            if not authorized(request):
                message = "missing or wrong bearer token" if token is not None else "this server has no token: loopback clients only"
                return _error(401, message, {"WWW-Authenticate": "Bearer"})
            refused = refused_content_type(request.method, request.headers.get("content-type"))
            if refused is not None:
                return _error(415, refused)
            try:
                return await handler(request, **request.path_params)
            except HTTPError as exc:
                return _error(exc.status, exc.message)
            except Exception as exc:
                answer = _exception_error(exc)
                if answer is None:
                    raise
                return answer

        return wrapped

    async def list_threads(request: Request) -> Response:
        return JSONResponse([_thread_json(m, hub) for m in manager.list(request.query_params.get("group"))])

    async def create(request: Request) -> Response:
        body = await _body(request)
        unknown = set(body) - {"name", "group", *_CREATE_OPTIONS}
        if unknown:
            raise HTTPError(400, f"unknown fields: {', '.join(sorted(unknown))}")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip() or "/" in name):
            raise HTTPError(400, "name must be a non-empty string without '/'")
        asked = {k: body[k] for k in _CREATE_OPTIONS if body.get(k) is not None}
        if "config" in asked:
            check_config(asked["config"], config_allowed)
        if sandbox_name(asked.get("sandbox")) == "danger-full-access" and not allow_full_access:
            raise HTTPError(403, "sandbox danger-full-access is not allowed over HTTP (codexrs serve --allow-full-access)")
        if "cwd" in asked:
            asked["cwd"] = check_cwd(asked["cwd"], root)
        options = cast(ThreadOptions, {**defaults, "on_request": _defer, **asked})  # asked: _CREATE_OPTIONS only
        managed = await manager.create(name, group=body.get("group"), **options)
        return JSONResponse(_thread_json(managed, hub), status_code=201)

    async def show(request: Request, name: str) -> Response:
        return JSONResponse(_thread_json(manager.get(name), hub))

    async def remove(request: Request, name: str) -> Response:
        await manager.remove(name)
        return Response(status_code=204)

    async def send(request: Request, name: str) -> Response:
        body = await _body(request)
        text = body.get("input")
        if not isinstance(text, str) or not text:
            raise HTTPError(400, 'send needs {"input": "a non-empty string"}')
        await manager.send(name, text)
        return JSONResponse({"queued": True, "status": manager.status(name)}, status_code=202)

    async def wait(request: Request, name: str) -> Response:
        body = await _body(request)
        timeout = body.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
            raise HTTPError(400, "timeout must be a non-negative number of seconds")
        try:
            result = await manager.wait(name, timeout=timeout)
        except TimeoutError:
            raise HTTPError(408, f"the turn of {name!r} did not end within {timeout} s (it keeps running)") from None
        return JSONResponse(_result_json(result))

    async def last_message(request: Request, name: str) -> Response:
        return JSONResponse({"last_message": manager.last_message(name)})

    async def interrupt(request: Request, name: str) -> Response:
        return JSONResponse({"interrupted": await manager.interrupt(name)})

    async def requests(request: Request, name: str) -> Response:
        managed = manager.get(name)
        return JSONResponse([p.to_json() for p in hub.pending.get(managed.id, {}).values()])

    async def answer(request: Request, name: str, request_id: str) -> Response:
        managed = manager.get(name)
        pending = hub.pending.get(managed.id, {}).get(request_id)
        if pending is None:
            raise HTTPError(404, f"thread {name!r} has no pending request {request_id!r}")
        body = await _body(request)
        if "answer" not in body:
            raise HTTPError(400, 'answer needs {"answer": "approve" | "deny" | ...}')
        given = body["answer"]
        if pending.kind in _GRANTING_KINDS and not isinstance(given, (str, bool)) and not allow_full_access:
            raise HTTPError(403, f"over HTTP, {pending.kind} requests are answered by name (approve, deny, ...): "
                                 "a dict can grant more than was asked (codexrs serve --allow-full-access)")  # fmt: skip
        value = {"approve": True, "deny": False}.get(given, given) if isinstance(given, str) else given
        accepted = await managed.thread.respond(pending.request, value)
        hub.answered(managed.id, request_id)
        return JSONResponse({"answered": accepted})

    async def events(request: Request, name: str | None = None) -> Response:
        thread_id = None if name is None else manager.get(name).id
        sub = hub.subscribe(thread_id)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": codexrs events\n\n"
                while True:
                    try:
                        data = await asyncio.wait_for(sub.queue.get(), _KEEPALIVE_S)
                    except TimeoutError:
                        if sub.overflowed and sub.queue.empty():
                            yield b"event: overflow\ndata: {}\n\n"
                            return
                        yield b": keep-alive\n\n"
                        continue
                    if data is None:
                        return
                    yield b"data: " + data + b"\n\n"
                    if sub.overflowed and sub.queue.empty():
                        yield b'event: overflow\ndata: {"error": "this client fell too far behind; reconnect"}\n\n'
                        return
            finally:
                hub.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def dashboard(request: Request) -> Response:
        page = resources.files("codexrs.server").joinpath("dashboard.html").read_text(encoding="utf-8")
        return HTMLResponse(page)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, f"no such endpoint: {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, f"{request.method} is not allowed on {request.url.path}")

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, "internal error (see the server's log)")

    thread = "/api/threads/{name}"
    api: list[tuple[str, str, Callable[..., Awaitable[Response]]]] = [
        ("GET", "/api/threads", list_threads), ("POST", "/api/threads", create), ("GET", "/api/events", events),
        ("GET", thread, show), ("DELETE", thread, remove), ("POST", f"{thread}/send", send),
        ("POST", f"{thread}/wait", wait), ("GET", f"{thread}/last-message", last_message),
        ("POST", f"{thread}/interrupt", interrupt), ("GET", f"{thread}/requests", requests),
        ("POST", f"{thread}/requests/{{request_id}}", answer), ("GET", f"{thread}/events", events),
    ]  # fmt: skip
    return Starlette(
        routes=[Route("/", dashboard), *(Route(path, endpoint(handler), methods=[method]) for method, path, handler in api)],
        middleware=[Middleware(GuardMiddleware, allowed=hosts)],
        exception_handlers={404: not_found, 405: not_allowed, 500: server_error},
    )

"""What the server refuses before any handler runs, so a web page in the user's browser cannot
drive it: a ``Host`` it does not answer to (DNS rebinding), an ``Origin`` other than its own
(cross-site requests), a state-changing request whose body is not declared JSON (the CORS
"simple requests" a page sends without a preflight); and, over HTTP, the thread options that
reach beyond what its operator allowed (``config`` keys, full access, a ``cwd`` elsewhere,
approval answers that grant more than was asked)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ConfigError

__all__ = ["GuardMiddleware", "HTTPError", "LOOPBACK_NAMES", "check_config", "check_cwd", "parse_host", "refused_content_type"]

#: The names a loopback listener answers to (any port unless the entry names one).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Methods that change state: their body must be declared JSON.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class HTTPError(Exception):
    """Answered as JSON ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def parse_host(value: str, *, bare_ipv6: bool = False) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` as ``(name, port)``: the name lower
    case, an IP address in its canonical form, ``port`` None when absent. ``bare_ipv6``
    also reads ``::1`` (no brackets, no port), as a command-line value may be written.
    None when it is not such a value."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[1:end], value[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    elif bare_ipv6 and value.count(":") > 1:
        name, port_text = value, None
    else:
        name, colon, port_text_ = value.partition(":")
        port_text = port_text_ if colon else None
    if not name or any(c in name for c in "/@?#[] \\") or (":" in name and not _is_ip(name)):
        return None
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    if _is_ip(name):
        name = str(ipaddress.ip_address(name))
    return name, port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_host_entries(hosts: Iterable[str]) -> list[tuple[str, int | None]]:
    """Reads ``allowed_hosts`` (``name`` for any port, ``name:port`` for one).

    Raises:
        ConfigError: An entry that is not a host name or address (with an optional port).
    """
    entries = []
    for host in hosts:
        parsed = parse_host(host, bare_ipv6=True) if isinstance(host, str) else None
        if parsed is None:
            raise ConfigError(f"allowed host {host!r} is not a host name or address, with an optional :port")
        entries.append(parsed)
    return entries


def _without_default_port(host: tuple[str, int | None], scheme: str) -> tuple[str, int | None]:
    name, port = host
    return (name, None) if port == _DEFAULT_PORTS.get(scheme) else (name, port)


class GuardMiddleware:
    """ASGI middleware: every HTTP request must carry a ``Host`` in ``allowed`` (else 403), and
    an ``Origin``, when it carries one, naming that same host and port (else 403).

    Args:
        app: The application behind it.
        allowed: ``(name, port)`` pairs; ``port`` None matches any port.
    """

    def __init__(self, app: ASGIApp, allowed: Sequence[tuple[str, int | None]]) -> None:
        self.app, self.allowed = app, list(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refusal = self.refusal(scope)
            if refusal is not None:
                await JSONResponse({"error": refusal}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        """Why the request is refused, or None."""
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            name = key.decode("latin-1").lower()
            if name in ("host", "origin"):
                if name in headers:
                    return f"more than one {name.title()} header"
                headers[name] = value.decode("latin-1")
        scheme = str(scope.get("scheme", "http"))
        host = parse_host(headers.get("host", ""))
        if host is None or not any(
            name == host[0] and (port is None or port == (host[1] or _DEFAULT_PORTS.get(scheme))) for name, port in self.allowed
        ):
            return f"this server does not answer to Host {headers.get('host', '')!r} (codexrs serve --allowed-host NAME allows one)"
        origin = headers.get("origin")
        if origin is None:
            return None
        try:
            parts = urlsplit(origin)
            origin_host = parse_host(parts.netloc) if parts.scheme in ("http", "https") and not parts.path else None
        except ValueError:
            origin_host = None
        if origin_host is None or _without_default_port(origin_host, parts.scheme) != _without_default_port(host, scheme):
            return f"cross-origin requests are refused: Origin {origin!r} is not this server's"
        return None


def refused_content_type(method: str, content_type: str | None) -> str | None:
    """Why a request's ``Content-Type`` is refused (a state-changing request whose body is not
    declared ``application/json``: what a page's form or ``fetch`` sends without a preflight),
    or None."""
    if method.upper() not in STATE_CHANGING:
        return None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        return None
    shown = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    return f"{method.upper()} needs Content-Type: application/json (got {shown})"


def config_prefixes(keys: Iterable[str]) -> list[tuple[str, ...]]:
    """Reads ``allow_config`` keys (dotted codex keys, each allowing its subtree).

    Raises:
        ConfigError: A key that is not a dotted codex key.
    """
    prefixes = []
    for key in keys:
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"allowed config key {key!r} is not a dotted codex key (e.g. model_reasoning_effort)")
        prefixes.append(tuple(key.split(".")))
    return prefixes


def check_config(config: Any, allowed: Sequence[tuple[str, ...]]) -> None:
    """Refuses (403) a thread's ``config`` over HTTP unless each key lies in an allowed subtree.

    codex splits each key on ``.`` into a path and sets the value there (a table replaces the
    table at that path), so the key itself must lie in an allowed subtree.

    Raises:
        HTTPError: 400 for a ``config`` that is not an object, 403 for a key not allowed.
    """
    if not isinstance(config, dict):
        raise HTTPError(400, "config must be a JSON object of dotted codex keys")
    for key in config:
        path = tuple(key.split("."))
        if not any(path[: len(prefix)] == prefix for prefix in allowed):
            shown = ", ".join(".".join(p) for p in allowed) or "none"
            raise HTTPError(403, f"config key {key!r} is not allowed over HTTP (allowed: {shown}; codexrs serve --allow-config KEY)")


def check_cwd(cwd: Any, root: Path | None) -> str:
    """A thread's ``cwd`` asked over HTTP, as an absolute path inside ``root`` (a relative one
    is read from ``root``; symbolic links are resolved before the check).

    Raises:
        HTTPError: 400 for a ``cwd`` that is not a non-empty string, 403 for one outside
            ``root`` or when there is no root.
    """
    if not isinstance(cwd, str) or not cwd:
        raise HTTPError(400, "cwd must be a non-empty string")
    if root is None:
        raise HTTPError(403, "this server does not let HTTP clients choose a thread's cwd (create_app(cwd_root=...) allows it)")
    asked = os.path.expanduser(cwd)
    path = Path(os.path.realpath(asked if os.path.isabs(asked) else root / asked))
    if not path.is_relative_to(root):
        raise HTTPError(403, f"cwd {cwd!r} is outside {str(root)!r}, the directory this server's threads work in")
    return str(path)

"""The scripted OAuth issuer: the endpoints codex's login crate calls, on 127.0.0.1.

``codex_login`` (what ``codex login`` and :meth:`codexrs.Codex.login_chatgpt` run) talks to
``https://auth.openai.com``; pointed at a :class:`ScriptedIssuer` (``issuer=issuer.url``), it
talks to this instead, and nothing else changes:

* ``GET /oauth/authorize``: the page a browser opens; it redirects to the login's callback
  (``redirect_uri``) with an authorization ``code`` and the ``state``, or with
  ``error=access_denied`` after :meth:`ScriptedIssuer.deny`;
* ``POST /oauth/token``: the authorization-code exchange (PKCE: the ``code_verifier`` must hash
  to the authorize request's ``code_challenge``), the id-token exchange for an API key (refused
  unless :attr:`ScriptedIssuer.api_key` is set, as for a ChatGPT-only account) and a token
  refresh;
* ``POST /api/accounts/deviceauth/usercode`` and ``.../deviceauth/token``: the device code and
  its polling, answered by :attr:`ScriptedIssuer.device` (pending, approved, expired, denied);
  ``GET /codex/device``: the page where a user would enter the code.

Tokens are unsigned JWTs carrying the claims codex reads (``email``, and under
``https://api.openai.com/auth``: ``chatgpt_plan_type``, ``chatgpt_account_id``,
``chatgpt_user_id``), with the values the test chose. Every request is recorded.

A browser is not needed: :meth:`ScriptedIssuer.visit` follows a login's ``auth_url`` as one
would (the issuer's page, its redirect to the local callback, codex's redirect to its success
page).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from .model import RecordedRequest

__all__ = ["DeviceAnswer", "IssuedTokens", "ScriptedIssuer", "Visit", "unsigned_jwt"]

#: How the device-code polling is answered: ``pending`` (HTTP 403, codex polls on),
#: ``approved`` (the authorization code), ``expired`` (HTTP 410), ``denied`` (HTTP 400).
DeviceAnswer = Literal["pending", "approved", "expired", "denied"]
_DEVICE_STATUS = {"pending": 403, "expired": 410, "denied": 400}
_DEVICE_ERROR = {"pending": "authorization_pending", "expired": "expired_token", "denied": "access_denied"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT of ``claims`` with ``alg: none`` (codex reads claims and checks no signature)."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(b'scripted-issuer')}"


def _challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


@dataclass(frozen=True)
class IssuedTokens:
    """Tokens the issuer handed out (what codex stores in ``auth.json``'s ``tokens``)."""

    id_token: str
    access_token: str
    refresh_token: str


@dataclass(frozen=True)
class Visit:
    """Where following a URL ended: the last URL, its HTTP status and its body as text."""

    url: str
    status: int
    body: str


@dataclass(frozen=True)
class _Grant:
    challenge: str
    redirect_uri: str


class ScriptedIssuer:
    """An OAuth issuer on 127.0.0.1 for ``codex_login``, in a daemon thread; see the module docs.

    Args:
        email: The account's email (the id token's ``email``).
        plan: The ChatGPT plan (``chatgpt_plan_type``: ``"plus"``, ``"pro"``, ...).
        account_id: The ChatGPT account (workspace) id (``chatgpt_account_id``).
        user_id: The ChatGPT user id (``chatgpt_user_id``).
        interval: The device-code polling interval codex is told, in seconds.

    Attributes:
        device: How the device-code polling is answered from now on (:data:`DeviceAnswer`).
        api_key: Answered to codex's id-token exchange for an API key when set; ``None``: that
            exchange is refused (HTTP 401), as for an account without an API organization.
        garbage: Every endpoint answers HTTP 200 with a body that is not JSON.
        requests: Every request received, in order.
        issued: The tokens handed out, in order.
    """

    def __init__(
        self,
        *,
        email: str = "user@example.com",
        plan: str = "plus",
        account_id: str = "acct-scripted-0001",
        user_id: str = "user-scripted-0001",
        interval: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.email, self.plan, self.account_id, self.user_id = email, plan, account_id, user_id
        self.interval = interval
        self.device: DeviceAnswer = "pending"
        self.api_key: str | None = None
        self.garbage = False
        self.requests: list[RecordedRequest] = []
        self.issued: list[IssuedTokens] = []
        self._denial: tuple[str, str | None] | None = None
        self._lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}
        self._devices: dict[str, str] = {}  # device_auth_id -> user_code
        self._server = _Server((host, port), _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The issuer's base URL (``issuer=`` of the login methods), e.g. ``http://127.0.0.1:41234``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ScriptedIssuer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-issuer", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the socket (later requests are refused)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ScriptedIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def deny(self, error: str = "access_denied", description: str | None = None) -> None:
        """From now on the authorize page redirects back with ``error`` (and
        ``error_description``) instead of a code: the user refused."""
        self._denial = (error, description)

    @property
    def tokens(self) -> IssuedTokens:
        """The last tokens handed out (``IndexError`` before any)."""
        with self._lock:
            return self.issued[-1]

    def user_codes(self) -> list[str]:
        """The device codes handed out, in order."""
        with self._lock:
            return list(self._devices.values())

    def polls(self) -> int:
        """How many times the device-code token endpoint was polled."""
        with self._lock:
            return sum(1 for r in self.requests if r.path.endswith("/deviceauth/token"))

    def visit(self, url: str, *, timeout: float = 30.0) -> Visit:
        """Follows ``url`` and its redirects as a browser would (no proxy), e.g. a login's
        ``auth_url``: this issuer's page, its redirect to the login's local callback, and codex's
        redirect to its success (or error) page. HTTP errors end the visit too (their status
        and body are returned); an unreachable host raises ``URLError``."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=timeout) as response:
                return Visit(response.geturl(), response.status, response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as err:
            return Visit(err.geturl(), err.code, err.read().decode("utf-8", "replace"))

    # What the handler calls, under the lock where it touches shared state.

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _claims(self) -> dict[str, Any]:
        return {
            "chatgpt_plan_type": self.plan,
            "chatgpt_account_id": self.account_id,
            "chatgpt_user_id": self.user_id,
            "user_id": self.user_id,
        }

    def _mint(self, client_id: str) -> IssuedTokens:
        now = int(time.time())
        common = {"iss": self.url, "iat": now, "exp": now + 30 * 86400, "jti": secrets.token_hex(8)}
        id_token = unsigned_jwt(
            {
                **common,
                "aud": client_id,
                "sub": self.user_id,
                "email": self.email,
                "https://api.openai.com/profile": {"email": self.email},
                "https://api.openai.com/auth": self._claims(),
            }
        )
        access_token = unsigned_jwt(
            {**common, "aud": ["https://api.openai.com/v1"], "https://api.openai.com/auth": self._claims()}
        )
        tokens = IssuedTokens(id_token, access_token, f"rt-scripted-{secrets.token_hex(16)}")
        with self._lock:
            self.issued.append(tokens)
        return tokens

    def _grant(self, challenge: str, redirect_uri: str) -> str:
        code = f"ac-scripted-{secrets.token_hex(12)}"
        with self._lock:
            self._grants[code] = _Grant(challenge, redirect_uri)
        return code

    def _redeem(self, code: str, verifier: str, redirect_uri: str) -> str | None:
        """Why the code is refused, or ``None`` (it is used up either way)."""
        with self._lock:
            grant = self._grants.pop(code, None)
        if grant is None:
            return "unknown or used authorization code"
        if grant.redirect_uri != redirect_uri:
            return "redirect_uri does not match the authorization request's"
        if _challenge(verifier) != grant.challenge:
            return "code_verifier does not match the code_challenge (PKCE)"
        return None

    def _new_device(self) -> tuple[str, str]:
        device_auth_id = f"da-{secrets.token_hex(8)}"
        user_code = f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}"
        with self._lock:
            self._devices[device_auth_id] = user_code
        return device_auth_id, user_code


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _handler(issuer: ScriptedIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _read(self) -> tuple[bytes, dict[str, Any]]:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            kind = self.headers.get("content-type", "")
            fields: dict[str, Any] = {}
            if "json" in kind and raw:
                try:
                    loaded = json.loads(raw)
                except ValueError:
                    loaded = None
                fields = loaded if isinstance(loaded, dict) else {}
            elif raw:
                fields = {k: v for k, v in urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)}
            body = fields or raw.decode("utf-8", "replace")
            issuer._record(RecordedRequest(self.command, self.path, dict(self.headers.items()), body))
            return raw, fields

        def _tokens(self, tokens: IssuedTokens) -> None:
            self._json(200, {"id_token": tokens.id_token, "access_token": tokens.access_token, "refresh_token": tokens.refresh_token})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str, location: str | None = None) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            if location is not None:
                self.send_header("location", location)
            self.end_headers()
            self.wfile.write(body)

        def _garbage(self) -> bool:
            if issuer.garbage:
                self._send(200, b"<html>this is not the JSON codex expects</html>", "text/html")
            return issuer.garbage

        def do_GET(self) -> None:
            self._read()
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/oauth/authorize":
                self._authorize(query)
            elif url.path == "/codex/device":
                self._send(200, b"<html>Enter the code codex showed you.</html>", "text/html; charset=utf-8")
            else:
                self._json(404, {"error": "not_found"})

        def _authorize(self, query: dict[str, str]) -> None:
            redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
            if not redirect_uri or query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                why = "redirect_uri and an S256 code_challenge are required"
                self._json(400, {"error": "invalid_request", "error_description": why})
                return
            if issuer._denial is not None:
                error, description = issuer._denial
                answer = {"error": error, "state": state, **({"error_description": description} if description else {})}
            else:
                answer = {"code": issuer._grant(query["code_challenge"], redirect_uri), "state": state}
            self._send(302, b"", "text/plain", location=f"{redirect_uri}?{urllib.parse.urlencode(answer)}")

        def do_POST(self) -> None:
            _, fields = self._read()
            if self._garbage():
                return
            path = urllib.parse.urlsplit(self.path).path
            if path == "/oauth/token":
                self._token(fields)
            elif path == "/api/accounts/deviceauth/usercode":
                device_auth_id, user_code = issuer._new_device()
                self._json(200, {"device_auth_id": device_auth_id, "user_code": user_code, "interval": str(issuer.interval)})
            elif path == "/api/accounts/deviceauth/token":
                self._device_token(fields)
            else:
                self._json(404, {"error": "not_found"})

        def _token(self, fields: dict[str, Any]) -> None:
            grant = fields.get("grant_type")
            client_id = str(fields.get("client_id", ""))
            if grant == "authorization_code":
                code, verifier = str(fields.get("code", "")), str(fields.get("code_verifier", ""))
                refused = issuer._redeem(code, verifier, str(fields.get("redirect_uri", "")))
                if refused is not None:
                    self._json(400, {"error": "invalid_grant", "error_description": refused})
                    return
                self._tokens(issuer._mint(client_id))
            elif grant == "urn:ietf:params:oauth:grant-type:token-exchange":
                if issuer.api_key is None:
                    why = "this account has no API organization"
                    self._json(401, {"error": "invalid_request", "error_description": why})
                else:
                    self._json(200, {"access_token": issuer.api_key})
            elif grant == "refresh_token":
                with issuer._lock:
                    known = any(t.refresh_token == fields.get("refresh_token") for t in issuer.issued)
                if not known:
                    self._json(401, {"error": "refresh_token_invalidated"})
                    return
                self._tokens(issuer._mint(client_id))
            else:
                self._json(400, {"error": "unsupported_grant_type"})

        def _device_token(self, fields: dict[str, Any]) -> None:
            with issuer._lock:
                known = issuer._devices.get(str(fields.get("device_auth_id", ""))) == fields.get("user_code")
            if not known:
                self._json(400, {"error": "invalid_request", "error_description": "unknown device code"})
                return
            answer = issuer.device
            if answer != "approved":
                self._json(_DEVICE_STATUS[answer], {"error": _DEVICE_ERROR[answer]})
                return
            verifier = _b64(secrets.token_bytes(32))
            code = issuer._grant(_challenge(verifier), f"{issuer.url}/deviceauth/callback")
            self._json(200, {"authorization_code": code, "code_challenge": _challenge(verifier), "code_verifier": verifier})

    return Handler

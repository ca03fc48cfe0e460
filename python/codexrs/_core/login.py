"""ChatGPT logins in progress: the handles ``login_chatgpt`` and ``login_chatgpt_device_code``
return (:class:`ChatgptLogin` / :class:`DeviceCodeLogin`, and their asyncio twins).

codex's own login crate does the work in Rust (:mod:`codexrs._native` ``Login``): the browser
flow's callback server on 127.0.0.1 with PKCE, or the device code's polling; it writes the login
where ``codex login`` writes it. A handle only waits for the outcome, cancels, and turns the
outcome into an :class:`~codexrs.Account` or a :class:`~codexrs.errors.LoginError`.
"""

from __future__ import annotations

import asyncio
from typing import Self

from .. import _native
from .account import Account, account
from .options import timeout_seconds
from .pending import _readable
from ..errors import LoginError

__all__ = ["AsyncChatgptLogin", "AsyncDeviceCodeLogin", "ChatgptLogin", "DeviceCodeLogin"]


def _logged_in(raw: object) -> Account:
    found = account(raw)
    if found is None:  # codex stored the login but reads none back: a keyring it cannot read
        raise LoginError("the login was stored, but codex reads no login back from codex_home")
    return found


def _timed_out(timeout: float) -> TimeoutError:
    return TimeoutError(f"the login did not complete within {timeout:g} seconds; it is still running: wait again, or cancel() it")


class _Login:
    """What every login handle has: the native login and how to stop it."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.Login) -> None:
        self._native = native

    def cancel(self) -> None:
        """Stops the login: the browser flow's callback server stops listening, the device
        flow stops polling; a later ``wait`` raises :class:`~codexrs.errors.LoginError`
        ("the login was cancelled ..."). Nothing is written to ``codex_home``. A no-op once
        the login has ended (a completed login stays)."""
        self._native.cancel()

    def __repr__(self) -> str:
        state = "ended" if self._native.done() else "waiting"
        return f"<{type(self).__name__} {state} {self._native.url}>"


class _SyncLogin(_Login):
    __slots__ = ()

    def wait(self, timeout: float | None = None) -> Account:
        """Blocks until the login completes and codex has stored it in ``codex_home`` (GIL
        released; Ctrl-C raises ``KeyboardInterrupt`` and leaves the login running).

        Args:
            timeout: At most this many seconds (``None``: no limit).

        Returns:
            The account now logged in (``auth_mode`` ``"chatgpt"``, email, plan, account id),
            as :meth:`Codex.account` reports it from then on.

        Raises:
            TimeoutError: ``timeout`` passed first; the login is still running (wait again,
                or :meth:`cancel` it).
            LoginError: The authorization was denied, the device code expired or was refused,
                the login was cancelled, or the issuer was unreachable or answered garbage;
                nothing was stored.
            TypeError, ConfigError: ``timeout`` is not a number, or is negative or NaN.
        """
        return _logged_in(self._native.wait(timeout_seconds("timeout", timeout)))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        """Cancels the login if it has not ended."""
        self.cancel()


class _AsyncLogin(_Login):
    __slots__ = ()

    async def wait(self, timeout: float | None = None) -> Account:
        """Waits, without blocking the event loop, until the login completes and codex has
        stored it; see :meth:`ChatgptLogin.wait`. Cancelling the awaiting task leaves the
        login running (``cancel()`` stops it)."""
        seconds = timeout_seconds("timeout", timeout)
        if not self._native.done():
            try:
                async with asyncio.timeout(seconds):
                    await _readable(self._native.fileno())
            except TimeoutError:
                raise _timed_out(seconds or 0.0) from None
        return _logged_in(self._native.result())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Cancels the login if it has not ended."""
        self.cancel()


class _BrowserFlow(_Login):
    __slots__ = ()

    @property
    def auth_url(self) -> str:
        """The issuer's authorize URL to open in a browser (it redirects back to the local
        callback server)."""
        return self._native.url


class _DeviceFlow(_Login):
    __slots__ = ()

    @property
    def verification_url(self) -> str:
        """The issuer's page where the code is entered."""
        return self._native.url

    @property
    def user_code(self) -> str:
        """The one-time code to enter there."""
        return self._native.user_code or ""


class ChatgptLogin(_SyncLogin, _BrowserFlow):
    """codex's browser login with a ChatGPT plan, started by :meth:`Codex.login_chatgpt`.

    A callback server listens on 127.0.0.1 (port 1455, else 1457, as ``codex login`` binds it)
    until the browser comes back from the issuer with an authorization code; codex exchanges
    it (PKCE) for tokens and stores them in ``codex_home``. Open :attr:`auth_url` in a browser
    on this machine, then :meth:`wait`. A context manager: leaving it cancels a login that has
    not ended (so does dropping the last reference to the handle).
    """

    __slots__ = ()


class AsyncChatgptLogin(_AsyncLogin, _BrowserFlow):
    """The asyncio twin of :class:`ChatgptLogin` (``await login.wait()``, ``async with``)."""

    __slots__ = ()


class DeviceCodeLogin(_SyncLogin, _DeviceFlow):
    """codex's device-code login with a ChatGPT plan, started by
    :meth:`Codex.login_chatgpt_device_code`: for a machine without a browser.

    Open :attr:`verification_url` on any device, enter :attr:`user_code`, then :meth:`wait`
    here: codex polls the issuer until the code is approved (at most 15 minutes, codex's
    limit), then stores the login in ``codex_home``. A context manager: leaving it cancels a
    login that has not ended (so does dropping the last reference to the handle).

    codex polls on while the issuer answers 403 or 404 (pending); any other answer ends the
    login with a :class:`~codexrs.errors.LoginError` naming it (HTTP 410: "the device code
    expired"; the scripted issuer answers 410 for an expired code, 400 for a denied one). An
    issuer that reports an expired code with a 403 is polled until codex's 15-minute limit
    ("the device code expired"), or until ``wait``'s ``timeout``.
    """

    __slots__ = ()


class AsyncDeviceCodeLogin(_AsyncLogin, _DeviceFlow):
    """The asyncio twin of :class:`DeviceCodeLogin` (``await login.wait()``, ``async with``)."""

    __slots__ = ()

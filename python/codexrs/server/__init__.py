"""Conversations behind HTTP: :func:`create_app` (an ASGI application a service can mount),
``codexrs serve`` (it, run with uvicorn) and ``codexrs sessions`` (its command-line client).
Needs the ``serve`` extra (Starlette, uvicorn, httpx); importing this package does not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .._extras import require

        require("starlette", feature="codexrs.server", library="Starlette", extra="serve")
        from ._app import create_app

        return create_app
    raise AttributeError(f"module 'codexrs.server' has no attribute {name!r}")

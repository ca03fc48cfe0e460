"""Accounts, models and versions: what codex-core knows about who is calling and with what."""

from __future__ import annotations

import json
from typing import Mapping, NamedTuple

import msgspec

from .. import _native
from ..events import RateLimitSnapshot

__all__ = ["Account", "CodexCoreVersion", "Model", "codex_core_version"]


class Account(msgspec.Struct, kw_only=True, frozen=True):
    """The account codex is logged in with in ``codex_home`` (what ``codex login``, ``codexrs login`` or a
    ``Codex`` login method stored).

    Attributes:
        auth_mode: codex ``AuthMode``: ``"apikey"``, ``"chatgpt"``, ...
        email: The ChatGPT account's email, when logged in with ChatGPT.
        plan: The ChatGPT plan (``"plus"``, ``"pro"``, ...), where codex knows it.
        account_id: The ChatGPT account id, where known.
    """

    auth_mode: str | None = None
    email: str | None = None
    plan: str | None = None
    account_id: str | None = None


class Model(msgspec.Struct, kw_only=True, frozen=True):
    """A model codex-core offers (codex ``ModelPreset``; the fields codexrs's users need).

    Attributes:
        id: Its id; ``model`` is the slug sent to the provider.
        display_name: Its name in codex's pickers.
        description: What it is for.
        default_reasoning_effort: codex's default effort for it (a :data:`~codexrs.ReasoningEffort` name).
        supported_reasoning_efforts: The efforts it takes, each ``{"effort": name,
            "description": text}`` (codex ``ReasoningEffortPreset``).
        is_default: Whether codex picks it by default.
        show_in_picker: Whether codex lists it to users.
        supported_in_api: Whether it can be used with an API key.
    """

    id: str
    model: str
    display_name: str = ""
    description: str = ""
    default_reasoning_effort: str | None = None
    supported_reasoning_efforts: list[dict[str, str]] = []
    is_default: bool = False
    show_in_picker: bool = True
    supported_in_api: bool = True


def account(value: object) -> Account | None:
    return None if value is None else msgspec.convert(value, Account)


def models(value: object) -> list[Model]:
    return msgspec.convert(value, list[Model])


class CodexCoreVersion(NamedTuple):
    """The codex-core codexrs links: the crates.io package it came from and its version."""

    package: str
    version: str

    def __str__(self) -> str:
        return f"codex-core from crates.io {self.package} {self.version}"


def rate_limit_snapshots(value: object) -> dict[str, RateLimitSnapshot]:
    return msgspec.convert(value, dict[str, RateLimitSnapshot])


def rate_limit_source(name: str, snapshot: RateLimitSnapshot | Mapping[str, object] | None) -> tuple[str, str | None]:
    """The native ``set_rate_limit_source`` arguments.

    Raises:
        TypeError: ``name`` is not a non-empty str, or ``snapshot`` is of another type.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"a rate-limit source needs a non-empty name, not {name!r}")
    if snapshot is None:
        return name, None
    if isinstance(snapshot, RateLimitSnapshot):
        snapshot = msgspec.to_builtins(snapshot)
    if not isinstance(snapshot, Mapping):
        raise TypeError(f"snapshot must be a RateLimitSnapshot or a dict, not {type(snapshot).__name__}")
    codex_only = {k: v for k, v in snapshot.items() if k not in ("source", "observed_at", "observed_thread_id")}
    return name, json.dumps(codex_only)


def codex_core_version() -> CodexCoreVersion:
    """The linked codex-core (OpenAI does not publish it; codexrs links the ``typeduck-codex-*``
    republish on crates.io, pinned to one version)."""
    package, _, version = _native.CODEX_CORE_PACKAGE.partition("==")
    return CodexCoreVersion(package, version)

"""Sync and async twins cannot drift: every public method of one has its twin in the other,
with the same parameters (names, kinds, defaults, annotations) and the twin's return type.

The only differences allowed are how they wait (``async def``) and the protocols each side
speaks (iteration, context managers, ``close``/``aclose`` of a stream).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

import codexrs

PAIRS = [
    (codexrs.Codex, codexrs.AsyncCodex),
    (codexrs.Thread, codexrs.AsyncThread),
    (codexrs.TurnHandle, codexrs.AsyncTurnHandle),
    (codexrs.TurnStream, codexrs.AsyncTurnStream),
    (codexrs.Manager, codexrs.AsyncManager),
    (codexrs.SyncManagedThread, codexrs.ManagedThread),
    (codexrs.ChatgptLogin, codexrs.AsyncChatgptLogin),
    (codexrs.DeviceCodeLogin, codexrs.AsyncDeviceCodeLogin),
]

#: The async name of each sync name that differs only in being the other side's protocol.
PROTOCOL = {
    "__iter__": "__aiter__",
    "__next__": "__anext__",
    "__enter__": "__aenter__",
    "__exit__": "__aexit__",
    "close": "aclose",  # only where the async side is an async iterator (TurnStream)
}

#: Async type names in annotations, written as their sync twins for the comparison.
TWIN_NAMES = {
    "AsyncCodex": "Codex",
    "AsyncChatgptLogin": "ChatgptLogin",
    "AsyncDeviceCodeLogin": "DeviceCodeLogin",
    "AsyncThread": "Thread",
    "AsyncTurnHandle": "TurnHandle",
    "AsyncTurnStream": "TurnStream",
    "AsyncManager": "Manager",
    "SyncManagedThread": "ManagedThread",
    "SyncThreadHandle": "Thread",  # SyncManagedThread.thread: the sync view of ManagedThread.thread
    "AsyncIterator[ManagerEvent]": "ManagerEventStream",
    "AsyncAllEventsStream": "AllEventsStream",
}


class _Declared:
    """An attribute declared in a class body (``name: type``), set per instance."""

    def __init__(self, annotation: object) -> None:
        self.annotation = annotation


def _public(cls: type) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if not name.startswith("_"):
                names[name] = _Declared(annotation)
    for name in dir(cls):
        if name.startswith("_") and name not in PROTOCOL and name not in PROTOCOL.values():
            continue
        names[name] = inspect.getattr_static(cls, name)
    return names


def _normal(annotation: object) -> str:
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    for async_name, sync_name in TWIN_NAMES.items():
        text = re.sub(rf"\b{re.escape(async_name)}", sync_name, text)
    return text


def _shape(member: Any) -> object:
    """What must match: a method's parameters and return type, or a property's type."""
    if isinstance(member, _Declared):
        return ("value", _normal(member.annotation))
    if isinstance(member, property):  # a read-only view of a value: matches a declared attribute
        return ("value", _normal(inspect.signature(member.fget).return_annotation) if member.fget else None)
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if not callable(member):
        return ("value", type(member).__name__)
    signature = inspect.signature(member)
    params = [(p.name, p.kind, repr(p.default), _normal(p.annotation)) for p in signature.parameters.values()]
    returns = _normal(signature.return_annotation)
    if returns.startswith("Awaitable[") or returns.startswith("Coroutine["):
        returns = returns.split("[", 1)[1].rsplit("]", 1)[0]
    return ("method", params, returns)


def _differences(sync_cls: type, async_cls: type) -> list[str]:
    sync_members, async_members = _public(sync_cls), _public(async_cls)
    problems = []
    for name, member in sync_members.items():
        twin = PROTOCOL.get(name, name) if PROTOCOL.get(name) in async_members else name
        if twin not in async_members:
            problems.append(f"{sync_cls.__name__}.{name} has no twin in {async_cls.__name__}")
            continue
        mine, theirs = _shape(member), _shape(async_members[twin])
        if name in PROTOCOL and twin != name:
            continue  # the protocols' own signatures differ by definition
        if mine != theirs:
            problems.append(f"{sync_cls.__name__}.{name}{mine} != {async_cls.__name__}.{twin}{theirs}")
    mapped = {PROTOCOL.get(n, n) if PROTOCOL.get(n) in async_members else n for n in sync_members}
    for name in async_members:
        if name not in mapped:
            problems.append(f"{async_cls.__name__}.{name} has no twin in {sync_cls.__name__}")
    return problems


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_twins_have_the_same_methods_and_signatures(sync_cls: type, async_cls: type) -> None:
    assert _differences(sync_cls, async_cls) == []


def test_the_comparison_sees_a_difference() -> None:
    """The check fails on a drifted twin (a check that never fails proves nothing)."""

    class Sync:
        def run(self, x: int, *, retries: int = 0) -> str:
            return ""

        def extra(self) -> None: ...

    class Async:
        async def run(self, x: int, *, retries: int = 1) -> str:
            return ""

    problems = _differences(Sync, Async)
    assert any("Sync.run" in p for p in problems)
    assert any("Sync.extra has no twin" in p for p in problems)
